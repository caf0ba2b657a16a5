// Predictions: one probability per (study, model version, scope), scope being an image, a
// breast or the exam. Saving the same result again (a retried job) changes nothing.

import type { PredictionLevel, PredictionRecord } from '../domain/index.js';
import { BREAST_SIDES, PREDICTION_LEVELS, ValidationError, assertOneOf, assertProbability } from '../domain/index.js';
import type { Db } from './database.js';

export interface PredictionInput {
  level: PredictionLevel;
  /** Required for image-level results. */
  imageId?: string | null;
  /** Required for breast-level results; the image's side for image-level ones. */
  laterality?: 'L' | 'R' | null;
  probability: number;
  positive: boolean;
  preprocessingHash: string;
  timings?: Record<string, number> | null;
}

/** The stable key of what a prediction is about. */
export function scopeKeyOf(input: PredictionInput, field = 'prediction'): string {
  assertOneOf(`${field}.level`, input.level, PREDICTION_LEVELS);
  assertProbability(`${field}.probability`, input.probability);
  if (!input.preprocessingHash) throw new ValidationError(`${field}.preprocessingHash`, 'is required');
  if (input.laterality != null) assertOneOf(`${field}.laterality`, input.laterality, BREAST_SIDES);
  switch (input.level) {
    case 'image':
      if (!input.imageId) throw new ValidationError(`${field}.imageId`, 'is required for an image-level prediction');
      return `image:${input.imageId}`;
    case 'breast':
      if (!input.laterality) throw new ValidationError(`${field}.laterality`, 'is required for a breast-level prediction');
      return `breast:${input.laterality}`;
    case 'exam':
      return 'exam';
  }
}

function toRecord(row: Omit<PredictionRecord, 'level' | 'laterality' | 'timings'> & { level: string; laterality: string | null; timings: unknown }): PredictionRecord {
  return {
    ...row,
    level: row.level as PredictionLevel,
    laterality: row.laterality as PredictionRecord['laterality'],
    timings: (row.timings ?? null) as PredictionRecord['timings'],
  };
}

export class PredictionRepository {
  constructor(private readonly db: Db) {}

  /** Stores a study's results for one model version atomically; idempotent per scope. */
  async saveResults(studyId: string, modelVersionId: string, results: PredictionInput[]): Promise<PredictionRecord[]> {
    const keyed = results.map((r, i) => ({ ...r, scopeKey: scopeKeyOf(r, `results[${i}]`) }));
    const rows = await this.db.$transaction(
      keyed.map(({ timings, ...r }) => {
        const data = {
          level: r.level,
          imageId: r.imageId ?? null,
          laterality: r.laterality ?? null,
          probability: r.probability,
          positive: r.positive,
          preprocessingHash: r.preprocessingHash,
          ...(timings ? { timings } : {}),
        };
        return this.db.prediction.upsert({
          where: { studyId_modelVersionId_scopeKey: { studyId, modelVersionId, scopeKey: r.scopeKey } },
          create: { ...data, studyId, modelVersionId, scopeKey: r.scopeKey },
          update: {}, // the first stored result stands; a retry must not rewrite history
        });
      }),
    );
    return rows.map(toRecord);
  }

  async listByStudy(studyId: string, modelVersionId?: string): Promise<PredictionRecord[]> {
    const rows = await this.db.prediction.findMany({
      where: { studyId, modelVersionId },
      orderBy: [{ level: 'asc' }, { scopeKey: 'asc' }],
    });
    return rows.map(toRecord);
  }
}
