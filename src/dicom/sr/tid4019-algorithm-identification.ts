// TID 4019 Algorithm Identification: which algorithm produced a result. Both report types
// attach it to every result. The model's identity goes into Algorithm Parameters as
// "key=value" texts, because TID 4019 has no rows for a model hash or an operating point:
//   model-version-id=<id in mammocad's store>
//   model-sha256=<hash of the model package>
//   operating-threshold=<the probability at or above which a result is positive>

import { ReportParseError, ValidationError, assertProbability } from '../../domain/index.js';
import { ALGORITHM_NAME, ALGORITHM_PARAMETERS, ALGORITHM_VERSION } from './codes.js';
import { findChildren, requireChild, textContentItem, textValueOf, type ContentItem, type RelationshipType } from './content-items.js';
import type { AlgorithmIdentity } from './report-input.js';

const MODEL_VERSION_ID = 'model-version-id';
const MODEL_SHA256 = 'model-sha256';
const OPERATING_THRESHOLD = 'operating-threshold';

export class Tid4019AlgorithmIdentification {
  static readonly TEMPLATE_ID = '4019';

  constructor(
    readonly algorithm: AlgorithmIdentity,
    readonly threshold: number,
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
      return new Tid4019AlgorithmIdentification(algorithm, Number(parameter(OPERATING_THRESHOLD)));
    } catch (error) {
      if (error instanceof ValidationError) throw new ReportParseError(`${where}: ${error.message}`, { cause: error });
      throw error;
    }
  }
}
