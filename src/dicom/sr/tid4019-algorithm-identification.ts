// TID 4019 Algorithm Identification: which algorithm produced a result. Both report types
// attach it to every result. The model's identity goes into Algorithm Parameters as
// "key=value" texts, because TID 4019 has no rows for a model hash or an operating point:
//   model-version-id=<id in mammocad's store>
//   model-sha256=<hash of the model package>
//   operating-threshold=<the probability at or above which a result is positive>
// and, when the report input gives the model's validation evidence:
//   validation-auc=<AUC> | none                   (none: the model has no validation evidence)
//   validation-auc-95ci=<lower>-<upper> | none
//   validation-data=<data set>; <method> | none   (either part 'none' when unknown)

import { ReportParseError, ValidationError, assertProbability } from '../../domain/index.js';
import { ALGORITHM_NAME, ALGORITHM_PARAMETERS, ALGORITHM_VERSION } from './codes.js';
import { findChildren, requireChild, textContentItem, textValueOf, type ContentItem, type RelationshipType } from './content-items.js';
import { UNKNOWN_EVIDENCE, type AlgorithmIdentity, type ModelEvidence } from './report-input.js';

const MODEL_VERSION_ID = 'model-version-id';
const MODEL_SHA256 = 'model-sha256';
const OPERATING_THRESHOLD = 'operating-threshold';
const VALIDATION_AUC = 'validation-auc';
const VALIDATION_AUC_CI = 'validation-auc-95ci';
const VALIDATION_DATA = 'validation-data';
/** A number as the report writes it (String(x): JavaScript reads it back as the same double), maybe with an exponent. */
const NUMBER = '\\d+(?:\\.\\d+)?(?:e[-+]?\\d+)?';
const CI = new RegExp(`^(${NUMBER})-(${NUMBER})$`, 'i');

/** The Algorithm Parameters texts that carry the evidence. */
export function evidenceParameters(evidence: ModelEvidence): Array<[string, string]> {
  const { auc, aucCi, dataset, method } = evidence;
  const data = dataset === null && method === null ? UNKNOWN_EVIDENCE : `${dataset ?? UNKNOWN_EVIDENCE}; ${method ?? UNKNOWN_EVIDENCE}`;
  return [
    [VALIDATION_AUC, auc === null ? UNKNOWN_EVIDENCE : String(auc)],
    [VALIDATION_AUC_CI, aucCi === null ? UNKNOWN_EVIDENCE : `${aucCi[0]}-${aucCi[1]}`],
    [VALIDATION_DATA, data],
  ];
}

/** Reads the evidence back from the Algorithm Parameters (undefined when the report has none). */
function parseEvidence(parameters: Map<string, string>, where: string): ModelEvidence | undefined {
  const auc = parameters.get(VALIDATION_AUC);
  if (auc === undefined) {
    if (parameters.has(VALIDATION_AUC_CI) || parameters.has(VALIDATION_DATA)) throw new ReportParseError(`${where}: Algorithm Parameters give validation data but no '${VALIDATION_AUC}='`);
    return undefined;
  }
  const number = (key: string, text: string): number => {
    const value = Number(text);
    if (!new RegExp(`^${NUMBER}$`, 'i').test(text) || !(value >= 0 && value <= 1)) throw new ReportParseError(`${where}: Algorithm Parameter '${key}=${text}' is not a number in [0, 1]`);
    return value;
  };
  const ciText = parameters.get(VALIDATION_AUC_CI) ?? UNKNOWN_EVIDENCE;
  let aucCi: [number, number] | null = null;
  if (ciText !== UNKNOWN_EVIDENCE) {
    const match = CI.exec(ciText);
    if (!match) throw new ReportParseError(`${where}: Algorithm Parameter '${VALIDATION_AUC_CI}=${ciText}' is not '<lower>-<upper>'`);
    aucCi = [number(VALIDATION_AUC_CI, match[1]!), number(VALIDATION_AUC_CI, match[2]!)];
  }
  const data = parameters.get(VALIDATION_DATA) ?? UNKNOWN_EVIDENCE;
  const split = data.indexOf('; ');
  const [dataset, method] = data === UNKNOWN_EVIDENCE ? [UNKNOWN_EVIDENCE, UNKNOWN_EVIDENCE] : split < 0 ? [data, UNKNOWN_EVIDENCE] : [data.slice(0, split), data.slice(split + 2)];
  const known = (text: string) => (text === UNKNOWN_EVIDENCE ? null : text);
  return { auc: auc === UNKNOWN_EVIDENCE ? null : number(VALIDATION_AUC, auc), aucCi, dataset: known(dataset), method: known(method) };
}

export class Tid4019AlgorithmIdentification {
  static readonly TEMPLATE_ID = '4019';

  constructor(
    readonly algorithm: AlgorithmIdentity,
    readonly threshold: number,
    readonly evidence?: ModelEvidence,
  ) {
    for (const key of ['name', 'version', 'modelVersionId', 'modelSha256'] as const) {
      if (!algorithm[key]?.trim()) throw new ValidationError(`algorithm.${key}`, 'is required');
    }
    assertProbability('threshold', threshold);
  }

  /** The template's items, to be added to the result they identify (HAS CONCEPT MOD in both report types). */
  items(relationship: RelationshipType = 'HAS CONCEPT MOD'): ContentItem[] {
    const parameter = (key: string, value: string) => textContentItem(relationship, ALGORITHM_PARAMETERS, `${key}=${value}`);
    return [
      textContentItem(relationship, ALGORITHM_NAME, this.algorithm.name),
      textContentItem(relationship, ALGORITHM_VERSION, this.algorithm.version),
      parameter(MODEL_VERSION_ID, this.algorithm.modelVersionId),
      parameter(MODEL_SHA256, this.algorithm.modelSha256),
      parameter(OPERATING_THRESHOLD, String(this.threshold)),
      ...(this.evidence ? evidenceParameters(this.evidence).map(([key, value]) => parameter(key, value)) : []),
    ];
  }

  /** Reads the template back from the item that carries it. */
  static parse(owner: ContentItem, where: string): Tid4019AlgorithmIdentification {
    const parameters = new Map<string, string>();
    for (const item of findChildren(owner, ALGORITHM_PARAMETERS, 'TEXT')) {
      const text = textValueOf(item);
      const split = text.indexOf('=');
      if (split > 0) parameters.set(text.slice(0, split), text.slice(split + 1));
    }
    const parameter = (key: string) => {
      const value = parameters.get(key);
      if (value === undefined) throw new ReportParseError(`${where}: Algorithm Parameters lack '${key}='`);
      return value;
    };
    const algorithm = {
      name: textValueOf(requireChild(owner, ALGORITHM_NAME, 'TEXT', where)),
      version: textValueOf(requireChild(owner, ALGORITHM_VERSION, 'TEXT', where)),
      modelVersionId: parameter(MODEL_VERSION_ID),
      modelSha256: parameter(MODEL_SHA256),
    };
    try {
      return new Tid4019AlgorithmIdentification(algorithm, Number(parameter(OPERATING_THRESHOLD)), parseEvidence(parameters, where));
    } catch (error) {
      if (error instanceof ValidationError) throw new ReportParseError(`${where}: ${error.message}`, { cause: error });
      throw error;
    }
  }
}
