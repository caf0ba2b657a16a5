// A score set: the results of scoring a study written as JSON, for `mammocad sr` (reports for
// given scores, for users and validators). docs/structured-reports.md documents the format:
//
//   { "images": { "<SOP Instance UID>": 0.73, ... },
//     "breasts": { "L": 0.73, "R": 0.12 },          optional; default: the maximum over the side's images
//     "exam": 0.73,                                 optional; default: the maximum over all images
//     "threshold": 0.5,
//     "model": { "version": "...", "hash": "<sha256>", "id": "..." } }   id optional; default: version

import { BREAST_SIDES, ValidationError, type BreastSide } from '../../domain/index.js';
import type { NaturalizedDataset } from '../part10.js';
import { selectView } from '../view-selection.js';
import type { DeviceObserver, ReportInput } from './report-input.js';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function number(field: string, value: unknown): number {
  if (typeof value !== 'number') throw new ValidationError(field, `must be a number; got ${JSON.stringify(value)}`);
  return value;
}

function string(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new ValidationError(field, 'must be a non-empty string');
  return value;
}

/**
 * Turns a parsed score set into a report input for the given source images. Breast and exam
 * probabilities not given are the maximum over the scored images of that breast / the exam.
 * Field names in errors start with "scores.". Probabilities are range-checked when the
 * report is built (validateReportInput).
 */
export function reportInputFromScoreSet(sources: NaturalizedDataset[], scoreSet: unknown, device: DeviceObserver, algorithmName = 'mammocad'): ReportInput {
  if (!isObject(scoreSet)) throw new ValidationError('scores', 'must be a JSON object');
  if (!isObject(scoreSet.images)) throw new ValidationError('scores.images', 'must map SOP Instance UIDs to probabilities');
  const imageProbabilities: Record<string, number> = {};
  for (const [uid, p] of Object.entries(scoreSet.images)) imageProbabilities[uid] = number(`scores.images['${uid}']`, p);
  if (Object.keys(imageProbabilities).length === 0) throw new ValidationError('scores.images', 'must score at least one image');
  if (!isObject(scoreSet.model)) throw new ValidationError('scores.model', 'must give the model\'s "version" and "hash"');
  const version = string('scores.model.version', scoreSet.model.version);

  const lateralityOf = new Map(sources.map((ds) => [String(ds.SOPInstanceUID ?? ''), selectView(ds).laterality]));
  const given = scoreSet.breasts === undefined ? {} : scoreSet.breasts;
  if (!isObject(given)) throw new ValidationError('scores.breasts', 'must map L and R to probabilities');
  for (const side of Object.keys(given)) {
    if (!(BREAST_SIDES as readonly string[]).includes(side)) throw new ValidationError(`scores.breasts.${side}`, `is not a breast; use ${BREAST_SIDES.join(' or ')}`);
  }
  const breasts: ReportInput['breasts'] = {};
  for (const side of BREAST_SIDES) {
    const uids = Object.keys(imageProbabilities).filter((uid) => lateralityOf.get(uid) === side);
    if (uids.length === 0) {
      if (given[side] !== undefined) throw new ValidationError(`scores.breasts.${side}`, `no scored image shows the ${side === 'L' ? 'left' : 'right'} breast`);
      continue;
    }
    const probability = given[side] === undefined ? Math.max(...uids.map((uid) => imageProbabilities[uid]!)) : number(`scores.breasts.${side}`, given[side]);
    breasts[side as BreastSide] = { probability, sopInstanceUids: uids };
  }
  const scores = Object.values(imageProbabilities);
  return {
    sources,
    imageProbabilities,
    breasts,
    exam: { probability: scoreSet.exam === undefined ? Math.max(...scores) : number('scores.exam', scoreSet.exam) },
    threshold: number('scores.threshold', scoreSet.threshold),
    algorithm: {
      name: algorithmName,
      version,
      modelVersionId: scoreSet.model.id === undefined ? version : string('scores.model.id', scoreSet.model.id),
      modelSha256: string('scores.model.hash', scoreSet.model.hash),
    },
    device,
  };
}
