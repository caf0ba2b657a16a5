// The results search, on SQLite and on PostgreSQL: filters, sort orders, keyset pages and
// cursors, against a small hand-made set of studies scored by two model versions.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError, type ModelVersionRecord, type StudyRecord } from '../../src/domain/index.js';
import { openStore, type PredictionInput, type Store, type StudySearchFilter, type StudySearchSort } from '../../src/store/index.js';
import { PROVIDERS, createTestDatabase, type TestDatabase } from '../support/databases.js';

/** One study of the fixture: its date, status, image sides, results per model and labels. */
interface Fixture {
  name: string;
  date: string | null;
  status: 'pending' | 'scored' | 'failed';
  sides: ('L' | 'R')[];
  /** Model A's exam probability and the breast sides it scored. */
  a?: { exam: number; breasts: ('L' | 'R')[] };
  /** Model B's exam probability (breasts L and R). */
  b?: number;
  labelled?: boolean;
}

// Model A's threshold is 0.4: s1, s2, s6 and s7 are positive, s3 is not.
const FIXTURES: Fixture[] = [
  { name: 's1', date: '20250110', status: 'scored', sides: ['L', 'R'], a: { exam: 0.9, breasts: ['L', 'R'] }, b: 0.1, labelled: true },
  { name: 's2', date: '20250120', status: 'scored', sides: ['R'], a: { exam: 0.5, breasts: ['R'] } },
  { name: 's3', date: '20250205', status: 'scored', sides: ['L', 'R'], a: { exam: 0.2, breasts: ['L', 'R'] }, b: 0.95 },
  { name: 's4', date: '20250301', status: 'failed', sides: ['L'] },
  { name: 's5', date: null, status: 'pending', sides: ['R'] },
  { name: 's6', date: '20250120', status: 'scored', sides: ['L', 'R'], a: { exam: 0.5, breasts: ['L'] }, labelled: true },
  { name: 's7', date: null, status: 'scored', sides: ['R'], a: { exam: 0.7, breasts: ['R'] } },
  { name: 's8', date: '20250115', status: 'scored', sides: ['L'], b: 0.6 },
];

describe.each(PROVIDERS)('study search on %s', (provider) => {
  let database: TestDatabase;
  let store: Store;
  let modelA: ModelVersionRecord;
  let modelB: ModelVersionRecord;
  const byName = new Map<string, StudyRecord>();

  /** Names in the order of a sort key, ties by study id in the same direction (as the search does). */
  function ordered(names: string[], key: (name: string) => number | string, direction: 'asc' | 'desc'): string[] {
    const sign = direction === 'asc' ? 1 : -1;
    const cmp = (x: string | number, y: string | number) => (x < y ? -1 : x > y ? 1 : 0);
    return [...names].sort((x, y) => sign * (cmp(key(x), key(y)) || cmp(byName.get(x)!.id, byName.get(y)!.id)));
  }
  const fixture = (name: string) => FIXTURES.find((f) => f.name === name)!;
  const examA = (name: string) => fixture(name).a!.exam;

  async function names(filter: StudySearchFilter, sort: StudySearchSort = 'DATE_ASC', first = 200): Promise<string[]> {
    const page = await store.search.search(filter, sort, { first });
    expect(page.hasNextPage).toBe(false);
    return page.items.map((hit) => hit.study.studyUid.split('.').at(-1)!);
  }

  /** Every page of a search with page size 2, checking each page's shape on the way. */
  async function allPages(filter: StudySearchFilter, sort: StudySearchSort): Promise<string[]> {
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const page = await store.search.search(filter, sort, { first: 2, after });
      seen.push(...page.items.map((hit) => hit.study.studyUid.split('.').at(-1)!));
      if (!page.hasNextPage) return seen;
      expect(page.items).toHaveLength(2);
      expect(page.endCursor).toEqual(expect.any(String));
      after = page.endCursor;
    }
    throw new Error('pagination did not end');
  }

  beforeAll(async () => {
    database = await createTestDatabase(provider);
    store = await openStore({ databaseUrl: database.url });
    const register = (version: string) =>
      store.modelVersions.register({ version, architecture: 'resnet50-top2', packageHash: 'sha256:abc', path: `/models/${version}`, manifest: {}, threshold: 0.4 });
    modelA = await register('model-a');
    modelB = await register('model-b');
    await store.modelVersions.activate('model-a', 'test');
    for (const f of FIXTURES) {
      const { study } = await store.studies.announce({ studyUid: `1.2.826.0.1.3680043.10.1.99.${f.name}`, source: 'manual', studyDate: f.date });
      await store.studies.setStatus(study.studyUid, f.status);
      byName.set(f.name, study);
      const images = await store.images.upsertMany(
        study.id,
        f.sides.map((side) => ({ sopInstanceUid: `${study.studyUid}.${side}`, seriesUid: `${study.studyUid}.1`, laterality: side, view: 'CC', status: 'eligible' as const })),
      );
      const results = (exam: number, breasts: ('L' | 'R')[]): PredictionInput[] => [
        { level: 'exam', probability: exam, positive: exam >= 0.4, preprocessingHash: 'pp' },
        ...breasts.map((side) => ({ level: 'breast' as const, laterality: side, probability: exam, positive: exam >= 0.4, preprocessingHash: 'pp' })),
        ...images
          .filter((image) => breasts.includes(image.laterality as 'L' | 'R'))
          .map((image) => ({ level: 'image' as const, imageId: image.id, laterality: image.laterality as 'L' | 'R', probability: exam, positive: exam >= 0.4, preprocessingHash: 'pp' })),
      ];
      if (f.a) await store.predictions.saveResults(study.id, modelA.id, results(f.a.exam, f.a.breasts));
      if (f.b !== undefined) await store.predictions.saveResults(study.id, modelB.id, results(f.b, ['L', 'R']));
      if (f.labelled) {
        await store.labels.addMany([{ studyId: study.id, scope: 'breast', laterality: f.sides[0]!, value: 'benign', source: 'radiologist', author: 'dr.t' }]);
      }
    }
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  describe('sort orders', () => {
    it('lists exam results of the model version by score, ties by study id, then the studies it did not score', async () => {
      const scoredByA = ['s1', 's2', 's3', 's6', 's7'];
      // Failed (s4), pending (s5) and scored by another model only (s8): last in both directions.
      const unscoredByA = ['s4', 's5', 's8'];
      expect(await names({ modelVersionId: modelA.id }, 'SCORE_DESC')).toEqual([...ordered(scoredByA, examA, 'desc'), ...ordered(unscoredByA, () => 0, 'desc')]);
      expect(await names({ modelVersionId: modelA.id }, 'SCORE_ASC')).toEqual([...ordered(scoredByA, examA, 'asc'), ...ordered(unscoredByA, () => 0, 'asc')]);
      // Spelled out for the untied part, so an ordering bug in `ordered` cannot hide one in the search.
      const desc = await names({ modelVersionId: modelA.id }, 'SCORE_DESC');
      expect([desc[0], desc[1], desc[4]]).toEqual(['s1', 's7', 's3']);
      expect(new Set(desc.slice(2, 4))).toEqual(new Set(['s2', 's6']));
    });

    it('lists every study by date, undated ones last in both directions', async () => {
      const dated = FIXTURES.filter((f) => f.date).map((f) => f.name);
      const date = (name: string) => fixture(name).date!;
      const undated = ['s5', 's7'];
      const desc = await names({ modelVersionId: modelA.id }, 'DATE_DESC');
      expect(desc).toEqual([...ordered(dated, date, 'desc'), ...ordered(undated, () => 0, 'desc')]);
      expect(desc.slice(0, 3)).toEqual(['s4', 's3', desc[2]]);
      expect(desc.slice(4, 6)).toEqual(['s8', 's1']);
      const asc = await names({ modelVersionId: modelA.id }, 'DATE_ASC');
      expect(asc).toEqual([...ordered(dated, date, 'asc'), ...ordered(undated, () => 0, 'asc')]);
      expect(asc.slice(0, 2)).toEqual(['s1', 's8']);
    });

    it('returns the exam result of the searched model version only', async () => {
      const page = await store.search.search({ modelVersionId: modelA.id }, 'DATE_ASC', { first: 50 });
      const exams = Object.fromEntries(page.items.map((hit) => [hit.study.studyUid.split('.').at(-1), hit.exam?.probability ?? null]));
      expect(exams).toEqual({ s1: 0.9, s2: 0.5, s3: 0.2, s4: null, s5: null, s6: 0.5, s7: 0.7, s8: null });
      expect(page.items.every((hit) => hit.exam === null || (hit.exam.modelVersionId === modelA.id && hit.exam.level === 'exam'))).toBe(true);

      const byB = await store.search.search({ modelVersionId: modelB.id }, 'SCORE_DESC', { first: 50 });
      expect(byB.items.slice(0, 3).map((hit) => [hit.study.studyUid.split('.').at(-1), hit.exam!.probability])).toEqual([
        ['s3', 0.95],
        ['s8', 0.6],
        ['s1', 0.1],
      ]);
      expect(byB.items.slice(0, 3).every((hit) => hit.exam!.modelVersionId === modelB.id)).toBe(true);
      expect(byB.items.slice(3).map((hit) => hit.exam)).toEqual([null, null, null, null, null]);
    });

    it('searches the active model version when none is named, and nothing scored when it is null', async () => {
      expect(await names({}, 'SCORE_DESC')).toEqual(await names({ modelVersionId: modelA.id }, 'SCORE_DESC'));
      // No model: every study is unscored, and a score sort still lists them all.
      expect(await names({ modelVersionId: null }, 'SCORE_DESC')).toEqual(ordered(FIXTURES.map((f) => f.name), () => 0, 'desc'));
      expect(await names({ modelVersionId: null, minScore: 0 }, 'DATE_ASC')).toEqual([]);
      expect(await names({ modelVersionId: null, positiveOnly: true }, 'DATE_ASC')).toEqual([]);
      const unscored = await store.search.search({ modelVersionId: null }, 'DATE_DESC', { first: 50 });
      expect(unscored.items).toHaveLength(FIXTURES.length);
      expect(unscored.items.every((hit) => hit.exam === null)).toBe(true);
    });
  });

  describe('filters', () => {
    const a = () => ({ modelVersionId: modelA.id });

    it('filters by inclusive study date range, which excludes undated studies', async () => {
      expect(await names({ ...a(), studyDateFrom: '20250115', studyDateTo: '20250205' }, 'DATE_ASC')).toEqual(ordered(['s8', 's2', 's6', 's3'], (n) => fixture(n).date!, 'asc'));
      expect(await names({ ...a(), studyDateFrom: '20250205' }, 'DATE_ASC')).toEqual(['s3', 's4']);
      expect(await names({ ...a(), studyDateTo: '20250115' }, 'DATE_DESC')).toEqual(['s8', 's1']);
      expect(await names({ ...a(), studyDateFrom: '20250110', studyDateTo: '20250110' }, 'SCORE_DESC')).toEqual(['s1']);
    });

    it('filters by status', async () => {
      expect(await names({ ...a(), status: 'failed' }, 'DATE_ASC')).toEqual(['s4']);
      expect(await names({ ...a(), status: 'pending' }, 'DATE_ASC')).toEqual(['s5']);
      // The default sort must not hide a study that is waiting for its score (or failed).
      expect(await names({ ...a(), status: 'pending' }, 'SCORE_DESC')).toEqual(['s5']);
      expect(await names({ ...a(), status: 'failed' }, 'SCORE_ASC')).toEqual(['s4']);
    });

    it('filters by inclusive exam score bounds of the model version', async () => {
      expect(await names({ ...a(), minScore: 0.5 }, 'SCORE_DESC')).toEqual(['s1', 's7', ...ordered(['s2', 's6'], examA, 'desc')]);
      expect(await names({ ...a(), maxScore: 0.5 }, 'SCORE_ASC')).toEqual(['s3', ...ordered(['s2', 's6'], examA, 'asc')]);
      expect(await names({ ...a(), minScore: 0.5, maxScore: 0.7 }, 'DATE_DESC')).toEqual([...ordered(['s2', 's6'], () => 0, 'desc'), 's7']);
      // Model B's 0.95 for s3 must not let s3 through a bound on model A's results.
      expect(await names({ ...a(), minScore: 0.91 }, 'DATE_ASC')).toEqual([]);
      expect(await names({ modelVersionId: modelB.id, minScore: 0.91 }, 'DATE_ASC')).toEqual(['s3']);
    });

    it('filters by side: a scored breast with a score bound, an image of that side without', async () => {
      // Without a score bound: studies with an image of the side, scored or not.
      expect(await names({ ...a(), laterality: 'L' }, 'DATE_ASC')).toEqual(['s1', 's8', 's6', 's3', 's4']);
      expect(await names({ ...a(), laterality: 'R' }, 'SCORE_DESC')).toEqual(['s1', 's7', ...ordered(['s2', 's6'], examA, 'desc'), 's3', 's5']);
      // With one: studies whose breast of that side model A scored (s6 has an R image, no R result).
      expect(await names({ ...a(), laterality: 'R', minScore: 0 }, 'SCORE_DESC')).toEqual(['s1', 's7', 's2', 's3']);
      expect(await names({ ...a(), laterality: 'L', minScore: 0 }, 'DATE_ASC')).toEqual(['s1', 's6', 's3']);
      // s8 has no R image, but model B scored both breasts of it.
      expect(await names({ modelVersionId: modelB.id, laterality: 'R', maxScore: 1 }, 'DATE_ASC')).toEqual(['s1', 's8', 's3']);
      expect(await names({ modelVersionId: modelB.id, laterality: 'R' }, 'SCORE_DESC')).toEqual(['s3', 's1', ...ordered(['s2', 's5', 's6', 's7'], () => 0, 'desc')]);
    });

    it('filters by labels', async () => {
      expect(await names({ ...a(), labelled: true }, 'DATE_ASC')).toEqual(['s1', 's6']);
      expect(await names({ ...a(), labelled: true }, 'SCORE_ASC')).toEqual(['s6', 's1']);
      expect(await names({ ...a(), labelled: false }, 'SCORE_DESC')).toEqual(['s7', 's2', 's3', ...ordered(['s4', 's5', 's8'], () => 0, 'desc')]);
      expect(await names({ ...a(), labelled: false, studyDateTo: '20251231' }, 'DATE_DESC')).toEqual(['s4', 's3', 's2', 's8']);
    });

    it('keeps only positive exam results for the worklist', async () => {
      expect(await names({ ...a(), positiveOnly: true }, 'SCORE_DESC')).toEqual(['s1', 's7', ...ordered(['s2', 's6'], examA, 'desc')]);
      expect(await names({ ...a(), positiveOnly: true }, 'DATE_DESC')).toEqual([...ordered(['s2', 's6'], () => 0, 'desc'), 's1', 's7']);
      expect(await names({ modelVersionId: modelB.id, positiveOnly: true }, 'SCORE_DESC')).toEqual(['s3', 's8']);
    });

    it('combines filters', async () => {
      const filter = { ...a(), studyDateFrom: '20250101', studyDateTo: '20250131', minScore: 0.45, laterality: 'L' as const, status: 'scored' as const };
      expect(await names(filter, 'SCORE_DESC')).toEqual(['s1', 's6']);
      expect(await names({ ...filter, labelled: false }, 'SCORE_DESC')).toEqual([]);
    });
  });

  describe('pages', () => {
    it.each<[string, StudySearchSort, () => StudySearchFilter]>([
      ['score, descending', 'SCORE_DESC', () => ({ modelVersionId: modelA.id })],
      ['score, ascending', 'SCORE_ASC', () => ({ modelVersionId: modelA.id })],
      ['date, descending', 'DATE_DESC', () => ({ modelVersionId: modelA.id })],
      ['date, ascending', 'DATE_ASC', () => ({ modelVersionId: modelA.id })],
      ['date with a filter', 'DATE_ASC', () => ({ modelVersionId: modelA.id, laterality: 'R' })],
      ['date without a model', 'DATE_DESC', () => ({ modelVersionId: null })],
      ['score of model B', 'SCORE_DESC', () => ({ modelVersionId: modelB.id })],
      ['score without a model', 'SCORE_ASC', () => ({ modelVersionId: null })],
      ['score with a filter', 'SCORE_ASC', () => ({ modelVersionId: modelA.id, laterality: 'L' })],
    ])('returns every study exactly once, in order, two at a time (%s)', async (_, sort, filter) => {
      const whole = await names(filter(), sort);
      expect(whole.length).toBeGreaterThan(2);
      expect(await allPages(filter(), sort)).toEqual(whole);
    });

    it('ends with an empty page and no cursor when nothing matches', async () => {
      const page = await store.search.search({ modelVersionId: modelA.id, status: 'queued' }, 'DATE_ASC', { first: 2 });
      expect(page).toEqual({ items: [], endCursor: null, hasNextPage: false });
    });

    it('refuses garbled cursors and cursors of another search, naming "after"', async () => {
      const first = await store.search.search({ modelVersionId: modelA.id }, 'SCORE_DESC', { first: 2 });
      const cursor = first.endCursor!;
      const refused = async (filter: StudySearchFilter, sort: StudySearchSort, after: string) => {
        const error = await store.search.search(filter, sort, { first: 2, after }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).field).toBe('after');
      };
      await refused({ modelVersionId: modelA.id }, 'SCORE_DESC', 'not a cursor!');
      await refused({ modelVersionId: modelA.id }, 'SCORE_DESC', cursor.slice(0, -3));
      await refused({ modelVersionId: modelA.id }, 'SCORE_DESC', Buffer.from('{"s":1}').toString('base64url'));
      await refused({ modelVersionId: modelA.id }, 'SCORE_DESC', Buffer.from('[]').toString('base64url'));
      await refused({ modelVersionId: modelA.id }, 'SCORE_ASC', cursor);
      await refused({ modelVersionId: modelA.id }, 'DATE_DESC', cursor);
      await refused({ modelVersionId: modelB.id }, 'SCORE_DESC', cursor);
      await refused({ modelVersionId: modelA.id, minScore: 0.1 }, 'SCORE_DESC', cursor);
      // The same search takes it.
      const second = await store.search.search({ modelVersionId: modelA.id }, 'SCORE_DESC', { first: 2, after: cursor });
      expect(second.items).toHaveLength(2);
    });
  });

  describe('validation', () => {
    it.each<[string, StudySearchFilter, number, string]>([
      ['a page of none', {}, 0, 'first'],
      ['a page too large', {}, 201, 'first'],
      ['a fractional page', {}, 1.5, 'first'],
      ['a dashed date', { studyDateFrom: '2025-01-01' }, 10, 'studyDateFrom'],
      ['an impossible date', { studyDateTo: '20250230' }, 10, 'studyDateTo'],
      ['dates the wrong way round', { studyDateFrom: '20250201', studyDateTo: '20250101' }, 10, 'studyDateTo'],
      ['an unknown status', { status: 'done' as never }, 10, 'status'],
      ['a score above 1', { minScore: 1.5 }, 10, 'minScore'],
      ['a negative score', { maxScore: -0.1 }, 10, 'maxScore'],
      ['crossed score bounds', { minScore: 0.6, maxScore: 0.4 }, 10, 'minScore'],
      ['an unknown side', { laterality: 'B' as never }, 10, 'laterality'],
    ])('refuses %s, naming the field', async (_, filter, first, field) => {
      const error = await store.search.search(filter, 'DATE_ASC', { first }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
    });

    it('refuses an unknown sort', async () => {
      await expect(store.search.search({}, 'NAME_ASC' as never, { first: 1 })).rejects.toThrow(/^sort: must be one of/);
    });
  });

  describe('new exam results', () => {
    it('lists exam results created after a moment, oldest first, with study UID and model version', async () => {
      const all = await store.predictions.examsCreatedSince(new Date(0), 100);
      expect(all.map((e) => `${e.studyUid.split('.').at(-1)}:${e.modelVersion}`).sort()).toEqual(
        ['s1:model-a', 's1:model-b', 's2:model-a', 's3:model-a', 's3:model-b', 's6:model-a', 's7:model-a', 's8:model-b'].sort(),
      );
      expect(all.every((e) => e.level === 'exam')).toBe(true);
      const times = all.map((e) => e.createdAt.getTime());
      expect(times).toEqual([...times].sort((x, y) => x - y));
      expect(await store.predictions.examsCreatedSince(new Date(0), 3)).toEqual(all.slice(0, 3));
      expect(await store.predictions.examsCreatedSince(all.at(-1)!.createdAt, 100)).toEqual([]);
      await expect(store.predictions.examsCreatedSince(new Date(0), 0)).rejects.toThrow(/^take:/);
      await expect(store.predictions.examsCreatedSince(new Date('nope'), 10)).rejects.toThrow(/^since:/);
    });
  });
});
