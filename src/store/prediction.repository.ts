// Predictions: one probability per (study, model version, scope), scope being an image, a
// breast or the exam. Saving the same result again (a retried job) changes nothing.

import { randomUUID } from 'node:crypto';
import type { ExamPredictionRecord, ImageStatus, MarkedRegion, PredictionLevel, PredictionRecord, StoredHeatMap } from '../domain/index.js';
import { BREAST_SIDES, IMAGE_STATUSES, MammocadError, NotFoundError, PREDICTION_LEVELS, ValidationError, assertOneOf, assertProbability } from '../domain/index.js';
import { isRecordNotFound, isUniqueViolation } from './prisma-errors.js';
import type { Db } from './database.js';
import { insertRowsForSeeding } from './study.repository.js';

/** The most rows one `examsCreatedSince` call returns. */
export const EXAMS_CREATED_SINCE_MAX = 1000;

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
  /** Out-of-distribution statistic of the image (breast, exam: the largest of their images); null when not computed. */
  outOfDistribution?: number | null;
  /** Whether it is above the model package's threshold (breast, exam: any of their images). */
  outOfDistributionFlagged?: boolean | null;
  /** Safety flags in words (e.g. "outside the model's intended use: ..."); stored as given, null or [] for none. */
  flags?: string[] | null;
  /** Image level: the heat map over the image (quantised); null or absent when the model gives none. */
  heatMap?: StoredHeatMap | null;
  /** Image level: the regions marked at the operating threshold; null, absent or [] for none. */
  regions?: MarkedRegion[] | null;
}

/** A prediction row for `bulkSeed`, with the study and model version it belongs to. */
export interface BulkPredictionInput extends PredictionInput {
  studyId: string;
  modelVersionId: string;
}

/** The stable key of what a prediction is about. */
export function scopeKeyOf(input: PredictionInput, field = 'prediction'): string {
  assertOneOf(`${field}.level`, input.level, PREDICTION_LEVELS);
  assertProbability(`${field}.probability`, input.probability);
  if (!input.preprocessingHash) throw new ValidationError(`${field}.preprocessingHash`, 'is required');
  if (input.laterality != null) assertOneOf(`${field}.laterality`, input.laterality, BREAST_SIDES);
  if (input.outOfDistribution != null && !(Number.isFinite(input.outOfDistribution) && input.outOfDistribution >= 0)) {
    throw new ValidationError(`${field}.outOfDistribution`, `must be a finite number >= 0 or null; got ${input.outOfDistribution}`);
  }
  if (input.flags != null && !(Array.isArray(input.flags) && input.flags.every((f) => typeof f === 'string' && f.length > 0))) {
    throw new ValidationError(`${field}.flags`, 'must be a list of non-empty strings');
  }
  if (input.heatMap != null) checkHeatMap(input.heatMap, `${field}.heatMap`);
  if ((input.heatMap != null || (input.regions?.length ?? 0) > 0) && input.level !== 'image') {
    throw new ValidationError(`${field}.heatMap`, `heat maps and regions belong to image-level predictions, not ${input.level}`);
  }
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

function checkHeatMap(map: StoredHeatMap, field: string): void {
  const { rows, columns, bytes } = map;
  if (!(Number.isInteger(rows) && rows > 0 && rows <= 1024 && Number.isInteger(columns) && columns > 0 && columns <= 1024)) {
    throw new ValidationError(field, `needs 1-1024 rows and columns; got ${rows} x ${columns}`);
  }
  if (!(bytes instanceof Uint8Array) || bytes.length !== rows * columns) {
    throw new ValidationError(field, `needs rows x columns = ${rows * columns} bytes; got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
  }
}

/** The columns of a Prediction row that the record reshapes (the rest are copied as they are). */
type PredictionRow = Omit<PredictionRecord, 'level' | 'laterality' | 'timings' | 'flags' | 'heatMap' | 'regions'> & {
  level: string;
  laterality: string | null;
  timings: unknown;
  flags: unknown;
  heatMap?: Uint8Array | null;
  heatMapRows?: number | null;
  heatMapColumns?: number | null;
  regions?: unknown;
};

/** A Prediction row as a record (the store's other read paths share it). */
export function toPredictionRecord(row: PredictionRow): PredictionRecord {
  const { heatMap, heatMapRows, heatMapColumns, regions, ...rest } = row;
  return {
    ...rest,
    level: row.level as PredictionLevel,
    laterality: row.laterality as PredictionRecord['laterality'],
    timings: (row.timings ?? null) as PredictionRecord['timings'],
    flags: Array.isArray(row.flags) ? row.flags.filter((f): f is string => typeof f === 'string') : [],
    heatMap: heatMap && heatMapRows && heatMapColumns ? { rows: heatMapRows, columns: heatMapColumns, bytes: new Uint8Array(heatMap) } : null,
    regions: Array.isArray(regions) ? (regions as MarkedRegion[]) : [],
  };
}

export class PredictionRepository {
  constructor(private readonly db: Db) {}

  /**
   * Stores a study's results for one model version atomically; idempotent per scope. `images`:
   * the new status of the images these results are of, written in the same transaction (one
   * commit for the study's results and its images' statuses). `imageSet`: the key of the image
   * set the breast and exam results come from; stored breast and exam results of another set
   * (or of none) are replaced in the same transaction, and `replaced` counts them; attempts at
   * the same study are serialised by a lock on its row, so it never keeps two sets. Image-level
   * results stay idempotent per image: the first stored result of an image stands.
   */
  async saveResults(
    studyId: string,
    modelVersionId: string,
    results: PredictionInput[],
    images: ReadonlyArray<{ imageId: string; status: ImageStatus; reason: string | null }> = [],
    imageSet?: string,
  ): Promise<PredictionRecord[] & { replaced: number }> {
    const keyed = results.map((r, i) => ({ ...r, scopeKey: scopeKeyOf(r, `results[${i}]`) }));
    images.forEach((image, i) => assertOneOf(`images[${i}].status`, image.status, IMAGE_STATUSES));
    const rows = keyed.map(({ timings, flags, heatMap, regions, ...r }) => {
      const data = {
        level: r.level,
        imageId: r.imageId ?? null,
        laterality: r.laterality ?? null,
        probability: r.probability,
        positive: r.positive,
        preprocessingHash: r.preprocessingHash,
        outOfDistribution: r.outOfDistribution ?? null,
        outOfDistributionFlagged: r.outOfDistributionFlagged ?? null,
        ...(timings ? { timings } : {}),
        ...(flags && flags.length > 0 ? { flags } : {}),
        ...(heatMap ? { heatMap: new Uint8Array(heatMap.bytes), heatMapRows: heatMap.rows, heatMapColumns: heatMap.columns } : {}),
        ...(regions && regions.length > 0 ? { regions: regions.map((g) => ({ score: g.score, center: g.center, outline: g.outline })) } : {}),
        ...(imageSet !== undefined && r.level !== 'image' ? { imageSet } : {}),
      };
      return { scopeKey: r.scopeKey, data };
    });
    try {
      return await this.db.$transaction(
        async (tx) => {
          let replaced = 0;
          if (imageSet !== undefined) {
            // Attempts at the same study with different image sets (a newer content's job while an
            // older one still runs on another worker) are serialised by this row lock: the later
            // one waits for the earlier one's commit, then sees its rows and replaces them, so the
            // study never keeps breast and exam results of two sets. The last to store wins, as
            // its report is the last written.
            const locked = await tx.study.updateMany({ where: { id: studyId }, data: { updatedAt: new Date() } });
            if (locked.count === 0) throw new NotFoundError('study', studyId);
            replaced = (await tx.prediction.deleteMany({ where: { studyId, modelVersionId, level: { in: ['breast', 'exam'] }, OR: [{ imageSet: null }, { imageSet: { not: imageSet } }] } })).count;
          }
          const records: PredictionRecord[] = [];
          for (const { scopeKey, data } of rows) {
            const row = await tx.prediction.upsert({
              where: { studyId_modelVersionId_scopeKey: { studyId, modelVersionId, scopeKey } },
              create: { ...data, studyId, modelVersionId, scopeKey },
              update: {}, // the first stored result stands; a retry must not rewrite history
            });
            records.push(toPredictionRecord(row as PredictionRow));
          }
          for (const image of images) {
            await tx.image.update({ where: { id: image.imageId }, data: { status: image.status, statusReason: image.reason }, select: { id: true } });
          }
          return Object.assign(records, { replaced });
        },
        // A wait for another attempt's lock counts towards the transaction's time.
        { timeout: 30_000, maxWait: 30_000 },
      );
    } catch (error) {
      if (isRecordNotFound(error)) throw new NotFoundError('image', `one of ${images.map((i) => i.imageId).join(', ')}`);
      // Two attempts at the same study at once (a job taken over while its first worker still
      // ran) both found no row and both inserted: the next attempt finds the rows and keeps them.
      if (isUniqueViolation(error)) throw new MammocadError('RESULTS_STORED_CONCURRENTLY', `results of study ${studyId} were being stored by another attempt at the same time`, { retryable: true });
      throw error;
    }
  }

  async listByStudy(studyId: string, modelVersionId?: string): Promise<PredictionRecord[]> {
    const rows = await this.db.prediction.findMany({
      where: { studyId, modelVersionId },
      orderBy: [{ level: 'asc' }, { scopeKey: 'asc' }],
    });
    return rows.map(toPredictionRecord);
  }

  /**
   * Exam-level results stored after `since`, oldest first (ties by id), with the study's UID and
   * the model version string: for feeds of new results. A caller that pages by passing the last
   * row's createdAt as the next `since` skips rows sharing that exact millisecond beyond a full
   * page; results are written one study at a time, so such bursts are small in practice.
   */
  async examsCreatedSince(since: Date, take: number): Promise<ExamPredictionRecord[]> {
    if (!(since instanceof Date) || Number.isNaN(since.getTime())) throw new ValidationError('since', 'must be a valid date');
    if (!Number.isInteger(take) || take < 1 || take > EXAMS_CREATED_SINCE_MAX) {
      throw new ValidationError('take', `must be an integer from 1 to ${EXAMS_CREATED_SINCE_MAX}; got ${take}`);
    }
    const rows = await this.db.prediction.findMany({
      where: { level: 'exam', createdAt: { gt: since } },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take,
      include: { study: { select: { studyUid: true } }, modelVersion: { select: { version: true } } },
    });
    return rows.map(({ study, modelVersion, ...row }) => ({
      ...toPredictionRecord(row),
      level: 'exam' as const,
      studyUid: study.studyUid,
      modelVersion: modelVersion.version,
    }));
  }

  /**
   * For benchmarks and demo data only (scripts/bench/seed-results.ts): inserts many results
   * with multi-row INSERTs, without the per-scope upsert of `saveResults`, so a duplicate scope
   * fails instead of being ignored. Timings are not stored. Returns the number of rows written.
   */
  async bulkSeed(rows: BulkPredictionInput[]): Promise<number> {
    const createdAt = new Date().toISOString();
    const values = rows.map((r, i) => [
      randomUUID(), r.studyId, r.imageId ?? null, r.modelVersionId, r.level, r.laterality ?? null, scopeKeyOf(r, `rows[${i}]`),
      r.probability, r.positive, r.preprocessingHash, createdAt,
    ]);
    return this.db.$transaction((tx) => insertRowsForSeeding(tx as Db, 'Prediction', PREDICTION_COLUMNS, values));
  }
}

const PREDICTION_COLUMNS = [
  'id', 'studyId', 'imageId', 'modelVersionId', 'level', 'laterality', 'scopeKey', 'probability', 'positive', 'preprocessingHash', 'createdAt',
];
