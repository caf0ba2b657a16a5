// The out-of-distribution reference of an existing package from a data set
// (`mammocad models ood-reference`): every image decoded as the scoring path decodes it,
// pre-processed with the package's spec, its histogram kept with its woman; images that cannot
// be decoded or pre-processed are skipped with the reason. The trainer builds the same
// reference for new packages from the histograms it takes while preparing its images.

import { DatasetError, MammocadError } from '../../domain/errors.js';
import { OodReferenceBuilder, type OodReference } from '../../ml/ood/index.js';
import type { ModelPackage } from '../../ml/registry/index.js';
import type { DatasetSkip, TrainingDataset } from '../datasets/dataset.js';
import { canonicalOf } from './training-data.js';

export interface ComputedReference {
  reference: OodReference;
  /** Images used. */
  images: number;
  skipped: DatasetSkip[];
  /** Mean milliseconds per image: decoding, then pre-processing and the histogram. */
  msPerImage: { decode: number; preprocessAndHistogram: number };
}

export async function computeOodReference(pkg: ModelPackage, dataset: TrainingDataset, options: { notes?: string } = {}): Promise<ComputedReference> {
  const builder = new OodReferenceBuilder(pkg.manifest.preprocessing);
  const skipped: DatasetSkip[] = [...dataset.skipped];
  let decodeMs = 0;
  let histogramMs = 0;
  for (const image of dataset.images) {
    try {
      const t0 = performance.now();
      const grey = await canonicalOf(image);
      const t1 = performance.now();
      builder.addImage(grey, image.womanId);
      const t2 = performance.now();
      decodeMs += t1 - t0;
      histogramMs += t2 - t1;
    } catch (error) {
      if (error instanceof MammocadError && error.retryable) throw error;
      skipped.push({ item: image.id, reason: `cannot be decoded or pre-processed (${image.source}): ${(error as Error).message}` });
    }
  }
  let reference: OodReference;
  try {
    reference = builder.build({ datasets: [dataset.name], createdAt: new Date().toISOString(), ...(options.notes ? { notes: options.notes } : {}) });
  } catch (error) {
    if (error instanceof RangeError) throw new DatasetError(dataset.name, error.message);
    throw error;
  }
  const n = Math.max(1, builder.count);
  return { reference, images: builder.count, skipped, msPerImage: { decode: decodeMs / n, preprocessAndHistogram: histogramMs / n } };
}
