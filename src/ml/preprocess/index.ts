// Pre-processing of grey mammograms for the models: one code path for training and inference.
export { preprocessImage, fitImage, toBatch, checkGreyImage, type GreyImage, type PreparedImage, type ImageBatch } from './preprocess.js';
export { preprocessingHash, canonicalJson, PREPROCESSING_IMPLEMENTATION } from './preprocessing-hash.js';
export { checkPreprocessingSpec, preprocessingSpecSchema } from './preprocessing-spec.schema.js';
export { DEFAULT_PREPROCESSING, PAPER_DATASET_MEANS, paperPreprocessing } from './presets.js';
export type { GreyRange, GreyWindow } from './intensity.js';
