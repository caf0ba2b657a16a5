// The repositories, on SQLite and on PostgreSQL: the same suite for both providers.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { PROVIDERS, createTestDatabase, type TestDatabase } from '../support/databases.js';

const uid = (() => {
  let n = 0;
  return (prefix = '1.2.826.0.1.3680043.10.1') => `${prefix}.${process.pid}.${Date.now()}.${++n}`;
})();

describe.each(PROVIDERS)('store on %s', (provider) => {
  let database: TestDatabase;
  let store: Store;

  beforeAll(async () => {
    database = await createTestDatabase(provider);
    store = await openStore({ databaseUrl: database.url });
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  async function newStudy() {
    return (await store.studies.announce({ studyUid: uid(), source: 'manual', studyDate: '20261101' })).study;
  }

  async function newModel(version = `v-${uid('m')}`) {
    return store.modelVersions.register({
      version,
      architecture: 'resnet50-top2',
      packageHash: 'sha256:abc',
      path: `/models/${version}`,
      manifest: { input: [1152, 896] },
      threshold: 0.3,
    });
  }

  describe('studies', () => {
    it('records an announced study once, however often and however concurrently it is announced', async () => {
      const studyUid = uid();
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => store.studies.announce({ studyUid, source: i % 2 ? 'webhook' : 'poll' })),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.study.id)).size).toBe(1);
      const again = await store.studies.announce({ studyUid, source: 'manual' });
      expect(again.created).toBe(false);
      expect(again.study.source).toBe(results.find((r) => r.created)!.study.source);
    });

    it('moves through statuses with a reason, and refuses unknown statuses and studies', async () => {
      const study = await newStudy();
      expect(study.status).toBe('pending');
      const failed = await store.studies.setStatus(study.studyUid, 'failed', 'no eligible views');
      expect(failed).toMatchObject({ status: 'failed', statusReason: 'no eligible views' });
      await expect(store.studies.setStatus(study.studyUid, 'finished' as never)).rejects.toThrow(ValidationError);
      await expect(store.studies.setStatus('9.9.9', 'scored')).rejects.toThrow(NotFoundError);
      await expect(store.studies.announce({ studyUid: uid(), source: 'email' as never })).rejects.toThrow(/source: must be one of/);
    });

    it('reports a content change to exactly one of several concurrent announcers', async () => {
      const study = await newStudy();
      const first = await Promise.all([1, 2, 3].map(() => store.studies.recordContent(study.studyUid, 'series-a:2')));
      expect(first.filter(Boolean)).toHaveLength(1);
      expect(await store.studies.recordContent(study.studyUid, 'series-a:2')).toBe(false);
      expect(await store.studies.recordContent(study.studyUid, 'series-a:2|series-b:1')).toBe(true);
      expect((await store.studies.findByUid(study.studyUid))!.contentFingerprint).toBe('series-a:2|series-b:1');
    });

    it('lists newest first with filters and keyset pagination', async () => {
      const made = [];
      for (let i = 0; i < 5; i++) {
        made.push((await store.studies.announce({ studyUid: uid(), source: 'poll', studyDate: `2025010${i + 1}` })).study);
        await store.studies.setStatus(made[i]!.studyUid, 'skipped', 'test');
      }
      const first = await store.studies.list({ status: 'skipped', take: 2, studyDateFrom: '20250101', studyDateTo: '20250105' });
      const second = await store.studies.list({ status: 'skipped', take: 2, after: first[1]!.id, studyDateFrom: '20250101', studyDateTo: '20250105' });
      const third = await store.studies.list({ status: 'skipped', take: 2, after: second[1]!.id, studyDateFrom: '20250101', studyDateTo: '20250105' });
      const seen = [...first, ...second, ...third].map((s) => s.studyUid);
      expect(seen).toHaveLength(5);
      expect(new Set(seen)).toEqual(new Set(made.map((s) => s.studyUid)));
      const narrow = await store.studies.list({ studyDateFrom: '20250102', studyDateTo: '20250103' });
      expect(narrow.map((s) => s.studyDate).sort()).toEqual(['20250102', '20250103']);
    });
  });

  describe('images', () => {
    it('upserts by SOP Instance UID and keeps view modifiers', async () => {
      const study = await newStudy();
      const sop = uid();
      const [image] = await store.images.upsertMany(study.id, [
        { sopInstanceUid: sop, seriesUid: uid(), laterality: 'L', view: 'CC', viewModifiers: ['magnification', 'spot-compression'], status: 'eligible' },
      ]);
      expect(image!.viewModifiers).toEqual(['magnification', 'spot-compression']);
      await store.images.upsertMany(study.id, [
        { sopInstanceUid: sop, seriesUid: image!.seriesUid, laterality: 'L', view: 'CC', status: 'skipped', statusReason: 'For Processing' },
      ]);
      const images = await store.images.listByStudy(study.id);
      expect(images).toHaveLength(1);
      expect(images[0]).toMatchObject({ status: 'skipped', statusReason: 'For Processing', viewModifiers: [] });
    });

    it('rejects an unknown laterality before writing anything', async () => {
      const study = await newStudy();
      await expect(
        store.images.upsertMany(study.id, [
          { sopInstanceUid: uid(), seriesUid: uid(), laterality: 'R', status: 'eligible' },
          { sopInstanceUid: uid(), seriesUid: uid(), laterality: 'X' as never, status: 'eligible' },
        ]),
      ).rejects.toThrow(/images\[1\]\.laterality/);
      expect(await store.images.listByStudy(study.id)).toHaveLength(0);
    });
  });

  /** An eligible CC image of each breast. */
  function leftAndRight(studyId: string) {
    return store.images.upsertMany(studyId, [
      { sopInstanceUid: uid(), seriesUid: uid(), laterality: 'L', view: 'CC', status: 'eligible' },
      { sopInstanceUid: uid(), seriesUid: uid(), laterality: 'R', view: 'CC', status: 'eligible' },
    ]);
  }

  describe('predictions', () => {
    it('stores image, breast and exam results once; a retry changes nothing', async () => {
      const study = await newStudy();
      const model = await newModel();
      const [image] = await store.images.upsertMany(study.id, [{ sopInstanceUid: uid(), seriesUid: uid(), laterality: 'L', view: 'MLO', status: 'eligible' }]);
      const results = [
        { level: 'image' as const, imageId: image!.id, laterality: 'L' as const, probability: 0.7, positive: true, preprocessingHash: 'pp1', timings: { infer: 830 } },
        { level: 'breast' as const, laterality: 'L' as const, probability: 0.7, positive: true, preprocessingHash: 'pp1' },
        { level: 'exam' as const, probability: 0.7, positive: true, preprocessingHash: 'pp1' },
      ];
      await store.predictions.saveResults(study.id, model.id, results);
      await store.predictions.saveResults(study.id, model.id, results.map((r) => ({ ...r, probability: 0.1 })));
      const stored = await store.predictions.listByStudy(study.id);
      expect(stored).toHaveLength(3);
      expect(stored.every((p) => p.probability === 0.7)).toBe(true);
      expect(stored.find((p) => p.level === 'image')!.timings).toEqual({ infer: 830 });
      expect(stored.map((p) => p.scopeKey).sort()).toEqual(['breast:L', 'exam', `image:${image!.id}`]);
    });

    it.each([
      [{ level: 'exam', probability: 1.2 }, /probability: must be a finite probability/],
      [{ level: 'exam', probability: Number.NaN }, /probability/],
      [{ level: 'breast', probability: 0.5 }, /laterality: is required/],
      [{ level: 'image', probability: 0.5, laterality: 'L' }, /imageId: is required/],
      [{ level: 'study', probability: 0.5 }, /level: must be one of/],
    ])('refuses %o and writes nothing', async (bad, message) => {
      const study = await newStudy();
      const model = await newModel();
      const good = { level: 'exam' as const, probability: 0.2, positive: false, preprocessingHash: 'pp' };
      await expect(
        store.predictions.saveResults(study.id, model.id, [good, { positive: false, preprocessingHash: 'pp', ...bad } as never]),
      ).rejects.toThrow(message);
      expect(await store.predictions.listByStudy(study.id)).toHaveLength(0);
    });

    it('replaces breast and exam results of another image set, keeps those of the same set, and never rewrites an image result', async () => {
      const study = await newStudy();
      const model = await newModel();
      const [left, right] = await leftAndRight(study.id);
      const image = (id: string, laterality: 'L' | 'R', probability: number) => ({ level: 'image' as const, imageId: id, laterality, probability, positive: false, preprocessingHash: 'pp' });
      const breast = (laterality: 'L' | 'R', probability: number) => ({ level: 'breast' as const, laterality, probability, positive: false, preprocessingHash: 'pp' });
      const exam = (probability: number) => ({ level: 'exam' as const, probability, positive: false, preprocessingHash: 'pp' });
      const summary = async () => (await store.predictions.listByStudy(study.id)).map((p) => `${p.scopeKey.replace(/image:.*/, `image:${p.laterality}`)}=${p.probability}`).sort();

      // Left image only (the right one could not be fetched yet).
      const first = await store.predictions.saveResults(study.id, model.id, [image(left!.id, 'L', 0.2), breast('L', 0.2), exam(0.2)], [], 'set-L');
      expect(first.replaced).toBe(0);
      // A retry with the same images changes nothing.
      expect((await store.predictions.saveResults(study.id, model.id, [image(left!.id, 'L', 0.9), breast('L', 0.9), exam(0.9)], [], 'set-L')).replaced).toBe(0);
      expect(await summary()).toEqual(['breast:L=0.2', 'exam=0.2', 'image:L=0.2']);
      // Scored again with both images: the breast and exam results follow the new set (as its SR
      // does); the left image's own result stands.
      const second = await store.predictions.saveResults(study.id, model.id, [image(left!.id, 'L', 0.3), image(right!.id, 'R', 0.8), breast('L', 0.3), breast('R', 0.8), exam(0.8)], [], 'set-LR');
      expect(second.replaced).toBe(2);
      expect(await summary()).toEqual(['breast:L=0.3', 'breast:R=0.8', 'exam=0.8', 'image:L=0.2', 'image:R=0.8']);
      // Another model version's results are its own.
      const other = await newModel();
      expect((await store.predictions.saveResults(study.id, other.id, [exam(0.5)], [], 'set-LR-other')).replaced).toBe(0);
      expect((await store.predictions.listByStudy(study.id)).filter((p) => p.level === 'exam').map((p) => p.probability).sort()).toEqual([0.5, 0.8]);
      // Results stored without a set (before sets were recorded) are replaced by the first set.
      const legacy = await newStudy();
      await store.predictions.saveResults(legacy.id, model.id, [exam(0.1)]);
      expect((await store.predictions.saveResults(legacy.id, model.id, [exam(0.6)], [], 'set-A')).replaced).toBe(1);
      expect((await store.predictions.listByStudy(legacy.id)).map((p) => p.probability)).toEqual([0.6]);
    });

    it('never keeps breast and exam results of two image sets when two attempts store at once', async () => {
      const model = await newModel();
      const breast = (laterality: 'L' | 'R', probability: number) => ({ level: 'breast' as const, laterality, probability, positive: false, preprocessingHash: 'pp' });
      const exam = (probability: number) => ({ level: 'exam' as const, probability, positive: false, preprocessingHash: 'pp' });
      for (let round = 0; round < 8; round++) {
        const study = await newStudy();
        // Set X covers both breasts, set Y the left one only: a mix would show as a right breast
        // of X beside Y's exam, or a left breast of one set beside the other's exam.
        const [x, y] = await Promise.all([
          store.predictions.saveResults(study.id, model.id, [breast('L', 0.1), breast('R', 0.1), exam(0.1)], [], 'set-X'),
          store.predictions.saveResults(study.id, model.id, [breast('L', 0.7), exam(0.7)], [], 'set-Y'),
        ]);
        const stored = await store.predictions.listByStudy(study.id);
        const probabilities = new Set(stored.map((p) => p.probability));
        expect(probabilities.size, `round ${round}: ${stored.map((p) => `${p.scopeKey}=${p.probability}`).join(' ')}`).toBe(1);
        // The later one replaced what the earlier one stored, and says so.
        expect(stored).toHaveLength(probabilities.has(0.1) ? 3 : 2);
        expect(x.replaced + y.replaced).toBe(probabilities.has(0.1) ? 2 : 3);
      }
      await expect(store.predictions.saveResults('no-such-study', model.id, [exam(0.5)], [], 'set-Z')).rejects.toThrow(/study/);
    });

    it("writes the images' new status with the results, in one transaction", async () => {
      const study = await newStudy();
      const model = await newModel();
      const [left, right] = await leftAndRight(study.id);
      const exam = { level: 'exam' as const, probability: 0.3, positive: false, preprocessingHash: 'pp' };
      // An image that is not there (deleted meanwhile): nothing is written, neither results nor statuses.
      await expect(
        store.predictions.saveResults(study.id, model.id, [exam], [
          { imageId: left!.id, status: 'scored', reason: null },
          { imageId: 'no-such-image', status: 'scored', reason: null },
        ]),
      ).rejects.toThrow(/image not found: .*no-such-image/);
      expect(await store.predictions.listByStudy(study.id)).toHaveLength(0);
      expect((await store.images.listByStudy(study.id)).map((i) => i.status)).toEqual(['eligible', 'eligible']);
      await expect(store.predictions.saveResults(study.id, model.id, [exam], [{ imageId: left!.id, status: 'done' as never, reason: null }])).rejects.toThrow(/images\[0\]\.status/);

      await store.predictions.saveResults(study.id, model.id, [exam], [
        { imageId: left!.id, status: 'scored', reason: null },
        { imageId: right!.id, status: 'scored', reason: 'outside the intended use: 3D' },
      ]);
      expect(await store.predictions.listByStudy(study.id)).toHaveLength(1);
      const images = await store.images.listByStudy(study.id);
      expect(images.map((i) => [i.laterality, i.status, i.statusReason]).sort()).toEqual([
        ['L', 'scored', null],
        ['R', 'scored', 'outside the intended use: 3D'],
      ]);
    });
  });

  describe('reports', () => {
    it('reserves one report per result key, even under concurrent reservations', async () => {
      const study = await newStudy();
      const model = await newModel();
      const key = `score:${study.studyUid}:${model.version}`;
      const attempts = await Promise.all(
        [1, 2, 3].map(() =>
          store.reports.reserve({
            studyId: study.id,
            modelVersionId: model.id,
            idempotencyKey: key,
            template: 'TID1500',
            srSopInstanceUid: uid(),
            srSeriesUid: uid(),
            srSopClassUid: '1.2.840.10008.5.1.4.1.1.88.33',
          }),
        ),
      );
      expect(attempts.filter((a) => a.created)).toHaveLength(1);
      const sop = attempts[0]!.report.srSopInstanceUid;
      expect(attempts.every((a) => a.report.srSopInstanceUid === sop)).toBe(true);
      const stored = await store.reports.markStored(sop, 'http://127.0.0.1:8042/dicom-web');
      expect(stored).toMatchObject({ status: 'stored', storedAt: 'http://127.0.0.1:8042/dicom-web' });
      expect(stored.storedOn).toBeInstanceOf(Date);
      expect(await store.reports.listByStudy(study.id)).toHaveLength(1);
      await expect(store.reports.markStored('2.25.404', 'http://127.0.0.1:8042/dicom-web')).rejects.toThrow(/report not found: 2\.25\.404/);
    });
  });

  describe('labels', () => {
    it('stores image and breast labels with their source and author', async () => {
      const study = await newStudy();
      const [image] = await store.images.upsertMany(study.id, [{ sopInstanceUid: uid(), seriesUid: uid(), laterality: 'R', status: 'eligible' }]);
      await store.labels.addMany([
        { studyId: study.id, scope: 'image', imageId: image!.id, value: 'malignant', source: 'pathology', author: 'dr.a' },
        { studyId: study.id, scope: 'breast', laterality: 'L', value: 'normal', source: 'follow-up', author: 'dr.a' },
      ]);
      const labels = await store.labels.listByStudy(study.id);
      expect(labels.map((l) => [l.scope, l.value, l.source])).toEqual([
        ['image', 'malignant', 'pathology'],
        ['breast', 'normal', 'follow-up'],
      ]);
    });

    it('writes none of a batch when one label is invalid or names a missing image', async () => {
      const study = await newStudy();
      const other = await newStudy();
      const [foreign] = await store.images.upsertMany(other.id, [{ sopInstanceUid: uid(), seriesUid: uid(), laterality: 'R', status: 'eligible' }]);
      const good = { studyId: study.id, scope: 'breast' as const, laterality: 'R' as const, value: 'benign' as const, source: 'radiologist' as const, author: 'dr.b' };
      await expect(store.labels.addMany([good, { ...good, value: 'cancer' as never }])).rejects.toThrow(/labels\[1\]\.value/);
      await expect(store.labels.addMany([good, { ...good, scope: 'image', imageId: foreign!.id }])).rejects.toThrow(/labels\[1\]\.imageId: no image/);
      await expect(store.labels.addMany([{ ...good, studyId: 'no-such-study' }])).rejects.toThrow(NotFoundError);
      expect(await store.labels.listByStudy(study.id)).toHaveLength(0);
    });
  });

  describe('model versions', () => {
    it('keeps exactly one active version across activations', async () => {
      const a = await newModel();
      const b = await newModel();
      await store.modelVersions.activate(a.version, 'admin');
      const activeB = await store.modelVersions.activate(b.version, 'admin');
      expect(activeB).toMatchObject({ active: true, activatedBy: 'admin' });
      expect((await store.modelVersions.findActive())!.version).toBe(b.version);
      expect((await store.modelVersions.list()).filter((m) => m.active)).toHaveLength(1);
      await expect(store.modelVersions.activate('nope', 'admin')).rejects.toThrow(NotFoundError);
      expect((await store.modelVersions.findActive())!.version).toBe(b.version);
    });

    it('never has two active versions, even when activations race', async () => {
      const a = await newModel();
      const b = await newModel();
      const outcomes = await Promise.allSettled([store.modelVersions.activate(a.version, 'x'), store.modelVersions.activate(b.version, 'y')]);
      expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ConflictError);
      expect((await store.modelVersions.list()).filter((m) => m.active)).toHaveLength(1);
    });

    it('refuses a duplicate version and an out-of-range threshold', async () => {
      const a = await newModel();
      await expect(newModel(a.version)).rejects.toThrow(ConflictError);
      await expect(
        store.modelVersions.register({ version: uid('v'), architecture: 'x', packageHash: 'h', path: '/p', manifest: {}, threshold: 2 }),
      ).rejects.toThrow(/threshold/);
    });

    it('stores manifest and metrics as JSON', async () => {
      const a = await newModel();
      const updated = await store.modelVersions.updateMetrics(a.version, { auc: 0.81, auc_ci: [0.7, 0.9] });
      expect(updated.metrics).toEqual({ auc: 0.81, auc_ci: [0.7, 0.9] });
      expect(updated.manifest).toEqual({ input: [1152, 896] });
    });
  });

  describe('jobs', () => {
    const kind = () => `test-${uid('k')}`;

    it('enqueues a keyed job once', async () => {
      const k = kind();
      const first = await store.jobs.enqueue(k, { study: 1 }, { idempotencyKey: `key-${k}` });
      const second = await store.jobs.enqueue(k, { study: 1 }, { idempotencyKey: `key-${k}` });
      expect(first.created).toBe(true);
      expect(second).toMatchObject({ created: false, job: { id: first.job.id } });
    });

    it('gives each job to exactly one of many concurrent claimers', async () => {
      const k = kind();
      for (let i = 0; i < 3; i++) await store.jobs.enqueue(k, { i });
      const claims = await Promise.all(Array.from({ length: 8 }, (_, w) => store.jobs.claim([k], `worker-${w}`)));
      const claimed = claims.filter((c) => c !== null);
      expect(claimed).toHaveLength(3);
      expect(new Set(claimed.map((c) => c!.id)).size).toBe(3);
      expect(claimed.every((c) => c!.status === 'running' && c!.attempts === 1)).toBe(true);
      expect(await store.jobs.claim([k], 'late')).toBeNull();
    });

    it('retries with a delay, then goes dead with the last error after maxAttempts', async () => {
      const k = kind();
      const { job } = await store.jobs.enqueue(k, {}, { maxAttempts: 2 });
      await store.jobs.claim([k], 'w');
      const later = new Date(Date.now() + 60_000);
      const retried = await store.jobs.retryLater(job.id, 'PACS unavailable', later);
      expect(retried).toMatchObject({ status: 'queued', lastError: 'PACS unavailable' });
      expect(await store.jobs.claim([k], 'w')).toBeNull(); // not due yet
      await store.jobs.claim([k], 'w', new Date(later.getTime() + 1));
      const dead = await store.jobs.retryLater(job.id, 'PACS unavailable again', later);
      expect(dead).toMatchObject({ status: 'dead', attempts: 2, lastError: 'PACS unavailable again' });
    });

    it('finishes, cancels and requeues jobs of dead workers', async () => {
      const k = kind();
      // a was due five minutes ago and its worker took it two minutes ago, then went silent.
      const a = (await store.jobs.enqueue(k, {}, { runAt: new Date(Date.now() - 300_000) })).job;
      const b = (await store.jobs.enqueue(k, {})).job;
      const c = (await store.jobs.enqueue(k, {})).job;
      expect((await store.jobs.requestCancel(c.id)).status).toBe('cancelled');
      await store.jobs.claim([k], 'w1', new Date(Date.now() - 120_000));
      await store.jobs.claim([k], 'w2');
      expect(await store.jobs.requeueStale(new Date(Date.now() - 60_000))).toEqual({ requeued: 1, dead: [], cancelled: [], holdersGone: 0 });
      const requeued = await store.jobs.get(a.id);
      expect(requeued).toMatchObject({ status: 'queued', lastError: 'worker stopped responding' });
      await store.jobs.reportProgress(b.id, { phase: 'infer', done: 2, total: 4 });
      expect((await store.jobs.requestCancel(b.id)).cancelRequested).toBe(true);
      const done = await store.jobs.finish(b.id, 'skipped', { result: { reason: 'no eligible views' }, error: 'no eligible views' });
      expect(done).toMatchObject({ status: 'skipped', result: { reason: 'no eligible views' }, progress: { phase: 'infer', done: 2, total: 4 } });
      const counts = await store.jobs.countByStatus();
      expect(counts.cancelled).toBeGreaterThanOrEqual(1);
      expect(Object.keys(counts)).toEqual(['queued', 'running', 'succeeded', 'skipped', 'failed', 'dead', 'cancelled']);
      expect((await store.jobs.list({ kind: k })).map((j) => j.id).sort()).toEqual([a.id, b.id, c.id].sort());
    });

    it('lets only the worker that holds a job write its outcome', async () => {
      const k = kind();
      const { job } = await store.jobs.enqueue(k, {});
      await store.jobs.claim([k], 'holder');
      expect(await store.jobs.reportProgress(job.id, { stage: 'x' }, 'intruder')).toBe(false);
      await expect(store.jobs.finish(job.id, 'succeeded', {}, 'intruder')).rejects.toThrow(ConflictError);
      await expect(store.jobs.retryLater(job.id, 'e', new Date(), 'intruder')).rejects.toThrow(ConflictError);
      expect(await store.jobs.reportProgress(job.id, { stage: 'x' }, 'holder')).toBe(true);
      expect((await store.jobs.finish(job.id, 'succeeded', {}, 'holder')).status).toBe('succeeded');
    });

    it('records a stage and says whether a cancel was asked for, in one call, only for the holder', async () => {
      const k = kind();
      const { job } = await store.jobs.enqueue(k, {});
      await store.jobs.claim([k], 'holder');
      expect(await store.jobs.reportStage(job.id, { stage: 'fetch' }, 'holder')).toEqual({ held: true, cancelRequested: false });
      expect(await store.jobs.reportStage(job.id, { stage: 'nope' }, 'intruder')).toEqual({ held: false, cancelRequested: false });
      expect((await store.jobs.get(job.id)).progress).toEqual({ stage: 'fetch' });
      await store.jobs.requestCancel(job.id);
      expect(await store.jobs.reportStage(job.id, { stage: 'infer' }, 'holder')).toEqual({ held: true, cancelRequested: true });
      expect(await store.jobs.reportStage(job.id, { stage: 'infer' }, 'intruder')).toEqual({ held: false, cancelRequested: true });
      expect((await store.jobs.get(job.id)).progress).toEqual({ stage: 'infer' });
    });

    it('postpones without using up an attempt, and buries a job whose worker died on every attempt', async () => {
      const k = kind();
      const { job } = await store.jobs.enqueue(k, {}, { maxAttempts: 2, runAt: new Date(Date.now() - 600_000) });
      await store.jobs.claim([k], 'w', new Date(Date.now() - 500_000));
      const postponed = await store.jobs.postpone(job.id, 'no model', new Date(Date.now() - 400_000), 'w');
      expect(postponed).toMatchObject({ status: 'queued', attempts: 0, lastError: 'no model' });
      await store.jobs.claim([k], 'w', new Date(Date.now() - 300_000)); // attempt 1, then the worker dies
      expect((await store.jobs.requeueStale(new Date(Date.now() - 200_000))).requeued).toBe(1);
      await store.jobs.claim([k], 'w', new Date(Date.now() - 150_000)); // attempt 2, dies again
      const { requeued, dead } = await store.jobs.requeueStale(new Date(Date.now() - 100_000));
      expect(requeued).toBe(0);
      expect(dead.map((d) => [d.id, d.status, d.attempts])).toEqual([[job.id, 'dead', 2]]);
      expect(dead[0]!.lastError).toMatch(/stopped responding on each of 2 attempts/);
    });

    it('requeues at once the job of a holder the liveness test says has ended, and no other before its stale limit', async () => {
      const k = kind();
      const ended = (await store.jobs.enqueue(k, {})).job;
      const alive = (await store.jobs.enqueue(k, {})).job;
      await store.jobs.claim([k], 'host:1@9#ended'); // claimed just now: not stale
      await store.jobs.claim([k], 'host:2@9#alive');
      const gone = (holder: string) => holder.endsWith('#ended');
      expect(await store.jobs.requeueStale(new Date(Date.now() - 60_000), gone)).toEqual({ requeued: 1, dead: [], cancelled: [], holdersGone: 1 });
      expect(await store.jobs.get(ended.id)).toMatchObject({ status: 'queued', lockedBy: null, lastError: 'its worker process ended (host:1@9#ended)' });
      expect(await store.jobs.get(alive.id)).toMatchObject({ status: 'running', lockedBy: 'host:2@9#alive' });
      // Without the test, the same rows wait for the stale limit.
      expect(await store.jobs.requeueStale(new Date(Date.now() - 60_000))).toEqual({ requeued: 0, dead: [], cancelled: [], holdersGone: 0 });
    });
  });

  describe('audit, cursors and API keys', () => {
    it('appends audit events and lists them newest first by actor', async () => {
      const actor = `user-${uid('a')}`;
      await store.audit.record({ actor, action: 'study.read', target: 'study:1' });
      await store.audit.record({ actor, action: 'labels.submit', target: 'study:1', details: { count: 2 } });
      const events = await store.audit.list({ actor });
      expect(events.map((e) => e.action)).toEqual(['labels.submit', 'study.read']);
      expect(events[0]!.details).toEqual({ count: 2 });
      await expect(store.audit.record({ actor: '', action: 'x' })).rejects.toThrow(ValidationError);
    });

    it('persists watcher cursors', async () => {
      expect(await store.cursors.get('qido')).toBeNull();
      await store.cursors.set('qido', '20261126T0900');
      await store.cursors.set('qido', '20261126T0930');
      expect(await store.cursors.get('qido')).toBe('20261126T0930');
    });

    it('creates, finds and revokes API keys', async () => {
      const prefix = `mk_${uid('p').slice(-8)}`;
      await store.apiKeys.create({ name: 'ward', role: 'clinician', prefix, secretHash: `h-${prefix}` });
      await expect(store.apiKeys.create({ name: 'dup', role: 'admin', prefix, secretHash: 'other' })).rejects.toThrow(ConflictError);
      await expect(store.apiKeys.create({ name: 'x', role: 'root' as never, prefix: 'p2', secretHash: 'h2' })).rejects.toThrow(/role/);
      const revoked = await store.apiKeys.revoke(prefix);
      expect(revoked.revokedAt).toBeInstanceOf(Date);
      await expect(store.apiKeys.revoke('mk_missing')).rejects.toThrow(NotFoundError);
    });
  });

  it('answers a readiness ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
