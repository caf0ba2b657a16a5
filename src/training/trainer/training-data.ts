// The trainer's view of a data set: read it (by kind), decode and pre-process every image once
// to find those that cannot be used (recorded as skips, never dropped silently), refuse what
// cannot train a model (one class, folds without both classes), and adapt images to the patch
// sampler's form (lesion regions resolved into patch ROIs).

import { DatasetError, MammocadError, ValidationError } from '../../domain/errors.js';
import type { PreprocessingSpec } from '../../ml/model-manifest.js';
import { contentMirrored, histogramSettingsFor, inputHistogram, type HistogramSettings } from '../../ml/ood/index.js';
import { preprocessImage, type GreyImage, type PreparedImage } from '../../ml/preprocess/index.js';
import { readCbisDdsmDataset } from '../datasets/cbis-ddsm.js';
import { countClasses, type DatasetSkip, type TrainingDataset, type TrainingImage } from '../datasets/dataset.js';
import { readImageFolderDataset } from '../datasets/image-folder.js';
import { readInbreastDataset } from '../datasets/inbreast.js';
import { readMiasDataset } from '../datasets/mias.js';
import { miasTrainingDataset } from '../datasets/mias-training.js';
import type { Fold } from '../datasets/splits.js';
import { canonicalGreyImage } from '../patches/geometry.js';
import type { PatchSourceImage, Region, StoredRoi } from '../patches/types.js';
import type { TrainingConfig } from './config.js';

/** Reads the configured data set ('labels' needs the caller's reader: it lives with the PACS). */
export async function readConfiguredDataset(config: TrainingConfig, labelled?: () => Promise<TrainingDataset>): Promise<TrainingDataset> {
  const { kind, dir, csvFiles } = config.dataset;
  let dataset: TrainingDataset;
  switch (kind) {
    case 'mias':
      if (!dir) throw new ValidationError('training config dataset.dir', 'the mini-MIAS folder is required');
      dataset = miasTrainingDataset(await readMiasDataset(dir));
      break;
    case 'inbreast':
      dataset = await readInbreastDataset(dir!, { missingFiles: 'skip' });
      break;
    case 'cbis':
      dataset = await readCbisDdsmDataset({ imageDir: dir!, csvFiles: csvFiles ?? [], missingFiles: 'skip' });
      break;
    case 'image-folder':
      dataset = await readImageFolderDataset(dir!, config.dataset.name === undefined ? {} : { name: config.dataset.name });
      break;
    case 'labels':
      if (!labelled) throw new ValidationError('training config dataset.kind', "'labels' needs the service's labelled images (run it as a job of the service)");
      dataset = await labelled();
      break;
  }
  if (config.dataset.limit !== undefined && dataset.images.length > config.dataset.limit) {
    const images = dataset.images.slice(0, config.dataset.limit);
    dataset = { ...dataset, images, classCounts: countClasses(images) };
  }
  return dataset;
}

/** The grey image as the decoder would hand it out (breast on the left), from a training image. */
export async function canonicalOf(image: TrainingImage): Promise<GreyImage> {
  return canonicalGreyImage(await image.loadPixels());
}

/**
 * Prepared model inputs of the images, decoded on demand and kept in memory up to a budget
 * (a full-size grey input is 4 MB). Decoding the same file twice gives the same input, so a
 * dropped entry costs time only. The out-of-distribution histogram of every input prepared is
 * kept too (64 numbers), for the package's reference (src/ml/ood).
 */
export class PreparedImages {
  private readonly cache = new Map<string, PreparedImage>();
  private bytes = 0;
  readonly histogramSettings: HistogramSettings;
  /** The out-of-distribution histogram of each image prepared, by image id. */
  readonly histograms = new Map<string, Float64Array>();

  constructor(
    private readonly spec: PreprocessingSpec,
    private readonly budgetBytes: number,
  ) {
    this.histogramSettings = histogramSettingsFor(spec);
  }

  async get(image: TrainingImage): Promise<PreparedImage> {
    const cached = this.cache.get(image.id);
    if (cached) return cached;
    const grey = await canonicalOf(image);
    const prepared = preprocessImage(grey, this.spec);
    if (!this.histograms.has(image.id)) this.histograms.set(image.id, inputHistogram(prepared, this.histogramSettings, contentMirrored(grey, this.spec)));
    if (this.bytes + prepared.data.byteLength <= this.budgetBytes) {
      this.cache.set(image.id, prepared);
      this.bytes += prepared.data.byteLength;
    }
    return prepared;
  }
}

/** Decodes and pre-processes every image once; those that fail are left out with the reason. */
export async function usableImages(dataset: TrainingDataset, prepared: PreparedImages, onImage?: () => Promise<void>): Promise<{ images: TrainingImage[]; skipped: DatasetSkip[] }> {
  const images: TrainingImage[] = [];
  const skipped: DatasetSkip[] = [];
  for (const image of dataset.images) {
    try {
      await prepared.get(image);
      images.push(image);
    } catch (error) {
      // A PACS that is down or refuses our credentials is not the image's fault: the job retries.
      if (error instanceof MammocadError && (error.retryable || error.code === 'PACS_UNAUTHORIZED')) throw error;
      skipped.push({ item: image.id, reason: `cannot be fetched, decoded or pre-processed (${image.source}): ${(error as Error).message}` });
    }
    await onImage?.();
  }
  return { images, skipped };
}

/** Refuses a data set that cannot train a two-class model. */
export function requireBothClasses(name: string, images: readonly TrainingImage[], what = 'the training data'): void {
  const positives = images.filter((i) => i.malignant).length;
  if (images.length === 0) throw new DatasetError(name, `${what} has no usable image`);
  if (positives === 0 || positives === images.length) {
    throw new ValidationError(
      'dataset',
      `${name}: ${what} has ${images.length} image(s), ${positives === 0 ? 'none' : 'all'} malignant: a classifier needs malignant and non-malignant images`,
    );
  }
}

/** Refuses folds whose training or validation part lacks a class (too few positive women for that many folds). */
export function requireUsableFolds(name: string, folds: readonly Fold<TrainingImage>[]): void {
  for (const fold of folds) {
    for (const [part, images] of [
      ['training', fold.train],
      ['validation', fold.validation],
    ] as const) {
      const positives = images.filter((i) => i.malignant).length;
      if (positives === 0 || positives === images.length) {
        throw new ValidationError(
          'folds',
          `${name}: fold ${fold.index + 1} of ${folds.length} has ${images.length} ${part} image(s) of which ${positives} malignant; every fold needs both classes on both sides (use fewer folds or more data)`,
        );
      }
    }
  }
}

/** A training image as a patch source: lesion regions resolved; lesions without a usable label are avoided. */
export async function patchSource(image: TrainingImage): Promise<PatchSourceImage> {
  const rois: StoredRoi[] = [];
  const avoidRegions: Region[] = [];
  let hasUnlocatedLesions = false;
  for (const lesion of image.lesions) {
    const region = await lesion.region();
    if (!region) {
      hasUnlocatedLesions = true;
      continue;
    }
    const shape: Region =
      region.from === 'circle'
        ? { shape: 'ellipse', centre: { ...region.centre }, radiusRows: region.radiusPx, radiusColumns: region.radiusPx }
        : { shape: 'box', top: region.box.top - 0.5, left: region.box.left - 0.5, bottom: region.box.bottom + 0.5, right: region.box.right + 0.5 };
    const pathology = lesion.pathology ?? (image.imageClass === 'malignant' ? 'malignant' : image.imageClass === 'benign' ? 'benign' : null);
    if (lesion.type === 'other' || pathology === null) avoidRegions.push(shape);
    else rois.push({ lesionType: lesion.type, pathology, region: shape, sourceClass: lesion.attributes.class ?? lesion.type });
  }
  return {
    id: image.id,
    womanId: image.womanId,
    malignant: image.malignant,
    rois,
    avoidRegions,
    hasUnlocatedLesions,
    loadPixels: async () => {
      const p = await image.loadPixels();
      return { width: p.width, height: p.height, pixels: p.pixels, pixelSpacingMm: p.pixelSpacingMm };
    },
  };
}
