// Pretrained weights from TensorFlow.js layers files (src/ml/keras/tfjs-layers-weights.ts): a
// saved model's weights reach a model of another input size by layer name, every mismatch is an
// error naming the layer and nothing changes, and (where ../shared/weights is present) the
// ImageNet MobileNet loaded into the project's own MobileNet backbone computes exactly what the
// published model computes.

import { readFileSync, writeFileSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOP_LAYER_PREFIX, createWholeImageModel } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { loadTfjsLayersWeights, readTfjsLayersWeights } from '../../src/ml/keras/tfjs-layers-weights.js';
import { tfjsModelFiles } from '../../src/ml/keras/tfjs-files.js';
import { trainingBackend } from '../../src/ml/training/index.js';
import { needsSharedData, sharedData } from '../support/shared-data.js';

const IMAGENET_MOBILENET = sharedData('mobilenet-weights').dir;
let dir: string;

const backboneLayers = (model: tf.LayersModel) => model.layers.filter((l) => !l.name.startsWith(TOP_LAYER_PREFIX) && l.weights.length > 0).map((l) => l.name);
const small = (size: number, filtersScale = 0.25) => createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: size, inputWidth: size, channels: 3, filtersScale });

/** Writes `model` as a tfjs layers folder (model.json + weights.bin) and returns the folder. */
async function saveFolder(model: tf.LayersModel, name: string): Promise<string> {
  const folder = path.join(dir, name);
  mkdirSync(folder, { recursive: true });
  for (const [file, bytes] of Object.entries(await tfjsModelFiles(model))) writeFileSync(path.join(folder, path.basename(file)), bytes);
  return folder;
}

beforeAll(async () => {
  await trainingBackend();
  dir = mkdtempSync(path.join(tmpdir(), 'mammocad-pretrained-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tfjs layers weights by layer name', () => {
  it('loads a saved backbone into a model of another input size, value for value', async () => {
    const saved = small(96);
    randomizeWeights(saved, 7);
    const folder = await saveFolder(saved, 'saved');
    const target = small(160);
    const names = backboneLayers(target);
    const loaded = await loadTfjsLayersWeights(folder, target, names);
    expect(loaded).toBe(names.reduce((sum, n) => sum + target.getLayer(n).countParams(), 0));
    for (const name of names) {
      const a = saved.getLayer(name).getWeights();
      const b = target.getLayer(name).getWeights();
      expect(b.map((t) => Array.from(t.dataSync()))).toEqual(a.map((t) => Array.from(t.dataSync())));
    }
    saved.dispose();
    target.dispose();
  });

  it('refuses another width (shapes differ) naming the layer, and leaves the model untouched', async () => {
    const saved = small(96, 0.25);
    const folder = await saveFolder(saved, 'narrow');
    const wider = small(96, 0.5);
    const before = wider.getLayer('conv1').getWeights()[0]!.dataSync().slice();
    await expect(loadTfjsLayersWeights(folder, wider, backboneLayers(wider))).rejects.toThrow(/layer conv1: weight kernel has shape \[3, 3, 3, 8\] in the file, but the topology needs \[3, 3, 3, 16\]/);
    expect(Array.from(wider.getLayer('conv1').getWeights()[0]!.dataSync())).toEqual(Array.from(before));
    saved.dispose();
    wider.dispose();
  });

  it('refuses a layer the file lacks, truncated shards and quantised weights', async () => {
    const saved = small(64);
    const folder = await saveFolder(saved, 'broken');
    // A model with the other top: its top layers are not in the file, and asking for them is an error.
    const target = createWholeImageModel({ backbone: 'mobilenet', top: 'resnet', inputHeight: 64, inputWidth: 64, channels: 3, filtersScale: 0.25 });
    const missing = target.layers.find((l) => l.name.startsWith(TOP_LAYER_PREFIX) && l.weights.length > 0 && !saved.layers.some((s) => s.name === l.name))!.name;
    await expect(loadTfjsLayersWeights(folder, target, [...backboneLayers(target), missing])).rejects.toThrow(`layer ${missing}: the model needs weights for this layer, but the file has none`);
    const json = JSON.parse(readFileSync(path.join(folder, 'model.json'), 'utf8')) as { weightsManifest: Array<{ paths: string[]; weights: Array<Record<string, unknown>> }> };
    json.weightsManifest[0]!.weights = json.weightsManifest[0]!.weights.filter((w) => !String(w.name).startsWith('conv_dw_3/'));
    writeFileSync(path.join(folder, 'model.json'), JSON.stringify(json));
    await expect(readTfjsLayersWeights(folder)).rejects.toThrow(/hold \d+ bytes but the manifest describes \d+/);
    const weights = readFileSync(path.join(folder, 'weights.bin'));
    writeFileSync(path.join(folder, 'weights.bin'), weights.subarray(0, 100));
    await expect(readTfjsLayersWeights(folder)).rejects.toThrow(/runs past the end of its shards/);
    json.weightsManifest[0]!.weights[0]!.dtype = 'uint8';
    writeFileSync(path.join(folder, 'model.json'), JSON.stringify(json));
    await expect(readTfjsLayersWeights(folder)).rejects.toThrow(/is uint8: only float32 weights are read/);
    await expect(readTfjsLayersWeights(path.join(dir, 'absent'))).rejects.toThrow(/cannot be read as a tfjs model.json/);
    saved.dispose();
    target.dispose();
  });
});

describe('the ImageNet MobileNet of ../shared/weights', needsSharedData('mobilenet-weights'), () => {
  it('gives the project backbone exactly the published model\'s last feature map', async () => {
    const json = JSON.parse(readFileSync(path.join(IMAGENET_MOBILENET, 'model.json'), 'utf8')) as { modelTopology: object; weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }> };
    const data = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(path.join(IMAGENET_MOBILENET, p)))));
    const published = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.length) }),
    );
    const ours = createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: 224, inputWidth: 224, channels: 3, filtersScale: 0.75 });
    await loadTfjsLayersWeights(IMAGENET_MOBILENET, ours, backboneLayers(ours));
    const cut = (m: tf.LayersModel) => tf.model({ inputs: m.inputs, outputs: m.getLayer('conv_pw_13_relu').output as tf.SymbolicTensor });
    const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 3);
    const a = cut(published).predict(x) as tf.Tensor;
    const b = cut(ours).predict(x) as tf.Tensor;
    expect(b.shape).toEqual([2, 7, 7, 768]);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
    // Not a trivially equal pair: the map varies over the image.
    expect(tf.moments(b).variance.dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([a, b, x]);
    published.dispose();
    ours.dispose();
  });
});
