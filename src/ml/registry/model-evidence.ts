// What a model version's own metrics say about it: the headline evaluation (the latest
// evaluation an admin ran, else the training report's validation) and whether that shows
// discrimination better than chance. The API shows it; activation warns when it does not.

import type { JsonValue } from '../../domain/index.js';

export interface HeadlineEvaluation {
  auc: number | null;
  /** 95% confidence interval of that AUC. */
  aucCi: [number, number] | null;
  roc: unknown;
}

type JsonObject = { [key: string]: JsonValue };
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function headlineEvaluation(metrics: JsonValue | null | undefined): HeadlineEvaluation {
  let best: JsonObject = {};
  if (isObject(metrics)) {
    const { evaluations, validation } = metrics;
    const latest = Array.isArray(evaluations) ? evaluations.at(-1) : undefined;
    best = isObject(latest) ? latest : isObject(validation) ? validation : metrics;
  }
  const ci = best.auc_ci;
  const aucCi: [number, number] | null = Array.isArray(ci) && ci.length === 2 && typeof ci[0] === 'number' && typeof ci[1] === 'number' ? [ci[0], ci[1]] : null;
  return { auc: typeof best.auc === 'number' ? best.auc : null, aucCi, roc: best.roc };
}

/**
 * true: the 95% CI lies above 0.5; false: it does not (the model has not shown that it tells
 * malignant from other images); null: no CI to judge by.
 */
export function ciBeatsChance(aucCi: readonly [number, number] | null): boolean | null {
  return aucCi ? aucCi[0] > 0.5 : null;
}

/** Whether a version's headline evaluation (from its stored metrics) beats chance. */
export function beatsChance(metrics: JsonValue | null | undefined): boolean | null {
  return ciBeatsChance(headlineEvaluation(metrics).aucCi);
}
