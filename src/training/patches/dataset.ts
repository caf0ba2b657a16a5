// A patch data set from training images: each image pre-processed ONCE by the project's
// preprocessImage (the inference path), its ROIs mapped into the model input, patches sampled
// there, and the women split into train and validation (seeded, stratified by whether a woman
// has a malignant image; splits.ts).

import type { PreprocessingSpec } from '../../ml/model-manifest.js';
import { DEFAULT_PREPROCESSING, preprocessImage } from '../../ml/preprocess/index.js';
import { PATCH_CLASSES } from '../../ml/architectures/patch-model.js';
import { seededRandom, trainValidationByWoman } from '../datasets/splits.js';
import { breastMaskInInput, canonicalGreyImage, inputGeometry, specBreastThreshold, storedRegionToInput, storedRoiToInput, type InputGeometry } from './geometry.js';
import { resolveOptions, sampleS1, sampleS10, type SampleImage, type SampleOptions } from './sample.js';
import type { Patch, PatchClassName, PatchSourceImage } from './types.js';

/** One image ready for sampling: its model input (one plane), ROIs and mask in input coordinates. */
export interface PreparedPatchImage extends SampleImage {
  geometry: InputGeometry;
}

/** Pre-processes one image (one preprocessImage call) and maps its ROIs into the input. */
export async function preparePatchImage(source: PatchSourceImage, spec: PreprocessingSpec = DEFAULT_PREPROCESSING): Promise<PreparedPatchImage> {
  const canonical = canonicalGreyImage(await source.loadPixels());
  const prepared = preprocessImage(canonical, spec);
  const geometry = inputGeometry(canonical, spec, canonical.flippedHorizontally);
  const [, height, width] = prepared.shape;
  return {
    id: source.id,
    womanId: source.womanId,
    width,
    height,
    // Channel 0; the others are copies of it.
    pixels: prepared.data.subarray(0, width * height),
    rois: source.rois.map((roi) => storedRoiToInput(geometry, roi)),
    avoidRegions: (source.avoidRegions ?? []).map((region) => storedRegionToInput(geometry, region)),
    breastMask: breastMaskInInput(geometry, canonical, specBreastThreshold(spec)),
    noBackground: source.hasUnlocatedLesions === true,
    geometry,
  };
}

export type PatchSet = 'S1' | 'S10';

export interface PatchDatasetOptions {
  set: PatchSet;
  seed: number;
  spec: PreprocessingSpec;
  /** Fraction of women (per stratum) for validation: 0.1 as the paper. */
  validationFraction: number;
  sample: Partial<SampleOptions>;
}

export type ClassCounts = Record<PatchClassName, number>;

export interface PatchDatasetImage {
  id: string;
  womanId: string;
  split: 'train' | 'validation';
  flipped: boolean;
  rois: number;
  patches: number;
  shortfall: { lesion: number; background: number; hardNegative: number };
}

export interface PatchDataset {
  train: Patch[];
  validation: Patch[];
  validationWomen: string[];
  counts: { train: ClassCounts; validation: ClassCounts; total: ClassCounts };
  images: PatchDatasetImage[];
}

export function countClasses(patches: readonly Patch[]): ClassCounts {
  const counts = Object.fromEntries(PATCH_CLASSES.map((c) => [c, 0])) as ClassCounts;
  for (const p of patches) counts[p.className]++;
  return counts;
}

/** A 32-bit seed for one image from the data set's seed and the image id (FNV-1a): order-independent. */
export function imageSeed(seed: number, imageId: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < imageId.length; i++) h = Math.imul(h ^ imageId.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Samples the patch set of `images` and splits it by woman. Each image is loaded and
 * pre-processed once, in order, and only its patches are kept (about 200 KB per 224² patch).
 * Every image draws from its own RNG seeded by (seed, image id), so adding or removing an image
 * does not change the patches of the others.
 */
export async function samplePatchDataset(images: readonly PatchSourceImage[], options: Partial<PatchDatasetOptions> = {}): Promise<PatchDataset> {
  const { set = 'S10', seed = 0, spec = DEFAULT_PREPROCESSING, validationFraction = 0.1, sample = {} } = options;
  const sampleOptions = resolveOptions(sample);
  const split = trainValidationByWoman(images, validationFraction, seed);
  const validationWomen = new Set(split.validationWomen);
  const train: Patch[] = [];
  const validation: Patch[] = [];
  const summaries: PatchDatasetImage[] = [];
  for (const source of images) {
    const prepared = await preparePatchImage(source, spec);
    const result = set === 'S1' ? { patches: sampleS1(prepared, sampleOptions), shortfall: { lesion: 0, background: 0, hardNegative: 0 } } : sampleS10(prepared, seededRandom(imageSeed(seed, source.id)), sampleOptions);
    const side = validationWomen.has(source.womanId) ? 'validation' : 'train';
    (side === 'train' ? train : validation).push(...result.patches);
    summaries.push({ id: source.id, womanId: source.womanId, split: side, flipped: prepared.geometry.flipped, rois: prepared.rois.length, patches: result.patches.length, shortfall: result.shortfall });
  }
  return {
    train,
    validation,
    validationWomen: split.validationWomen,
    counts: { train: countClasses(train), validation: countClasses(validation), total: countClasses([...train, ...validation]) },
    images: summaries,
  };
}
