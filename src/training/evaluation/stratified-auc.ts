// AUC within strata, pooled: how well a score orders positives above negatives among images
// that share a confounder (here: a 10-year age band). On the RSNA screening set women with cancer
// are older, so a model that had learnt age would score well overall; within an age band age
// no longer separates the classes, and what is left is what the model sees in the breast.
//
// The pooled value counts every within-stratum (positive, negative) pair once: the sum over
// strata of AUC_s x pairs_s, over the sum of pairs_s (the stratified Mann-Whitney statistic).
// A stratum with one class has no pairs and adds nothing. The CI is a percentile bootstrap that
// resamples clusters (women) as bootstrap.ts does, strata recomputed from each resample.

import { ValidationError } from '../../domain/index.js';
import { quantile, seededRandom } from './bootstrap.js';
import { rankScores, weightedAuc, type RankedScores } from './roc.js';

export interface StratumAuc {
  stratum: string;
  n: number;
  positives: number;
  /** positives x negatives: the stratum's weight in the pooled value. */
  pairs: number;
  /** Null when the stratum has one class only. */
  auc: number | null;
}

export interface StratifiedAuc {
  /** Null when no stratum has both classes. */
  auc: number | null;
  auc_ci: [number, number] | null;
  n: number;
  positives: number;
  pairs: number;
  strata: StratumAuc[];
  bootstrap: { samples: number; seed: number; level: number; units: number; redrawn: number } | null;
}

export interface StratifiedAucInput {
  scores: readonly number[];
  labels: readonly number[];
  /** The stratum of each item. */
  strata: readonly string[];
  /** Resampling clusters (woman ids); items alone when omitted. */
  groups?: readonly string[];
}

export interface StratifiedAucOptions {
  samples?: number;
  seed?: number;
  level?: number;
  /** Order of the strata in the result (default: by name). */
  compareStrata?: (a: string, b: string) => number;
}

interface PreparedStratum {
  name: string;
  ranked: RankedScores;
  /** Resampling unit of each item in the stratum's score order. */
  unitOf: Int32Array;
}

/** Concordant-pair count and pair count of one ranked stratum under item weights (sorted order). */
function concordance(stratum: PreparedStratum, weight: Float64Array | undefined): { concordant: number; pairs: number } {
  let pos = 0;
  let neg = 0;
  const { sortedLabels } = stratum.ranked;
  for (let k = 0; k < sortedLabels.length; k++) {
    const w = weight === undefined ? 1 : weight[k]!;
    if (sortedLabels[k] === 1) pos += w;
    else neg += w;
  }
  const pairs = pos * neg;
  return { concordant: pairs === 0 ? 0 : weightedAuc(stratum.ranked, weight) * pairs, pairs };
}

export function stratifiedAuc(input: StratifiedAucInput, options: StratifiedAucOptions = {}): StratifiedAuc {
  const { scores, labels, strata } = input;
  const n = scores.length;
  if (labels.length !== n || strata.length !== n || (input.groups && input.groups.length !== n)) {
    throw new ValidationError('strata', `scores (${n}), labels (${labels.length}), strata (${strata.length})${input.groups ? ` and groups (${input.groups.length})` : ''} must have one entry per item`);
  }
  const samples = options.samples ?? 2000;
  const seed = options.seed ?? 0;
  const level = options.level ?? 0.95;
  if (!Number.isInteger(samples) || samples < 1) throw new ValidationError('samples', `must be a positive integer, got ${String(samples)}`);
  if (!(level > 0 && level < 1)) throw new ValidationError('level', `must be within (0, 1), got ${String(level)}`);

  // Units numbered by first appearance, as bootstrap.ts does, so the draw does not depend on the ids' spelling.
  const unitIndex = new Map<string, number>();
  const unitOfItem = Int32Array.from({ length: n }, (_, i) => {
    const key = input.groups ? input.groups[i]! : String(i);
    let u = unitIndex.get(key);
    if (u === undefined) {
      u = unitIndex.size;
      unitIndex.set(key, u);
    }
    return u;
  });
  const units = unitIndex.size;

  const members = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const label = labels[i];
    if (label !== 0 && label !== 1) throw new ValidationError(`labels[${i}]`, `must be 0 or 1, got ${String(label)}`);
    const list = members.get(strata[i]!) ?? [];
    list.push(i);
    members.set(strata[i]!, list);
  }
  const names = [...members.keys()].sort(options.compareStrata ?? ((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  const result: StratumAuc[] = [];
  const prepared: PreparedStratum[] = [];
  let concordantTotal = 0;
  let pairsTotal = 0;
  for (const name of names) {
    const items = members.get(name)!;
    const positives = items.filter((i) => labels[i] === 1).length;
    const pairs = positives * (items.length - positives);
    if (pairs === 0) {
      result.push({ stratum: name, n: items.length, positives, pairs, auc: null });
      continue;
    }
    const ranked = rankScores(
      items.map((i) => scores[i]!),
      items.map((i) => labels[i]!),
    );
    const stratum = { name, ranked, unitOf: Int32Array.from(ranked.order, (k) => unitOfItem[items[k]!]!) };
    prepared.push(stratum);
    const c = concordance(stratum, undefined);
    concordantTotal += c.concordant;
    pairsTotal += c.pairs;
    result.push({ stratum: name, n: items.length, positives, pairs, auc: c.concordant / c.pairs });
  }
  const positives = labels.reduce<number>((sum, l) => sum + l, 0);
  if (pairsTotal === 0) return { auc: null, auc_ci: null, n, positives, pairs: 0, strata: result, bootstrap: null };

  const random = seededRandom(seed);
  const drawn = new Float64Array(units);
  const weights = prepared.map((s) => new Float64Array(s.unitOf.length));
  const aucs = new Float64Array(samples);
  let redrawn = 0;
  for (let s = 0; s < samples; ) {
    drawn.fill(0);
    for (let i = 0; i < units; i++) drawn[Math.floor(random() * units)]! += 1;
    let concordant = 0;
    let pairs = 0;
    prepared.forEach((stratum, j) => {
      const weight = weights[j]!;
      for (let k = 0; k < weight.length; k++) weight[k] = drawn[stratum.unitOf[k]!]!;
      const c = concordance(stratum, weight);
      concordant += c.concordant;
      pairs += c.pairs;
    });
    if (pairs === 0) {
      redrawn++;
      if (redrawn > 100 * samples) throw new ValidationError('labels', `too few within-stratum pairs among ${units} resampling units to bootstrap`);
      continue;
    }
    aucs[s++] = concordant / pairs;
  }
  aucs.sort();
  const alpha = (1 - level) / 2;
  return {
    auc: concordantTotal / pairsTotal,
    auc_ci: [quantile(aucs, alpha), quantile(aucs, 1 - alpha)],
    n,
    positives,
    pairs: pairsTotal,
    strata: result,
    bootstrap: { samples, seed, level, units, redrawn },
  };
}

/** The 10-year (or `width`-year) band of an age: '[40,50)'. */
export function ageBand(age: number, width = 10): { from: number; to: number; name: string } {
  const from = Math.floor(age / width) * width;
  return { from, to: from + width, name: `[${from},${from + width})` };
}

/** Orders band names '[40,50)' by their lower bound. */
export function compareAgeBands(a: string, b: string): number {
  return Number(/^\[(-?[\d.]+)/.exec(a)?.[1]) - Number(/^\[(-?[\d.]+)/.exec(b)?.[1]);
}
