// The evaluation summary an admin compares between model versions, as printed by
// `mammocad evaluate --json`: AUC with its bootstrap CI, sensitivity at 80% and 90%
// specificity, the operating threshold (chosen on validation data, never on the data evaluated)
// and the ROC points.

import { ValidationError } from '../../domain/index.js';
import { bootstrapAucCi, type BootstrapOptions } from './bootstrap.js';
import { chooseOperatingThreshold, operatingPointAtSpecificity, performanceAtThreshold, type ThresholdRule } from './operating-point.js';
import { perBreast, type ImageRecord } from './per-breast.js';
import { rankScores, rocFromRanked, weightedAuc, type RocPoint } from './roc.js';

export interface EvaluationInput {
  scores: readonly number[];
  labels: readonly number[];
  /** Resampling clusters for the CI (woman ids); without them items are resampled alone. */
  groups?: readonly string[];
}

export interface EvaluationOptions extends Omit<BootstrapOptions, 'groups'> {
  /** A threshold already chosen (e.g. the model package's). Wins over `validation`. */
  threshold?: number;
  /** Validation data to choose the threshold on, with `rule` (default: 90% specificity). */
  validation?: { scores: readonly number[]; labels: readonly number[] };
  rule?: ThresholdRule;
}

/** A ROC point as JSON: threshold null stands for Infinity (nothing called positive). */
export interface RocPointJson {
  fpr: number;
  tpr: number;
  threshold: number | null;
}

export interface EvaluationReport {
  unit: 'image' | 'breast';
  auc: number;
  auc_ci: [number, number];
  n: number;
  positives: number;
  'sensitivity_at_spec_0.8': number;
  'sensitivity_at_spec_0.9': number;
  /** The operating threshold; null when none was given or chosen, or it calls nothing positive. */
  threshold: number | null;
  /** Sensitivity and specificity of `threshold` on the evaluated data (null without a threshold). */
  sensitivity_at_threshold: number | null;
  specificity_at_threshold: number | null;
  bootstrap: { samples: number; seed: number; level: number; unit: 'group' | 'item'; units: number; redrawn: number };
  roc: RocPointJson[];
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

export function evaluationReport(input: EvaluationInput, options: EvaluationOptions = {}, unit: 'image' | 'breast' = 'image'): EvaluationReport {
  const { scores, labels } = input;
  const ranked = rankScores(scores, labels);
  const ci = bootstrapAucCi(scores, labels, {
    ...(options.samples === undefined ? {} : { samples: options.samples }),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.level === undefined ? {} : { level: options.level }),
    ...(input.groups === undefined ? {} : { groups: input.groups }),
  });
  let threshold: number | null = null;
  if (options.threshold !== undefined) {
    if (!Number.isFinite(options.threshold)) throw new ValidationError('threshold', `must be a finite number, got ${String(options.threshold)}`);
    threshold = options.threshold;
  } else if (options.validation !== undefined) {
    const chosen = chooseOperatingThreshold(options.validation.scores, options.validation.labels, options.rule ?? { targetSpecificity: 0.9 });
    threshold = finiteOrNull(chosen.threshold);
  }
  const atThreshold = threshold === null ? null : performanceAtThreshold(scores, labels, threshold);
  const positives = ranked.sortedLabels.reduce((sum, l) => sum + l, 0);
  return {
    unit,
    auc: weightedAuc(ranked),
    auc_ci: [ci.lower, ci.upper],
    n: scores.length,
    positives,
    'sensitivity_at_spec_0.8': operatingPointAtSpecificity(ranked, 0.8).sensitivity,
    'sensitivity_at_spec_0.9': operatingPointAtSpecificity(ranked, 0.9).sensitivity,
    threshold,
    sensitivity_at_threshold: atThreshold?.sensitivity ?? null,
    specificity_at_threshold: atThreshold?.specificity ?? null,
    bootstrap: { samples: ci.samples, seed: ci.seed, level: ci.level, unit: ci.unit, units: ci.units, redrawn: ci.redrawn },
    roc: rocFromRanked(ranked).map((p: RocPoint) => ({ fpr: p.fpr, tpr: p.tpr, threshold: finiteOrNull(p.threshold) })),
  };
}

/**
 * The same report per breast: views combined by `perBreast`, the CI resampling women (a woman's
 * two breasts stay together). `validation` records, when given, are combined the same way.
 */
export function evaluationReportPerBreast(
  records: readonly ImageRecord[],
  options: Omit<EvaluationOptions, 'validation'> & { validation?: readonly ImageRecord[] } = {},
): EvaluationReport {
  const breasts = perBreast(records);
  const { validation, ...rest } = options;
  const validationBreasts = validation === undefined ? undefined : perBreast(validation);
  return evaluationReport(
    { scores: breasts.map((b) => b.score), labels: breasts.map((b) => b.label), groups: breasts.map((b) => b.woman) },
    {
      ...rest,
      ...(validationBreasts === undefined ? {} : { validation: { scores: validationBreasts.map((b) => b.score), labels: validationBreasts.map((b) => b.label) } }),
    },
    'breast',
  );
}
