// What goes into the PACS depends on the model's evidence (src/pipeline/report-policy.ts): a
// model whose validation does not exclude chance writes no report unless the site runs in
// research mode, and then every report says RESEARCH USE ONLY where viewers show it; a
// validated model's report carries its validation AUC. Real Orthanc, real SQLite.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { TAG, jsonString } from '../../src/dicom/dicom-json.js';
import { readStructuredReport } from '../../src/dicom/sr/index.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { decideReport } from '../../src/pipeline/report-policy.js';
import { scoreStudy, type ScoreStudyDeps } from '../../src/pipeline/score-study.js';
import { StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { createModelRuntime, type ModelRuntime } from '../../src/ml/runtime/index.js';
import { readPackage } from '../../src/ml/registry/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { ModelVersionRecord } from '../../src/domain/index.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { geHeaderOnly, syntheticMammogram } from '../support/check-images.js';
import { mammogram, newStudyIds, type StudyIds } from '../support/dicom-factory.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';

const logger = createLogger('silent');
const device = { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: 'test', uid: '2.25.1234567891' };
const VALIDATED = { auc: 0.81, auc_ci: [0.74, 0.87], n: 600, folds: 4 };
const AT_CHANCE = { auc: 0.55, auc_ci: [0.45, 0.65], n: 600, folds: 4 };

describe('report policy', () => {
  const record = (metrics: unknown, manifest: unknown = {}) => ({ metrics, manifest }) as unknown as ModelVersionRecord;

  it('writes a validated model\'s reports unmarked, with its evidence', () => {
    const decision = decideReport(record(VALIDATED, { trainingData: { datasets: ['rsna-screening'] } }), false);
    expect(decision).toMatchObject({ write: true, withheldReason: null, researchUse: undefined });
    expect(decision.evidence).toEqual({ auc: 0.81, aucCi: [0.74, 0.87], dataset: 'rsna-screening', method: '4-fold cross-validation by woman, out-of-fold, 600 images' });
  });

  it('withholds the reports of a model at chance, without evidence, or for research use only', () => {
    expect(decideReport(record(AT_CHANCE), false)).toMatchObject({ write: false, withheldReason: expect.stringMatching(/does not exclude chance/) });
    expect(decideReport(record(null), false)).toMatchObject({ write: false, withheldReason: expect.stringMatching(/no validation AUC/) });
    expect(decideReport(record(VALIDATED, { intendedUse: { researchUseOnly: true } }), false)).toMatchObject({ write: false, withheldReason: expect.stringMatching(/research use only/) });
  });

  it('in research mode writes every report, marked, saying why', () => {
    expect(decideReport(record(AT_CHANCE), true)).toMatchObject({ write: true, researchUse: { statement: expect.stringMatching(/^RESEARCH USE ONLY.*does not exclude chance/) } });
    expect(decideReport(record(VALIDATED), true)).toMatchObject({ write: true, researchUse: { statement: expect.stringMatching(/^RESEARCH USE ONLY/) } });
  });
});

describe.skipIf(!LocalOrthanc.available())('report policy on a real PACS', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-report-policy-'));
  let orthanc: LocalOrthanc;
  let pacs: DicomwebClient;
  let store: Store;
  let discovery: StudyDiscovery;
  const runtimes: ModelRuntime[] = [];

  beforeAll(async () => {
    orthanc = new LocalOrthanc();
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000, backoffMs: 10 });
    store = await openStore({ databaseUrl: `file:${path.join(work, 'db.sqlite')}` });
    const models = new ModelService({ store, modelDir: path.join(work, 'models'), logger });
    await models.import(await writeTestPackage(path.join(work, 'incoming'), { version: 'at-chance', manifest: { metrics: AT_CHANCE } }), 'admin:test');
    await models.import(await writeTestPackage(path.join(work, 'incoming'), { version: 'validated', manifest: { metrics: VALIDATED, trainingData: { datasets: ['site-archive'], images: 600, women: 200, positives: 100 } } }), 'admin:test');
    discovery = new StudyDiscovery({ pacs, store, logger });
  }, 60_000);
  afterAll(async () => {
    for (const runtime of runtimes) await runtime.dispose();
    await store?.close();
    await orthanc?.stop();
  });

  async function score(version: string, researchMode: boolean, images?: (ids: StudyIds) => Uint8Array[]) {
    const record = (await store.modelVersions.findByVersion(version))!;
    const runtime = await createModelRuntime([await readPackage(record.path)]);
    runtimes.push(runtime);
    const deps: ScoreStudyDeps = { pacs, store, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500', device, researchMode, model: { record, runtime } };
    const ids = newStudyIds();
    await pacs.store(images ? images(ids) : [mammogram(ids, { laterality: 'L', view: 'CC', size: 256 }).bytes, mammogram(ids, { laterality: 'R', view: 'CC', size: 256 }).bytes]);
    await discovery.announce(ids.studyUid, 'manual');
    const result = await scoreStudy(deps, ids.studyUid);
    const series = await pacs.search(`studies/${ids.studyUid}/series`, { Modality: 'SR', includefield: ['Manufacturer'] });
    const ours = series.find((s) => jsonString(s, TAG.Manufacturer) === 'mammocad');
    const bytes =
      ours && result.status === 'scored' && result.reportSopInstanceUid
        ? (await pacs.retrieveInstance(ids.studyUid, jsonString(ours, TAG.SeriesInstanceUID), result.reportSopInstanceUid)).bytes
        : null;
    return { ids, result, report: bytes ? readStructuredReport(bytes) : null, bytes, study: (await store.studies.findByUid(ids.studyUid))! };
  }

  it('refuses a study that was never announced, naming it, and records nothing', async () => {
    const record = (await store.modelVersions.findByVersion('validated'))!;
    const runtime = await createModelRuntime([await readPackage(record.path)]);
    runtimes.push(runtime);
    const deps: ScoreStudyDeps = { pacs, store, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500', device, researchMode: false, model: { record, runtime } };
    const { studyUid } = newStudyIds();
    await expect(scoreStudy(deps, studyUid)).rejects.toMatchObject({ code: 'STUDY_UNKNOWN', message: expect.stringContaining('has not been announced') });
    expect(await store.studies.findByUid(studyUid)).toBeNull();
  });

  it('a model at chance writes no report by default: results stored, the study says why', async () => {
    const { result, report, study } = await score('at-chance', false);
    expect(result).toMatchObject({ status: 'scored', reportSopInstanceUid: null, reportWithheld: expect.stringMatching(/^no report written to the PACS: .*does not exclude chance/) });
    expect(report).toBeNull();
    expect(study).toMatchObject({ status: 'scored', statusReason: expect.stringMatching(/no report written to the PACS/) });
    expect(await store.predictions.listByStudy(study.id)).toHaveLength(5); // 2 images, 2 breasts, the exam
    expect(await store.reports.listByStudy(study.id)).toEqual([]);
  });

  it('in research mode the same model writes a report marked RESEARCH USE ONLY, with its (lacking) evidence', async () => {
    const { report } = await score('at-chance', true);
    expect(report).not.toBeNull();
    expect(report!.seriesDescription).toMatch(/^RESEARCH USE ONLY/);
    expect(report!.results.researchUse?.statement).toMatch(/^RESEARCH USE ONLY.*0\.550 \(95% CI 0\.450-0\.650\) does not exclude chance/);
    expect(report!.results.evidence).toMatchObject({ auc: 0.55, aucCi: [0.45, 0.65] });
  });

  it("a validated model's report is unmarked and carries its validation AUC and data", async () => {
    const { report } = await score('validated', false);
    expect(report!.results.researchUse).toBeUndefined();
    expect(report!.seriesDescription ?? '').not.toMatch(/RESEARCH/);
    expect(report!.results.evidence).toEqual({ auc: 0.81, aucCi: [0.74, 0.87], dataset: 'site-archive', method: '4-fold cross-validation by woman, out-of-fold, 600 images' });
  });
  it('a study with one implausible image: the others are scored and the report names the skipped one and why (dciodvfy: no error)', async () => {
    let ge = '';
    let good = '';
    const { result, report, bytes, study } = await score('validated', false, (ids) => {
      const header = geHeaderOnly(ids);
      const breast = syntheticMammogram(ids, 'breast', { laterality: 'L', view: 'CC' });
      ge = header.sopInstanceUid;
      good = breast.sopInstanceUid;
      return [breast.bytes, header.bytes];
    });
    expect(result).toMatchObject({ status: 'scored', images: 1 });
    expect(study.statusReason).toMatch(/1 image\(s\) skipped by the image checks/);
    expect(Object.keys(report!.results.images)).toEqual([good]);
    expect(report!.results.skippedImages).toEqual({ [ge]: expect.stringMatching(/^implausible image: .*1 x 2/) });
    expect(await store.images.findBySopInstanceUid(ge)).toMatchObject({ status: 'skipped', statusReason: expect.stringMatching(/^implausible image/) });
    if (spawnSync('dciodvfy', ['-version']).error === undefined) {
      const file = path.join(work, 'skipped-image-report.dcm');
      writeFileSync(file, bytes!);
      const run = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
      expect(`${run.stdout}${run.stderr}`.split('\n').filter((l) => /Error/.test(l))).toEqual([]);
    }
  });
});
