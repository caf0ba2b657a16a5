// `mammocad discover` and `mammocad poll` against a real Orthanc, as an operator would run them.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { once } from 'node:events';
import { TAG, jsonString } from '../../src/dicom/dicom-json.js';
import { SCORE_STUDY_JOB } from '../../src/pipeline/study-discovery.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';
import { openStore } from '../../src/store/index.js';
import { LocalOrthanc, freePort } from '../../scripts/lib/local-orthanc.js';
import { runCli, startCli } from '../support/cli.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

describe.skipIf(!LocalOrthanc.available())('mammocad serve with Orthanc calling its webhook', () => {
  it('learns of a stored study within seconds, scores it once and writes one SR back', async () => {
    const port = await freePort();
    const secret = 'serve-webhook-secret-0123456789';
    const orthanc = new LocalOrthanc({ webhookUrl: `http://127.0.0.1:${port}/webhooks/study-stable`, webhookSecret: secret, stableAge: 1 });
    await orthanc.start();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'mammocad-serve-'));
    const pkg = await writeTestPackage(path.join(dataDir, 'incoming'), { version: 'tiny-serve' });
    expect((await runCli(['models', 'import', pkg], { MAMMOCAD_DATA_DIR: dataDir })).code).toBe(0);
    expect((await runCli(['models', 'activate', 'tiny-serve'], { MAMMOCAD_DATA_DIR: dataDir })).code).toBe(0);
    const service = startCli(['serve', '--port', String(port)], {
      MAMMOCAD_DATA_DIR: dataDir,
      MAMMOCAD_PACS_URL: orthanc.dicomwebUrl,
      MAMMOCAD_PACS_USERNAME: orthanc.username,
      MAMMOCAD_PACS_PASSWORD: orthanc.password,
      MAMMOCAD_WEBHOOK_SECRET: secret,
      MAMMOCAD_POLL_INTERVAL_S: '0', // the webhook alone
      MAMMOCAD_REPORT_RESEARCH_MODE: 'true', // the test model has no validation: reports only in research mode
    });
    try {
      await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok ?? false);
      const ids = newStudyIds();
      const pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 10_000 });
      await pacs.store([mammogram(ids).bytes, mammogram(ids, { laterality: 'R' }).bytes]);

      const store = await openStore({ databaseUrl: `file:${path.join(dataDir, 'mammocad.db')}`, migrate: false });
      try {
        const study = await waitUntil(() => store.studies.findByUid(ids.studyUid).then((s) => (s?.status === 'scored' ? s : null)));
        expect(study).toMatchObject({ source: 'webhook', patientId: ids.patientId });
        // Our SR arriving re-announces the study (Orthanc's StableStudy fires again): give that
        // time to happen, then there is still one job and one report.
        await new Promise((resolve) => setTimeout(resolve, 2500));
        expect((await store.jobs.list({ kind: SCORE_STUDY_JOB })).map((j) => [(j.payload as { studyUid: string }).studyUid, j.status])).toEqual([[ids.studyUid, 'succeeded']]);
        const reports = await store.reports.listByStudy(study.id);
        expect(reports.map((r) => r.status)).toEqual(['stored']);
        const srSeries = await pacs.search(`studies/${ids.studyUid}/series`, { Modality: 'SR' });
        expect(srSeries.map((s) => jsonString(s, TAG.SeriesInstanceUID))).toEqual([reports[0]!.srSeriesUid]);
        expect((await store.predictions.listByStudy(study.id)).map((p) => p.level).sort()).toEqual(['breast', 'breast', 'exam', 'image', 'image']);
      } finally {
        await store.close();
      }
    } finally {
      service.kill('SIGTERM');
      await once(service, 'exit');
      await orthanc.stop();
    }
  });
});

async function waitUntil<T>(probe: () => Promise<T | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.skipIf(!LocalOrthanc.available())('discovery commands', () => {
  let orthanc: LocalOrthanc;
  let env: Record<string, string>;

  beforeAll(async () => {
    orthanc = new LocalOrthanc();
    await orthanc.start();
    env = {
      MAMMOCAD_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'mammocad-cli-discovery-')),
      MAMMOCAD_PACS_URL: orthanc.dicomwebUrl,
      MAMMOCAD_PACS_USERNAME: orthanc.username,
      MAMMOCAD_PACS_PASSWORD: orthanc.password,
    };
  });
  afterAll(() => orthanc?.stop());

  it('poll queues a new study once it has settled; discover reports it unchanged afterwards', async () => {
    const ids = newStudyIds();
    await new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 10_000 }).store([mammogram(ids).bytes]);

    const first = await runCli(['poll', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ settling: 1, new: 0, failed: 0 });
    const second = await runCli(['poll', '--json'], env);
    expect(JSON.parse(second.stdout)).toMatchObject({ new: 1, unchanged: 0 });
    const third = await runCli(['poll', '--json'], env);
    expect(JSON.parse(third.stdout)).toMatchObject({ new: 0, unchanged: 1 });

    const discover = await runCli(['discover', ids.studyUid, '--json'], env);
    expect(JSON.parse(discover.stdout)).toEqual({ studyUid: ids.studyUid, outcome: 'unchanged' });
  });

  it('discover names a malformed UID and a PACS that refuses the credentials', async () => {
    const ids = newStudyIds();
    await new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 10_000 }).store([mammogram(ids).bytes]);
    const malformed = await runCli(['discover', 'not-a-uid', ids.studyUid, '--json'], env);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain("VALIDATION_FAILED: StudyInstanceUID: 'not-a-uid' is not a DICOM UID");
    // The bad UID is reported and the good one after it is still announced.
    expect(malformed.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { outcome: string }).outcome)).toEqual(['failed', 'new']);

    const refused = await runCli(['discover', '1.2.3.4'], { ...env, MAMMOCAD_PACS_PASSWORD: 'wrong' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('PACS_UNAUTHORIZED: GET /studies: the PACS answered 401, credentials refused');
  });
});
