// Whether a model's results may go into the PACS as a structured report, and what the report
// must say about the model. A radiologist reads the SR in the PACS, not mammocad's API, so the
// report has to be safe on its own:
//
//   model evidence                      research mode off (default)   research mode on
//   CI of its AUC above 0.5             report written                report written, marked
//   no CI above 0.5, or none at all     no report (reason recorded)   report written, marked
//   package says research use only      no report (reason recorded)   report written, marked
//
// "Marked": the report says RESEARCH USE ONLY where viewers show it (a text item under the
// report and its Series Description) and why. Every report carries the evidence itself
// (validation AUC, its CI, where and how it was measured) in its algorithm parameters.

import type { ModelVersionRecord } from '../domain/index.js';
import { modelEvidence, type ModelEvidence } from '../ml/registry/index.js';

export interface ReportDecision {
  /** False: no report is written; `withheldReason` says why (recorded with the study). */
  write: boolean;
  withheldReason: string | null;
  /** The research-use statement the report carries (research mode only). */
  researchUse: { statement: string } | undefined;
  /** What the report says about the model's validation. */
  evidence: { auc: number | null; aucCi: [number, number] | null; dataset: string | null; method: string | null };
}

const fixed = (x: number) => x.toFixed(3);

/** Why a model's scores are not evidence of malignancy, or null when its validation shows discrimination. */
export function evidenceProblem(evidence: ModelEvidence): string | null {
  if (evidence.auc === null || evidence.aucCi === null) return 'the model has no validation AUC with a confidence interval';
  if (evidence.beatsChance !== true) {
    return `the model's validation AUC ${fixed(evidence.auc)} (95% CI ${fixed(evidence.aucCi[0])}-${fixed(evidence.aucCi[1])}) does not exclude chance`;
  }
  return null;
}

export function decideReport(model: Pick<ModelVersionRecord, 'metrics' | 'manifest'>, researchMode: boolean): ReportDecision {
  const evidence = modelEvidence(model.metrics, model.manifest);
  const problems = [evidenceProblem(evidence), evidence.researchUseOnly ? 'the model package is for research use only' : null].filter((p): p is string => p !== null);
  const { auc, aucCi, dataset, method } = evidence;
  const reported = { auc, aucCi, dataset, method };
  if (researchMode) {
    const why = problems.length ? problems.join('; ') : 'results of a research installation, not a validated clinical device';
    return { write: true, withheldReason: null, researchUse: { statement: `RESEARCH USE ONLY, not for clinical decisions: ${why}.` }, evidence: reported };
  }
  if (problems.length) {
    return {
      write: false,
      withheldReason: `no report written to the PACS: ${problems.join('; ')} (results are kept in mammocad; set report.researchMode to write reports marked research use only)`,
      researchUse: undefined,
      evidence: reported,
    };
  }
  return { write: true, withheldReason: null, researchUse: undefined, evidence: reported };
}
