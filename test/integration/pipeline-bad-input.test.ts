// Bad input arriving through the pipeline, with real components causing each fault: a corrupt
// image inside an otherwise good study, a study with no eligible views, and a PACS that will not
// keep our SR (Orthanc's own ReceivedInstanceFilter, in Lua: Orthanc then answers the STOW with
// success and discards the report). Each study ends in a clear state with its reason; the good
// study next to them is scored as usual; the worker keeps going.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { TAG, jsonString } from '../../src/dicom/dicom-json.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { ScoreStudyJob } from '../../src/pipeline/score-study-job.js';
import { SCORE_STUDY_JOB, StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { openStore, type Store } from '../../src/store/index.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { jpeg2000Mammogram } from '../support/corrupt-dicom.js';
import { doseReport, mammogram, newStudyIds } from '../support/dicom-factory.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';
import { needsSharedData } from '../support/shared-data.js';

const logger = createLogger('silent');
const device = { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: 'test', uid: '2.25.1234567891' };
const REFUSED_PATIENT = 'REFUSE-SR';

describe.skipIf(!LocalOrthanc.available())('bad input through the pipeline', needsSharedData('dicom'), () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-bad-input-'));
  let orthanc: LocalOrthanc;
  let pacs: DicomwebClient;
  let store: Store;
  let job: ScoreStudyJob;

  beforeAll(async () => {
    // The PACS refuses structured reports of one patient (as a PACS refuses what its rules forbid).
    const filter = path.join(work, 'refuse-sr.lua');
    writeFileSync(filter, `function ReceivedInstanceFilter(dicom, origin, info)\n  return not (dicom.Modality == 'SR' and dicom.PatientID == '${REFUSED_PATIENT}')\nend\n`);
    orthanc = new LocalOrthanc({ luaScripts: [filter] });
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000, backoffMs: 10 });
    store = await openStore({ databaseUrl: `file:${path.join(work, 'db.sqlite')}` });
    const models = new ModelService({ store, modelDir: path.join(work, 'models'), logger });
    await models.import(await writeTestPackage(path.join(work, 'incoming'), { version: 'tiny-bad-input' }), 'admin:test');
    await models.activate('tiny-bad-input', 'admin:test');
    job = new ScoreStudyJob({ pacs, store, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500', researchMode: true, device });
  }, 60_000);
  afterAll(async () => {
    await job?.dispose();
    await store?.close();
    await orthanc?.stop();
  });

  async function ourReports(studyUid: string): Promise<number> {
    const series = await pacs.search(`studies/${studyUid}/series`, { Modality: 'SR', includefield: ['Manufacturer'] });
    return series.filter((s) => jsonString(s, TAG.Manufacturer) === 'mammocad').length;
  }

  it('ends each bad study in a clear state with its reason, and scores the good one beside them', async () => {
    const good = newStudyIds();
    const corrupt = newStudyIds();
    const nothingEligible = newStudyIds();
    const refused = newStudyIds({ patientId: REFUSED_PATIENT });
    const broken = jpeg2000Mammogram(corrupt, true);
    await pacs.store([mammogram(good, { laterality: 'L' }).bytes, mammogram(good, { laterality: 'R' }).bytes]);
    await pacs.store([broken, mammogram(corrupt, { laterality: 'R' }).bytes]);
    await pacs.store([doseReport(nothingEligible).bytes, mammogram(nothingEligible, { forProcessing: true }).bytes]);
    await pacs.store([mammogram(refused, { laterality: 'L' }).bytes]);

    const discovery = new StudyDiscovery({ pacs, store, logger });
    for (const ids of [corrupt, nothingEligible, refused, good]) await discovery.announce(ids.studyUid, 'manual');
    const worker = new JobWorker({ store, logger, handlers: { [SCORE_STUDY_JOB]: job.handle }, backoffMs: 1 });
    // Until every job has ended, the retries of the discarded report included (1 ms backoff).
    const open = async () => (await store.jobs.list({ kind: SCORE_STUDY_JOB })).some((j) => j.status === 'queued' || j.status === 'running');
    for (let i = 0; i < 200 && (await open()); i++) if (!(await worker.runOnce())) await new Promise((resolve) => setTimeout(resolve, 20));

    const state = async (uid: string) => {
      const study = (await store.studies.findByUid(uid))!;
      return { status: study.status, reason: study.statusReason, images: (await store.images.listByStudy(study.id)).map((i) => [i.status, i.statusReason]) };
    };
    // The corrupt image fails with its reason; the study is scored on the other image.
    const c = await state(corrupt.studyUid);
    expect(c.status).toBe('scored');
    expect(c.images).toContainEqual(['failed', expect.stringMatching(/JPEG 2000|decode|codestream/i)]);
    expect(c.images).toContainEqual(['scored', null]);
    expect(await ourReports(corrupt.studyUid)).toBe(1);
    // Nothing to score: skipped, with what was found instead.
    const n = await state(nothingEligible.studyUid);
    expect(n.status).toBe('skipped');
    expect(n.reason).toMatch(/no eligible views/);
    expect(await ourReports(nothingEligible.studyUid)).toBe(0);
    // The PACS did not keep the SR: retried (a PACS may index late), then failed with the reason
    // once the attempts ran out, and no report recorded as stored.
    const r = await state(refused.studyUid);
    expect(r.status).toBe('failed');
    expect(r.reason).toBe('STOW: the PACS answered success but did not keep the report (filtered out by its rules?)');
    const refusedStudy = (await store.studies.findByUid(refused.studyUid))!;
    expect((await store.reports.listByStudy(refusedStudy.id)).map((x) => x.status)).toEqual(['pending']);
    // Its results were recorded while the PACS was asked whether it kept the report (once: each
    // retry's are the same and the first stands), and stay with the study's failure.
    expect((await store.predictions.listByStudy(refusedStudy.id)).map((p) => p.level).sort()).toEqual(['breast', 'exam', 'image']);
    expect(await ourReports(refused.studyUid)).toBe(0);
    // And the good study next to them: scored, one SR.
    expect((await state(good.studyUid)).status).toBe('scored');
    expect(await ourReports(good.studyUid)).toBe(1);
    const jobs = await store.jobs.list({ kind: SCORE_STUDY_JOB });
    expect(jobs.map((j) => [j.status, j.attempts]).sort()).toEqual([['dead', 10], ['skipped', 1], ['succeeded', 1], ['succeeded', 1]]);
  });
});
