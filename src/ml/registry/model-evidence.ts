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

/** What a report says about the evidence behind its model (TID 4019 Algorithm Parameters). */
export interface ModelEvidence {
  auc: number | null;
  aucCi: [number, number] | null;
  /** The data the AUC was measured on, e.g. "rsna-screening". */
  dataset: string | null;
  /** How, e.g. "4-fold cross-validation by woman, out-of-fold predictions of 2555 images". */
  method: string | null;
  /** ciBeatsChance of the AUC's CI. */
  beatsChance: boolean | null;
  /** The package declares itself for research use only (e.g. trained on research-only data). */
  researchUseOnly: boolean;
}

const numberOf = (v: JsonValue | undefined): number | null => (typeof v === 'number' ? v : null);

/**
 * The evidence behind a model version: its headline evaluation (the latest evaluation on this
 * site's labels, else the training validation), where that was measured and how.
 */
export function modelEvidence(metrics: JsonValue | null | undefined, manifest: JsonValue | null | undefined): ModelEvidence {
  const { auc, aucCi } = headlineEvaluation(metrics);
  const m = isObject(metrics) ? metrics : {};
  const man = isObject(manifest) ? manifest : {};
  const intended = isObject(man.intendedUse) ? man.intendedUse : {};
  let dataset: string | null = null;
  let method: string | null = null;
  const latest = Array.isArray(m.evaluations) ? m.evaluations.at(-1) : undefined;
  if (isObject(latest)) {
    const data = isObject(latest.data) ? latest.data : {};
    dataset = "this site's recorded labels";
    const on = typeof latest.at === 'string' ? ` ${latest.at.slice(0, 10)}` : '';
    method = `evaluated${on} on ${numberOf(data.scored) ?? '?'} labelled results (unit: ${typeof latest.unit === 'string' ? latest.unit : 'image'})`;
  } else if (auc !== null) {
    const training = isObject(man.trainingData) ? man.trainingData : {};
    const datasets = Array.isArray(training.datasets) ? training.datasets.filter((d): d is string => typeof d === 'string') : [];
    dataset = datasets.length ? datasets.join(', ') : null;
    const folds = numberOf(m.folds);
    const validated = numberOf(m.foldsValidated);
    const n = numberOf(m.n);
    const images = n === null ? '' : `, ${n} images`;
    method =
      folds === null
        ? `validation${images}`
        : validated !== null && validated < folds
          ? `withheld women: ${validated} of ${folds} folds by woman${images}`
          : `${folds}-fold cross-validation by woman, out-of-fold${images}`;
  }
  return { auc, aucCi, dataset, method, beatsChance: ciBeatsChance(aucCi), researchUseOnly: intended.researchUseOnly === true };
}
