// The trainer writes the out-of-distribution reference into new packages: the histograms of
// every training image's model input (taken when the images are first prepared), listed and
// hashed in the manifest, so the package verifies; scored through runtime.scoreDetailed, a
// training image sits at its own histogram (about 0) and a test object is flagged. A tiny run
// from pretrained weights on a synthetic image folder written at test time (no ../shared).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWholeImageModel } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { tfjsModelFiles } from '../../src/ml/keras/tfjs-files.js';
import { OOD_REFERENCE_FILE, OOD_STATISTIC, preprocessingSpecSha256 } from '../../src/ml/ood/index.js';
import type { GreyImage } from '../../src/ml/preprocess/index.js';
import { readPackage, verifyPackage } from '../../src/ml/registry/index.js';
import { createModelRuntime } from '../../src/ml/runtime/index.js';
import { trainingBackend } from '../../src/ml/training/index.js';
import { readImageFolderDataset } from '../../src/training/datasets/image-folder.js';
import { parseTrainingConfig, trainModel } from '../../src/training/trainer/index.js';
import { canonicalOf } from '../../src/training/trainer/training-data.js';
import { encodePng, syntheticBreast } from '../support/grey-images.js';

const work = mkdtempSync(path.join(tmpdir(), 'mammocad-train-ood-'));
const imageDir = path.join(work, 'folder');
const weightsDir = path.join(work, 'weights');
const SIZE = 64;
const WOMEN = 12;

/** 12 women, 2 images each, breasts of several sizes; "cancer" images carry a bright blob. */
function writeFolder(): void {
  mkdirSync(path.join(imageDir, 'images'), { recursive: true });
  const rows = ['file,patient_id,laterality,view,malignant'];
  for (let woman = 0; woman < WOMEN; woman++) {
    for (const [k, view] of (['CC', 'MLO'] as const).entries()) {
      const label = woman % 2;
      const breast = syntheticBreast({ width: 80, height: 96, centreRow: 48, centreColumn: 0, radiusRows: 34 + (woman % 4) * 3, radiusColumns: 40 + ((woman + k) % 5) * 5, seed: woman * 2 + k + 1 });
      if (label === 1) for (let y = 40; y < 52; y++) for (let x = 10; x < 22; x++) breast.pixels[y * 80 + x] = 255;
      const file = `images/${woman}_${k}.png`;
      writeFileSync(path.join(imageDir, file), encodePng(80, 96, 8, 0, breast.pixels));
      rows.push(`${file},w${woman},L,${view},${label}`);
    }
  }
  writeFileSync(path.join(imageDir, 'manifest.csv'), `${rows.join('\n')}\n`);
}

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

/** A test object: a flat grey field with a few saturated squares. */
function testObject(): GreyImage {
  const pixels = new Float32Array(80 * 96).fill(90);
  for (let y = 10; y < 90; y += 20) for (let x = 5; x < 75; x += 20) for (let dy = 0; dy < 8; dy++) for (let dx = 0; dx < 8; dx++) pixels[(y + dy) * 80 + x + dx] = 255;
  return { width: 80, height: 96, pixels, pixelSpacingMm: null };
}

describe('the trainer and the out-of-distribution reference', () => {
  it('writes the reference of its training images into the package', async () => {
    const config = parseTrainingConfig({
      version: 'ood-tiny',
      seed: 3,
      dataset: { kind: 'image-folder', dir: imageDir },
      model: { backbone: 'mobilenet', filtersScale: 0.25, inputHeight: SIZE, inputWidth: SIZE, pretrained: weightsDir, fit: 'stretch', intensity: 'imagenet', testTimeFlips: ['none'] },
      stage1: { enabled: false },
      stage2: { top: 'vgg', topFiltersScale: 0.0625, phase1: { epochs: 1, learningRate: 1e-3, batchSize: 8, trainFrom: 'conv_dw_13', featureStorage: 'uint8' } },
      folds: 3,
      foldsToRun: 1,
      bootstrapSamples: 100,
    });
    const result = await trainModel({ config, runId: 'ood-run', runDir: path.join(work, 'run') });

    expect((await verifyPackage(result.packageDir)).problems).toEqual([]);
    const pkg = await readPackage(result.packageDir);
    expect(pkg.manifest.outOfDistribution).toEqual({ file: OOD_REFERENCE_FILE, statistic: OOD_STATISTIC, version: 1, threshold: 1 });
    expect(pkg.manifest.files.map((f) => f.path)).toContain(OOD_REFERENCE_FILE);
    const reference = pkg.outOfDistribution!.reference;
    expect(reference).toMatchObject({ images: 2 * WOMEN, bins: 64, range: [-1, 1], preprocessingSpecSha256: preprocessingSpecSha256(pkg.manifest.preprocessing), source: { datasets: [result.manifest.trainingData!.datasets[0]] } });
    expect(reference.distances.n).toBe(2 * WOMEN);
    expect(reference.scale).toBeGreaterThan(0);

    const dataset = await readImageFolderDataset(imageDir);
    const runtime = await createModelRuntime([pkg], { intraOpThreads: 1 });
    try {
      const [own, object] = await runtime.scoreDetailed([await canonicalOf(dataset.images[0]!), testObject()]);
      expect(own!.outOfDistribution).toBeLessThan(1e-6);
      expect(own!.outOfDistributionFlagged).toBe(false);
      expect(object!.outOfDistributionFlagged).toBe(true);
    } finally {
      await runtime.dispose();
    }
  }, 300_000);
});
