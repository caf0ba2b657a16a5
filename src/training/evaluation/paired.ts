// Two models compared on the same images: the difference of their per-image AUCs with a 95%
// bootstrap interval that resamples women (both models' scores of a woman's images travel
// together), so the interval accounts for the correlation between the two models on the same
// images. What docs/training.md reports when a candidate model is compared with the shipped one.

import { quantile, seededRandom } from './bootstrap.js';
import { auc } from './roc.js';

export interface PairedImage {
  woman: string;
  label: 0 | 1;
  /** Model A's score. */
  a: number;
  /** Model B's score. */
  b: number;
}

export interface PairedAucDifference {
  images: number;
  women: number;
  aucA: number;
  aucB: number;
  /** aucB - aucA. */
  difference: number;
  ci: [number, number];
  /** Share of the resamples in which B's AUC is above A's. */
  shareAbove: number;
  samples: number;
  /** Resamples discarded for holding one class only (drawn again). */
  redrawn: number;
}

export function pairedAucDifference(images: readonly PairedImage[], options: { samples?: number; seed?: number } = {}): PairedAucDifference {
  const { samples = 2000, seed = 12345 } = options;
  if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`bootstrap samples must be a positive whole number; got ${samples}`);
  if (!Number.isInteger(seed)) throw new RangeError(`bootstrap seed must be a whole number; got ${seed}`);
  const labels = images.map((i) => i.label);
  if (!labels.includes(0) || !labels.includes(1)) throw new RangeError('a paired AUC comparison needs images of both classes');
  const byWoman = new Map<string, PairedImage[]>();
  for (const image of images) byWoman.set(image.woman, [...(byWoman.get(image.woman) ?? []), image]);
  const women = [...byWoman.values()];
  const difference = (set: readonly PairedImage[]) => {
    const l = set.map((i) => i.label);
    return auc(set.map((i) => i.b), l) - auc(set.map((i) => i.a), l);
  };
  const random = seededRandom(seed);
  const differences: number[] = [];
  let redrawn = 0;
  while (differences.length < samples) {
    const drawn: PairedImage[] = [];
    for (let k = 0; k < women.length; k++) drawn.push(...women[Math.floor(random() * women.length)]!);
    const l = drawn.map((i) => i.label);
    if (!l.includes(0) || !l.includes(1)) {
      if (++redrawn > 100 * samples) throw new RangeError(`too few women of one class among ${women.length} to bootstrap`);
      continue;
    }
    differences.push(difference(drawn));
  }
  differences.sort((x, y) => x - y);
  const aucA = auc(images.map((i) => i.a), labels);
  const aucB = auc(images.map((i) => i.b), labels);
  return {
    images: images.length,
    women: women.length,
    aucA,
    aucB,
    difference: aucB - aucA,
    ci: [quantile(differences, 0.025), quantile(differences, 0.975)],
    shareAbove: differences.filter((d) => d > 0).length / differences.length,
    samples,
    redrawn,
  };
}
