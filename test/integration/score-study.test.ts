// The main job end to end on a real Orthanc: a study is announced, the worker scores it with the
// active model, exactly one SR lands in the PACS and the results are stored; a re-announcement,
// a retried job and faults do not break "exactly once".

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { TAG, jsonString } from '../../src/dicom/dicom-json.js';
import { readStructuredReport } from '../../src/dicom/sr/index.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import { createHttpServer, listen } from '../../src/graphql/http-server.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import { PipelineMetrics } from '../../src/pipeline/metrics.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { ScoreStudyJob } from '../../src/pipeline/score-study-job.js';
import { SCORE_STUDY_JOB, StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { openStore, type Store } from '../../src/store/index.js';
import { LocalOrthanc, freePort } from '../../scripts/lib/local-orthanc.js';
import { doseReport, mammogram, newStudyIds, withRawElementValue } from '../support/dicom-factory.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';

const logger = createLogger('silent');
const device = { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: 'test', uid: '2.25.1234567890' };

describe.skipIf(!LocalOrthanc.available())('scoring a study end to end', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-score-study-'));
  let orthanc: LocalOrthanc;
  let pacs: DicomwebClient;
  let store: Store;
  let discovery: StudyDiscovery;
  let job: ScoreStudyJob;
  let worker: JobWorker;
  let metrics: PipelineMetrics;

  beforeAll(async () => {
    orthanc = new LocalOrthanc();
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000, backoffMs: 10 });
    store = await openStore({ databaseUrl: `file:${path.join(work, 'db.sqlite')}` });
    const models = new ModelService({ store, modelDir: path.join(work, 'models'), logger });
    await models.import(await writeTestPackage(path.join(work, 'incoming'), { version: 'tiny-e2e' }), 'admin:test');
    await models.activate('tiny-e2e', 'admin:test');
    discovery = new StudyDiscovery({ pacs, store, logger });
    metrics = new PipelineMetrics(store);
    job = new ScoreStudyJob({ pacs, store, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500', researchMode: true, device, metrics });
    worker = new JobWorker({ store, logger, handlers: { [SCORE_STUDY_JOB]: job.handle }, backoffMs: 1 });
  }, 60_000);
  afterAll(async () => {
    await job?.dispose();
    await store?.close();
    await orthanc?.stop();
  });

  /** Our reports in the PACS (the modality's dose SR is an SR too, but not ours). */
  async function reportsInPacs(studyUid: string): Promise<string[]> {
    const series = await pacs.search(`studies/${studyUid}/series`, { Modality: 'SR', includefield: ['Manufacturer'] });
    const sops: string[] = [];
    for (const s of series.filter((x) => jsonString(x, TAG.Manufacturer) === 'mammocad')) {
      for (const i of await pacs.search(`studies/${studyUid}/series/${jsonString(s, TAG.SeriesInstanceUID)}/instances`)) sops.push(jsonString(i, TAG.SOPInstanceUID));
    }
    return sops.sort();
  }

  it('scores a study: one SR in the PACS, predictions per image, breast and exam, study scored', async () => {
    const ids = newStudyIds();
    const left = mammogram(ids, { laterality: 'L', view: 'CC', size: 256 });
    const right = mammogram(ids, { laterality: 'R', view: 'MLO', size: 256 });
    await pacs.store([left.bytes, right.bytes, doseReport(ids).bytes]);
    expect((await discovery.announce(ids.studyUid, 'manual')).outcome).toBe('new');

    const done = await worker.runOnce();
    expect(done).toMatchObject({ kind: SCORE_STUDY_JOB, status: 'succeeded', progress: { stage: 'store' } }); // the heartbeat's last stage
    const result = done!.result as { status: string; reportSopInstanceUid: string; examProbability: number; images: number };
    expect(result).toMatchObject({ status: 'scored', images: 2 });

    const study = (await store.studies.findByUid(ids.studyUid))!;
    expect(study.status).toBe('scored');
    const predictions = await store.predictions.listByStudy(study.id);
    expect(predictions.map((p) => p.scopeKey).sort()).toEqual(['breast:L', 'breast:R', 'exam', ...predictions.filter((p) => p.level === 'image').map((p) => p.scopeKey)].sort());
    expect(predictions.filter((p) => p.level === 'image')).toHaveLength(2);
    const exam = predictions.find((p) => p.level === 'exam')!;
    expect(exam.probability).toBe(result.examProbability);
    expect(Object.keys(exam.timings!)).toEqual(expect.arrayContaining(['select', 'fetchDecode', 'infer', 'report']));

    expect(await reportsInPacs(ids.studyUid)).toEqual([result.reportSopInstanceUid]);
    const sr = await pacs.search(`studies/${ids.studyUid}/series`, { Modality: 'SR', includefield: ['Manufacturer'] });
    const srSeries = sr.find((s) => jsonString(s, TAG.Manufacturer) === 'mammocad')!;
    const stored = await pacs.retrieveInstance(ids.studyUid, jsonString(srSeries, TAG.SeriesInstanceUID), result.reportSopInstanceUid);
    const read = readStructuredReport(stored.bytes);
    expect(read.results.exam.probability).toBe(result.examProbability);
    expect(Object.keys(read.results.images).sort()).toEqual([left.sopInstanceUid, right.sopInstanceUid].sort());
    expect((await store.reports.listByStudy(study.id)).map((r) => [r.status, r.srSopInstanceUid])).toEqual([['stored', result.reportSopInstanceUid]]);

    // Our SR arriving re-announces the study: no new work.
    expect((await discovery.announce(ids.studyUid, 'webhook')).outcome).toBe('unchanged');
    expect(await worker.runOnce()).toBeNull();

    // A job for the same result run again (a worker died after the STOW): still one SR, one set of results.
    await store.jobs.enqueue(SCORE_STUDY_JOB, { studyUid: ids.studyUid });
    expect((await worker.runOnce())!.status).toBe('succeeded');
    expect(await reportsInPacs(ids.studyUid)).toEqual([result.reportSopInstanceUid]);
    expect(await store.predictions.listByStudy(study.id)).toHaveLength(5);
  });

  it('exposes queue, model and stage metrics over /metrics', async () => {
    const server = createHttpServer({ logger, version: 'test', readiness: [], metrics: () => metrics.render() });
    const port = await listen(server, 0, '127.0.0.1');
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      expect(text).toMatch(/^mammocad_jobs\{state="succeeded"\} [1-9]\d*$/m);
      expect(text).toMatch(/^mammocad_queue_depth 0$/m);
      expect(text).toContain('mammocad_model_info{version="tiny-e2e",architecture="test-conv4"} 1');
      expect(text).toMatch(/^mammocad_studies_total\{outcome="scored"\} 2$/m);
      expect(text).toMatch(/^mammocad_stage_seconds_count\{stage="infer"\} 2$/m);
      expect(text).toMatch(/^mammocad_stage_seconds_bucket\{stage="infer",le="\+Inf"\} 2$/m);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('keeps studies waiting, without using attempts, while no model is active', async () => {
    const bare = await openStore({ databaseUrl: `file:${path.join(work, 'no-model.sqlite')}` });
    const waiting = new ScoreStudyJob({ pacs, store: bare, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500', researchMode: true, device });
    try {
      const ids = newStudyIds();
      await pacs.store([mammogram(ids).bytes]);
      await new StudyDiscovery({ pacs, store: bare, logger }).announce(ids.studyUid, 'manual');
      const idle = new JobWorker({ store: bare, logger, handlers: { [SCORE_STUDY_JOB]: waiting.handle } });
      const after = await idle.runOnce();
      expect(after).toMatchObject({ status: 'queued', attempts: 0, lastError: expect.stringContaining('no model version is active') });
      expect(after!.runAt.getTime()).toBeGreaterThan(Date.now() + 30_000);
      expect(await bare.studies.findByUid(ids.studyUid)).toMatchObject({ status: 'queued', statusReason: expect.stringContaining('waits until one is activated') });
    } finally {
      await waiting.dispose();
      await bare.close();
    }
  });

  it('skips a study with nothing to score, with the reason', async () => {
    const ids = newStudyIds();
    await pacs.store([mammogram(ids, { forProcessing: true }).bytes, doseReport(ids).bytes]);
    await discovery.announce(ids.studyUid, 'manual');
    expect(await worker.runOnce()).toMatchObject({ status: 'skipped' });
    expect(await store.studies.findByUid(ids.studyUid)).toMatchObject({ status: 'skipped', statusReason: expect.stringMatching(/^no eligible views: .*For Processing/) });
    expect(await reportsInPacs(ids.studyUid)).toEqual([]);
  });

  it('a header the SR cannot copy (Patient\'s Sex longer than CS allows): results recorded, no report reserved or sent, the study failed naming the element, no patient data in the reason', async () => {
    const ids = newStudyIds();
    const sex = 'FEMALE-SCREENING-PATIENT';
    await pacs.store([withRawElementValue(mammogram(ids, { laterality: 'L' }).bytes, 0x0010, 0x0040, sex), withRawElementValue(mammogram(ids, { laterality: 'R' }).bytes, 0x0010, 0x0040, sex)]);
    await discovery.announce(ids.studyUid, 'manual');
    const done = await worker.runOnce();
    // Bad input, not a fault: failed at once, not retried.
    expect(done).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringContaining('no report could be written') });
    const study = (await store.studies.findByUid(ids.studyUid))!;
    expect(study.status).toBe('failed');
    expect(study.statusReason).toMatch(/^the results are recorded, but no report could be written for the PACS: PatientSex \(0010,0040\) CS: .*CS allows at most 16/);
    expect(study.statusReason).not.toContain(sex);
    expect((await store.predictions.listByStudy(study.id)).map((p) => p.level).sort()).toEqual(['breast', 'breast', 'exam', 'image', 'image']);
    expect((await store.images.listByStudy(study.id)).map((i) => i.status)).toEqual(['scored', 'scored']);
    expect(await store.reports.listByStudy(study.id)).toEqual([]);
    expect(await reportsInPacs(ids.studyUid)).toEqual([]);
  });

  it('a study scored again with more images: its breast and exam results follow the new set, as its new SR does, and the replacement is audited', async () => {
    const ids = newStudyIds();
    const left = mammogram(ids, { laterality: 'L', view: 'CC', size: 256 });
    await pacs.store([left.bytes]);
    await discovery.announce(ids.studyUid, 'manual');
    const first = (await worker.runOnce())!.result as { status: string; examProbability: number; images: number; reportSopInstanceUid: string };
    expect(first).toMatchObject({ status: 'scored', images: 1 });
    const study = (await store.studies.findByUid(ids.studyUid))!;
    const leftImage = (await store.predictions.listByStudy(study.id)).find((p) => p.level === 'image')!;

    // The right breast's image arrives later: the study changed, it is scored again.
    const right = mammogram(ids, { laterality: 'R', view: 'CC', size: 256, blob: { center: [200, 120], radius: 24 } });
    await pacs.store([right.bytes]);
    expect((await discovery.announce(ids.studyUid, 'webhook')).outcome).toBe('changed');
    const second = (await worker.runOnce())!.result as typeof first;
    expect(second).toMatchObject({ status: 'scored', images: 2 });
    expect(second.examProbability).not.toBe(first.examProbability);

    const predictions = await store.predictions.listByStudy(study.id);
    expect(predictions.map((p) => p.level).sort()).toEqual(['breast', 'breast', 'exam', 'image', 'image']);
    // The stored exam result is the new SR's; the left image's own result stands.
    expect(predictions.find((p) => p.level === 'exam')!.probability).toBe(second.examProbability);
    expect(predictions.find((p) => p.id === leftImage.id)!.probability).toBe(leftImage.probability);
    const sr = await pacs.search(`studies/${ids.studyUid}/instances`, { SOPInstanceUID: second.reportSopInstanceUid });
    const stored = await pacs.retrieveInstance(ids.studyUid, jsonString(sr[0]!, TAG.SeriesInstanceUID), second.reportSopInstanceUid);
    expect(readStructuredReport(stored.bytes).results.exam.probability).toBe(second.examProbability);
    const audit = await store.audit.list({ action: 'results.replaced' });
    expect(audit.filter((e) => e.target === `study:${ids.studyUid}`).map((e) => e.details)).toEqual([
      expect.objectContaining({ modelVersion: 'tiny-e2e', replaced: 2, images: 2 }),
    ]);
  });

  it('retries when the PACS is down, then marks the study failed when retries are used up', async () => {
    const ids = newStudyIds();
    await pacs.store([mammogram(ids).bytes]);
    await discovery.announce(ids.studyUid, 'manual');
    const gone = new DicomwebClient({ url: `http://127.0.0.1:${await freePort()}/dicom-web`, timeoutMs: 500, attempts: 1 });
    const failing = new ScoreStudyJob({ pacs: gone, store, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500', researchMode: true, device });
    const flaky = new JobWorker({ store, logger, handlers: { [SCORE_STUDY_JOB]: failing.handle }, backoffMs: 1, maxBackoffMs: 1 });
    try {
      const first = await flaky.runOnce();
      expect(first).toMatchObject({ status: 'queued', lastError: expect.stringContaining('cannot reach the PACS') });
      expect(await store.studies.findByUid(ids.studyUid)).toMatchObject({ status: 'queued', statusReason: expect.stringMatching(/^retrying: /) });
      let last = first!;
      while (last.status === 'queued') {
        await new Promise((resolve) => setTimeout(resolve, 5));
        last = (await flaky.runOnce()) ?? last;
      }
      expect(last).toMatchObject({ status: 'dead', attempts: last.maxAttempts });
      expect(await store.studies.findByUid(ids.studyUid)).toMatchObject({ status: 'failed', statusReason: expect.stringContaining('cannot reach the PACS') });
    } finally {
      await failing.dispose();
    }
  });
});
