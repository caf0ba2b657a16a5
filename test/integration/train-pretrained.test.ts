// Stage 2 without stage 1 from pretrained weights (the ImageNet path of issue 13), on a synthetic
// image folder written at test time, so it runs without ../shared: a MobileNet backbone loaded
// from tfjs layers files, its last block and the top trained on cached features (uint8 cache),
// BN statistics frozen, one fixed validation fold, then the final model. Checks what could break:
// the pretrained weights reach the package where they were frozen and move where they trained,
// the feature cache is computed once for every unit and read back on a resumed run, the package
// declares its stretch pre-processing and scores the same as the trainer's predictions.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyCalibration } from '../../src/ml/calibration.js';
import { TOP_LAYER_PREFIX, createWholeImageModel } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { tfjsModelFiles } from '../../src/ml/keras/tfjs-files.js';
import { readPackage, verifyPackage } from '../../src/ml/registry/index.js';
import { trainingBackend } from '../../src/ml/training/index.js';
import { readImageFolderDataset } from '../../src/training/datasets/image-folder.js';
import { FeatureCache } from '../../src/training/trainer/feature-cache.js';
import { parseTrainingConfig, trainModel } from '../../src/training/trainer/index.js';
import { scoreImages } from '../../src/training/trainer/score-dataset.js';
import { loadTfjsModel } from '../../src/training/trainer/trainer.js';
import { encodePng, syntheticBreast } from '../support/grey-images.js';

const work = mkdtempSync(path.join(tmpdir(), 'mammocad-train-pretrained-'));
const imageDir = path.join(work, 'folder');
const weightsDir = path.join(work, 'imagenet-like');
const SIZE = 64;
const INTENDED = { imaging: 'digital', presentation: 'for-presentation', views: ['CC', 'MLO'], notes: 'synthetic test images' } as const;

/** 16 women, 2 images each; "cancer" images carry a bright blob (something to learn). */
function writeFolder(): void {
  mkdirSync(path.join(imageDir, 'images'), { recursive: true });
  const rows = ['file,patient_id,laterality,view,malignant,age,machine_id'];
  for (let woman = 0; woman < 16; woman++) {
    for (const [k, view] of (['CC', 'MLO'] as const).entries()) {
      const label = woman % 2;
      const breast = syntheticBreast({ width: 80, height: 96, centreRow: 48, centreColumn: 10, radiusRows: 40, radiusColumns: 50, seed: woman * 2 + k + 1, inverted: woman % 5 === 0 });
      if (label === 1) for (let y = 40; y < 52; y++) for (let x = 20; x < 32; x++) breast.pixels[y * 80 + x] = woman % 5 === 0 ? 0 : 255;
      const file = `images/${woman}_${k}.png`;
      writeFileSync(path.join(imageDir, file), encodePng(80, 96, 8, 0, breast.pixels));
      rows.push(`${file},w${woman},${woman % 3 === 0 ? 'R' : 'L'},${view},${label},${50 + woman},${woman % 2 ? 49 : 21}`);
    }
  }
  writeFileSync(path.join(imageDir, 'manifest.csv'), `${rows.join('\n')}\n`);
}

const config = (overrides: Record<string, unknown> = {}) =>
  parseTrainingConfig({
    version: 'pretrained-tiny',
    seed: 3,
    dataset: { kind: 'image-folder', dir: imageDir },
    model: { backbone: 'mobilenet', filtersScale: 0.25, inputHeight: SIZE, inputWidth: SIZE, pretrained: weightsDir, fit: 'stretch', intensity: 'imagenet', testTimeFlips: ['none', 'vertical'], intendedUse: INTENDED },
    stage1: { enabled: false },
    stage2: { top: 'vgg', topFiltersScale: 0.0625, phase1: { epochs: 3, learningRate: 1e-3, batchSize: 8, trainFrom: 'conv_dw_13', featureStorage: 'uint8', weightDecay: 1e-4 } },
    folds: 4,
    foldsToRun: 1,
    bootstrapSamples: 100,
    ...overrides,
  });

let pretrained: tf.LayersModel;

beforeAll(async () => {
  await trainingBackend();
  writeFolder();
  pretrained = createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: 96, inputWidth: 96, channels: 3, filtersScale: 0.25 });
  randomizeWeights(pretrained, 11);
  mkdirSync(weightsDir);
  for (const [file, bytes] of Object.entries(await tfjsModelFiles(pretrained))) writeFileSync(path.join(weightsDir, path.basename(file)), bytes);
});

afterAll(() => {
  pretrained.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('stage 2 from pretrained weights, without stage 1', () => {
  it('refuses stage 1 off without a backbone to start from, and a trainFrom that is not a backbone layer', async () => {
    expect(() => parseTrainingConfig({ dataset: { kind: 'image-folder', dir: imageDir }, stage1: { enabled: false } })).toThrow(/model\.pretrained or baseVersion/);
    expect(() => parseTrainingConfig({ dataset: { kind: 'mias' }, folds: 3, foldsToRun: 4 })).toThrow(/foldsToRun/);
    const bad = config();
    bad.stage2.phase1.trainFrom = 'conv_dw_99';
    await expect(trainModel({ config: bad, runId: 'bad', runDir: path.join(work, 'bad') })).rejects.toThrow(/has no backbone layer named conv_dw_99/);
    bad.stage2.phase1.trainFrom = 'top_block1_conv';
    await expect(trainModel({ config: bad, runId: 'bad2', runDir: path.join(work, 'bad2') })).rejects.toThrow(/is a top layer/);
  });

  it('trains the tail on cached features, keeps the frozen part pretrained, and packages what it reports', async () => {
    const runDir = path.join(work, 'run');
    const epochs: string[] = [];
    const result = await trainModel({ config: config(), runId: 'run-1', runDir, afterEpoch: (r) => void epochs.push(`${r.unit}:${r.epoch}`) });
    // One validation fold of four, then the final model; no stage-1 epochs.
    expect(epochs).toEqual(['fold-1:1', 'fold-1:2', 'fold-1:3', 'final:1', 'final:2', 'final:3']);
    expect(result.metrics.n).toBe(8);

    // One feature cache for the run (the frozen part is the same in every unit), read back whole.
    const cache = await FeatureCache.load(path.join(runDir, 'features.bin'), { flips: ['none', 'vertical'], storage: 'uint8' });
    expect(cache?.maps.size).toBe(32);
    expect(cache?.shape).toEqual([2, 2, 256]); // conv_pw_12_relu: stride 32 of 64x64, 1024 x 0.25 channels

    const pkg = await readPackage(result.packageDir);
    expect((await verifyPackage(result.packageDir)).problems).toEqual([]);
    expect(pkg.manifest.preprocessing).toMatchObject({ fit: 'stretch', targetPixelSpacingMm: null, intensity: { method: 'minmax', mean: 1, scale: 2 }, channels: 3, testTimeFlips: ['none', 'vertical'] });
    expect(pkg.manifest.intendedUse).toEqual(INTENDED);
    expect(pkg.manifest.metrics?.foldsValidated).toBe(1);
    // The shortcut checks of the reported predictions, from the manifest's columns.
    expect(Object.keys((pkg.manifest.metrics?.shortcuts as { auc_by_group: object }).auc_by_group)).toEqual(['machine_id']);
    expect(pkg.manifest.name).toMatch(/initialised from imagenet-like, stage 2 only/);
    const trained = await loadTfjsModel(result.packageDir);
    const same = (layer: string) => tf.tidy(() => tf.max(tf.abs(tf.sub(trained.getLayer(layer).getWeights()[0]!, pretrained.getLayer(layer).getWeights()[0]!))).dataSync()[0]!);
    // Frozen: bit for bit the pretrained weights. Trained: moved.
    expect(same('conv1')).toBe(0);
    expect(same('conv_pw_12')).toBe(0);
    expect(same('conv_pw_13')).toBeGreaterThan(0);
    expect(trained.layers.some((l) => l.name.startsWith(TOP_LAYER_PREFIX))).toBe(true);
    // BN statistics of a trained backbone layer stay ImageNet's (frozen BN): moving mean unchanged.
    const movingMean = (m: tf.LayersModel) => Array.from(m.getLayer('conv_pw_13_bn').getWeights()[2]!.dataSync());
    expect(movingMean(trained)).toEqual(movingMean(pretrained));
    trained.dispose();

    // The package scores the images as the service would; the reported figures came from a fold model.
    const dataset = await readImageFolderDataset(imageDir);
    const { scores, skipped } = await scoreImages(pkg, dataset.images);
    expect(skipped).toEqual([]);
    expect(scores.every((s) => s.score >= 0 && s.score <= 1)).toBe(true);
    const report = JSON.parse(readFileSync(path.join(result.packageDir, 'report', 'metrics.json'), 'utf8')) as { method: string };
    expect(report.method).toMatch(/first 1 of 4 folds over women .* not full cross-validation/);

    // Resumed after it finished: nothing is trained again, the same package comes back.
    const again = await trainModel({ config: config(), runId: 'run-1', runDir, afterEpoch: () => void epochs.push('again') });
    expect(epochs.filter((e) => e === 'again')).toEqual([]);
    expect(again.metrics).toEqual(result.metrics);
  });

  it('trains every layer end to end in phase 2 with the pretrained BN statistics kept, and scores each epoch on the validation women', async () => {
    const phase2 = (batchNorm?: 'batch' | 'frozen') => ({
      stage2: { top: 'vgg', topFiltersScale: 0.0625, phase1: { epochs: 1, learningRate: 1e-3, batchSize: 8 }, phase2: { enabled: true, epochs: 2, learningRate: 1e-3, batchSize: 4, ...(batchNorm ? { batchNorm } : {}) } },
    });
    const records: Array<{ unit: string; phase: string; valAuc: number | null }> = [];
    const result = await trainModel({ config: config(phase2()), runId: 'all-layers', runDir: path.join(work, 'all-layers'), afterEpoch: (r) => void records.push({ unit: r.unit, phase: r.phase, valAuc: r.valAuc }) });
    const all = records.filter((r) => r.phase === 'phase2-all');
    expect(all.map((r) => r.unit)).toEqual(['fold-1', 'fold-1', 'final', 'final']);
    // A fold's epochs are scored through the exported model on its validation women; the final
    // model has none.
    for (const r of all.filter((r) => r.unit === 'fold-1')) expect(r.valAuc).toBeGreaterThanOrEqual(0);
    expect(all.filter((r) => r.unit === 'final').map((r) => r.valAuc)).toEqual([null, null]);
    // The epoch log on disk has the scores too (the epoch is saved first, its score added after).
    const logged = readFileSync(path.join(work, 'all-layers', 'epochs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { unit: string; phase: string; valAuc: number | null });
    expect(logged.filter((r) => r.phase === 'phase2-all' && r.unit === 'fold-1').map((r) => typeof r.valAuc)).toEqual(['number', 'number']);

    const trained = await loadTfjsModel(result.packageDir);
    const kernelMoved = tf.tidy(() => tf.max(tf.abs(tf.sub(trained.getLayer('conv1').getWeights()[0]!, pretrained.getLayer('conv1').getWeights()[0]!))).dataSync()[0]!);
    expect(kernelMoved).toBeGreaterThan(0);
    const movingMean = (m: tf.LayersModel, layer: string) => Array.from(m.getLayer(layer).getWeights()[2]!.dataSync());
    // Default for a pretrained backbone: its statistics stay (frozen BN), the first layer's too.
    expect(movingMean(trained, 'conv1_bn')).toEqual(movingMean(pretrained, 'conv1_bn'));

    // On two threads (each batch shared out, BN frozen) the run trains the same model, to float
    // rounding: the same validation scores each epoch and the same weights.
    const threaded: Array<{ unit: string; phase: string; valAuc: number | null }> = [];
    const twoThreads = await trainModel({ config: config(phase2()), runId: 'all-layers-2', runDir: path.join(work, 'all-layers-2'), trainingThreads: 2, afterEpoch: (r) => void threaded.push({ unit: r.unit, phase: r.phase, valAuc: r.valAuc }) });
    expect(threaded.map((r) => r.valAuc?.toFixed(3))).toEqual(records.map((r) => r.valAuc?.toFixed(3)));
    const other = await loadTfjsModel(twoThreads.packageDir);
    const apart = tf.tidy(() => tf.max(tf.abs(tf.sub(trained.getLayer('conv1').getWeights()[0]!, other.getLayer('conv1').getWeights()[0]!))).dataSync()[0]!);
    expect(apart).toBeLessThan(1e-4 * kernelMoved + 1e-6);
    other.dispose();
    trained.dispose();

    // Asked for batch statistics, the moving averages follow the training images.
    const batch = await trainModel({ config: config(phase2('batch')), runId: 'all-layers-batch', runDir: path.join(work, 'all-layers-batch') });
    const moving = await loadTfjsModel(batch.packageDir);
    expect(movingMean(moving, 'conv1_bn')).not.toEqual(movingMean(pretrained, 'conv1_bn'));
    moving.dispose();
  });

  it("ships fold 1's own model when asked (no unit on all women; the package scores its validation women as reported), and extends the run to all women later", async () => {
    expect(() => config({ foldsToRun: undefined, packageModel: 'fold-1' })).toThrow(/packageModel.*needs foldsToRun 1/);
    expect(() => config({ foldsToRun: 2, packageModel: 'fold-1' })).toThrow(/packageModel/);
    const units: string[] = [];
    const runDir = path.join(work, 'fold-model');
    const result = await trainModel({ config: config({ packageModel: 'fold-1' }), runId: 'fold-model', runDir, afterEpoch: (r) => void units.push(r.unit) });
    expect(units).toEqual(['fold-1', 'fold-1', 'fold-1']);
    const pkg = await readPackage(result.packageDir);
    // It trained on the 24 images of the 12 women outside fold 1, and says so.
    expect(pkg.manifest.trainingData).toMatchObject({ images: 24, women: 12 });
    const report = JSON.parse(readFileSync(path.join(result.packageDir, 'report', 'metrics.json'), 'utf8')) as { method: string };
    expect(report.method).toMatch(/fold 1's own, trained on the other women's 24 images: its AUC .* on women it never saw, while its threshold and calibration were fitted on these same predictions/);
    // The reported predictions are the shipped model's own: the package, scored afresh on the
    // validation images, gives them back (on its calibrated scale).
    const oof = JSON.parse(readFileSync(path.join(result.packageDir, 'report', 'out-of-fold.json'), 'utf8')) as Array<{ imageId: string; score: number }>;
    expect(oof).toHaveLength(8);
    const dataset = await readImageFolderDataset(imageDir);
    const { scores } = await scoreImages(pkg, dataset.images.filter((i) => oof.some((o) => o.imageId === i.id)));
    expect(scores).toHaveLength(8);
    const calibration = pkg.manifest.calibration!;
    writeFileSync(path.join(work, 'fold-1-weights.bin'), readFileSync(path.join(result.packageDir, 'tfjs', 'weights.bin')));
    for (const { image, score } of scores) expect(score).toBeCloseTo(applyCalibration(calibration, oof.find((o) => o.imageId === image.id)!.score), 6);

    // Extended afterwards to a model on all women (packageModel 'final', a new version name):
    // fold 1 is not trained again, the final unit is, and it replaces the package; the evidence
    // stays fold 1's. Going back is refused: that fold 1 kept no package weights.
    units.length = 0;
    const extended = await trainModel({ config: config({ packageModel: 'final', version: 'pretrained-tiny-all' }), runId: 'fold-model', runDir, afterEpoch: (r) => void units.push(r.unit) });
    expect(units).toEqual(['final', 'final', 'final']);
    const all = await readPackage(extended.packageDir);
    expect(all.manifest.version).toBe('pretrained-tiny-all');
    expect(all.manifest.trainingData).toMatchObject({ images: 32, women: 16 });
    expect(readFileSync(path.join(extended.packageDir, 'tfjs', 'weights.bin')).equals(readFileSync(path.join(work, 'fold-1-weights.bin')))).toBe(false);
    expect(JSON.parse(readFileSync(path.join(extended.packageDir, 'report', 'out-of-fold.json'), 'utf8'))).toEqual(oof);
    await expect(trainModel({ config: config({ packageModel: 'fold-1' }), runId: 'fold-model', runDir })).rejects.toThrow(/cannot become fold 1's model/);
  });
});
