// Heat-map parity on the method's architectures: with seeded random weights (batch
// normalisation statistics included) and a seeded random input, the exported "heatmap" output
// (per-cell class logits) agrees with the dense layer applied to tfjs's pooled feature map, the
// probabilities still agree as in ml-parity.test.ts, and the cells' logit differences average to
// the image's logit. Then addHeatMapOutput: a package exported before heat maps gets them from
// its tfjs/ weights, with the old probabilities. tfjs runs on its wasm backend.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../../src/domain/errors.js';
import { createWholeImageModel } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { tfjsModelFiles } from '../../src/ml/keras/tfjs-files.js';
import type { PreprocessingSpec } from '../../src/ml/model-manifest.js';
import { compareWithOnnxRuntime, exportToOnnx, heatMapHeadOf } from '../../src/ml/onnx/index.js';
import { preprocessImage } from '../../src/ml/preprocess/index.js';
import { addHeatMapOutput, readPackage } from '../../src/ml/registry/index.js';
import { createModelRuntime } from '../../src/ml/runtime/index.js';
import { imageWithBlob } from '../support/brightness-model.js';
import { testImage, testPreprocessing, writeTestPackage } from '../support/onnx-fixtures.js';

const PROBABILITY_TOLERANCE = 1e-4;
/** Logits are larger than probabilities (|z| up to ~10 here): the same float32 agreement, relative. */
const LOGIT_RELATIVE_TOLERANCE = 1e-4;
const WEIGHT_SEED = 2019;
const INPUT_SEED = 12495;
const BATCH = 2;

const CASES = [
  { name: 'MobileNet v1 x0.75 + 512x1 (the default model), 256x256', build: () => createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: 256, inputWidth: 256, channels: 3, filtersScale: 0.75 }) },
  { name: 'YaroslavNet + [512-512-1024]x2, 576x448', build: () => createWholeImageModel({ backbone: 'yaroslavnet', top: 'resnet', inputHeight: 576, inputWidth: 448, channels: 1 }) },
  { name: 'MobileNet v1 x0.25 + [512-512-1024]x2, 256x192', build: () => createWholeImageModel({ backbone: 'mobilenet', top: 'resnet', inputHeight: 256, inputWidth: 192, channels: 3, filtersScale: 0.25 }) },
  { name: 'MobileNet v1 x0.25 + 512x1, 200x136 (odd sizes)', build: () => createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: 200, inputWidth: 136, channels: 3, filtersScale: 0.25 }) },
];

const figures: string[] = [];
let work: string;

beforeAll(async () => {
  const packageDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  setWasmPaths(`${path.join(packageDir, 'dist')}${path.sep}`);
  await tf.setBackend('wasm');
  work = await mkdtemp(path.join(tmpdir(), 'mammocad-heatmap-parity-'));
});

afterAll(async () => {
  console.info(`Heat-map parity (max |tfjs - onnxruntime|: probabilities; heat-map logits; CAM identity):\n${figures.join('\n')}`);
  await rm(work, { recursive: true, force: true });
});

describe('heat-map export parity', () => {
  it.each(CASES)('$name: the heat map agrees with tfjs and averages to the image logit', async ({ name, build }) => {
    const model = build();
    const head = heatMapHeadOf(model);
    if (typeof head === 'string') throw new Error(head);
    const [, height, width, channels] = model.inputs[0]!.shape as number[];
    const input = tf.randomNormal([BATCH, height!, width!, channels!], 0, 1, 'float32', INPUT_SEED) as tf.Tensor4D;
    randomizeWeights(model, WEIGHT_SEED, input);
    const report = await compareWithOnnxRuntime(model, exportToOnnx(model), input);
    input.dispose();
    model.dispose();

    const heatMap = report.heatMap!;
    const cells = head.rows * head.columns;
    // More than one cell, or there is no map to speak of.
    expect(cells).toBeGreaterThan(1);
    expect(heatMap.onnx).toHaveLength(BATCH * 2 * cells);
    const scale = Math.max(1, ...heatMap.tfjs.map(Math.abs));
    let identity = 0;
    for (let n = 0; n < BATCH; n++) {
      let mean = 0;
      for (let cell = 0; cell < cells; cell++) mean += (heatMap.onnx[(n * 2 + 1) * cells + cell]! - heatMap.onnx[n * 2 * cells + cell]!) / cells;
      const p = report.onnx[n * 2 + 1]!;
      identity = Math.max(identity, Math.abs(mean - Math.log(p / (1 - p))));
    }
    figures.push(`  ${name}, ${head.rows} x ${head.columns} cells: ${report.maxAbsDiff.toExponential(2)}; ${heatMap.maxAbsDiff.toExponential(2)} (logits up to ${scale.toFixed(1)}); ${identity.toExponential(2)}`);
    expect(report.maxAbsDiff).toBeLessThan(PROBABILITY_TOLERANCE);
    expect(heatMap.maxAbsDiff).toBeLessThan(LOGIT_RELATIVE_TOLERANCE * scale);
    expect(identity).toBeLessThan(1e-3);
    // Saturated outputs would agree whatever the export did.
    expect(Math.max(...report.tfjs)).toBeLessThan(0.99);
  });
});

describe('addHeatMapOutput', () => {
  const spec: PreprocessingSpec = { ...testPreprocessing(), inputHeight: 128, inputWidth: 128, fit: 'stretch', channels: 3, testTimeFlips: ['none', 'vertical'] };
  const images = [imageWithBlob(200, 300, { center: [140, 95], radius: 22 }, false), testImage(90, 70, 4), testImage(120, 160, 5)];

  /** A package as packages were before heat maps: model.onnx without the output, tfjs/ beside it, and a report file. */
  async function oldPackage(version: string): Promise<string> {
    const model = createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: 128, inputWidth: 128, channels: 3, filtersScale: 0.25 });
    const calibration = tf.tidy(() => tf.stack(images.map((image) => tf.tensor3d(preprocessImage(image, spec).data, [3, 128, 128]).transpose([1, 2, 0]))));
    randomizeWeights(model, 11, calibration);
    calibration.dispose();
    const extraFiles = { ...(await tfjsModelFiles(model)), 'report/metrics.json': new TextEncoder().encode('{"auc":0.5}') };
    const dir = await writeTestPackage(work, {
      version,
      model: exportToOnnx(model, { heatMap: false, docString: version }),
      preprocessing: spec,
      extraFiles,
      manifest: { calibration: { method: 'platt', a: 0.8, b: 0.1, fittedOn: 'test' }, provenance: { source: 'trained', createdAt: '2026-12-01T00:00:00Z', notes: 'run x' } },
    });
    model.dispose();
    return dir;
  }

  it('writes a new version whose model gives heat maps and the old probabilities', async () => {
    const sourceDir = await oldPackage('old-1');
    const source = await readPackage(sourceDir);
    const sourceManifest = await readFile(path.join(sourceDir, 'manifest.json'));
    const report = await addHeatMapOutput(sourceDir, path.join(work, 'old-1-hm'), { version: 'old-1-hm', images, intraOpThreads: 1 });
    figures.push(`  addHeatMapOutput (MobileNet x0.25 + VGG top, 128x128, 2 flips): max |old - new| ${report.maxAbsDiff.toExponential(2)} over ${report.runs} runs; CAM identity ${report.camIdentityMaxDiff.toExponential(2)}`);

    expect(report.runs).toBe(images.length * 2);
    expect(report.maxAbsDiff).toBeLessThanOrEqual(1e-5);
    expect(report.camIdentityMaxDiff).toBeLessThan(1e-3);
    expect(report.grid).toEqual({ rows: 2, columns: 2 });
    const fresh = report.package;
    expect(fresh.version).toBe('old-1-hm');
    expect(fresh.model.signature.heatMap?.shape).toEqual(['batch', 2, 2, 2]);
    // A new model.onnx is a new package hash; everything else is carried over.
    expect(fresh.packageHash).not.toBe(source.packageHash);
    expect(fresh.model.sha256).not.toBe(source.model.sha256);
    const { files: newFiles, version: _v, provenance, ...rest } = fresh.manifest;
    const { files: oldFiles, version: _o, provenance: oldProvenance, ...oldRest } = source.manifest;
    expect(rest).toEqual(oldRest);
    expect(newFiles.filter((f) => f.path !== 'model.onnx')).toEqual(oldFiles.filter((f) => f.path !== 'model.onnx'));
    expect(provenance.notes).toMatch(new RegExp(`^run x; model\\.onnx re-exported from tfjs/ with the "heatmap" output \\(from package old-1, hash ${source.packageHash}\\)`));
    expect(provenance.createdAt).toBe(oldProvenance.createdAt);
    // The source package is untouched.
    expect((await readFile(path.join(sourceDir, 'manifest.json'))).equals(sourceManifest)).toBe(true);

    // Through the runtime: the same scores, and now heat maps.
    const [before, after] = [await createModelRuntime([source], { intraOpThreads: 1 }), await createModelRuntime([fresh], { intraOpThreads: 1 })];
    try {
      const [old, scored] = [await before.score(images), await after.scoreWithHeatMaps(images)];
      scored.forEach((result, i) => expect(Math.abs(result.probability - old[i]!)).toBeLessThanOrEqual(1e-5));
      expect(before.heatMapProblem).toMatch(/old-1 has no "heatmap" output/);
      expect(scored.every((result) => result.heatMap !== null)).toBe(true);
    } finally {
      await Promise.all([before.dispose(), after.dispose()]);
    }
  });

  it('refuses to reuse the version, a package that has heat maps already, and a check without images', async () => {
    const sourceDir = await oldPackage('old-2');
    await expect(addHeatMapOutput(sourceDir, path.join(work, 'x'), { version: 'old-2', images })).rejects.toThrow(ValidationError);
    await expect(addHeatMapOutput(sourceDir, path.join(work, 'y'), { version: 'old-2-hm', images: [] })).rejects.toThrow(/at least one image/);
    const { package: fresh } = await addHeatMapOutput(sourceDir, path.join(work, 'old-2-hm'), { version: 'old-2-hm', images: images.slice(0, 1) });
    await expect(addHeatMapOutput(fresh.path, path.join(work, 'z'), { version: 'old-2-hm2', images })).rejects.toThrow(ConflictError);
  });
});
