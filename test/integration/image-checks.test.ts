// The image checks where users meet them: `mammocad score FILE...` and the PACS pipeline on a
// real Orthanc. A GE "For Presentation" header with 1 x 2 pixels, a blank and a saturated image
// are skipped as implausible with their reason and never get a probability; a digitised film
// under a model declared for digital mammograms is skipped by default and scored with a flag
// when imageChecks.outsideIntendedUse is 'score-and-flag'.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE_CHECK_DEFAULTS } from '../../src/config/config.schema.js';
import { createLogger } from '../../src/config/index.js';
import { TAG, jsonString } from '../../src/dicom/dicom-json.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import type { IntendedUse } from '../../src/ml/model-manifest.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { ScoreStudyJob } from '../../src/pipeline/score-study-job.js';
import { SCORE_STUDY_JOB, StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { openStore, type Store } from '../../src/store/index.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { geHeaderOnly, miasFilm, syntheticMammogram } from '../support/check-images.js';
import { runCli } from '../support/cli.js';
import { newStudyIds } from '../support/dicom-factory.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';
import { SHARED_DATA_DIR, needsSharedData } from '../support/shared-data.js';

const logger = createLogger('silent');
const device = { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: 'test', uid: '2.25.1234567892' };
const DIGITAL: IntendedUse = { imaging: 'digital', presentation: 'for-presentation', views: ['CC', 'MLO'], notes: 'digital screening mammograms only' };
const MIAS_DIR = path.join(SHARED_DATA_DIR, 'mias');
const FILM_REASON = "outside the model's intended use: a digitised film (Detector Type FILM); the model is for digital mammograms";

interface ImageLine {
  level: string;
  file: string;
  status: string;
  probability: number | null;
  reason: string | null;
  flags: string[];
}

describe('mammocad score: the image checks', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-checks-cli-'));
  const env = { MAMMOCAD_DATA_DIR: path.join(work, 'data') };
  const put = (name: string, bytes: Uint8Array) => {
    const file = path.join(work, name);
    writeFileSync(file, bytes);
    return file;
  };
  const imageLines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as ImageLine).filter((l) => l.level === 'image');

  beforeAll(async () => {
    const dir = await writeTestPackage(path.join(work, 'incoming'), { version: 'tiny-digital-cli', manifest: { intendedUse: DIGITAL } });
    expect((await runCli(['models', 'import', dir], env)).code).toBe(0);
    expect((await runCli(['models', 'activate', 'tiny-digital-cli'], env)).code).toBe(0);
  }, 120_000);

  it('skips the 1 x 2 pixel GE header, a blank and a saturated image with their reasons, and scores the plausible one', async () => {
    const ids = newStudyIds();
    const files = [
      put('ge.dcm', geHeaderOnly(ids).bytes),
      put('blank.dcm', syntheticMammogram(ids, 'blank', { laterality: 'R' }).bytes),
      put('saturated.dcm', syntheticMammogram(ids, 'saturated', { laterality: 'R', view: 'MLO' }).bytes),
      put('good.dcm', syntheticMammogram(ids, 'breast').bytes),
    ];
    const result = await runCli(['score', '--json', ...files], env);
    expect(result.code, result.stderr).toBe(0);
    const [ge, blank, saturated, good] = imageLines(result.stdout);
    expect(ge).toMatchObject({ status: 'skipped', probability: null, reason: 'implausible image: pixel matrix 1 x 2 (rows x columns) is below 256 x 256', flags: [] });
    expect(blank).toMatchObject({ status: 'skipped', probability: null, reason: expect.stringMatching(/^implausible image: mostly blank: 99\.\d+% of the pixels are at the minimum value/) });
    expect(saturated).toMatchObject({ status: 'skipped', probability: null, reason: expect.stringMatching(/^implausible image: mostly saturated: 99\.\d+% of the pixels are at the maximum value 4095/) });
    expect(good).toMatchObject({ status: 'scored', reason: null, flags: [] });
    expect(good!.probability).toBeGreaterThan(0);

    // The text output a user reads.
    const text = await runCli(['score', files[0]!], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.trim()).toBe(`${files[0]}: skipped (implausible image: pixel matrix 1 x 2 (rows x columns) is below 256 x 256)`);
  });

  it('skips a film under a digital-only model by default, and scores it with a flag when configured to', needsSharedData('mias'), async () => {
    const film = put('film.dcm', miasFilm(MIAS_DIR, 'mdb003').bytes);
    const skipped = await runCli(['score', '--json', film], env);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(imageLines(skipped.stdout)).toEqual([expect.objectContaining({ status: 'skipped', probability: null, reason: FILM_REASON, flags: [] })]);

    const flagEnv = { ...env, MAMMOCAD_IMAGE_CHECKS_OUTSIDE_INTENDED_USE: 'score-and-flag' };
    const flagged = await runCli(['score', '--json', film], flagEnv);
    expect(flagged.code, flagged.stderr).toBe(0);
    const [line] = imageLines(flagged.stdout);
    expect(line).toMatchObject({ status: 'scored', reason: null, flags: [FILM_REASON] });
    expect(line!.probability).toBeGreaterThan(0);
    const text = await runCli(['score', film], flagEnv);
    expect(text.stdout).toMatch(new RegExp(`film\\.dcm: scored p=0\\.\\d{4} \\[outside the model's intended use: a digitised film \\(Detector Type FILM\\); the model is for digital mammograms\\]`));
  });
});

/** A DICOMweb client that records which instances it retrieved (pixel data included). */
class RecordingClient extends DicomwebClient {
  readonly retrieved: string[] = [];
  override async retrieveInstance(studyUid: string, seriesUid: string, sopInstanceUid: string) {
    this.retrieved.push(sopInstanceUid);
    return super.retrieveInstance(studyUid, seriesUid, sopInstanceUid);
  }
}

describe.skipIf(!LocalOrthanc.available())('the PACS pipeline: the image checks', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-checks-pacs-'));
  let orthanc: LocalOrthanc;
  let pacs: RecordingClient;
  let store: Store;
  let discovery: StudyDiscovery;
  let job: ScoreStudyJob;
  let flagJob: ScoreStudyJob;

  beforeAll(async () => {
    orthanc = new LocalOrthanc();
    await orthanc.start();
    pacs = new RecordingClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000, backoffMs: 10 });
    store = await openStore({ databaseUrl: `file:${path.join(work, 'db.sqlite')}` });
    const models = new ModelService({ store, modelDir: path.join(work, 'models'), logger });
    await models.import(await writeTestPackage(path.join(work, 'incoming'), { version: 'tiny-digital-pacs', manifest: { intendedUse: DIGITAL } }), 'admin:test');
    await models.activate('tiny-digital-pacs', 'admin:test');
    discovery = new StudyDiscovery({ pacs, store, logger });
    const deps = { pacs, store, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500' as const, researchMode: true, device };
    job = new ScoreStudyJob(deps); // the defaults: IMAGE_CHECK_DEFAULTS
    flagJob = new ScoreStudyJob({ ...deps, imageChecks: { ...IMAGE_CHECK_DEFAULTS, outsideIntendedUse: 'score-and-flag' } });
  }, 60_000);
  afterAll(async () => {
    await job?.dispose();
    await flagJob?.dispose();
    await store?.close();
    await orthanc?.stop();
  });

  /** Announces the study and runs its job with `scoring`; returns the study, its images and predictions. */
  async function score(studyUid: string, scoring: ScoreStudyJob) {
    await discovery.announce(studyUid, 'manual');
    const worker = new JobWorker({ store, logger, handlers: { [SCORE_STUDY_JOB]: scoring.handle }, backoffMs: 1 });
    const done = await worker.runOnce();
    const study = (await store.studies.findByUid(studyUid))!;
    const images = await store.images.listByStudy(study.id);
    return { job: done!, study, images, predictions: await store.predictions.listByStudy(study.id) };
  }

  async function ourReports(studyUid: string): Promise<number> {
    const series = await pacs.search(`studies/${studyUid}/series`, { Modality: 'SR', includefield: ['Manufacturer'] });
    return series.filter((s) => jsonString(s, TAG.Manufacturer) === 'mammocad').length;
  }

  it('skips the GE header with 1 x 2 pixels: image and study skipped with the reason, no prediction, no report', async () => {
    const ids = newStudyIds();
    const ge = geHeaderOnly(ids);
    await pacs.store([ge.bytes]);
    const { job: done, study, images, predictions } = await score(ids.studyUid, job);
    const reason = 'implausible image: pixel matrix 1 x 2 (rows x columns) is below 256 x 256';
    expect(done).toMatchObject({ status: 'skipped', result: { status: 'skipped', reason: `no eligible views: ${reason}` } });
    expect(study).toMatchObject({ status: 'skipped', statusReason: `no eligible views: ${reason}` });
    expect(images.map((i) => [i.sopInstanceUid, i.status, i.statusReason])).toEqual([[ge.sopInstanceUid, 'skipped', reason]]);
    expect(predictions).toEqual([]);
    expect(await ourReports(ids.studyUid)).toBe(0);
    // Decided from the PACS's metadata: its pixel data was never fetched.
    expect(pacs.retrieved).not.toContain(ge.sopInstanceUid);
  });

  it('scores the plausible image of a study and skips its blank and saturated ones with their reasons', async () => {
    const ids = newStudyIds();
    const good = syntheticMammogram(ids, 'breast');
    const blank = syntheticMammogram(ids, 'blank', { laterality: 'R' });
    const saturated = syntheticMammogram(ids, 'saturated', { laterality: 'R', view: 'MLO' });
    await pacs.store([good.bytes, blank.bytes, saturated.bytes]);
    const { job: done, study, images, predictions } = await score(ids.studyUid, job);
    expect(done.result).toMatchObject({ status: 'scored', images: 1, failedImages: 0 });
    expect(study).toMatchObject({ status: 'scored', statusReason: '2 image(s) skipped by the image checks' });
    const bySop = Object.fromEntries(images.map((i) => [i.sopInstanceUid, i]));
    expect(bySop[good.sopInstanceUid]).toMatchObject({ status: 'scored', statusReason: null });
    expect(bySop[blank.sopInstanceUid]).toMatchObject({ status: 'skipped', statusReason: expect.stringMatching(/^implausible image: mostly blank: /) });
    expect(bySop[saturated.sopInstanceUid]).toMatchObject({ status: 'skipped', statusReason: expect.stringMatching(/^implausible image: mostly saturated: /) });
    // Predictions for the scored image (and its breast and the exam) only.
    const imagePredictions = predictions.filter((p) => p.level === 'image');
    expect(imagePredictions.map((p) => p.imageId)).toEqual([bySop[good.sopInstanceUid]!.id]);
    expect(predictions.filter((p) => p.level === 'breast').map((p) => p.laterality)).toEqual(['L']);
  });

  it('skips a film under a digital-only model, and scores another copy with a flag when configured to', needsSharedData('mias'), async () => {
    const film = miasFilm(MIAS_DIR, 'mdb004');
    await pacs.store([film.bytes]);
    const skipped = await score(film.studyInstanceUid, job);
    expect(skipped.study).toMatchObject({ status: 'skipped', statusReason: `no eligible views: ${FILM_REASON}` });
    expect(skipped.images.map((i) => [i.status, i.statusReason])).toEqual([['skipped', FILM_REASON]]);
    expect(skipped.predictions).toEqual([]);
    expect(await ourReports(film.studyInstanceUid)).toBe(0);
    expect(pacs.retrieved).not.toContain(film.sopInstanceUid);

    const copy = miasFilm(MIAS_DIR, 'mdb004', 'flagged copy');
    await pacs.store([copy.bytes]);
    const flagged = await score(copy.studyInstanceUid, flagJob);
    expect(flagged.job.result).toMatchObject({ status: 'scored', images: 1 });
    expect(flagged.images.map((i) => [i.status, i.statusReason])).toEqual([['scored', FILM_REASON]]);
    expect(flagged.predictions.filter((p) => p.level === 'image')).toHaveLength(1);
  });
});
