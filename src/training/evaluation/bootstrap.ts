// Percentile bootstrap confidence interval for the AUC. With `groups` (e.g. woman ids) the
// resampling unit is the group: a resample draws groups with replacement and takes all of a
// drawn group's images, because images of one woman are not independent — resampling images
// would make the interval too narrow. Deterministic for a seed (own PRNG, not Math.random).

import { ValidationError } from '../../domain/index.js';
import { rankScores, weightedAuc } from './roc.js';

export interface BootstrapOptions {
  /** Number of resamples kept (default 2000). */
  samples?: number;
  /** PRNG seed (default 0): the same seed and data give the same interval. */
  seed?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
  /** One id per item; items sharing an id are resampled together. */
  groups?: readonly string[];
}

export interface AucConfidenceInterval {
  auc: number;
  lower: number;
  upper: number;
  level: number;
  samples: number;
  seed: number;
  /** 'group' when resampling whole groups, 'item' otherwise. */
  unit: 'group' | 'item';
  /** Number of resampling units (groups or items). */
  units: number;
  /** Resamples drawn and discarded because they lacked positives or negatives. */
  redrawn: number;
}

/** sfc32 seeded through splitmix32: small, fast, and good enough for resampling. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

/** Quantile with linear interpolation between order statistics (numpy's default, R type 7). */
export function quantile(sorted: readonly number[] | Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * Percentile bootstrap CI of the AUC. A resample without a positive or without a negative has
 * no AUC; it is discarded and redrawn (counted in `redrawn`), so the interval is conditional on
 * both classes being present. Gives up after 100 x samples redraws (the classes are too rare
 * among the units to estimate anything).
 */
export function bootstrapAucCi(scores: readonly number[], labels: readonly number[], options: BootstrapOptions = {}): AucConfidenceInterval {
  const samples = options.samples ?? 2000;
  const seed = options.seed ?? 0;
  const level = options.level ?? 0.95;
  if (!Number.isInteger(samples) || samples < 1) throw new ValidationError('samples', `must be a positive integer, got ${String(samples)}`);
  if (!Number.isInteger(seed)) throw new ValidationError('seed', `must be an integer, got ${String(seed)}`);
  if (!(level > 0 && level < 1)) throw new ValidationError('level', `must be within (0, 1), got ${String(level)}`);
  const ranked = rankScores(scores, labels);
  const n = scores.length;

  // unitOf[k]: the resampling unit of the k-th item in score order.
  const unitOf = new Int32Array(n);
  let units: number;
  if (options.groups === undefined) {
    for (let k = 0; k < n; k++) unitOf[k] = ranked.order[k]!;
    units = n;
  } else {
    const groups = options.groups;
    if (groups.length !== n) throw new ValidationError('groups', `length ${groups.length} differs from the number of scores (${n})`);
    // Units numbered by first appearance, so the draw does not depend on the ids' spelling.
    const index = new Map<string, number>();
    const unitOfItem = groups.map((g) => {
      let u = index.get(g);
      if (u === undefined) {
        u = index.size;
        index.set(g, u);
      }
      return u;
    });
    for (let k = 0; k < n; k++) unitOf[k] = unitOfItem[ranked.order[k]!]!;
    units = index.size;
  }

  const random = seededRandom(seed);
  const drawn = new Float64Array(units);
  const weight = new Float64Array(n);
  const aucs = new Float64Array(samples);
  let redrawn = 0;
  for (let s = 0; s < samples; ) {
    drawn.fill(0);
    for (let i = 0; i < units; i++) drawn[Math.floor(random() * units)]! += 1;
    let pos = 0;
    let neg = 0;
    for (let k = 0; k < n; k++) {
      const w = drawn[unitOf[k]!]!;
      weight[k] = w;
      if (ranked.sortedLabels[k] === 1) pos += w;
      else neg += w;
    }
    if (pos === 0 || neg === 0) {
      redrawn++;
      if (redrawn > 100 * samples) {
        throw new ValidationError('labels', `too few positives or negatives among ${units} resampling units to bootstrap`);
      }
      continue;
    }
    aucs[s++] = weightedAuc(ranked, weight);
  }
  aucs.sort();
  const alpha = (1 - level) / 2;
  return {
    auc: weightedAuc(ranked),
    lower: quantile(aucs, alpha),
    upper: quantile(aucs, 1 - alpha),
    level,
    samples,
    seed,
    unit: options.groups === undefined ? 'item' : 'group',
    units,
    redrawn,
  };
}
