// Heat maps through the real runtime (onnxruntime-node) with a model whose map we control (a
// cell's malignancy logit is its brightness: test/support/brightness-model.ts): a bright blob
// at a known place of the stored image is found at that place after the pre-processing's
// resize, padding or stretch, canonical flip and every test-time flip, for either laterality;
// the values are the calibrated cell probabilities; score() is unchanged by the new output;
// packages exported before heat maps still score, with null maps and a reason; repeated runs do
// not grow memory.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeatMap } from '../../src/domain/heatmap.js';
import { createWholeImageModel } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { applyCalibration, sigmoid, type PlattCalibration } from '../../src/ml/calibration.js';
import { markedRegions } from '../../src/ml/heatmap/index.js';
import type { PreprocessingSpec, TestTimeFlip } from '../../src/ml/model-manifest.js';
import { exportToOnnx } from '../../src/ml/onnx/index.js';
import { preprocessImage, type GreyImage } from '../../src/ml/preprocess/index.js';
import { readPackage, type ModelPackage } from '../../src/ml/registry/index.js';
import { createModelRuntime, type ModelRuntime } from '../../src/ml/runtime/index.js';
import { BRIGHTNESS_GAIN, BRIGHTNESS_OFFSET, brightnessModel, brightnessPreprocessing, imageWithBlob, type Blob } from '../support/brightness-model.js';
import { testImage, testPreprocessing, writeTestPackage } from '../support/onnx-fixtures.js';

const ALL_FLIPS: TestTimeFlip[] = ['none', 'horizontal', 'vertical', 'both'];
const SETTINGS = { intraOpThreads: 1 };
const CELL = 8;
const WIDTH = 200;
const HEIGHT = 300;
/** Right of centre and in the upper half, so that a mirror in either axis lands elsewhere. */
const BLOB: Blob = { center: [140, 95], radius: 22 };

let work: string;
let counter = 0;

beforeAll(async () => {
  await tf.setBackend('cpu');
  work = await mkdtemp(path.join(tmpdir(), 'mammocad-heatmap-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A package of the brightness model for `spec` (exported with or without the heat map output). */
async function brightnessPackage(spec: Partial<PreprocessingSpec>, options: { heatMap?: boolean; calibration?: PlattCalibration } = {}): Promise<ModelPackage> {
  const preprocessing = brightnessPreprocessing(spec);
  const model = brightnessModel({ inputHeight: preprocessing.inputHeight!, inputWidth: preprocessing.inputWidth!, channels: 1, cell: CELL });
  const bytes = exportToOnnx(model, { heatMap: options.heatMap ?? true });
  model.dispose();
  const version = `brightness-${++counter}`;
  return readPackage(await writeTestPackage(work, { version, model: bytes, preprocessing, manifest: options.calibration ? { calibration: options.calibration } : {} }));
}

async function withRuntime<T>(packages: ModelPackage[], fn: (runtime: ModelRuntime) => Promise<T>): Promise<T> {
  const runtime = await createModelRuntime(packages, SETTINGS);
  try {
    return await fn(runtime);
  } finally {
    await runtime.dispose();
  }
}

/** The cell (row, column) of the map that contains the point (column, row) of the image. */
function cellAt(map: HeatMap, [x, y]: readonly [number, number]): [number, number] {
  return [Math.floor((y * map.rows) / map.imageRows), Math.floor((x * map.columns) / map.imageColumns)];
}

const value = (map: HeatMap, [r, c]: readonly [number, number]) => map.values[r * map.columns + c]!;

describe('the heat map finds a bright blob where it is in the stored image', () => {
  const cases = (['pad', 'stretch'] as const).flatMap((fit) =>
    [false, true].flatMap((mirrored) => [true, false].map((canonicalFlip) => ({ fit, mirrored, canonicalFlip }))),
  );

  it.each(cases)('fit $fit, decoder mirrored $mirrored, canonicalFlip $canonicalFlip, four test-time flips', async ({ fit, mirrored, canonicalFlip }) => {
    const pkg = await brightnessPackage({ fit, canonicalFlip, testTimeFlips: ALL_FLIPS });
    const image = imageWithBlob(WIDTH, HEIGHT, BLOB, mirrored);
    const [result] = await withRuntime([pkg], (runtime) => runtime.scoreWithHeatMaps([image]));
    const map = result!.heatMap!;
    expect(map).not.toBeNull();
    expect([map.imageRows, map.imageColumns]).toEqual([HEIGHT, WIDTH]);
    // 'pad': the 200 x 300 image fills 43 x 64 of the 48 x 64 input, 5.4 x 8 of its 6 x 8
    // cells: the padding's cells are dropped and the rest resampled to 5 columns over the image.
    expect([map.rows, map.columns]).toEqual(fit === 'pad' ? [8, 5] : [8, 6]);
    expect(map.values).toHaveLength(map.rows * map.columns);

    const blobCell = cellAt(map, BLOB.center);
    const argmax = map.values.indexOf(Math.max(...map.values));
    expect([Math.floor(argmax / map.columns), argmax % map.columns]).toEqual(blobCell);
    expect(value(map, blobCell)).toBeGreaterThan(0.6);
    // A flip left un-done would put half the evidence at the mirrored cells.
    expect(value(map, [blobCell[0], map.columns - 1 - blobCell[1]])).toBeLessThan(0.05);
    expect(value(map, [map.rows - 1 - blobCell[0], blobCell[1]])).toBeLessThan(0.05);

    const regions = markedRegions(map, 0.5);
    expect(regions.length).toBeGreaterThanOrEqual(1);
    const [cellWidth, cellHeight] = [WIDTH / map.columns, HEIGHT / map.rows];
    expect(Math.abs(regions[0]!.center[0] - BLOB.center[0])).toBeLessThan(cellWidth);
    expect(Math.abs(regions[0]!.center[1] - BLOB.center[1])).toBeLessThan(cellHeight);
  });

  it("gives each cell the calibrated probability of its brightness, like the image's probability", async () => {
    const calibration: PlattCalibration = { method: 'platt', a: 0.7, b: -0.4, fittedOn: 'test' };
    const spec = { fit: 'stretch' as const, testTimeFlips: ALL_FLIPS };
    const pkg = await brightnessPackage(spec, { calibration });
    const image = imageWithBlob(WIDTH, HEIGHT, BLOB, false);
    const [result] = await withRuntime([pkg], (runtime) => runtime.scoreWithHeatMaps([image]));
    const map = result!.heatMap!;

    // The brightness model is flip-equivariant, so every flip sees the same cell logits.
    const prepared = preprocessImage(image, pkg.manifest.preprocessing);
    const [, height, width] = prepared.shape;
    const logits: number[] = [];
    for (let r = 0; r < height / CELL; r++) {
      for (let c = 0; c < width / CELL; c++) {
        let sum = 0;
        for (let y = 0; y < CELL; y++) for (let x = 0; x < CELL; x++) sum += prepared.data[(r * CELL + y) * width + c * CELL + x]!;
        logits.push(BRIGHTNESS_GAIN * (sum / CELL ** 2) - BRIGHTNESS_OFFSET);
      }
    }
    expect(map.values).toHaveLength(logits.length);
    logits.forEach((logit, cell) => expect(map.values[cell]).toBeCloseTo(applyCalibration(calibration, sigmoid(logit)), 5));
    // The image's probability: the flips' mean probability, calibrated (score() as ever).
    const p = sigmoid(logits.reduce((a, b) => a + b, 0) / logits.length);
    expect(result!.probability).toBeCloseTo(applyCalibration(calibration, p), 5);
  });

  it("averages an ensemble's members on the finest member's grid", async () => {
    const fine = await brightnessPackage({ fit: 'stretch', testTimeFlips: ['none', 'vertical'] });
    const coarse = await brightnessPackage({ fit: 'stretch', inputHeight: 32, inputWidth: 24 });
    const image = imageWithBlob(WIDTH, HEIGHT, BLOB, true);
    const [[alone], [both]] = await Promise.all([
      withRuntime([fine], (runtime) => runtime.scoreWithHeatMaps([image])),
      withRuntime([fine, coarse], (runtime) => runtime.scoreWithHeatMaps([image])),
    ]);
    const [coarseMap] = await withRuntime([coarse], async (runtime) => (await runtime.scoreWithHeatMaps([image])).map((r) => r.heatMap!));
    expect([coarseMap!.rows, coarseMap!.columns]).toEqual([4, 3]);
    const map = both!.heatMap!;
    expect([map.rows, map.columns]).toEqual([8, 6]);
    // Each fine cell lies inside one coarse cell: the mean of the two members' values.
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 6; c++) {
        const expected = (alone!.heatMap!.values[r * 6 + c]! + coarseMap!.values[Math.floor(r / 2) * 3 + Math.floor(c / 2)]!) / 2;
        expect(map.values[r * 6 + c]).toBeCloseTo(expected, 6);
      }
    }
    const argmax = map.values.indexOf(Math.max(...map.values));
    expect([Math.floor(argmax / 6), argmax % 6]).toEqual(cellAt(map, BLOB.center));
  });
});

describe('the probabilities are those of score()', () => {
  const images: GreyImage[] = [imageWithBlob(WIDTH, HEIGHT, BLOB, false), imageWithBlob(WIDTH, HEIGHT, BLOB, true), testImage(90, 70, 4)];


  it('on the brightness model, exported with and without the heat map output', async () => {
    const spec = { fit: 'pad' as const, testTimeFlips: ALL_FLIPS };
    const [withMap, withoutMap] = [await brightnessPackage(spec), await brightnessPackage(spec, { heatMap: false })];
    expect(withMap.model.signature.heatMap?.shape).toEqual(['batch', 2, 8, 6]);
    expect(withoutMap.model.signature.heatMap).toBeUndefined();
    const [plain, old] = [await withRuntime([withMap], (r) => r.score(images)), await withRuntime([withoutMap], (r) => r.score(images))];
    expect(plain).toEqual(old);
    const detailed = await withRuntime([withMap], (r) => r.scoreWithHeatMaps(images));
    expect(detailed.map((d) => d.probability)).toEqual(plain);
  });

  it('on a random MobileNet + VGG top (the default architecture, narrow), exported both ways', async () => {
    const spec: PreprocessingSpec = { ...testPreprocessing(), inputHeight: 128, inputWidth: 128, fit: 'stretch', channels: 3, testTimeFlips: ['none', 'vertical'] };
    const model = createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: 128, inputWidth: 128, channels: 3, filtersScale: 0.25 });
    const calibration = tf.tidy(() => tf.stack(images.map((image) => tf.tensor3d(preprocessImage(image, spec).data, [3, 128, 128]).transpose([1, 2, 0]))));
    randomizeWeights(model, 7, calibration);
    calibration.dispose();
    const write = async (version: string, heatMap: boolean) =>
      readPackage(await writeTestPackage(work, { version, model: exportToOnnx(model, { heatMap }), preprocessing: spec }));
    const [withMap, withoutMap] = [await write('mobilenet-map', true), await write('mobilenet-old', false)];
    model.dispose();
    const [plain, old] = [await withRuntime([withMap], (r) => r.score(images)), await withRuntime([withoutMap], (r) => r.score(images))];
    expect(plain).toEqual(old);
    expect(new Set(plain.map((p) => p.toFixed(4))).size).toBeGreaterThan(1);
    const detailed = await withRuntime([withMap], (r) => r.scoreWithHeatMaps(images));
    expect(detailed.map((d) => d.probability)).toEqual(plain);
    // 128 / 64 = 2 x 2 cells over the whole input ('stretch').
    expect(detailed.map((d) => [d.heatMap!.rows, d.heatMap!.columns])).toEqual(images.map(() => [2, 2]));
  });
});

describe('packages exported before heat maps', () => {
  it('still load and score; their heat maps are null, and the runtime says why', async () => {
    const old = await readPackage(await writeTestPackage(work, { version: 'no-heat-map', preprocessing: { testTimeFlips: ALL_FLIPS } }));
    const fresh = await brightnessPackage({ fit: 'pad' });
    const images = [testImage(40, 50, 1), testImage(33, 61, 2)];
    await withRuntime([old], async (runtime) => {
      expect(runtime.heatMapProblem).toMatch(/model\.onnx of no-heat-map has no "heatmap" output \(exported before heat maps; re-export it/);
      const plain = await runtime.score(images);
      const detailed = await runtime.scoreWithHeatMaps(images);
      expect(detailed.map((d) => d.probability)).toEqual(plain);
      expect(detailed.every((d) => d.heatMap === null && d.outOfDistribution === null)).toBe(true);
      // scoreDetailed keeps its shape: no heatMap field.
      expect(Object.keys((await runtime.scoreDetailed(images))[0]!).sort()).toEqual(['outOfDistribution', 'outOfDistributionFlagged', 'probability']);
    });
    // An ensemble with one such member has no heat map either (it would not be the ensemble's).
    await withRuntime([fresh, old], async (runtime) => {
      expect(runtime.heatMapProblem).toMatch(/no-heat-map/);
      expect((await runtime.scoreWithHeatMaps(images)).every((d) => d.heatMap === null)).toBe(true);
    });
    await withRuntime([fresh], async (runtime) => expect(runtime.heatMapProblem).toBeNull());
  });
});

describe('memory', () => {
  it('does not grow over repeated inference with heat maps', async () => {
    const pkg = await brightnessPackage({ fit: 'pad', inputHeight: 256, inputWidth: 192, testTimeFlips: ALL_FLIPS });
    const batch = [imageWithBlob(WIDTH, HEIGHT, BLOB, false), imageWithBlob(WIDTH, HEIGHT, BLOB, true), testImage(280, 390, 3), testImage(310, 380, 4)];
    const runtime = await createModelRuntime([pkg], { ...SETTINGS, batchSize: 4 });
    try {
      // Warmed up until onnxruntime's arena and the allocator have settled: in a full suite run
      // (other files' memory in the same process) 5 runs left RSS still growing by ~48 MB.
      for (let i = 0; i < 15; i++) await runtime.scoreWithHeatMaps(batch);
      const before = process.memoryUsage();
      for (let i = 0; i < 30; i++) await runtime.scoreWithHeatMaps(batch);
      const after = process.memoryUsage();
      const growthMb = (after.rss - before.rss) / 2 ** 20;
      const externalMb = (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / 2 ** 20;
      // A leaked input per run would add 30 x 4 x 4 x 196 KB = 94 MB.
      expect(growthMb).toBeLessThan(40);
      expect(externalMb).toBeLessThan(40);
    } finally {
      await runtime.dispose();
    }
  });
});
