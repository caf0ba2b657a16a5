// The two-stage method end to end on a tiny configuration (test/support/tiny-training.ts), as
// the service runs it: a 'train' job in a JobWorker that trains stage 1 and stage 2, writes the
// package and registers it inactive; cancellation at a checkpoint; refusal of one-class data.

import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyCalibration } from '../../src/ml/calibration.js';
import { readPackage, verifyPackage } from '../../src/ml/registry/index.js';
import { createModelRuntime } from '../../src/ml/runtime/index.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import { TRAIN_MODEL_JOB, TrainModelJob } from '../../src/pipeline/train-model-job.js';
import { openStore, type Store } from '../../src/store/index.js';
import { readMiasDataset } from '../../src/training/datasets/mias.js';
import { miasTrainingDataset } from '../../src/training/datasets/mias-training.js';
import { canonicalGreyImage } from '../../src/training/patches/geometry.js';
import { EPOCH_LOG_FILE, RUN_STATE_FILE, trainModel, type EpochRecord, type RunState } from '../../src/training/trainer/index.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { needsSharedData } from '../support/shared-data.js';
import { TINY_IMAGES, tinyConfig, tinyConfigInput, tinyMiasDir } from '../support/tiny-training.js';

const logger = pino({ level: 'silent' });

describe('training the two-stage model as a job (tiny configuration)', needsSharedData('mias'), () => {
  let root: string;
  let db: TestDatabase;
  let store: Store;
  let miasDir: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'mammocad-train-'));
    db = await createTestDatabase('sqlite');
    store = await openStore({ databaseUrl: db.url });
    miasDir = await tinyMiasDir(root);
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
    await rm(root, { recursive: true, force: true });
  });

  const worker = () =>
    new JobWorker({
      store,
      logger,
      handlers: { [TRAIN_MODEL_JOB]: new TrainModelJob({ store, logger, dataDir: path.join(root, 'data'), modelDir: path.join(root, 'models') }).handle },
    });

  it('trains stage 1 and stage 2, writes a verified package that scores, and registers it inactive', async () => {
    const { job } = await store.jobs.enqueue(TRAIN_MODEL_JOB, { config: tinyConfigInput(miasDir, { version: 'tiny-1' }) } as never);
    const after = await worker().runOnce();
    expect(after).toMatchObject({ id: job.id, status: 'succeeded' });

    // Every phase of both stages ran, in every unit (2 folds + the final model).
    const runDir = path.join(root, 'data', 'training', job.id);
    const log = (await readFile(path.join(runDir, EPOCH_LOG_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as EpochRecord);
    for (const unit of ['fold-1', 'fold-2', 'final']) {
      expect(new Set(log.filter((r) => r.unit === unit).map((r) => `${r.stage}:${r.phase}`))).toEqual(
        new Set(['stage1:lastLayer', 'stage1:topLayers', 'stage1:allLayers', 'stage2:phase1-top']),
      );
    }
    // The training loss of stage 2 phase 1 falls: the mean of the last three epochs is below
    // the mean of the first three, in every unit (weights are seeded: seeds 7, 8 and 9 all pass;
    // with batch 4 and lr 1e-2 the loss of this tiny set rose for some seeds).
    for (const unit of ['fold-1', 'fold-2', 'final']) {
      const losses = log.filter((r) => r.unit === unit && r.phase === 'phase1-top').map((r) => r.loss);
      expect(losses).toHaveLength(10);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(losses.slice(-3))).toBeLessThan(mean(losses.slice(0, 3)));
    }
    // Validation AUC is reported for the folds' epochs, never for the final model's.
    expect(log.filter((r) => r.unit === 'fold-1' && r.phase === 'phase1-top').every((r) => r.valAuc !== null && r.valAuc >= 0 && r.valAuc <= 1)).toBe(true);
    expect(log.filter((r) => r.unit === 'final').every((r) => r.valAuc === null)).toBe(true);

    // Registered, inactive, at the model folder, and the package verifies.
    const record = await store.modelVersions.findByVersion('tiny-1');
    expect(record).toMatchObject({ version: 'tiny-1', active: false });
    expect(await store.modelVersions.findActive()).toBeNull();
    expect((await verifyPackage(record!.path)).problems).toEqual([]);
    const pkg = await readPackage(record!.path);
    expect(pkg.packageHash).toBe(record!.packageHash);
    expect(pkg.manifest).toMatchObject({
      provenance: { source: 'trained' },
      trainingData: { datasets: ['mini-MIAS'], images: 11, positives: 4 },
      preprocessing: { inputHeight: 128, inputWidth: 96, channels: 1 },
    });
    const metrics = pkg.manifest.metrics as Record<string, unknown>;
    expect(metrics).toMatchObject({ n: 11, positives: 4, folds: 2 });
    expect(metrics.auc_ci).toHaveLength(2);
    expect(pkg.threshold).toBe(metrics.threshold);
    const files = pkg.manifest.files.map((f) => f.path);
    for (const f of ['model.onnx', 'tfjs/model.json', 'tfjs/weights.bin', 'report/config.json', 'report/metrics.json', 'report/roc.png', 'report/roc.json', 'report/epochs.json']) expect(files).toContain(f);
    const png = await readFile(path.join(record!.path, 'report', 'roc.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    // Calibrated on the out-of-fold predictions: the threshold is the out-of-fold one mapped
    // through the calibration, and the reliability of both scales is in the report.
    const calibration = pkg.manifest.calibration!;
    expect(calibration).toMatchObject({ method: 'platt', fittedOn: expect.stringMatching(/out-of-fold predictions of 11 images/) });
    const evaluation = JSON.parse(await readFile(path.join(record!.path, 'report', 'metrics.json'), 'utf8')) as { threshold: { raw: number; calibrated: number }; calibration: { raw: { ece: number }; calibrated: { ece: number } } };
    expect(applyCalibration(calibration, evaluation.threshold.raw)).toBe(pkg.threshold);
    expect(evaluation.calibration.raw.ece).toBeGreaterThanOrEqual(0);
    expect((await readFile(path.join(record!.path, 'report', 'reliability.png'))).subarray(1, 4).toString()).toBe('PNG');

    // The job's result and progress say what happened.
    expect(after!.result).toMatchObject({ version: 'tiny-1', metrics: { n: 11, positives: 4 } });
    expect(after!.progress).toMatchObject({ stage: 'done', version: 'tiny-1' });

    // The package scores an image through the service's runtime.
    const dataset = miasTrainingDataset(await readMiasDataset(miasDir));
    const runtime = await createModelRuntime([pkg], { intraOpThreads: 1 });
    try {
      const [score] = await runtime.score([canonicalGreyImage(await dataset.images[0]!.loadPixels())]);
      expect(score).toBeGreaterThanOrEqual(0);
      expect(score).toBeLessThanOrEqual(1);
    } finally {
      await runtime.dispose();
    }
  });

  it('records a film that cannot be read as a skip with its reason, and trains on the others', async () => {
    // The same tiny set, with one film truncated (as a bad copy would leave it).
    const damagedDir = await tinyMiasDir(path.join(root, 'damaged'));
    const victim = path.join(damagedDir, 'mdb007.pgm');
    const bytes = await readFile(victim);
    await rm(victim);
    await writeFile(victim, bytes.subarray(0, 2000));
    const { job } = await store.jobs.enqueue(TRAIN_MODEL_JOB, { config: tinyConfigInput(damagedDir, { version: 'tiny-skip' }) } as never);
    expect(await worker().runOnce()).toMatchObject({ id: job.id, status: 'succeeded' });
    const version = await store.modelVersions.findByVersion('tiny-skip');
    const pkg = await readPackage(version!.path);
    const skipped = JSON.parse(await readFile(path.join(pkg.path, 'report', 'skipped.json'), 'utf8')) as Array<{ item: string; reason: string }>;
    expect(skipped).toEqual([{ item: expect.stringContaining('mdb007'), reason: expect.stringMatching(/mdb007\.pgm/) }]);
    expect((pkg.manifest.trainingData as { images: number }).images).toBe(TINY_IMAGES.length - 1);
  });

  it('stops at a checkpoint when an admin cancels, and registers nothing', async () => {
    const before = (await store.modelVersions.list()).length;
    const { job } = await store.jobs.enqueue(TRAIN_MODEL_JOB, {
      config: tinyConfigInput(miasDir, { version: 'tiny-cancelled', stage2: { phase1: { epochs: 500, learningRate: 1e-3, batchSize: 4 } } }),
    } as never);
    const running = worker().runOnce();
    // Cancel once stage 2 is under way.
    for (let i = 0; i < 600; i++) {
      const progress = (await store.jobs.get(job.id)).progress as { stage?: string; epoch?: number } | null;
      if (progress?.stage === 'stage2' && (progress.epoch ?? 0) >= 1) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await store.jobs.requestCancel(job.id);
    const after = await running;
    expect(after).toMatchObject({ id: job.id, status: 'cancelled' });
    expect(await store.modelVersions.findByVersion('tiny-cancelled')).toBeNull();
    expect((await store.modelVersions.list()).length).toBe(before);
  });

  it('trains the same model twice from the same seed and configuration (what reproducing the default model relies on)', async () => {
    // Hard negatives on: they join the background class, so it outgrows the random background
    // patches alone (2 per film). A short stage 2 keeps the two runs quick.
    const input = tinyConfigInput(miasDir, { stage2: { top: 'resnet', phase1: { epochs: 3, learningRate: 1e-3, batchSize: 8 } } });
    const config = tinyConfig(miasDir, { ...input, stage1: { ...input.stage1, hardNegativesPerImage: 1 } });
    const runs = [];
    for (const name of ['same-seed-a', 'same-seed-b']) {
      const runDir = path.join(root, name);
      const result = await trainModel({ config, runId: name, runDir });
      const state = JSON.parse(await readFile(path.join(runDir, RUN_STATE_FILE), 'utf8')) as RunState;
      runs.push({ result, state, weights: await readFile(path.join(result.packageDir, 'tfjs', 'weights.bin')) });
    }
    const [a, b] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(a.result.metrics).toEqual(b.result.metrics);
    expect(a.state.oof.map((o) => o.score)).toEqual(b.state.oof.map((o) => o.score));
    expect(a.weights.equals(b.weights)).toBe(true);

    const counts = a.state.notes['fold-1/patches'] as { total: { background: number } };
    const trainingFilms = a.state.oof.filter((o) => o.fold !== 0).length;
    expect(counts.total.background).toBeGreaterThan(2 * trainingFilms);
  });

  it('refuses a data set with one class, naming it', async () => {
    const normalsOnly = await tinyMiasDir(path.join(root, 'normals'), ['mdb003', 'mdb004', 'mdb007', 'mdb009', 'mdb011']);
    await expect(trainModel({ config: tinyConfig(normalsOnly), runId: 'one-class', runDir: path.join(root, 'one-class') })).rejects.toThrow(
      /mini-MIAS: the training data has 5 image\(s\), none malignant/,
    );
    // As a job: failed with that reason, nothing registered.
    const { job } = await store.jobs.enqueue(TRAIN_MODEL_JOB, { config: tinyConfigInput(normalsOnly, { version: 'tiny-one-class' }) } as never);
    const after = await worker().runOnce();
    expect(after).toMatchObject({ id: job.id, status: 'failed' });
    expect(after!.lastError).toMatch(/none malignant/);
    expect(await store.modelVersions.findByVersion('tiny-one-class')).toBeNull();
  });

  it('refuses folds without positives on both sides', async () => {
    // 2 malignant women cannot fill 3 folds.
    const few = await tinyMiasDir(path.join(root, 'few'), ['mdb023', 'mdb058', 'mdb003', 'mdb007', 'mdb009', 'mdb011']);
    await expect(trainModel({ config: tinyConfig(few, { folds: 3 }), runId: 'few', runDir: path.join(root, 'few-run') })).rejects.toThrow(/fold \d of 3 has .* every fold needs both classes/);
  });
});
