// ROC curve and AUC for binary scores, tie-aware. Everything here works on one sorted view of
// the data (`RankedScores`), so the ROC points, the Mann-Whitney AUC and the bootstrap (which
// only re-weights items) all see ties the same way: tied scores are one step of the curve, and a
// positive tied with a negative counts 1/2 in the AUC.
//
// Convention, as in scoring (src/pipeline/score-study.ts): an item is called positive when
// `score >= threshold`.

import { ValidationError } from '../../domain/index.js';

export type Label = 0 | 1;

/** One achievable operating point: call positive every item with `score >= threshold`. */
export interface RocPoint {
  fpr: number;
  tpr: number;
  /** The first point (nothing called positive) has threshold `Infinity`. */
  threshold: number;
}

/** Checks scores and labels; throws ValidationError naming the problem. */
export function validateScoresAndLabels(scores: readonly number[], labels: readonly number[]): void {
  if (scores.length !== labels.length) {
    throw new ValidationError('labels', `length ${labels.length} differs from the number of scores (${scores.length})`);
  }
  let positives = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (!Number.isFinite(s)) throw new ValidationError(`scores[${i}]`, `must be a finite number, got ${String(s)}`);
    const l = labels[i]!;
    if (l !== 0 && l !== 1) throw new ValidationError(`labels[${i}]`, `must be 0 or 1, got ${String(l)}`);
    positives += l;
  }
  if (positives === 0) throw new ValidationError('labels', 'no positives: AUC and sensitivity are undefined');
  if (positives === scores.length) throw new ValidationError('labels', 'no negatives: AUC and specificity are undefined');
}

/**
 * Scores sorted descending, grouped into blocks of tied scores. `order[k]` is the index in the
 * caller's arrays of the k-th item; block b spans sorted positions [blockStart[b], blockStart[b+1]).
 */
export interface RankedScores {
  order: Int32Array;
  /** The block's (tied) score, one per block. */
  blockScore: Float64Array;
  /** blockStart.length = number of blocks + 1; the last entry is n. */
  blockStart: Int32Array;
  /** Labels in sorted order. */
  sortedLabels: Uint8Array;
}

export function rankScores(scores: readonly number[], labels: readonly number[]): RankedScores {
  validateScoresAndLabels(scores, labels);
  const n = scores.length;
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const starts: number[] = [];
  const blockScores: number[] = [];
  const sortedLabels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const s = scores[order[k]!]!;
    if (k === 0 || s !== blockScores[blockScores.length - 1]) {
      starts.push(k);
      blockScores.push(s);
    }
    sortedLabels[k] = labels[order[k]!]!;
  }
  starts.push(n);
  return { order, blockScore: Float64Array.from(blockScores), blockStart: Int32Array.from(starts), sortedLabels };
}

/**
 * AUC as the Mann-Whitney U statistic over (positive, negative) pairs, ties counting 1/2, with
 * each item counted `weight[k]` times (k in sorted order; all 1 when omitted). The bootstrap
 * passes resampling counts as weights, so it never re-sorts.
 */
export function weightedAuc(ranked: RankedScores, weight?: ArrayLike<number>): number {
  const { blockStart, sortedLabels } = ranked;
  let posAbove = 0;
  let pairs = 0;
  let negTotal = 0;
  for (let b = 0; b + 1 < blockStart.length; b++) {
    let pos = 0;
    let neg = 0;
    for (let k = blockStart[b]!; k < blockStart[b + 1]!; k++) {
      const w = weight === undefined ? 1 : weight[k]!;
      if (sortedLabels[k] === 1) pos += w;
      else neg += w;
    }
    pairs += neg * (posAbove + pos / 2);
    posAbove += pos;
    negTotal += neg;
  }
  return pairs / (posAbove * negTotal);
}

/** Area under the ROC curve (Mann-Whitney U / (positives x negatives), ties counted 1/2). */
export function auc(scores: readonly number[], labels: readonly number[]): number {
  return weightedAuc(rankScores(scores, labels));
}

/**
 * The ROC curve: one point per distinct score (plus the origin), from (0, 0) at threshold
 * Infinity to (1, 1) at the lowest score. Tied scores move the curve in one step, so a tie
 * between positives and negatives is one diagonal segment and nothing else is.
 */
export function roc(scores: readonly number[], labels: readonly number[]): RocPoint[] {
  return rocFromRanked(rankScores(scores, labels));
}

/** Confusion counts at every achievable threshold, from Infinity (nothing positive) down to the lowest score. */
export interface ThresholdCounts {
  threshold: number;
  tp: number;
  fp: number;
  positives: number;
  negatives: number;
}

export function countsAtThresholds(ranked: RankedScores): ThresholdCounts[] {
  const { blockStart, blockScore, sortedLabels } = ranked;
  const n = sortedLabels.length;
  let positives = 0;
  for (let k = 0; k < n; k++) positives += sortedLabels[k]!;
  const negatives = n - positives;
  const counts: ThresholdCounts[] = [{ threshold: Infinity, tp: 0, fp: 0, positives, negatives }];
  let tp = 0;
  let fp = 0;
  // One step per block of tied scores: a tie cannot be split by any threshold.
  for (let b = 0; b + 1 < blockStart.length; b++) {
    for (let k = blockStart[b]!; k < blockStart[b + 1]!; k++) {
      if (sortedLabels[k] === 1) tp++;
      else fp++;
    }
    counts.push({ threshold: blockScore[b]!, tp, fp, positives, negatives });
  }
  return counts;
}

export function rocFromRanked(ranked: RankedScores): RocPoint[] {
  return countsAtThresholds(ranked).map((c) => ({ fpr: c.fp / c.negatives, tpr: c.tp / c.positives, threshold: c.threshold }));
}

/** Trapezoid area under a ROC curve given as points in order of increasing fpr. */
export function trapezoidArea(points: readonly { fpr: number; tpr: number }[]): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    area += ((b.fpr - a.fpr) * (a.tpr + b.tpr)) / 2;
  }
  return area;
}
