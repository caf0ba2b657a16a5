// The product end to end, as a hospital runs it: `mammocad serve` against a real Orthanc. A study
// stored into the PACS is found (by the webhook, or by polling alone), scored, reported with
// exactly one SR in the PACS, and its scores come back from the GraphQL API — on SQLite and on
// PostgreSQL (where graphile-worker delivers the jobs).

import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAG, jsonString } from '../../src/dicom/dicom-json.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { openStore, type Provider } from '../../src/store/index.js';
import { LocalOrthanc, freePort } from '../../scripts/lib/local-orthanc.js';
import { runCli, startCli } from '../support/cli.js';
import { PROVIDERS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';

const WEBHOOK_SECRET = 'e2e-webhook-secret-0123456789';

async function waitFor<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface ApiStudy {
  studyInstanceUid: string;
  status: string;
  exam: { probability: number; positive: boolean; modelVersion: string } | null;
  breasts: Array<{ laterality: string; probability: number }>;
  predictions: Array<{ level: string; sopInstanceUid: string | null; probability: number }>;
  reports: Array<{ sopInstanceUid: string; status: string; modelVersion: string }>;
}

const STUDY_QUERY = `query($uid: String!) { study(studyInstanceUid: $uid) {
  studyInstanceUid status
  exam { probability positive modelVersion }
  breasts { laterality probability }
  predictions { level sopInstanceUid probability }
  reports { sopInstanceUid status modelVersion } } }`;

describe.skipIf(!LocalOrthanc.available()).each(PROVIDERS.flatMap((provider) => [
  { provider, discovery: 'webhook' as const },
  { provider, discovery: 'polling' as const },
]))('pipeline end to end on $provider, discovery by $discovery', ({ provider, discovery }: { provider: Provider; discovery: 'webhook' | 'polling' }) => {
  let orthanc: LocalOrthanc;
  let db: TestDatabase;
  let env: Record<string, string>;
  let port: number;
  let service: ReturnType<typeof startCli>;
  let apiKey: string;
  let pacs: DicomwebClient;

  beforeAll(async () => {
    port = await freePort();
    orthanc = new LocalOrthanc({
      stableAge: 1,
      ...(discovery === 'webhook' ? { webhookUrl: `http://127.0.0.1:${port}/webhooks/study-stable`, webhookSecret: WEBHOOK_SECRET } : {}),
    });
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 10_000 });
    db = await createTestDatabase(provider);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'mammocad-e2e-'));
    env = {
      MAMMOCAD_DATA_DIR: dataDir,
      MAMMOCAD_DATABASE_URL: db.url,
      MAMMOCAD_PACS_URL: orthanc.dicomwebUrl,
      MAMMOCAD_PACS_USERNAME: orthanc.username,
      MAMMOCAD_PACS_PASSWORD: orthanc.password,
      // The test models carry no validation: research mode lets them write (marked) reports.
      MAMMOCAD_REPORT_RESEARCH_MODE: 'true',
      ...(discovery === 'webhook' ? { MAMMOCAD_WEBHOOK_SECRET: WEBHOOK_SECRET, MAMMOCAD_POLL_INTERVAL_S: '0' } : { MAMMOCAD_POLL_INTERVAL_S: '1' }),
    };
    const pkg = await writeTestPackage(path.join(dataDir, 'incoming'), { version: 'e2e-model' });
    for (const args of [['models', 'import', pkg], ['models', 'activate', 'e2e-model']]) {
      const result = await runCli(args, env);
      expect(result.code, result.stderr).toBe(0);
    }
    const created = await runCli(['apikey', 'create', '--role', 'clinician', '--name', 'e2e', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    apiKey = (JSON.parse(created.stdout) as { key: string }).key;
    service = startCli(['serve', '--port', String(port)], env);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok ?? false);
  });

  afterAll(async () => {
    if (service && service.exitCode === null) {
      service.kill('SIGTERM');
      await once(service, 'exit');
    }
    await orthanc?.stop();
    await db?.drop();
  });

  async function apiStudy(uid: string): Promise<{ status: number; study?: ApiStudy; errors?: Array<{ extensions?: { code?: string } }> }> {
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ query: STUDY_QUERY, variables: { uid } }),
    });
    const body = (await res.json()) as { data?: { study: ApiStudy }; errors?: Array<{ extensions?: { code?: string } }> };
    return { status: res.status, ...(body.data ? { study: body.data.study } : {}), ...(body.errors ? { errors: body.errors } : {}) };
  }

  it('stores a study -> scored -> exactly one SR in the PACS -> the API returns the scores', async () => {
    const ids = newStudyIds();
    const left = mammogram(ids, { laterality: 'L' });
    const right = mammogram(ids, { laterality: 'R' });
    await pacs.store([left.bytes, right.bytes]);

    const study = await waitFor(async () => {
      const answer = await apiStudy(ids.studyUid);
      return answer.study?.status === 'SCORED' && answer.study.reports.some((r) => r.status === 'stored') ? answer.study : null;
    }, discovery === 'polling' ? 90_000 : 60_000);

    // Our SR arriving makes Orthanc call the study stable again (and polling sees a new series):
    // give that time, then there is still one SR in the PACS.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const srInstances = await pacs.search(`studies/${ids.studyUid}/instances`, { Modality: 'SR' });
    expect(srInstances.map((i) => jsonString(i, TAG.SOPInstanceUID))).toEqual([study.reports[0]!.sopInstanceUid]);
    expect(study.reports).toEqual([{ sopInstanceUid: study.reports[0]!.sopInstanceUid, status: 'stored', modelVersion: 'e2e-model' }]);

    // The API's scores are the stored ones: exam = max over breasts, breasts = max over their images.
    expect(study.exam?.modelVersion).toBe('e2e-model');
    const images = study.predictions.filter((p) => p.level === 'IMAGE');
    expect(images.map((p) => p.sopInstanceUid).sort()).toEqual([left.sopInstanceUid, right.sopInstanceUid].sort());
    expect(study.breasts.map((b) => b.laterality).sort()).toEqual(['L', 'R']);
    expect(study.exam!.probability).toBeCloseTo(Math.max(...study.breasts.map((b) => b.probability)), 12);
    const store = await openStore({ databaseUrl: db.url, migrate: false });
    try {
      const record = (await store.studies.findByUid(ids.studyUid))!;
      expect(record.source).toBe(discovery === 'webhook' ? 'webhook' : 'poll');
      const exam = (await store.predictions.listByStudy(record.id)).find((p) => p.level === 'exam')!;
      expect(study.exam!.probability).toBe(exam.probability);
      expect((await store.reports.listByStudy(record.id)).length).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('refuses the API without a key and answers NOT_FOUND for a study it never saw', async () => {
    const anonymous = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ me { id } }' }) });
    expect(anonymous.status).toBe(401);
    const unknown = await apiStudy('1.2.3.4.5.6.7.8.9');
    expect(unknown.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
  });
});
