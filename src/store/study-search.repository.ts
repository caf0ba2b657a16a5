// The results search behind the worklist: studies filtered by date, status, exam score, side
// and labels, sorted by exam score or by study date, in pages addressed by keyset cursors.
//
// Score sorts walk the Prediction table along its [modelVersionId, level, probability] index
// and test each row's study through relation filters, so a page costs a short index walk
// whatever the table size; studies the model has not scored (pending, failed, skipped) follow
// the scored ones in both directions, as NULLS LAST would place them. Date sorts walk the Study table along [studyDate] and then fetch
// the page's exam results in one query. There is deliberately no total count: counting every
// match is the one thing a large table cannot do cheaply, and the worklist does not need it.

import { createHash } from 'node:crypto';
import type { BreastSide, StudyHit, StudyRecord, StudyStatus } from '../domain/index.js';
import { BREAST_SIDES, STUDY_STATUSES, ValidationError, assertOneOf, assertProbability } from '../domain/index.js';
import type { Db } from './database.js';
import type { Prisma } from './generated/sqlite/client.js';
import { toPredictionRecord } from './prediction.repository.js';

export const STUDY_SEARCH_SORTS = ['SCORE_DESC', 'SCORE_ASC', 'DATE_DESC', 'DATE_ASC'] as const;
export type StudySearchSort = (typeof STUDY_SEARCH_SORTS)[number];

/** The most items one page may ask for. */
export const STUDY_SEARCH_MAX_PAGE = 200;

/** Every field is optional; null means the same as absent, except for `modelVersionId`. */
export interface StudySearchFilter {
  /** Inclusive DICOM dates, YYYYMMDD. A date bound excludes studies without a date. */
  studyDateFrom?: string | null;
  studyDateTo?: string | null;
  status?: StudyStatus | null;
  /** Inclusive bounds on the exam-level probability of the model version. */
  minScore?: number | null;
  maxScore?: number | null;
  /**
   * With a score bound (minScore/maxScore): the study has a breast-level prediction of that
   * side from the model version. Without one: the study has an image of that side, scored or not.
   */
  laterality?: BreastSide | null;
  /**
   * Whose results to search and return. Absent: the active model version. Null: none (no model
   * exists yet): score bounds and positiveOnly then find nothing, and the sorts list studies
   * with `exam: null`.
   */
  modelVersionId?: string | null;
  /** true: the study has at least one label; false: it has none. */
  labelled?: boolean | null;
  /** Only studies whose exam result is positive at the model's threshold (the worklist). */
  positiveOnly?: boolean | null;
}

export interface StudySearchPageRequest {
  /** 1 to STUDY_SEARCH_MAX_PAGE. */
  first: number;
  /** The `endCursor` of the previous page of the same search. */
  after?: string | null;
}

export interface StudySearchPage {
  items: StudyHit[];
  /** Pass as `after` for the next page; null on an empty page. */
  endCursor: string | null;
  hasNextPage: boolean;
  totalCount?: never;
}

/** A filter after validation, with the model version resolved. */
interface Criteria {
  studyDateFrom: string | null;
  studyDateTo: string | null;
  status: StudyStatus | null;
  minScore: number | null;
  maxScore: number | null;
  laterality: BreastSide | null;
  modelVersionId: string | null;
  labelled: boolean | null;
  positiveOnly: boolean;
}

/** Where the previous page ended: its last sort key (null: an undated study) and study id. */
interface Cursor {
  key: number | string | null;
  id: string;
}

type Direction = 'asc' | 'desc';

export class StudySearchRepository {
  constructor(private readonly db: Db) {}

  async search(filter: StudySearchFilter, sort: StudySearchSort, page: StudySearchPageRequest): Promise<StudySearchPage> {
    assertOneOf('sort', sort, STUDY_SEARCH_SORTS);
    if (!Number.isInteger(page.first) || page.first < 1 || page.first > STUDY_SEARCH_MAX_PAGE) {
      throw new ValidationError('first', `must be an integer from 1 to ${STUDY_SEARCH_MAX_PAGE}; got ${page.first}`);
    }
    const criteria = await this.resolve(filter);
    // The cursor carries a fingerprint of the whole search, so a cursor from another filter,
    // sort or model version is refused instead of silently skipping or repeating studies.
    const searchId = fingerprint(sort, criteria);
    const cursor = page.after == null ? null : decodeCursor(page.after, sort, searchId);

    const scored = sort === 'SCORE_DESC' || sort === 'SCORE_ASC';
    if (scoreBounded(criteria) && criteria.modelVersionId === null) return { items: [], endCursor: null, hasNextPage: false };

    const direction: Direction = sort.endsWith('_DESC') ? 'desc' : 'asc';
    const hits = scored ? await this.byScore(criteria, direction, page.first + 1, cursor) : await this.byDate(criteria, direction, page.first + 1, cursor);
    const items = hits.slice(0, page.first);
    const last = items.at(-1);
    return {
      items,
      hasNextPage: hits.length > page.first,
      endCursor: last ? encodeCursor(searchId, { key: scored ? (last.exam?.probability ?? null) : last.study.studyDate, id: last.study.id }) : null,
    };
  }

  /**
   * Exam results in score order: an index walk on Prediction, the study tested through
   * relations; then, unless the search bounds the score, the studies without a result of the
   * model, by id (a cursor with a null key is in that second part). Without this a study still
   * pending, or failed, was missing from the default listing altogether.
   */
  private async byScore(criteria: Criteria, direction: Direction, take: number, cursor: Cursor | null): Promise<StudyHit[]> {
    const modelVersionId = criteria.modelVersionId;
    let hits: StudyHit[] = [];
    if (modelVersionId !== null && (cursor === null || cursor.key !== null)) {
      const rows = await this.db.prediction.findMany({
        where: {
          AND: [
            { modelVersionId, level: 'exam' },
            probabilityRange(criteria),
            criteria.positiveOnly ? { positive: true } : {},
            { study: { is: studyConditions(criteria) } },
            cursor ? keyset('probability', 'studyId', cursor.key as number, cursor.id, direction) : {},
          ],
        },
        orderBy: [{ probability: direction }, { studyId: direction }],
        take,
        include: { study: true },
      });
      hits = rows.map(({ study, ...exam }) => ({ study: study as StudyRecord, exam: toPredictionRecord(exam) }));
    }
    if (hits.length < take && !scoreBounded(criteria)) {
      const where = studyConditions(criteria);
      const unscored = await this.db.study.findMany({
        where: {
          AND: [
            where,
            modelVersionId === null ? {} : { predictions: { none: { modelVersionId, scopeKey: 'exam' } } },
            cursor?.key === null ? { id: { [beyond(direction)]: cursor.id } } : {},
          ],
        },
        orderBy: { id: direction },
        take: take - hits.length,
      });
      hits = hits.concat(unscored.map((study) => ({ study: study as StudyRecord, exam: null })));
    }
    return hits;
  }

  /**
   * Studies in date order, undated ones last in both directions. Dated and undated studies are
   * read as two index-friendly ranges (rather than one NULLS LAST sort) so each stays a plain
   * walk of the studyDate index; the second is read only when the first runs out.
   *
   * Per-study look-ups of results name the scope key ('exam', 'breast:L') rather than the level:
   * that matches all three columns of the unique [studyId, modelVersionId, scopeKey] index, so
   * SQLite's planner probes it instead of scanning the model's [modelVersionId, level,
   * probability] range once per study (seconds, not milliseconds, on 100,000 results).
   */
  private async byDate(criteria: Criteria, direction: Direction, take: number, cursor: Cursor | null): Promise<StudyHit[]> {
    const where = studyConditions(criteria);
    if (criteria.minScore !== null || criteria.maxScore !== null || criteria.positiveOnly) {
      where.AND = [
        ...where.AND,
        {
          predictions: {
            some: { modelVersionId: criteria.modelVersionId!, scopeKey: 'exam', ...probabilityRange(criteria), ...(criteria.positiveOnly ? { positive: true } : {}) },
          },
        },
      ];
    }
    let studies: StudyRecord[] = [];
    if (cursor === null || cursor.key !== null) {
      const after: Prisma.StudyWhereInput = cursor ? keyset('studyDate', 'id', cursor.key as string, cursor.id, direction) : {};
      studies = (await this.db.study.findMany({
        where: { AND: [where, { studyDate: { not: null } }, after] },
        orderBy: [{ studyDate: direction }, { id: direction }],
        take,
      })) as StudyRecord[];
    }
    const dateBounded = criteria.studyDateFrom !== null || criteria.studyDateTo !== null;
    if (studies.length < take && !dateBounded) {
      const undated = await this.db.study.findMany({
        where: { AND: [where, { studyDate: null }, cursor?.key === null ? { id: { [beyond(direction)]: cursor.id } } : {}] },
        orderBy: { id: direction },
        take: take - studies.length,
      });
      studies = studies.concat(undated as StudyRecord[]);
    }
    if (criteria.modelVersionId === null || studies.length === 0) return studies.map((study) => ({ study, exam: null }));
    const exams = await this.db.prediction.findMany({
      where: { studyId: { in: studies.map((s) => s.id) }, modelVersionId: criteria.modelVersionId, scopeKey: 'exam' },
    });
    const examOf = new Map(exams.map((exam) => [exam.studyId, toPredictionRecord(exam)]));
    return studies.map((study) => ({ study, exam: examOf.get(study.id) ?? null }));
  }

  /** Number of studies in each status (every status present, zero when none): the gauge /metrics serves. */
  async countByStatus(): Promise<Record<StudyStatus, number>> {
    const groups = await this.db.study.groupBy({ by: ['status'], _count: { _all: true } });
    const counts = Object.fromEntries(STUDY_STATUSES.map((s) => [s, 0])) as Record<StudyStatus, number>;
    for (const g of groups) counts[g.status as StudyStatus] = g._count._all;
    return counts;
  }

  /** Validates the filter and fills in the active model version when none is named. */
  private async resolve(filter: StudySearchFilter): Promise<Criteria> {
    const from = filter.studyDateFrom ?? null;
    const to = filter.studyDateTo ?? null;
    if (from !== null) assertDicomDate('studyDateFrom', from);
    if (to !== null) assertDicomDate('studyDateTo', to);
    if (from !== null && to !== null && from > to) throw new ValidationError('studyDateTo', `must not be before studyDateFrom (${from}); got ${to}`);
    if (filter.status != null) assertOneOf('status', filter.status, STUDY_STATUSES);
    if (filter.minScore != null) assertProbability('minScore', filter.minScore);
    if (filter.maxScore != null) assertProbability('maxScore', filter.maxScore);
    if (filter.minScore != null && filter.maxScore != null && filter.minScore > filter.maxScore) {
      throw new ValidationError('minScore', `must not exceed maxScore (${filter.maxScore}); got ${filter.minScore}`);
    }
    if (filter.laterality != null) assertOneOf('laterality', filter.laterality, BREAST_SIDES);
    if (filter.modelVersionId === '') throw new ValidationError('modelVersionId', 'must not be empty');
    const modelVersionId =
      filter.modelVersionId !== undefined
        ? filter.modelVersionId
        : ((await this.db.modelVersion.findFirst({ where: { active: true }, select: { id: true } }))?.id ?? null);
    return {
      studyDateFrom: from,
      studyDateTo: to,
      status: filter.status ?? null,
      minScore: filter.minScore ?? null,
      maxScore: filter.maxScore ?? null,
      laterality: filter.laterality ?? null,
      modelVersionId,
      labelled: filter.labelled ?? null,
      positiveOnly: filter.positiveOnly === true,
    };
  }
}

/** The conditions on the study itself and on its images, labels and breast results. */
function studyConditions(criteria: Criteria): Prisma.StudyWhereInput & { AND: Prisma.StudyWhereInput[] } {
  const and: Prisma.StudyWhereInput[] = [];
  if (criteria.status !== null) and.push({ status: criteria.status });
  if (criteria.studyDateFrom !== null) and.push({ studyDate: { gte: criteria.studyDateFrom } });
  if (criteria.studyDateTo !== null) and.push({ studyDate: { lte: criteria.studyDateTo } });
  if (criteria.labelled !== null) and.push({ labels: criteria.labelled ? { some: {} } : { none: {} } });
  if (criteria.laterality !== null) {
    const scoreBounded = criteria.minScore !== null || criteria.maxScore !== null;
    // A score bound asks about results, so the side must have been scored by this model; a
    // plain listing asks what was imaged, so unscored studies count too.
    and.push(
      scoreBounded
        ? { predictions: { some: { modelVersionId: criteria.modelVersionId!, scopeKey: `breast:${criteria.laterality}` } } }
        : { images: { some: { laterality: criteria.laterality } } },
    );
  }
  return { AND: and };
}

/** Whether the search asks about the exam result (so studies without one cannot match). */
function scoreBounded(criteria: Criteria): boolean {
  return criteria.minScore !== null || criteria.maxScore !== null || criteria.positiveOnly;
}

function probabilityRange(criteria: Criteria): { probability?: { gte?: number; lte?: number } } {
  if (criteria.minScore === null && criteria.maxScore === null) return {};
  return { probability: { ...(criteria.minScore !== null ? { gte: criteria.minScore } : {}), ...(criteria.maxScore !== null ? { lte: criteria.maxScore } : {}) } };
}

/**
 * Rows after (key, id) in the given order. The plain bound on the key comes first: written only
 * as `key < k OR (key = k AND id < i)`, SQLite answers the OR by a union of two index lookups
 * and sorts everything after the cursor, instead of walking the index from the cursor on.
 */
function keyset(keyField: string, idField: string, key: number | string, id: string, direction: Direction): Record<string, unknown> {
  const inclusive = direction === 'desc' ? 'lte' : 'gte';
  return {
    AND: [{ [keyField]: { [inclusive]: key } }, { OR: [{ [keyField]: { [beyond(direction)]: key } }, { [idField]: { [beyond(direction)]: id } }] }],
  };
}

/** The comparison that selects rows after the cursor in the given order. */
function beyond(direction: Direction): 'lt' | 'gt' {
  return direction === 'desc' ? 'lt' : 'gt';
}

function assertDicomDate(field: string, value: string): void {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  const [year, month, day] = match ? match.slice(1).map(Number) : [];
  const date = match ? new Date(Date.UTC(year!, month! - 1, day!)) : null;
  if (!date || date.getUTCFullYear() !== year || date.getUTCMonth() !== month! - 1 || date.getUTCDate() !== day) {
    throw new ValidationError(field, `must be a calendar date as YYYYMMDD; got '${value}'`);
  }
}

/** A short digest of everything that decides which studies a search lists and in what order. */
function fingerprint(sort: StudySearchSort, c: Criteria): string {
  const parts = [sort, c.studyDateFrom, c.studyDateTo, c.status, c.minScore, c.maxScore, c.laterality, c.modelVersionId, c.labelled, c.positiveOnly];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 16);
}

function encodeCursor(searchId: string, cursor: Cursor): string {
  return Buffer.from(JSON.stringify({ s: searchId, k: cursor.key, i: cursor.id })).toString('base64url');
}

function decodeCursor(after: string, sort: StudySearchSort, searchId: string): Cursor {
  const bad = (problem: string) => new ValidationError('after', problem);
  let parsed: unknown;
  try {
    // Buffer.from skips characters outside the alphabet, so check the alphabet first.
    if (!/^[A-Za-z0-9_-]+$/.test(after)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
  } catch {
    throw bad('is not a cursor returned by this search');
  }
  const { s, k, i } = (parsed ?? {}) as { s?: unknown; k?: unknown; i?: unknown };
  if (typeof s !== 'string' || typeof i !== 'string' || !i) throw bad('is not a cursor returned by this search');
  if (s !== searchId) throw bad('belongs to a different search (its filter, sort or model version changed); start again without it');
  // A null key: the cursor is among the studies without a score (or without a date).
  const keyFits = k === null || (sort.startsWith('SCORE') ? typeof k === 'number' && Number.isFinite(k) : typeof k === 'string' && /^\d{8}$/.test(k));
  if (!keyFits) throw bad('is not a cursor returned by this search');
  return { key: k as number | string | null, id: i };
}
