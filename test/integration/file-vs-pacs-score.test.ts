// Issue 13, "file score equals PACS score": the probability `mammocad evaluate` gives an image of
// an image folder (scoreImages on the JPEG, the reader's inversion) is the probability the
// service gives the same image stored in a PACS as a DICOM MG object (WADO, the DICOM decoder,
// MONOCHROME1 inversion) — same model, same pre-processing, within 1e-5. If the two paths fed
// the model differently, a model validated on files would not be the model that runs on studies.
//
// Eight real RSNA screening images of three women, four of them from the machines that store
// MONOCHROME1 (29, 210) and were exported uninverted, CC and MLO of both sides; copied at test
// time into a temporary folder (research data: never into the repository). Each is wrapped as
// 8-bit grey samples (MONOCHROME1 where the reader finds it inverted), and the four upright ones
// also as their JPEG bytes as they are, which puts the service's JPEG codec on the path. A real
// Orthanc holds them; the service's own discovery, job and worker score them.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { readStructuredReport } from '../../src/dicom/sr/index.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import type { PreprocessingSpec } from '../../src/ml/model-manifest.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { ScoreStudyJob } from '../../src/pipeline/score-study-job.js';
import { SCORE_STUDY_JOB, StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { TrainingDataset } from '../../src/training/datasets/dataset.js';
import { readImageFolderDataset } from '../../src/training/datasets/image-folder.js';
import { canonicalOf } from '../../src/training/trainer/training-data.js';
import { loadTrainingConfig, preprocessingFor } from '../../src/training/trainer/config.js';
import { scoreImages } from '../../src/training/trainer/score-dataset.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { ROOT } from '../support/cli.js';
import { folderImagesAsDicom, type FolderImageDicom } from '../support/image-folder-dicom.js';
import { writeRandomMobileNetPackage } from '../support/random-mobilenet.js';
import { SHARED_DATA_DIR, needsSharedData, sharedFile } from '../support/shared-data.js';

const RSNA = path.join(SHARED_DATA_DIR, 'rsna-screening');
const TRAINING_CONFIG = path.join(ROOT, 'models', 'rsna-mobilenet-training.yaml');
const DEFAULT_MODEL = path.join(ROOT, 'models', 'default');
const TOLERANCE = 1e-5;
const logger = createLogger('silent');
const device = { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: 'test', uid: '2.25.1234567890' };

/** <woman>_<image id>: machine, view, side. */
const CHOSEN = [
  '1775_1810160484', // 29, R CC (stored inverted)
  '1775_393941516', // 29, L MLO, cancer (stored inverted)
  '2180_980414212', // 210, L CC (stored inverted)
  '2180_625377150', // 210, R MLO (stored inverted)
  '1703_205845801', // 48, L CC
  '1703_1593154763', // 48, L MLO
  '1703_404195349', // 48, R CC, cancer
  '1703_40744983', // 48, R MLO, cancer
];
const INVERTING_MACHINES = new Set(['29', '210']);

const defaultFit = (JSON.parse(readFileSync(path.join(DEFAULT_MODEL, 'manifest.json'), 'utf8')) as { preprocessing: PreprocessingSpec }).preprocessing.fit;

const skipReason = !LocalOrthanc.available() ? 'needs Orthanc with its DICOMweb plugin (Debian packages orthanc, orthanc-dicomweb)' : null;

/** The chosen rows of the real manifest, with the same files, as an image folder of its own. */
function copyFolder(dir: string): void {
  mkdirSync(path.join(dir, 'images'), { recursive: true });
  const [header, ...lines] = readFileSync(sharedFile('rsna-screening', 'manifest.csv'), 'utf8').trim().split('\n') as [string, ...string[]];
  const rows = lines.filter((line) => CHOSEN.includes(path.basename(line.split(',')[0]!, '.jpg')));
  for (const row of rows) copyFileSync(path.join(RSNA, row.split(',')[0]!), path.join(dir, row.split(',')[0]!));
  writeFileSync(path.join(dir, 'manifest.csv'), [header, ...rows].join('\n'));
}

interface Comparison {
  image: string;
  encoding: string;
  inverted: boolean;
  file: number;
  pacs: number;
  report: number;
}

describe.skipIf(skipReason !== null)(`a file's score equals its score through the PACS${skipReason ? ` (skipped: ${skipReason})` : ''}`, needsSharedData('rsna-screening'), () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-file-vs-pacs-'));
  const folder = path.join(work, 'rsna-8');
  let dataset: TrainingDataset;
  let wrapped: FolderImageDicom[];
  let orthanc: LocalOrthanc;
  let pacs: DicomwebClient;
  let store: Store;
  let models: ModelService;
  let discovery: StudyDiscovery;
  let job: ScoreStudyJob;
  let worker: JobWorker;

  beforeAll(async () => {
    copyFolder(folder);
    dataset = await readImageFolderDataset(folder);
    const native = await folderImagesAsDicom(dataset.images, { encoding: 'native', collection: 'rsna-screening' });
    const upright = dataset.images.filter((image) => !native.find((w) => w.image === image)!.inverted);
    wrapped = [...native, ...(await folderImagesAsDicom(upright, { encoding: 'jpeg-baseline', collection: 'rsna-screening', uidSeed: 'jpeg' }))];

    orthanc = new LocalOrthanc();
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000 });
    await pacs.store(wrapped.map((w) => w.bytes));
    store = await openStore({ databaseUrl: `file:${path.join(work, 'db.sqlite')}` });
    models = new ModelService({ store, modelDir: path.join(work, 'models'), logger });
    discovery = new StudyDiscovery({ pacs, store, logger });
    job = new ScoreStudyJob({ pacs, store, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500', researchMode: true, device });
    worker = new JobWorker({ store, logger, handlers: { [SCORE_STUDY_JOB]: job.handle }, backoffMs: 1 });
  }, 60_000);

  afterAll(async () => {
    await job?.dispose();
    await store?.close();
    await orthanc?.stop();
    // The copies of research images do not outlive the test.
    rmSync(work, { recursive: true, force: true });
  });

  /**
   * Imports and activates the package, has the service score every study (announced the first
   * time, rescored with the newly active model after), and pairs each stored image's
   * probability, as the store and as the SR in the PACS have it, with scoreImages' for its file.
   */
  async function compare(packageDir: string): Promise<Comparison[]> {
    const pkg = await models.import(packageDir, 'admin:test');
    const record = await models.activate(pkg.manifest.version, 'admin:test');
    const fileScores = new Map((await scoreImages(pkg, dataset.images)).scores.map((s) => [s.image.id, s.score]));

    const studyUids = [...new Set(wrapped.map((w) => w.studyInstanceUid))];
    for (const uid of studyUids) {
      if (await store.studies.findByUid(uid)) await discovery.rescore(uid, 'admin:test');
      else expect((await discovery.announce(uid, 'manual')).outcome).toBe('new');
    }
    for (let done = await worker.runOnce(); done; done = await worker.runOnce()) {
      expect(done, JSON.stringify(done.result ?? done.lastError)).toMatchObject({ kind: SCORE_STUDY_JOB, status: 'succeeded', result: { status: 'scored', failedImages: 0 } });
    }

    const comparisons: Comparison[] = [];
    for (const uid of studyUids) {
      const study = (await store.studies.findByUid(uid))!;
      const images = new Map((await store.images.listByStudy(study.id)).map((i) => [i.id, i.sopInstanceUid]));
      const stored = new Map(
        (await store.predictions.listByStudy(study.id, record.id)).filter((p) => p.level === 'image').map((p) => [images.get(p.imageId!)!, p.probability]),
      );
      const [report] = (await store.reports.listByStudy(study.id)).filter((r) => r.modelVersionId === record.id);
      const sr = readStructuredReport((await pacs.retrieveInstance(uid, report!.srSeriesUid, report!.srSopInstanceUid)).bytes);
      for (const w of wrapped.filter((x) => x.studyInstanceUid === uid)) {
        comparisons.push({
          image: w.image.id,
          encoding: w.encoding,
          inverted: w.inverted,
          file: fileScores.get(w.image.id)!,
          pacs: stored.get(w.sopInstanceUid)!,
          report: sr.results.images[w.sopInstanceUid]!.probability,
        });
      }
    }
    return comparisons;
  }

  function expectAgreement(comparisons: Comparison[]): number {
    expect(comparisons).toHaveLength(CHOSEN.length + CHOSEN.length / 2);
    const differences = comparisons.map((c) => Math.abs(c.file - c.pacs));
    const worst = Math.max(...differences);
    console.info(
      `file vs PACS, max |difference| ${worst.toExponential(2)}:\n${comparisons
        .map((c, i) => `  ${c.image} ${c.encoding}${c.inverted ? ' MONOCHROME1' : ''}: file ${c.file.toFixed(6)} PACS ${c.pacs.toFixed(6)} (${differences[i]!.toExponential(1)})`)
        .join('\n')}`,
    );
    for (const c of comparisons) {
      expect(c.pacs, `${c.image} (${c.encoding})`).toBeCloseTo(c.file, 5);
      expect(Math.abs(c.pacs - c.file), `${c.image} (${c.encoding})`).toBeLessThanOrEqual(TOLERANCE);
      // The SR in the PACS carries the stored number itself.
      expect(c.report).toBe(c.pacs);
    }
    return worst;
  }

  it('the images cover what the comparison needs: inverted and upright, CC and MLO, both sides, several women', () => {
    expect(dataset.skipped).toEqual([]);
    expect(dataset.images.map((i) => i.id).sort()).toEqual([...CHOSEN].sort());
    const native = wrapped.filter((w) => w.encoding === 'native');
    // The reader finds exactly the images of the MONOCHROME1 machines inverted; they become MONOCHROME1.
    expect(native.filter((w) => w.inverted).map((w) => w.image.id).sort()).toEqual(dataset.images.filter((i) => INVERTING_MACHINES.has(i.attributes.machine_id!)).map((i) => i.id).sort());
    expect(native.filter((w) => w.inverted).length).toBeGreaterThanOrEqual(2);
    expect(new Set(dataset.images.map((i) => `${i.laterality} ${i.view}`))).toEqual(new Set(['L CC', 'L MLO', 'R CC', 'R MLO']));
    expect(new Set(dataset.images.map((i) => i.womanId)).size).toBeGreaterThanOrEqual(2);
    // One study per woman and encoding.
    expect(new Set(wrapped.map((w) => w.studyInstanceUid)).size).toBe(new Set(wrapped.map((w) => `${w.image.womanId} ${w.encoding}`)).size);
  });

  it('a MobileNet with the pre-processing of models/rsna-mobilenet-training.yaml scores each image alike from its file and through the PACS (within 1e-5)', async () => {
    const config = await loadTrainingConfig(TRAINING_CONFIG);
    const preprocessing = preprocessingFor(config);
    // What the package must carry for the comparison to mean what it says.
    expect(preprocessing).toMatchObject({ fit: 'stretch', intensity: { method: 'minmax' }, inputHeight: config.model.inputHeight, inputWidth: config.model.inputWidth });
    const calibration = await Promise.all(dataset.images.map((image) => canonicalOf(image)));
    const packageDir = await writeRandomMobileNetPackage(path.join(work, 'incoming'), {
      version: 'rsna-mobilenet-random',
      preprocessing,
      calibration,
      seed: 1313,
      filtersScale: 0.25,
      top: config.stage2.top,
      ...(config.stage2.topFiltersScale === undefined ? {} : { topFiltersScale: config.stage2.topFiltersScale }),
    });
    const comparisons = await compare(packageDir);
    expectAgreement(comparisons);
    // Probabilities that differ from image to image and stay off 0 and 1: a model that
    // answered the same for every input would agree whatever the paths fed it.
    const files = comparisons.map((c) => c.file);
    expect(Math.max(...files) - Math.min(...files)).toBeGreaterThan(0.01);
    expect(files.every((p) => p > 0.001 && p < 0.999)).toBe(true);
  }, 120_000);

  it.skipIf(defaultFit !== 'stretch')(
    `the default model (models/default) scores each image alike from its file and through the PACS${defaultFit === 'stretch' ? '' : ` (skipped: its fit is '${defaultFit}', not 'stretch': the RSNA exports are squares of unknown pixel size, so its spacing-based fit is not what they need)`}`,
    async () => {
      const comparisons = await compare(DEFAULT_MODEL);
      expectAgreement(comparisons);
    },
    120_000,
  );
});
