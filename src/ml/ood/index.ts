// The out-of-distribution signal: how far an image's model input lies from the training
// inputs recorded in the model package (docs/ood.md).
export {
  DEFAULT_BACKGROUND_WEIGHT,
  DEFAULT_OOD_BINS,
  OOD_STATISTIC,
  OOD_STATISTIC_VERSION,
  contentMirrored,
  histogramSettingsFor,
  inputHistogram,
  jensenShannonDistance,
  type HistogramSettings,
} from './input-histogram.js';
export {
  DEFAULT_OOD_THRESHOLD,
  MAX_REFERENCE_IMAGES,
  MIN_REFERENCE_IMAGES,
  OOD_REFERENCE_FILE,
  OOD_REFERENCE_FORMAT,
  OOD_REFERENCE_PERCENTILE,
  OodModel,
  OodReferenceBuilder,
  buildOodReference,
  combineOod,
  oodReferenceBytes,
  oodReferenceSchema,
  preprocessingSpecSha256,
  type OodReference,
  type OodResult,
} from './reference.js';
export { writeOodReference, type WriteReferenceOptions } from './package-reference.js';
