// A version's headline evaluation and whether it beats chance, from the metrics as stored.

import { describe, expect, it } from 'vitest';
import { beatsChance, headlineEvaluation } from '../../src/ml/registry/model-evidence.js';

describe('model evidence', () => {
  it("takes the latest evaluation, else the training report's validation, else the metrics themselves", () => {
    const training = { auc: 0.7, auc_ci: [0.6, 0.8], roc: [{ fpr: 0, tpr: 0 }] };
    expect(headlineEvaluation(training)).toEqual({ auc: 0.7, aucCi: [0.6, 0.8], roc: [{ fpr: 0, tpr: 0 }] });
    expect(headlineEvaluation({ ...training, validation: { auc: 0.65, auc_ci: [0.55, 0.75] } })).toMatchObject({ auc: 0.65, aucCi: [0.55, 0.75] });
    expect(headlineEvaluation({ ...training, evaluations: [{ auc: 0.6, auc_ci: [0.5, 0.7] }, { auc: 0.52, auc_ci: [0.4, 0.64] }] })).toMatchObject({ auc: 0.52, aucCi: [0.4, 0.64] });
  });

  it('reads nothing it cannot trust', () => {
    expect(headlineEvaluation(null)).toEqual({ auc: null, aucCi: null, roc: undefined });
    expect(headlineEvaluation({ auc: '0.9', auc_ci: [0.8] })).toMatchObject({ auc: null, aucCi: null });
    expect(headlineEvaluation([1, 2])).toMatchObject({ auc: null });
  });

  it('beats chance only when the whole 95% CI lies above 0.5', () => {
    expect(beatsChance({ auc: 0.62, auc_ci: [0.51, 0.73] })).toBe(true);
    expect(beatsChance({ auc: 0.6, auc_ci: [0.5, 0.7] })).toBe(false);
    expect(beatsChance({ auc: 0.5, auc_ci: [0.39, 0.6] })).toBe(false);
    expect(beatsChance({ auc: 0.9 })).toBeNull();
    expect(beatsChance(null)).toBeNull();
  });
});
