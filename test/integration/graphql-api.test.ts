// The GraphQL API end to end over HTTP, on every database provider: results (search, one study,
// worklist), model versions, labels, jobs, API keys, the audit trail, and the PACS operations
// against a real local Orthanc.

import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { startApi, type TestApi } from '../support/api.js';
import { PROVIDERS } from '../support/databases.js';
import { mammogram, newStudyIds, newUid } from '../support/dicom-factory.js';
import { MODEL_A_METRICS, codes, countRows, seedResults, type SeededResults } from '../support/graphql-fixtures.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';

interface StudyNode {
  studyInstanceUid: string;
  exam: { probability: number } | null;
}
interface Page {
  nodes: StudyNode[];
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
}

// One Orthanc for the whole file, shared by the providers.
const orthanc = LocalOrthanc.available() ? new LocalOrthanc() : undefined;
let pacsStudyUid = '';

beforeAll(async () => {
  if (!orthanc) return;
  await orthanc.start();
  const pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 10_000 });
  const ids = newStudyIds();
  await pacs.store([mammogram(ids, { laterality: 'L', view: 'CC' }).bytes, mammogram(ids, { laterality: 'R', view: 'CC' }).bytes]);
  pacsStudyUid = ids.studyUid;
}, 60_000);
afterAll(async () => {
  await orthanc?.stop();
});

describe.each(PROVIDERS)('GraphQL API on %s', (provider) => {
  let api: TestApi;
  let seed: SeededResults;
  const gql = <T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, role: 'clinician' | 'admin' | 'pacs' = 'clinician') =>
    api.gql<T>(api.keys[role], query, variables);

  beforeAll(async () => {
    api = await startApi(provider, orthanc ? { pacsUrl: orthanc.dicomwebUrl, pacsCredentials: { username: orthanc.username, password: orthanc.password } } : {});
    seed = await seedResults(api.store);
  }, 30_000);
  afterAll(async () => {
    await api?.close();
  });

  const STUDIES = `query($filter: StudyFilter, $sort: StudySort, $first: Int, $after: String) {
    studies(filter: $filter, sort: $sort, first: $first, after: $after) {
      nodes { studyInstanceUid exam { probability } }
      pageInfo { endCursor hasNextPage }
    }
  }`;
  /** The fixture names of one page of studies (a single page: asserts there is no next one). */
  async function names(filter: Record<string, unknown> = {}, sort = 'SCORE_DESC'): Promise<string[]> {
    const res = await gql<{ studies: Page }>(STUDIES, { filter, sort, first: 50 });
    expect(res.errors).toBeUndefined();
    expect(res.data!.studies.pageInfo.hasNextPage).toBe(false);
    return res.data!.studies.nodes.map((n) => seed.nameOf(n.studyInstanceUid));
  }

  describe('without an active model', () => {
    it('has no worklist (NO_ACTIVE_MODEL) and lists studies without scores', async () => {
      const res = await gql('{ worklist { nodes { studyInstanceUid } } }');
      expect(res.status).toBe(200);
      expect(res.data).toBeNull();
      expect(codes(res)).toEqual(['NO_ACTIVE_MODEL']);
      expect(res.errors![0]!.message).toBe('no model version is active, so there is no worklist');
      // Nothing is scored, and the default sort still lists every study (unscored ones last).
      expect((await names({}, 'SCORE_DESC')).sort()).toEqual(['s1', 's2', 's3', 's4', 's5']);
      expect(await names({}, 'DATE_ASC')).toEqual(['s1', 's2', 's3', 's4', 's5']);
    });
  });

  describe('results', () => {
    beforeAll(async () => {
      await api.store.modelVersions.activate('model-a', 'test');
    });

    it('sorts by score (studies without one last) and by date', async () => {
      const unscored = (list: string[]) => [...list.slice(3)].sort();
      const desc = await names();
      expect(desc.slice(0, 3)).toEqual(['s1', 's2', 's3']);
      // The failed study (s4) and the pending one (s5) are listed too, after the scored ones.
      expect(unscored(desc)).toEqual(['s4', 's5']);
      const asc = await names({}, 'SCORE_ASC');
      expect(asc.slice(0, 3)).toEqual(['s3', 's2', 's1']);
      expect(unscored(asc)).toEqual(['s4', 's5']);
      expect(await names({}, 'DATE_ASC')).toEqual(['s1', 's2', 's3', 's4', 's5']);
      expect(await names({}, 'DATE_DESC')).toEqual(['s4', 's3', 's2', 's1', 's5']);
      const res = await gql<{ studies: Page }>(STUDIES, { sort: 'SCORE_DESC' });
      expect(res.data!.studies.nodes.map((n) => n.exam?.probability ?? null)).toEqual([0.9, 0.5, 0.2, null, null]);
    });

    it('filters by each condition', async () => {
      expect(await names({ from: '2025-01-15', to: '2025-02-05' }, 'DATE_ASC')).toEqual(['s2', 's3']);
      expect(await names({ from: '20250206' }, 'DATE_ASC')).toEqual(['s4']);
      expect(await names({ status: 'FAILED' }, 'DATE_ASC')).toEqual(['s4']);
      expect(await names({ status: 'PENDING' }, 'DATE_ASC')).toEqual(['s5']);
      expect(await names({ minScore: 0.5 })).toEqual(['s1', 's2']);
      expect(await names({ maxScore: 0.5 }, 'SCORE_ASC')).toEqual(['s3', 's2']);
      expect(await names({ laterality: 'L' }, 'DATE_ASC')).toEqual(['s1', 's3', 's4']);
      expect(await names({ labelled: true }, 'DATE_ASC')).toEqual(['s1']);
      expect((await names({ labelled: false }, 'SCORE_DESC')).slice(0, 2)).toEqual(['s2', 's3']);
      expect((await names({ labelled: false }, 'SCORE_DESC')).slice(2).sort()).toEqual(['s4', 's5']);
      expect(await names({ status: 'PENDING' })).toEqual(['s5']);
      expect((await names({ modelVersion: 'model-b' })).slice(0, 2)).toEqual(['s3', 's1']);
      const byB = await gql<{ studies: Page }>(STUDIES, { filter: { modelVersion: 'model-b' } });
      expect(byB.data!.studies.nodes.map((n) => n.exam?.probability ?? null)).toEqual([0.95, 0.1, null, null, null]);
    });

    it('refuses filter values out of range, naming the field', async () => {
      const res = await gql(STUDIES, { filter: { minScore: 1.5, from: 'yesterday' } });
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      const fields = (res.errors![0]!.extensions!.fields as Array<{ field: string }>).map((f) => f.field).sort();
      expect(fields).toEqual(['filter.from', 'filter.minScore']);
      expect(res.errors![0]!.message).toContain('filter.minScore');
      const unknown = await gql(STUDIES, { filter: { modelVersion: 'model-z' } });
      expect(codes(unknown)).toEqual(['NOT_FOUND']);
    });

    it('pages through every study with cursors, and refuses a bad cursor naming "after"', async () => {
      for (const sort of ['SCORE_DESC', 'DATE_ASC']) {
        const seen: string[] = [];
        let after: string | null = null;
        for (let i = 0; i < 10; i++) {
          const res: { data?: { studies: Page } | null } = await gql<{ studies: Page }>(STUDIES, { sort, first: 2, after });
          const page: Page = res.data!.studies;
          seen.push(...page.nodes.map((n) => seed.nameOf(n.studyInstanceUid)));
          if (!page.pageInfo.hasNextPage) break;
          expect(page.nodes).toHaveLength(2);
          after = page.pageInfo.endCursor;
        }
        expect(seen).toEqual(await names({}, sort));
      }
      const bad = await gql(STUDIES, { first: 2, after: 'not-a-cursor' });
      expect(bad.status).toBe(200);
      expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
      expect(bad.errors![0]!.extensions!.field).toBe('after');
      // A cursor of another sort is refused too.
      const first = await gql<{ studies: Page }>(STUDIES, { sort: 'SCORE_DESC', first: 1 });
      const other = await gql(STUDIES, { sort: 'DATE_ASC', first: 1, after: first.data!.studies.pageInfo.endCursor });
      expect(other.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    });

    it('shows one study with images, predictions per level, reports and labels', async () => {
      const uid = seed.uid('s1');
      const res = await gql<{ study: Record<string, unknown> }>(
        `query($uid: String!) { study(studyInstanceUid: $uid) {
          studyInstanceUid patientId studyDate status source
          images { sopInstanceUid seriesInstanceUid laterality view status }
          predictions { level laterality probability positive sopInstanceUid modelVersion }
          examA: predictions(modelVersion: "model-a", level: EXAM) { probability modelVersion timings }
          exam { probability positive modelVersion }
          examB: exam(modelVersion: "model-b") { probability positive modelVersion }
          breasts { laterality probability modelVersion }
          reports { sopInstanceUid seriesInstanceUid template status modelVersion storedOn }
          labels { scope laterality value source author note sopInstanceUid studyInstanceUid }
        } }`,
        { uid },
      );
      expect(res.errors).toBeUndefined();
      const study = res.data!.study;
      expect(study).toMatchObject({ studyInstanceUid: uid, patientId: 'P-s1', studyDate: '2025-01-10', status: 'SCORED', source: 'manual' });
      expect(study.images).toEqual([
        { sopInstanceUid: `${uid}.1`, seriesInstanceUid: `${uid}.9`, laterality: 'L', view: 'CC', status: 'eligible' },
        { sopInstanceUid: `${uid}.2`, seriesInstanceUid: `${uid}.9`, laterality: 'R', view: 'CC', status: 'eligible' },
      ].sort((x, y) => (study.images as Array<{ sopInstanceUid: string }>).findIndex((i) => i.sopInstanceUid === x.sopInstanceUid) - (study.images as Array<{ sopInstanceUid: string }>).findIndex((i) => i.sopInstanceUid === y.sopInstanceUid)));
      const predictions = study.predictions as Array<Record<string, unknown>>;
      const key = (p: Record<string, unknown>) => `${p.modelVersion}/${p.level}/${p.laterality ?? '-'}/${p.sopInstanceUid ?? '-'}/${p.probability}/${p.positive}`;
      expect(predictions.map(key).sort()).toEqual(
        [
          'model-a/EXAM/-/-/0.9/true',
          'model-a/BREAST/L/-/0.9/true',
          'model-a/BREAST/R/-/0.9/true',
          `model-a/IMAGE/L/${uid}.1/0.9/true`,
          `model-a/IMAGE/R/${uid}.2/0.9/true`,
          'model-b/EXAM/-/-/0.1/false',
          'model-b/BREAST/L/-/0.1/false',
          'model-b/BREAST/R/-/0.1/false',
          `model-b/IMAGE/L/${uid}.1/0.1/false`,
          `model-b/IMAGE/R/${uid}.2/0.1/false`,
        ].sort(),
      );
      // Exam results first, then breasts, then images.
      expect(predictions.map((p) => p.level)).toEqual(['EXAM', 'EXAM', 'BREAST', 'BREAST', 'BREAST', 'BREAST', 'IMAGE', 'IMAGE', 'IMAGE', 'IMAGE']);
      expect(study.examA).toEqual([{ probability: 0.9, modelVersion: 'model-a', timings: { total: 12 } }]);
      expect(study.exam).toEqual({ probability: 0.9, positive: true, modelVersion: 'model-a' });
      expect(study.examB).toEqual({ probability: 0.1, positive: false, modelVersion: 'model-b' });
      expect((study.breasts as unknown[]).length).toBe(2);
      expect(study.breasts).toEqual(
        expect.arrayContaining([
          { laterality: 'L', probability: 0.9, modelVersion: 'model-a' },
          { laterality: 'R', probability: 0.9, modelVersion: 'model-a' },
        ]),
      );
      expect(study.reports).toEqual([
        { sopInstanceUid: `${uid}.800`, seriesInstanceUid: `${uid}.800.1`, template: 'TID1500', status: 'stored', modelVersion: 'model-a', storedOn: expect.any(String) },
      ]);
      expect(study.labels).toEqual([
        { scope: 'BREAST', laterality: 'L', value: 'BENIGN', source: 'RADIOLOGIST', author: 'dr.t', note: 'seeded', sopInstanceUid: null, studyInstanceUid: uid },
      ]);
    });

    it('answers NOT_FOUND for an unknown study', async () => {
      const res = await gql('{ study(studyInstanceUid: "1.2.3.4.5.404") { studyInstanceUid } }');
      expect(res.status).toBe(200);
      expect(res.data).toBeNull();
      expect(codes(res)).toEqual(['NOT_FOUND']);
      expect(res.errors![0]!.path).toEqual(['study']);
    });

    it("lists the active model's positive exams by score on the worklist", async () => {
      const res = await gql<{ worklist: Page }>('{ worklist(first: 10) { nodes { studyInstanceUid exam { probability positive } } pageInfo { hasNextPage } } }');
      expect(res.errors).toBeUndefined();
      expect(res.data!.worklist.nodes.map((n) => [seed.nameOf(n.studyInstanceUid), n.exam])).toEqual([
        ['s1', { probability: 0.9, positive: true }],
        ['s2', { probability: 0.5, positive: true }],
      ]);
      const page = await gql<{ worklist: Page }>('{ worklist(first: 1) { nodes { studyInstanceUid } pageInfo { endCursor hasNextPage } } }');
      expect(page.data!.worklist.pageInfo.hasNextPage).toBe(true);
      const next = await gql<{ worklist: Page }>(`{ worklist(first: 1, after: "${page.data!.worklist.pageInfo.endCursor}") { nodes { studyInstanceUid } pageInfo { hasNextPage } } }`);
      expect(next.data!.worklist.nodes.map((n) => seed.nameOf(n.studyInstanceUid))).toEqual(['s2']);
      expect(next.data!.worklist.pageInfo.hasNextPage).toBe(false);
    });
  });

  describe('model versions', () => {
    it('lists versions newest first with metrics, AUC and ROC', async () => {
      const res = await gql<{ modelVersions: Array<Record<string, unknown>> }>(
        '{ modelVersions { version architecture packageHash threshold active activatedBy metrics auc aucCi beatsChance roc { fpr tpr threshold } } }',
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.modelVersions.map((v) => v.version)).toEqual(['model-b', 'model-a']);
      expect(res.data!.modelVersions[1]).toEqual({
        version: 'model-a',
        architecture: 'resnet50-top2',
        packageHash: 'sha256:model-a',
        threshold: 0.4,
        active: true,
        activatedBy: 'test',
        metrics: MODEL_A_METRICS,
        auc: 0.81,
        aucCi: [0.72, 0.9],
        beatsChance: true,
        roc: [
          { fpr: 0, tpr: 0, threshold: 1 },
          { fpr: 0.2, tpr: 0.7, threshold: 0.4 },
          { fpr: 1, tpr: 1, threshold: 0 },
        ],
      });
      expect(res.data!.modelVersions[0]).toMatchObject({ version: 'model-b', active: false, metrics: null, auc: null, aucCi: null, beatsChance: null, roc: [] });
      const one = await gql('{ modelVersion(version: "model-b") { version active } }');
      expect(one.data).toEqual({ modelVersion: { version: 'model-b', active: false } });
      expect(codes(await gql('{ modelVersion(version: "model-z") { version } }'))).toEqual(['NOT_FOUND']);
    });

    it('queues an evaluation job, shown by jobs and job', async () => {
      const res = await gql<{ evaluateModelVersion: { id: string; kind: string; status: string; payload: unknown } }>(
        'mutation { evaluateModelVersion(version: "model-b") { id kind status payload } }',
        undefined,
        'admin',
      );
      expect(res.errors).toBeUndefined();
      const job = res.data!.evaluateModelVersion;
      expect(job).toEqual({ id: expect.any(String), kind: 'evaluate', status: 'QUEUED', payload: { version: 'model-b', requestedBy: api.actors.admin } });
      const jobs = await gql<{ jobs: Array<{ id: string }> }>('{ jobs(kind: "evaluate") { id kind status } }', undefined, 'admin');
      expect(jobs.data!.jobs).toEqual([{ id: job.id, kind: 'evaluate', status: 'QUEUED' }]);
      const one = await gql(`{ job(id: "${job.id}") { id kind maxAttempts attempts } }`, undefined, 'admin');
      expect(one.data).toEqual({ job: { id: job.id, kind: 'evaluate', maxAttempts: 3, attempts: 0 } });
      expect(codes(await gql('mutation { evaluateModelVersion(version: "model-z") { id } }', undefined, 'admin'))).toEqual(['NOT_FOUND']);
      expect(codes(await gql('{ job(id: "no-such-job") { id } }', undefined, 'admin'))).toEqual(['NOT_FOUND']);
    });

    it('activates a version whose package checks out; NOT_FOUND for an unknown one', async () => {
      const models = new ModelService({ store: api.store, modelDir: api.modelDir, logger: createLogger('silent') });
      const incoming = mkdtempSync(path.join(tmpdir(), 'mammocad-incoming-'));
      await models.import(await writeTestPackage(incoming, { version: 'tiny-1' }), 'test');
      rmSync(incoming, { recursive: true, force: true });
      const res = await gql<{ activateModelVersion: Record<string, unknown> }>('mutation { activateModelVersion(version: "tiny-1") { version active activatedBy } }', undefined, 'admin');
      expect(res.errors).toBeUndefined();
      expect(res.data!.activateModelVersion).toEqual({ version: 'tiny-1', active: true, activatedBy: api.actors.admin });
      const list = await gql<{ modelVersions: Array<{ version: string; active: boolean }> }>('{ modelVersions { version active } }');
      expect(list.data!.modelVersions).toEqual([
        { version: 'tiny-1', active: true },
        { version: 'model-b', active: false },
        { version: 'model-a', active: false },
      ]);
      const unknown = await gql('mutation { activateModelVersion(version: "model-z") { version } }', undefined, 'admin');
      expect(codes(unknown)).toEqual(['NOT_FOUND']);
      expect((await api.store.modelVersions.findActive())!.version).toBe('tiny-1');
      await api.store.modelVersions.activate('model-a', 'test');
    });

    it("refuses to activate a package damaged on disk, naming the problem but not the server's directory", async () => {
      const models = new ModelService({ store: api.store, modelDir: api.modelDir, logger: createLogger('silent') });
      const incoming = mkdtempSync(path.join(tmpdir(), 'mammocad-incoming-'));
      await models.import(await writeTestPackage(incoming, { version: 'tiny-damaged' }), 'test');
      rmSync(incoming, { recursive: true, force: true });
      const stored = (await api.store.modelVersions.findByVersion('tiny-damaged'))!;
      const active = (await api.store.modelVersions.findActive())?.version ?? null;
      appendFileSync(path.join(stored.path, 'model.onnx'), 'tampered');
      const res = await gql('mutation { activateModelVersion(version: "tiny-damaged") { version } }', undefined, 'admin');
      expect(codes(res)).toEqual(['MODEL_PACKAGE_INVALID']);
      const message = res.errors![0]!.message;
      expect(message).toMatch(/^model package tiny-damaged.*model\.onnx.*\(reference [0-9a-f-]{36}\)$/);
      expect(message).not.toContain(api.modelDir); // the server's path was in it
      expect((await api.store.modelVersions.findActive())?.version ?? null).toBe(active);
    });
  });

  describe('labels', () => {
    const SUBMIT = 'mutation($labels: [LabelInput!]!) { submitLabels(labels: $labels) { scope laterality value source author note sopInstanceUid studyInstanceUid } }';

    it("bounds a study's labels: the newest `first` (default 10, the price a list has; at most 500), oldest first", async () => {
      const s4 = seed.uid('s4');
      const notes = Array.from({ length: 60 }, (_, i) => `n${String(i).padStart(2, '0')}`);
      const submitted = await gql(SUBMIT, { labels: notes.map((note) => ({ studyInstanceUid: s4, laterality: 'L', value: 'NORMAL', source: 'FOLLOW_UP', note })) });
      expect(submitted.errors).toBeUndefined();
      const read = (first?: number) => gql<{ study: { labels: Array<{ note: string }> } }>(`{ study(studyInstanceUid: "${s4}") { labels${first === undefined ? '' : `(first: ${first})`} { note } } }`);
      // Three more, one call each (labels of one call share their time).
      for (const note of ['later-1', 'later-2', 'later-3']) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        expect((await gql(SUBMIT, { labels: [{ studyInstanceUid: s4, laterality: 'L', value: 'BENIGN', source: 'RADIOLOGIST', note }] })).errors).toBeUndefined();
      }
      const all = (await read()).data!.study.labels.map((l) => l.note);
      expect(all).toHaveLength(10); // all 63 before
      expect(all.slice(-3)).toEqual(['later-1', 'later-2', 'later-3']);
      expect((await read(3)).data!.study.labels.map((l) => l.note)).toEqual(['later-1', 'later-2', 'later-3']);
      expect((await read(500)).data!.study.labels.length).toBeGreaterThanOrEqual(63);
      expect(codes(await read(0))).toEqual(['BAD_USER_INPUT']);
      expect(codes(await read(501))).toEqual(['BAD_USER_INPUT']);
    });

    it('records image and breast labels of several studies at once', async () => {
      const before = await countRows(api.db, 'Label');
      const s3 = seed.uid('s3');
      const s2 = seed.uid('s2');
      const res = await gql<{ submitLabels: unknown[] }>(SUBMIT, {
        labels: [
          { studyInstanceUid: s3, sopInstanceUid: `${s3}.1`, value: 'MALIGNANT', source: 'PATHOLOGY', note: 'biopsy' },
          { studyInstanceUid: s3, laterality: 'R', value: 'NORMAL', source: 'FOLLOW_UP' },
          { studyInstanceUid: s2, sopInstanceUid: `${s2}.2`, laterality: 'R', value: 'BENIGN', source: 'RADIOLOGIST' },
        ],
      });
      expect(res.errors).toBeUndefined();
      expect(res.data!.submitLabels).toEqual([
        { scope: 'IMAGE', laterality: 'L', value: 'MALIGNANT', source: 'PATHOLOGY', author: api.actors.clinician, note: 'biopsy', sopInstanceUid: `${s3}.1`, studyInstanceUid: s3 },
        { scope: 'BREAST', laterality: 'R', value: 'NORMAL', source: 'FOLLOW_UP', author: api.actors.clinician, note: null, sopInstanceUid: null, studyInstanceUid: s3 },
        { scope: 'IMAGE', laterality: 'R', value: 'BENIGN', source: 'RADIOLOGIST', author: api.actors.clinician, note: null, sopInstanceUid: `${s2}.2`, studyInstanceUid: s2 },
      ]);
      expect(await countRows(api.db, 'Label')).toBe(before + 3);
      const study = await gql<{ study: { labels: unknown[] } }>(`{ study(studyInstanceUid: "${s3}") { labels { scope sopInstanceUid } } }`);
      expect(study.data!.study.labels).toEqual(expect.arrayContaining([{ scope: 'IMAGE', sopInstanceUid: `${s3}.1` }, { scope: 'BREAST', sopInstanceUid: null }]));
      const [event] = await api.store.audit.list({ actor: api.actors.clinician, action: 'mutation.submitLabels', take: 1 });
      expect(event).toMatchObject({ target: 'studies:2', details: { outcome: 'ok', labels: 3, count: 3 } });
    });

    it.each([
      ['an image that does not exist', (s: SeededResults) => ({ studyInstanceUid: s.uid('s3'), sopInstanceUid: `${s.uid('s3')}.77`, value: 'BENIGN', source: 'PATHOLOGY' }), 'labels[1].sopInstanceUid'],
      ['an image of another study', (s: SeededResults) => ({ studyInstanceUid: s.uid('s3'), sopInstanceUid: `${s.uid('s1')}.1`, value: 'BENIGN', source: 'PATHOLOGY' }), 'labels[1].sopInstanceUid'],
      ['an unknown study', () => ({ studyInstanceUid: '1.2.3.4.404', laterality: 'L', value: 'BENIGN', source: 'PATHOLOGY' }), 'labels[1].studyInstanceUid'],
      ['neither image nor side', (s: SeededResults) => ({ studyInstanceUid: s.uid('s3'), value: 'BENIGN', source: 'PATHOLOGY' }), 'labels[1]'],
      ['a side other than the image', (s: SeededResults) => ({ studyInstanceUid: s.uid('s3'), sopInstanceUid: `${s.uid('s3')}.1`, laterality: 'R', value: 'BENIGN', source: 'PATHOLOGY' }), 'labels[1].laterality'],
      ['a malformed UID', () => ({ studyInstanceUid: 'not a uid', laterality: 'L', value: 'BENIGN', source: 'PATHOLOGY' }), 'labels[1].studyInstanceUid'],
    ])('refuses a batch with %s, naming the field and writing nothing', async (_, bad, field) => {
      const before = await countRows(api.db, 'Label');
      const good = { studyInstanceUid: seed.uid('s2'), laterality: 'R', value: 'NORMAL', source: 'RADIOLOGIST' };
      const res = await gql(SUBMIT, { labels: [good, bad(seed)] });
      expect(res.data).toBeNull();
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      const extensions = res.errors![0]!.extensions!;
      const named = (extensions.field as string | undefined) ?? (extensions.fields as Array<{ field: string }>).map((f) => f.field).join(',');
      expect(named).toBe(field);
      expect(res.errors![0]!.message).toContain(field);
      expect(await countRows(api.db, 'Label')).toBe(before);
    });

    it('refuses an empty batch', async () => {
      const res = await gql(SUBMIT, { labels: [] });
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.errors![0]!.extensions!.fields).toEqual([{ field: 'labels', problems: [expect.stringContaining('at least 1')] }]);
    });
  });

  describe('jobs', () => {
    const TRAIN = 'mutation($config: TrainingConfigInput!) { startTraining(config: $config) { id kind status payload maxAttempts } }';

    it('queues a training run with its configuration', async () => {
      const res = await gql<{ startTraining: Record<string, unknown> }>(TRAIN, { config: { epochs: 3, folds: 4, version: 'retrained-1', baseVersion: 'model-a' } }, 'admin');
      expect(res.errors).toBeUndefined();
      expect(res.data!.startTraining).toEqual({
        id: expect.any(String),
        kind: 'train',
        status: 'QUEUED',
        maxAttempts: 3,
        payload: { dataset: 'labels', baseVersion: 'model-a', version: 'retrained-1', epochs: 3, folds: 4, learningRate: 1e-4, batchSize: 8, seed: 12345, trainAllLayers: false, requestedBy: api.actors.admin },
      });
      const jobs = await gql<{ jobs: Array<{ id: string }> }>('{ jobs(kind: "train", status: QUEUED) { id } }', undefined, 'admin');
      expect(jobs.data!.jobs.map((j) => j.id)).toEqual([(res.data!.startTraining as { id: string }).id]);
      // An explicit null is no filter (it was an internal error: Prisma refuses null there).
      const unfiltered = await gql<{ jobs: Array<{ id: string }> }>('query($kind: String, $status: JobStatus) { jobs(kind: $kind, status: $status) { id } }', { kind: null, status: null }, 'admin');
      expect(unfiltered.errors).toBeUndefined();
      expect(unfiltered.data!.jobs.map((j) => j.id)).toContain((res.data!.startTraining as { id: string }).id);
    });

    it('takes an explicit null as an argument left out, everywhere a client may send one', async () => {
      // Each was an internal error: the null reached Prisma, which refuses it there.
      const nulls = { from: null, to: null, status: null, minScore: null, maxScore: null, laterality: null, modelVersion: null, labelled: null };
      const all = await gql<{ studies: Page }>(STUDIES, { filter: nulls, first: 50 });
      expect(all.errors).toBeUndefined();
      expect(all.data!.studies.nodes.map((n) => n.studyInstanceUid).sort()).toEqual((await gql<{ studies: Page }>(STUDIES, { first: 50 })).data!.studies.nodes.map((n) => n.studyInstanceUid).sort());
      const fields = await gql<{ studies: { nodes: Array<{ predictions: unknown[]; exam: unknown; breasts: unknown[] }> } }>(
        'query($v: String, $l: PredictionLevel) { studies(first: 3) { nodes { predictions(modelVersion: $v, level: $l) { probability } exam(modelVersion: $v) { probability } breasts(modelVersion: $v) { probability } } } }',
        { v: null, l: null },
      );
      expect(fields.errors).toBeUndefined();
      expect(fields.data!.studies.nodes.some((n) => n.predictions.length > 0)).toBe(true);
      const training = await gql<{ startTraining: { status: string } }>(TRAIN, { config: { epochs: 1, folds: 2, version: null, baseVersion: null } }, 'admin');
      expect(training.errors).toBeUndefined();
      expect(training.data!.startTraining.status).toBe('QUEUED');
      const audit = await gql<{ auditEvents: unknown[] }>('query($a: String, $b: String, $c: DateTimeISO) { auditEvents(actor: $a, action: $b, since: $c, first: 5) { action } }', { a: null, b: null, c: null }, 'admin');
      expect(audit.errors).toBeUndefined();
      expect(audit.data!.auditEvents.length).toBeGreaterThan(0);
    });

    it('refuses a subscription sent over HTTP: its role check and audit entry live in its WebSocket subscribe step', async () => {
      const before = await countRows(api.db, 'AuditEvent');
      const res = await gql('subscription { newResults { studyInstanceUid } }', undefined, 'pacs');
      expect(codes(res)).toEqual(['BAD_REQUEST']);
      expect(res.errors![0]!.message).toMatch(/over WebSocket/);
      expect(await countRows(api.db, 'AuditEvent')).toBe(before);
    });

    it('refuses bad training values with field-level messages, queueing nothing', async () => {
      const before = await countRows(api.db, 'Job');
      const res = await gql(TRAIN, { config: { epochs: 0, folds: 1, learningRate: 2, version: 'no spaces' } }, 'admin');
      expect(res.data).toBeNull();
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      const fields = res.errors![0]!.extensions!.fields as Array<{ field: string; problems: string[] }>;
      expect(fields.map((f) => f.field).sort()).toEqual(['epochs', 'folds', 'learningRate', 'version']);
      expect(fields.find((f) => f.field === 'epochs')!.problems).toEqual(['epochs must not be less than 1']);
      expect(fields.find((f) => f.field === 'version')!.problems).toEqual(['must be 1-64 letters, digits, dots, dashes or underscores']);
      expect(codes(await gql(TRAIN, { config: { baseVersion: 'model-z' } }, 'admin'))).toEqual(['NOT_FOUND']);
      expect(codes(await gql(TRAIN, { config: { version: 'model-b' } }, 'admin'))).toEqual(['CONFLICT']);
      expect(await countRows(api.db, 'Job')).toBe(before);
    });

    it('cancels a queued job at once', async () => {
      const { job } = await api.store.jobs.enqueue('evaluate', { version: 'model-a' });
      const res = await gql(`mutation { cancelJob(id: "${job.id}") { id status finishedAt } }`, undefined, 'admin');
      expect(res.data).toEqual({ cancelJob: { id: job.id, status: 'CANCELLED', finishedAt: expect.any(String) } });
      expect((await api.store.jobs.get(job.id)).status).toBe('cancelled');
      expect(codes(await gql('mutation { cancelJob(id: "no-such-job") { id } }', undefined, 'admin'))).toEqual(['NOT_FOUND']);
    });
  });

  describe('API keys, the caller, the audit trail', () => {
    it('creates a key that works, lists keys without secrets, revokes', async () => {
      const created = await gql<{ createApiKey: { key: string; apiKey: Record<string, unknown> } }>(
        'mutation { createApiKey(name: "reading room", role: CLINICIAN) { key apiKey { prefix name role createdBy revokedAt } } }',
        undefined,
        'admin',
      );
      expect(created.errors).toBeUndefined();
      const { key, apiKey } = created.data!.createApiKey;
      expect(key).toMatch(/^mk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
      expect(apiKey).toEqual({ prefix: key.slice(0, 11), name: 'reading room', role: 'CLINICIAN', createdBy: api.actors.admin, revokedAt: null });
      const me = await api.gql(key, '{ me { id name role } }');
      expect(me.data).toEqual({ me: { id: `apikey:${key.slice(0, 11)}`, name: 'reading room', role: 'CLINICIAN' } });

      const list = await api.gql<{ apiKeys: Array<Record<string, unknown>> }>(api.keys.admin, '{ apiKeys { prefix name role lastUsedAt revokedAt } }');
      expect(list.data!.apiKeys.map((k) => k.name)).toEqual(['test pacs', 'test clinician', 'test admin', 'reading room']);
      expect(JSON.stringify(list)).not.toContain(key.slice(12));

      await gql(`mutation { revokeApiKey(prefix: "${apiKey.prefix}") { prefix } }`, undefined, 'admin');
      expect((await api.gql(key, '{ me { id } }')).status).toBe(401);
      const after = await api.gql<{ apiKeys: Array<Record<string, unknown>> }>(api.keys.admin, '{ apiKeys { prefix revokedAt } }');
      expect(after.data!.apiKeys.find((k) => k.prefix === apiKey.prefix)!.revokedAt).toEqual(expect.any(String));
      expect(codes(await gql('mutation { revokeApiKey(prefix: "mk_ffffffff") { prefix } }', undefined, 'admin'))).toEqual(['NOT_FOUND']);
    });

    it('answers me for each role', async () => {
      for (const role of ['pacs', 'clinician', 'admin'] as const) {
        const res = await api.gql(api.keys[role], '{ me { id name role } }');
        expect(res.data).toEqual({ me: { id: api.actors[role], name: `test ${role}`, role: role.toUpperCase() } });
      }
    });

    it('lists the audit events of the calls made, with actor, action and target', async () => {
      const uid = seed.uid('s2');
      await gql(`{ study(studyInstanceUid: "${uid}") { studyInstanceUid } }`);
      await gql('{ study(studyInstanceUid: "1.2.3.4.404") { studyInstanceUid } }');
      const res = await gql<{ auditEvents: Array<{ actor: string; action: string; target: string | null; details: Record<string, unknown> }> }>(
        'query($actor: String) { auditEvents(actor: $actor, action: "query.study", first: 2) { actor action target details at } }',
        { actor: api.actors.clinician },
        'admin',
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.auditEvents.map(({ actor, action, target, details }) => ({ actor, action, target, details }))).toEqual([
        { actor: api.actors.clinician, action: 'query.study', target: 'study:1.2.3.4.404', details: { outcome: 'NOT_FOUND', role: 'clinician', studyInstanceUid: '1.2.3.4.404' } },
        { actor: api.actors.clinician, action: 'query.study', target: `study:${uid}`, details: { outcome: 'ok', role: 'clinician', studyInstanceUid: uid } },
      ]);
      // The audit read itself is audited.
      const own = await api.store.audit.list({ actor: api.actors.admin, action: 'query.auditEvents', take: 1 });
      expect(own[0]!.details).toMatchObject({ outcome: 'ok', count: 2, actor: api.actors.clinician, action: 'query.study' });
    });

    it('names the studies a list read returned, so that who saw a study has an answer for lists too', async () => {
      const page = await gql<{ studies: Page }>(STUDIES, { first: 3, sort: 'SCORE_DESC' });
      const uids = page.data!.studies.nodes.map((n) => n.studyInstanceUid);
      expect(uids).toHaveLength(3);
      const [event] = await api.store.audit.list({ actor: api.actors.clinician, action: 'query.studies', take: 1 });
      expect(event!.details).toMatchObject({ outcome: 'ok', count: 3, studies: uids });
      const worklist = await gql<{ worklist: Page }>('{ worklist(first: 50) { nodes { studyInstanceUid } pageInfo { endCursor hasNextPage } } }');
      const [listed] = await api.store.audit.list({ actor: api.actors.clinician, action: 'query.worklist', take: 1 });
      expect((listed!.details as { studies?: string[] }).studies ?? []).toEqual(worklist.data!.worklist.nodes.map((n) => n.studyInstanceUid));
    });
  });

  describe.skipIf(!orthanc)('the PACS operations against a real Orthanc', () => {
    it('notifyStudy queues a study on the PACS once; a study not there is STUDY_NOT_ON_PACS', async () => {
      const NOTIFY = 'mutation($uid: String!) { notifyStudy(studyInstanceUid: $uid) { studyInstanceUid outcome jobId } }';
      const res = await api.gql<{ notifyStudy: { outcome: string; jobId: string | null } }>(api.keys.pacs, NOTIFY, { uid: pacsStudyUid });
      expect(res.errors).toBeUndefined();
      expect(res.data!.notifyStudy).toEqual({ studyInstanceUid: pacsStudyUid, outcome: 'new', jobId: expect.any(String) });
      const job = await api.store.jobs.get(res.data!.notifyStudy.jobId!);
      expect(job).toMatchObject({ kind: 'score-study', status: 'queued', payload: { studyUid: pacsStudyUid } });
      const again = await api.gql(api.keys.pacs, NOTIFY, { uid: pacsStudyUid });
      expect(again.data).toEqual({ notifyStudy: { studyInstanceUid: pacsStudyUid, outcome: 'unchanged', jobId: null } });

      const missing = newUid();
      const absent = await api.gql(api.keys.pacs, NOTIFY, { uid: missing });
      expect(absent.data).toBeNull();
      expect(codes(absent)).toEqual(['STUDY_NOT_ON_PACS']);
      expect(await api.store.studies.findByUid(missing)).toBeNull();
      const bad = await api.gql(api.keys.pacs, NOTIFY, { uid: 'not-a-uid' });
      expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
    });

    it('rescoreStudy queues one scoring job with the active model, the same job when asked twice', async () => {
      const RESCORE = 'mutation($uid: String!) { rescoreStudy(studyInstanceUid: $uid) { id kind status payload } }';
      const first = await gql<{ rescoreStudy: { id: string; kind: string; status: string; payload: { studyUid: string } } }>(RESCORE, { uid: pacsStudyUid });
      expect(first.errors).toBeUndefined();
      expect(first.data!.rescoreStudy).toMatchObject({ kind: 'score-study', status: 'QUEUED', payload: { studyUid: pacsStudyUid } });
      const second = await gql<{ rescoreStudy: { id: string } }>(RESCORE, { uid: pacsStudyUid });
      expect(second.data!.rescoreStudy.id).toBe(first.data!.rescoreStudy.id);
      const [event] = await api.store.audit.list({ actor: api.actors.clinician, action: 'mutation.rescoreStudy', take: 1 });
      expect(event).toMatchObject({ target: `study:${pacsStudyUid}`, details: { outcome: 'ok' } });
      expect(codes(await gql(RESCORE, { uid: '1.2.3.4.404' }))).toEqual(['NOT_FOUND']);
    });
  });
});

describe("the PACS's own words stay in the log", () => {
  it("answers a PACS failure with its status and a reference, without the PACS's answer text", async () => {
    // A PACS answering 404 with text that echoes what it was sent (a fault Orthanc does not make).
    const pacs = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('no study for patient DOE^JANE 19610101'));
    await new Promise<void>((resolve) => pacs.listen(0, '127.0.0.1', resolve));
    const api = await startApi('sqlite', { pacsUrl: `http://127.0.0.1:${(pacs.address() as AddressInfo).port}/dicom-web` });
    try {
      const res = await api.gql(api.keys.pacs, 'mutation($uid: String!) { notifyStudy(studyInstanceUid: $uid) { outcome } }', { uid: newUid() });
      expect(codes(res)).toEqual(['STUDY_NOT_ON_PACS']);
      const message = res.errors![0]!.message;
      expect(message).toMatch(/the PACS answered 404, not found \(reference [0-9a-f-]{36}\)$/);
      expect(message).not.toContain('DOE^JANE');
    } finally {
      await api.close();
      await new Promise((resolve) => pacs.close(resolve));
    }
  });
});
