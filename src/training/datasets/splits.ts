// Splits of a data set by woman, never by image: both breasts (and every view) of one woman land
// on the same side, or a model would be validated on the other breast of a woman it trained on.
// Stratified by whether the woman has a malignant image, because positives are few (mini-MIAS:
// 36 malignant images), and seeded, so a split can be written down and reproduced.

import { ValidationError } from '../../domain/errors.js';

/** What a split needs to know about an image. */
export interface SplitItem {
  womanId: string;
  malignant: boolean;
}

export interface Fold<T> {
  index: number;
  train: T[];
  validation: T[];
  /** Sorted woman ids of the validation part. */
  validationWomen: string[];
}

export interface TrainValidationSplit<T> {
  train: T[];
  validation: T[];
  validationWomen: string[];
}

/** mulberry32: a small, fast 32-bit seeded PRNG; plenty for shuffling a few hundred women. Returns values in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates on a copy. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Women (sorted, so the input order does not matter) shuffled within each stratum. */
function strata(items: readonly SplitItem[], seed: number): { positive: string[]; negative: string[] } {
  const positive = new Set<string>();
  const all = new Set<string>();
  for (const item of items) {
    all.add(item.womanId);
    if (item.malignant) positive.add(item.womanId);
  }
  const sorted = [...all].sort();
  const random = seededRandom(seed);
  return {
    positive: shuffled(sorted.filter((w) => positive.has(w)), random),
    negative: shuffled(sorted.filter((w) => !positive.has(w)), random),
  };
}

function checkSeed(seed: number): void {
  if (!Number.isInteger(seed)) throw new ValidationError('seed', `must be an integer; got ${seed}`);
}

/**
 * k folds for cross-validation. Positive women are dealt round-robin over the folds, negative
 * women continue the deal where the positives stopped, so the positives per fold differ by at
 * most one and so do the women per fold.
 */
export function kFoldsByWoman<T extends SplitItem>(items: readonly T[], k: number, seed: number): Fold<T>[] {
  checkSeed(seed);
  const { positive, negative } = strata(items, seed);
  const women = positive.length + negative.length;
  if (!Number.isInteger(k) || k < 2) throw new ValidationError('k', `must be an integer of at least 2; got ${k}`);
  if (k > women) throw new ValidationError('k', `${k} folds need at least ${k} women; the data has ${women}`);
  const foldOf = new Map<string, number>();
  [...positive, ...negative].forEach((woman, i) => foldOf.set(woman, i % k));
  return Array.from({ length: k }, (_, index) => ({
    index,
    train: items.filter((item) => foldOf.get(item.womanId) !== index),
    validation: items.filter((item) => foldOf.get(item.womanId) === index),
    validationWomen: [...foldOf].filter(([, fold]) => fold === index).map(([woman]) => woman).sort(),
  }));
}

/**
 * One train/validation split: `validationFraction` of the positive women and of the negative
 * women (rounded, at least one of each stratum that has two or more) go to validation.
 */
export function trainValidationByWoman<T extends SplitItem>(items: readonly T[], validationFraction: number, seed: number): TrainValidationSplit<T> {
  checkSeed(seed);
  if (!(validationFraction > 0 && validationFraction < 1)) throw new ValidationError('validationFraction', `must be between 0 and 1 (exclusive); got ${validationFraction}`);
  const { positive, negative } = strata(items, seed);
  const take = (women: string[]) => (women.length < 2 ? 0 : Math.min(women.length - 1, Math.max(1, Math.round(women.length * validationFraction))));
  const validationWomen = new Set([...positive.slice(0, take(positive)), ...negative.slice(0, take(negative))]);
  return {
    train: items.filter((item) => !validationWomen.has(item.womanId)),
    validation: items.filter((item) => validationWomen.has(item.womanId)),
    validationWomen: [...validationWomen].sort(),
  };
}
