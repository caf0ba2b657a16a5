// What a model version's stored metrics show, as the API and activation use it: the headline
// evaluation (the latest an admin ran, else the training report's validation) and whether its
// 95% CI beats chance. The rule itself is src/ml/registry/model-evidence.ts; the API reaches it
// through here, not by importing src/ml.

import type { JsonValue } from '../domain/index.js';
import { ciBeatsChance, headlineEvaluation, type HeadlineEvaluation } from '../ml/registry/index.js';

export interface VersionEvidence extends HeadlineEvaluation {
  /** true: the AUC's 95% CI lies above 0.5; false: it does not; null: no CI to judge by. */
  beatsChance: boolean | null;
}

/** The headline evaluation of a version's metrics and whether it beats chance. */
export function versionEvidence(metrics: JsonValue | null | undefined): VersionEvidence {
  const best = headlineEvaluation(metrics);
  return { ...best, beatsChance: ciBeatsChance(best.aucCi) };
}
