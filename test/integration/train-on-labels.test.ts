// The retraining loop on the service's own data, with real components: mini-MIAS films as MG
// DICOM studies in a real Orthanc, announced and selected into a SQLite store, outcome labels
// recorded through the store, then a 'train' job (dataset 'labels') in a JobWorker that fetches
// the labelled images by WADO-RS, retrains stage 2 from a base model (itself trained by a
// 'train' job on mini-MIAS) and registers the new version inactive. Labels that cannot be used
// (an image the PACS no longer has, a study without images) are skipped with their reason; a
// label set with one class is refused and registers nothing.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { buildFilmMammogram } from '../../src/dicom/convert/mias-to-dicom.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { decodeImage } from '../../src/dicom/pixels/decode-image.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import type { ImageRecord, LabelValue } from '../../src/domain/index.js';
import { readPackage, verifyPackage } from '../../src/ml/registry/index.js';
import { createModelRuntime } from '../../src/ml/runtime/index.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { selectStudyImages } from '../../src/pipeline/select-study-images.js';
import { StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { TRAIN_MODEL_JOB, TrainModelJob } from '../../src/pipeline/train-model-job.js';
import { openStore, type LabelInput, type Store } from '../../src/store/index.js';
import { MIAS_PIXEL_SPACING_MM, readMiasDataset, readMiasPixels, type MiasImage } from '../../src/training/datasets/mias.js';
import type { DatasetSkip } from '../../src/training/datasets/dataset.js';
import type { TrainingConfigInputFile } from '../../src/training/trainer/index.js';
import { needsSharedData } from '../support/shared-data.js';
import { TINY_IMAGES, tinyConfigInput, tinyMiasDir } from '../support/tiny-training.js';

const logger = pino({ level: 'silent' });

/** A film the service stores and labels, but that is purged from the PACS before training. */
const PURGED = 'mdb012';
const BASE_VERSION = 'tiny-mias-base';

interface StoredFilm {
  image: MiasImage;
  studyUid: string;
  sopInstanceUid: string;
}

/** The tiny configuration's model and stages, on the service's labels, from the base model's backbone. */
function labelsConfig(miasDir: string, version: string): TrainingConfigInputFile {
  const { model, stage1, stage2, seed, folds, bootstrapSamples } = tinyConfigInput(miasDir);
  return { version, seed, dataset: { kind: 'labels' }, baseVersion: BASE_VERSION, model, stage1, stage2, folds, bootstrapSamples };
}

describe.skipIf(!LocalOrthanc.available())('retraining on the service\'s own labels (tiny configuration, real Orthanc)', needsSharedData('mias'), () => {
  let root: string;
  let orthanc: LocalOrthanc;
  let pacs: DicomwebClient;
  let miasDir: string;
  let films: Map<string, StoredFilm>;
  const stores: Store[] = [];

  /** A fresh SQLite store with the given women's studies announced (source 'manual') and their images selected. */
  async function storeWithStudies(name: string, womanStudies: readonly string[]): Promise<Store> {
    const store = await openStore({ databaseUrl: `file:${path.join(root, `${name}.sqlite`)}` });
    stores.push(store);
    const discovery = new StudyDiscovery({ pacs, store, logger });
    for (const studyUid of womanStudies) {
      expect((await discovery.announce(studyUid, 'manual')).outcome).toBe('new');
      await selectStudyImages(pacs, store, studyUid, DEFAULT_SELECTION_POLICY);
    }
    return store;
  }

  const trainJob = (store: Store, name: string) =>
    new TrainModelJob({ store, logger, dataDir: path.join(root, name, 'data'), modelDir: path.join(root, name, 'models'), pacs, threads: 1 });

  const worker = (store: Store, name: string) => new JobWorker({ store, logger, handlers: { [TRAIN_MODEL_JOB]: trainJob(store, name).handle } });

  async function storedImage(store: Store, film: StoredFilm): Promise<ImageRecord> {
    const image = await store.images.findBySopInstanceUid(film.sopInstanceUid);
    expect(image, `${film.image.id} is stored`).not.toBeNull();
    return image!;
  }

  async function studyIdOf(store: Store, studyUid: string): Promise<string> {
    return (await store.studies.findByUid(studyUid))!.id;
  }

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'mammocad-train-labels-'));
    orthanc = new LocalOrthanc({ dir: path.join(root, 'orthanc') });
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000 });

    // The films as MG studies, one per woman, stored into the PACS.
    miasDir = await tinyMiasDir(root, [...TINY_IMAGES, PURGED]);
    const mias = await readMiasDataset(miasDir);
    films = new Map();
    for (const [womanId, images] of mias.women) {
      const bytes: Uint8Array[] = [];
      for (const [index, image] of images.entries()) {
        const pgm = await readMiasPixels(image);
        const built = buildFilmMammogram({
          imageId: image.id, patientId: `SITE-${womanId}`, patientName: `SITE^${womanId}`, laterality: image.laterality, view: image.view,
          instanceNumber: index + 1, rows: pgm.height, columns: pgm.width, pixels: pgm.pixels, pixelSpacingMm: MIAS_PIXEL_SPACING_MM,
          collection: 'mini-MIAS', studyDate: '20240301', uidSeed: 'train-on-labels',
        });
        films.set(image.id, { image, studyUid: built.studyInstanceUid, sopInstanceUid: built.sopInstanceUid });
        bytes.push(built.bytes);
      }
      await pacs.store(bytes, films.get(images[0]!.id)!.studyUid);
    }
    expect(films.size).toBe(TINY_IMAGES.length + 1);
  }, 60_000);

  afterAll(async () => {
    for (const store of stores) await store.close();
    await orthanc?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('retrains on the recorded labels, fetching pixels from the PACS, skipping what it cannot use, and registers the model inactive', async () => {
    const studies = [...new Set([...films.values()].map((f) => f.studyUid))];
    const store = await storeWithStudies('site', studies);
    for (const film of films.values()) expect((await storedImage(store, film)).status).toBe('eligible');

    // The base model: the tiny two-stage configuration on mini-MIAS, run as a 'train' job too.
    const { job: baseJob } = await store.jobs.enqueue(TRAIN_MODEL_JOB, { config: tinyConfigInput(miasDir, { version: BASE_VERSION }) } as never);
    expect(await worker(store, 'site').runOnce()).toMatchObject({ id: baseJob.id, status: 'succeeded' });
    expect(await store.modelVersions.findByVersion(BASE_VERSION)).toMatchObject({ active: false });

    // After selection the PACS loses one film (purged), and one study is known without images.
    const purged = films.get(PURGED)!;
    const [found] = (await orthanc.rest('POST', '/tools/lookup', purged.sopInstanceUid)) as Array<{ ID: string; Type: string }>;
    expect(found).toMatchObject({ Type: 'Instance' });
    await orthanc.rest('DELETE', `/instances/${found!.ID}`);
    const emptyStudyUid = '1.2.826.0.1.3680043.8.498.99999999999999999999';
    await store.studies.announce({ studyUid: emptyStudyUid, source: 'manual', patientId: 'SITE-empty' });

    // Pathology labels: each film by its MIAS severity (image labels), except the left breast of
    // woman w002 (mdb004), labelled as a breast; the purged film; the study without images.
    const breastLabelled = films.get('mdb004')!;
    const labels: LabelInput[] = [];
    for (const film of films.values()) {
      if (film === breastLabelled) continue;
      const value: LabelValue = film.image.malignant ? 'malignant' : film.image.imageClass === 'benign' ? 'benign' : 'normal';
      labels.push({ studyId: await studyIdOf(store, film.studyUid), scope: 'image', imageId: (await storedImage(store, film)).id, value, source: 'pathology', author: 'dr-path' });
    }
    labels.push({ studyId: await studyIdOf(store, breastLabelled.studyUid), scope: 'breast', laterality: breastLabelled.image.laterality, value: 'normal', source: 'pathology', author: 'dr-path' });
    labels.push({ studyId: await studyIdOf(store, emptyStudyUid), scope: 'breast', laterality: 'R', value: 'normal', source: 'pathology', author: 'dr-path' });
    const recorded = await store.labels.addMany(labels);
    const emptyLabel = recorded.at(-1)!;

    // The 'train' job on the labels, with the PACS: a new version, registered inactive.
    const { job } = await store.jobs.enqueue(TRAIN_MODEL_JOB, { config: labelsConfig(miasDir, 'site-retrained-1') } as never);
    const after = await worker(store, 'site').runOnce();
    expect(after, after?.lastError ?? '').toMatchObject({ id: job.id, status: 'succeeded' });
    expect(after!.result).toMatchObject({ version: 'site-retrained-1', metrics: { n: 11, positives: 4 }, skipped: 2 });
    const record = await store.modelVersions.findByVersion('site-retrained-1');
    expect(record).toMatchObject({ version: 'site-retrained-1', active: false });
    expect(await store.modelVersions.findActive()).toBeNull();

    // The package verifies; its manifest counts the labelled images (10 image labels + 1 breast label; 10 women, 4 malignant).
    expect((await verifyPackage(record!.path)).problems).toEqual([]);
    const pkg = await readPackage(record!.path);
    expect(pkg.packageHash).toBe(record!.packageHash);
    expect(pkg.manifest.trainingData).toEqual({ datasets: ['labelled-images'], images: 11, women: 10, positives: 4 });
    expect(pkg.manifest.provenance).toMatchObject({ source: 'trained' });
    expect(pkg.manifest.metrics).toMatchObject({ n: 11, positives: 4, folds: 2, skipped: 2 });

    // The training report names what was left out, with the reason.
    const skipped = JSON.parse(await readFile(path.join(record!.path, 'report', 'skipped.json'), 'utf8')) as DatasetSkip[];
    expect(skipped).toHaveLength(2);
    expect(skipped).toContainEqual({ item: `label ${emptyLabel.id}`, reason: `study ${emptyStudyUid} has no stored images` });
    const purgedSkip = skipped.find((s) => s.item === purged.sopInstanceUid);
    expect(purgedSkip?.reason).toMatch(new RegExp(`${purged.sopInstanceUid.replaceAll('.', '\\.')}.*404, not found`));

    // The retrained package scores an image fetched from the PACS through the service's runtime.
    const film = films.get('mdb023')!;
    const { bytes } = await pacs.retrieveInstance(film.studyUid, (await storedImage(store, film)).seriesUid, film.sopInstanceUid);
    const decoded = await decodeImage(readPart10(bytes, film.image.id));
    const runtime = await createModelRuntime([pkg], { intraOpThreads: 1 });
    try {
      const [score] = await runtime.score([decoded]);
      expect(score).toBeGreaterThanOrEqual(0);
      expect(score).toBeLessThanOrEqual(1);
    } finally {
      await runtime.dispose();
    }
  }, 120_000);

  it('refuses labels of one class, naming it, and registers nothing', async () => {
    const normals = ['mdb003', 'mdb007', 'mdb009'].map((id) => films.get(id)!);
    const store = await storeWithStudies('one-class', normals.map((f) => f.studyUid));
    // The same base model, imported into this site's registry.
    const base = await stores[0]!.modelVersions.findByVersion(BASE_VERSION);
    await new ModelService({ store, modelDir: path.join(root, 'one-class', 'models'), logger }).import(base!.path, 'test');
    await store.labels.addMany(
      await Promise.all(normals.map(async (film) => ({ studyId: await studyIdOf(store, film.studyUid), scope: 'image' as const, imageId: (await storedImage(store, film)).id, value: 'normal' as const, source: 'pathology' as const, author: 'dr-path' }))),
    );
    const before = (await store.modelVersions.list()).map((m) => m.version);
    expect(before).toEqual([BASE_VERSION]);

    // Without a base model named and none active, the run cannot start: said, nothing trained.
    const { baseVersion: _named, ...unnamed } = labelsConfig(miasDir, 'site-no-base');
    const { job: noBase } = await store.jobs.enqueue(TRAIN_MODEL_JOB, { config: unnamed } as never);
    const refused = await worker(store, 'one-class').runOnce();
    expect(refused).toMatchObject({ id: noBase.id, status: 'failed' });
    expect(refused!.lastError).toBe('baseVersion: retraining on the recorded labels starts from a model version: name baseVersion, or activate one');

    const { job } = await store.jobs.enqueue(TRAIN_MODEL_JOB, { config: labelsConfig(miasDir, 'site-one-class') } as never);
    const after = await worker(store, 'one-class').runOnce();
    expect(after).toMatchObject({ id: job.id, status: 'failed' });
    expect(after!.lastError).toMatch(/labelled-images: the training data has 3 image\(s\), none malignant/);
    expect(await store.modelVersions.findByVersion('site-one-class')).toBeNull();
    expect((await store.modelVersions.list()).map((m) => m.version)).toEqual(before);

    // The PACS down while the images are fetched: not the images' fault, so the job is retried
    // later (and no image is recorded as a skip).
    const gone = new DicomwebClient({ url: 'http://127.0.0.1:9/dicom-web', timeoutMs: 2_000, attempts: 1 });
    const offline = new JobWorker({
      store,
      logger,
      backoffMs: 60_000,
      handlers: { [TRAIN_MODEL_JOB]: new TrainModelJob({ store, logger, dataDir: path.join(root, 'offline', 'data'), modelDir: path.join(root, 'one-class', 'models'), pacs: gone, threads: 1 }).handle },
    });
    const { job: retried } = await store.jobs.enqueue(TRAIN_MODEL_JOB, { config: labelsConfig(miasDir, 'site-offline') } as never, { maxAttempts: 3 });
    const outcome = await offline.runOnce();
    expect(outcome).toMatchObject({ id: retried.id, status: 'queued', attempts: 1 });
    expect(outcome!.lastError).toMatch(/cannot reach the PACS/);
  }, 60_000);
});
