// From image scores to breast and exam scores. A breast's probability is the maximum over its
// views (a lesion seen on one view is enough; the method's per-breast evaluation does the
// same); the exam's is the maximum over its breasts. Images of unknown side count for the exam
// only.

import type { BreastSide, Laterality } from './vocabulary.js';
import { assertProbability } from './vocabulary.js';

export interface ImageScore {
  sopInstanceUid: string;
  laterality: Laterality;
  probability: number;
}

export interface AggregateScore {
  probability: number;
  /** SOP Instance UIDs the score is based on. */
  sources: string[];
}

export interface AggregatedScores {
  breasts: Array<AggregateScore & { laterality: BreastSide }>;
  exam: AggregateScore;
}

function maxOf(images: ImageScore[]): AggregateScore {
  return { probability: Math.max(...images.map((i) => i.probability)), sources: images.map((i) => i.sopInstanceUid) };
}

export function aggregateScores(images: ImageScore[]): AggregatedScores {
  if (images.length === 0) throw new RangeError('aggregateScores needs at least one image score');
  images.forEach((image, i) => assertProbability(`images[${i}].probability`, image.probability));
  const breasts = (['L', 'R'] as const)
    .map((side) => ({ side, images: images.filter((i) => i.laterality === side || i.laterality === 'B') }))
    .filter((b) => b.images.length > 0)
    .map((b) => ({ laterality: b.side, ...maxOf(b.images) }));
  return { breasts, exam: maxOf(images) };
}
