// Operating points on the ROC curve: sensitivity at a required specificity, and the threshold a
// site chooses on its validation data. Only achievable points are used — the thresholds that
// exist in the data — never a linear interpolation between two of them: an interpolated point
// is reached only by a randomised mix of two thresholds, which no site runs, so it would
// overstate the sensitivity a real threshold gives.

import { ValidationError } from '../../domain/index.js';
import { countsAtThresholds, rankScores, validateScoresAndLabels, type RankedScores } from './roc.js';

export interface OperatingPoint {
  /** Call positive when `score >= threshold`; Infinity means nothing is called positive. */
  threshold: number;
  sensitivity: number;
  specificity: number;
}

export type ThresholdRule = { targetSpecificity: number } | { maximise: 'youden' };

/** Every achievable operating point, from threshold Infinity down to the lowest score. */
export function operatingPoints(ranked: RankedScores): OperatingPoint[] {
  return countsAtThresholds(ranked).map((c) => ({
    threshold: c.threshold,
    sensitivity: c.tp / c.positives,
    specificity: (c.negatives - c.fp) / c.negatives,
  }));
}

function checkSpecificity(spec: number): void {
  if (!(spec >= 0 && spec <= 1)) throw new ValidationError('specificity', `must be within [0, 1], got ${String(spec)}`);
}

// Specificity is a ratio of counts; compare with a little slack so that 0.9 means "9 of 10".
const SLACK = 1e-12;

/**
 * The achievable point with the highest sensitivity among those whose specificity is at least
 * `spec` (the lowest such threshold). Always exists: threshold Infinity has specificity 1.
 */
export function operatingPointAtSpecificity(ranked: RankedScores, spec: number): OperatingPoint {
  checkSpecificity(spec);
  let best: OperatingPoint | undefined;
  // Sensitivity only grows and specificity only falls as the threshold drops.
  for (const p of operatingPoints(ranked)) {
    if (p.specificity + SLACK < spec) break;
    best = p;
  }
  return best!;
}

/** Best sensitivity among achievable thresholds whose specificity is >= spec (no interpolation). */
export function sensitivityAtSpecificity(scores: readonly number[], labels: readonly number[], spec: number): number {
  return operatingPointAtSpecificity(rankScores(scores, labels), spec).sensitivity;
}

/** The threshold of `sensitivityAtSpecificity`'s point (Infinity when only "nothing positive" qualifies). */
export function thresholdForSpecificity(scores: readonly number[], labels: readonly number[], spec: number): number {
  return operatingPointAtSpecificity(rankScores(scores, labels), spec).threshold;
}

/**
 * Chooses a site's operating threshold on validation data: the highest-sensitivity threshold
 * meeting a target specificity, or the one maximising Youden's J = sensitivity + specificity - 1
 * (ties go to the higher threshold, i.e. the more specific one).
 */
export function chooseOperatingThreshold(scores: readonly number[], labels: readonly number[], rule: ThresholdRule): OperatingPoint {
  const ranked = rankScores(scores, labels);
  if ('targetSpecificity' in rule) return operatingPointAtSpecificity(ranked, rule.targetSpecificity);
  if (rule.maximise !== 'youden') throw new ValidationError('rule.maximise', `unknown criterion ${String(rule.maximise)}`);
  let best: OperatingPoint | undefined;
  let bestJ = -Infinity;
  for (const p of operatingPoints(ranked)) {
    const j = p.sensitivity + p.specificity - 1;
    if (j > bestJ + SLACK) {
      best = p;
      bestJ = j;
    }
  }
  return best!;
}

/** Sensitivity and specificity of a fixed threshold on (other) data. */
export function performanceAtThreshold(scores: readonly number[], labels: readonly number[], threshold: number): OperatingPoint {
  validateScoresAndLabels(scores, labels);
  let tp = 0;
  let fp = 0;
  let positives = 0;
  for (let i = 0; i < scores.length; i++) {
    positives += labels[i]!;
    if (scores[i]! >= threshold) {
      if (labels[i] === 1) tp++;
      else fp++;
    }
  }
  const negatives = scores.length - positives;
  return { threshold, sensitivity: tp / positives, specificity: (negatives - fp) / negatives };
}
