// Import of Keras 2 model files (src/ml/keras): files written here with h5wasm in Keras 2's
// layout become packages whose ONNX model computes what the same network computes in tfjs
// (built independently, from the same weights) and, for a model small enough, what arithmetic
// by hand gives. Files that cannot be imported are refused with one error naming the problem,
// and leave nothing behind.

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import * as ort from 'onnxruntime-node';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { importKerasModel, importableTopology, KerasImportError, readKerasModelFile, versionFromFileName } from '../../src/ml/keras/index.js';
import { compareWithOnnxRuntime, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from '../../src/ml/onnx/index.js';
import { paperPreprocessing } from '../../src/ml/preprocess/index.js';
import { readPackage } from '../../src/ml/registry/index.js';
import {
  ONE_BY_ONE,
  TINY_INPUT,
  dense,
  dropout,
  inputLayer,
  modelConfig,
  oneByOneConv,
  tinyResNet,
  writeKerasH5,
  type KerasLayer,
  type KerasModelFixture,
} from '../support/keras-h5.js';

const DDSM_MEAN = 52.18;
/** The project's tolerance for tfjs and ONNX agreeing (src/ml/onnx). */
const TOLERANCE = 1e-4;
const SEED = 99;

let work: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
});
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mammocad-keras-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const h5 = (name: string, fixture: KerasModelFixture, options: Parameters<typeof writeKerasH5>[2] = {}) => writeKerasH5(path.join(work, name), fixture, options);
const outDir = () => path.join(work, 'package');

/** The KerasImportError an import rejects with (fails the test when it resolves); nothing may be written. */
async function refusal(file: string): Promise<KerasImportError> {
  try {
    await importKerasModel(file, { outDir: outDir(), datasetMean: DDSM_MEAN });
  } catch (error) {
    expect(error).toBeInstanceOf(KerasImportError);
    expect(existsSync(outDir())).toBe(false);
    return error as KerasImportError;
  }
  throw new Error('expected the import to be refused');
}

async function runOnnx(bytes: Uint8Array, nchw: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const outputs = await session.run({ [ONNX_INPUT_NAME]: new ort.Tensor('float32', nchw, dims) });
    return outputs[ONNX_OUTPUT_NAME]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/**
 * tinyResNet built directly with the tfjs layers API, without the Keras JSON, the dropout left
 * out (the identity at inference), weights set from the fixture's arrays.
 */
function referenceTinyResNet(fixture: KerasModelFixture): tf.LayersModel {
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
  const conv = (name: string, x: tf.SymbolicTensor, filters: number, kernelSize: number, more: { strides?: number; padding?: 'same' | 'valid'; activation?: 'relu'; useBias?: boolean } = {}) =>
    apply(tf.layers.conv2d({ name, filters, kernelSize, strides: more.strides ?? 1, padding: more.padding ?? 'same', activation: more.activation, useBias: more.useBias ?? true }), x);
  const bn = (name: string, x: tf.SymbolicTensor, epsilon = 0.001) => apply(tf.layers.batchNormalization({ name, epsilon }), x);
  const relu = (x: tf.SymbolicTensor) => apply(tf.layers.activation({ activation: 'relu' }), x);

  const input = tf.input({ shape: TINY_INPUT });
  let x = apply(tf.layers.zeroPadding2d({ padding: 1 }), input);
  x = relu(bn('bn_conv1', conv('prt_conv1', x, 4, 3, { strides: 2, padding: 'valid' })));
  const pooled = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x);
  const branch = bn('bn2a_branch2b', conv('res2a_branch2b', relu(bn('bn2a_branch2a', conv('res2a_branch2a', pooled, 4, 1))), 8, 3));
  const shortcut = bn('bn2a_branch1', conv('res2a_branch1', pooled, 8, 1, { useBias: false }));
  const block1 = relu(apply(tf.layers.add({}), [branch, shortcut]));
  const block2 = relu(apply(tf.layers.add({}), [bn('bn2b_branch2a', conv('res2b_branch2a', block1, 8, 3, { activation: 'relu' }), 0.01), block1]));
  const gap = apply(tf.layers.globalAveragePooling2d({}), block2);
  const model = tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'dense_1', units: 2, activation: 'softmax' }), gap) });
  for (const [name, weights] of Object.entries(fixture.weights)) {
    const tensors = weights.map((w) => tf.tensor(w.values, w.shape));
    model.getLayer(name).setWeights(tensors);
    tf.dispose(tensors);
  }
  return model;
}

describe('readKerasModelFile', () => {
  it("reads the topology, version, backend and each layer's weights under the names Keras saved", async () => {
    const fixture = tinyResNet();
    const file = await readKerasModelFile(await h5('tiny.h5', fixture));
    expect(file.kerasVersion).toBe('2.1.6');
    expect(file.backend).toBe('tensorflow');
    expect(file.modelConfig).toEqual(modelConfig(fixture));
    expect([...file.weights.keys()]).toEqual(Object.keys(fixture.weights));
    // The renamed layer keeps the weight names of its original name.
    const conv1 = file.weights.get('prt_conv1')!;
    expect(conv1.map((w) => w.name)).toEqual(['conv1/kernel:0', 'conv1/bias:0']);
    expect(conv1[0]!.shape).toEqual([3, 3, 3, 4]);
    expect(conv1[0]!.values).toEqual(fixture.weights.prt_conv1![0]!.values);
    expect(file.weights.has('dropout_1')).toBe(false);
  });

  it('reads layer names that Keras split into numbered chunks', async () => {
    const fixture = tinyResNet();
    const file = await readKerasModelFile(await h5('chunked.h5', fixture, { layerNamesChunk: 5 }));
    expect([...file.weights.keys()]).toEqual(Object.keys(fixture.weights));
  });
});

describe('importKerasModel', () => {
  it('writes a package that verifies, with the paper pre-processing at the model input size and malignant as class 1', async () => {
    const file = await h5('tiny-resnet.h5', tinyResNet());
    const result = await importKerasModel(file, { outDir: outDir(), datasetMean: DDSM_MEAN });
    const pkg = await readPackage(outDir());
    expect(pkg.version).toBe('tiny-resnet');
    expect(pkg.manifest.classes).toEqual(['not_malignant', 'malignant']);
    expect(pkg.manifest.classes.indexOf(pkg.manifest.positiveClass)).toBe(1);
    expect(pkg.manifest.preprocessing).toEqual({ ...paperPreprocessing(DDSM_MEAN), inputHeight: 32, inputWidth: 24, channels: 3 });
    expect(pkg.threshold).toBe(0.5);
    expect(pkg.manifest.provenance.source).toBe('keras-import');
    expect(pkg.manifest.provenance.notes).toContain('tiny-resnet.h5');
    expect(pkg.manifest.provenance.notes).toContain('Keras 2.1.6');
    expect(pkg.manifest.provenance.notes).toContain('not calibrated for this site');
    expect(pkg.model.signature.input.shape).toEqual(['batch', 3, 32, 24]);
    expect(pkg.manifest.files.map((f) => f.path)).toEqual(['model.onnx', 'tfjs/model.json', 'tfjs/weights.bin']);
    expect(result.removedLayers).toEqual(['dropout_1']);
    expect(result.parameters).toBe(Object.values(tinyResNet().weights).flat().reduce((n, w) => n + w.values.length, 0));
  });

  it("takes a file whose input size is open (as the authors' backbones are) at the paper's 1152x896", async () => {
    const fixture = tinyResNet();
    const openInput = fixture.layers.map((l) => (l.className === 'InputLayer' ? { ...l, config: { ...l.config, batch_input_shape: [null, null, null, 3] } } : l));
    await importKerasModel(await h5('open.h5', fixture, { config: modelConfig({ ...fixture, layers: openInput }) }), { outDir: outDir(), datasetMean: DDSM_MEAN });
    const pkg = await readPackage(outDir());
    expect(pkg.manifest.preprocessing).toEqual(paperPreprocessing(DDSM_MEAN));
    expect(pkg.model.signature.input.shape).toEqual(['batch', 3, 1152, 896]);
    expect(pkg.manifest.provenance.notes).toContain("the file leaves the input size open: fixed at the paper's 1152x896");
  });

  it('gives the probabilities of the same network built in tfjs from the same weights', async () => {
    const fixture = tinyResNet();
    await importKerasModel(await h5('tiny.h5', fixture), { outDir: outDir(), datasetMean: DDSM_MEAN, version: 'tiny-1' });
    const onnx = await readFile(path.join(outDir(), 'model.onnx'));
    const reference = referenceTinyResNet(fixture);
    const input = tf.randomNormal([3, ...TINY_INPUT], 0, 1, 'float32', SEED) as tf.Tensor4D;
    const report = await compareWithOnnxRuntime(reference, onnx, input);
    expect(report.maxAbsDiff).toBeLessThan(TOLERANCE);
    // Unsaturated and input-dependent, or agreement would prove little.
    expect(Math.max(...report.onnx)).toBeLessThan(0.99);
    expect(Math.abs(report.onnx[1]! - report.onnx[3]!)).toBeGreaterThan(1e-3);
    tf.dispose(input);
    reference.dispose();
  });

  it('writes tfjs files that load back into the same model', async () => {
    const fixture = tinyResNet();
    await importKerasModel(await h5('tiny.h5', fixture), { outDir: outDir(), datasetMean: DDSM_MEAN });
    const modelJson = JSON.parse(await readFile(path.join(outDir(), 'tfjs', 'model.json'), 'utf8')) as tf.io.ModelJSON;
    expect(modelJson.weightsManifest[0]!.paths).toEqual(['weights.bin']);
    const weights = await readFile(path.join(outDir(), 'tfjs', 'weights.bin'));
    const loaded = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: new Uint8Array(weights).buffer }),
    );
    const input = tf.randomNormal([2, ...TINY_INPUT], 0, 1, 'float32', SEED) as tf.Tensor4D;
    const report = await compareWithOnnxRuntime(loaded, await readFile(path.join(outDir(), 'model.onnx')), input);
    expect(report.maxAbsDiff).toBeLessThan(TOLERANCE);
    tf.dispose(input);
    loaded.dispose();
  });

  it('computes what arithmetic by hand gives for a 1x1 convolution, average and softmax', async () => {
    await importKerasModel(await h5('one.h5', oneByOneConv()), { outDir: outDir(), datasetMean: DDSM_MEAN });
    // Two pixels (left, right) of three channels.
    const left = [2, -1, 4];
    const right = [0.5, 3, -2];
    const { conv, convBias, dense: denseKernel, denseBias } = ONE_BY_ONE;
    // A 1x1 convolution is a matrix product per pixel: out[o] = sum_c in[c] * conv[c][o] + bias[o].
    const convolve = (p: number[]) => [0, 1].map((o) => p[0]! * conv[0]![o]! + p[1]! * conv[1]![o]! + p[2]! * conv[2]![o]! + convBias[o]!);
    const [a, b] = [convolve(left), convolve(right)];
    const mean = [(a[0]! + b[0]!) / 2, (a[1]! + b[1]!) / 2];
    const logits = [0, 1].map((o) => mean[0]! * denseKernel[0]![o]! + mean[1]! * denseKernel[1]![o]! + denseBias[o]!);
    const expectedMalignant = Math.exp(logits[1]!) / (Math.exp(logits[0]!) + Math.exp(logits[1]!));

    // NCHW [1, 3, 1, 2]: per channel, the left then the right pixel.
    const nchw = Float32Array.from([0, 1, 2].flatMap((c) => [left[c]!, right[c]!]));
    const probabilities = await runOnnx(await readFile(path.join(outDir(), 'model.onnx')), nchw, [1, 3, 1, 2]);
    expect(probabilities[1]).toBeCloseTo(expectedMalignant, 6);
    expect(probabilities[0]! + probabilities[1]!).toBeCloseTo(1, 6);
  });

  it('leaves no tensors behind', async () => {
    const bad = await h5('bad.h5', withWeight(tinyResNet(), 'bn2a_branch1', 3, { shape: [9] }));
    const good = await h5('tiny.h5', tinyResNet());
    const before = tf.memory().numTensors;
    expect((await refusal(bad)).layer).toBe('bn2a_branch1');
    await importKerasModel(good, { outDir: outDir(), datasetMean: DDSM_MEAN });
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** The fixture with the `index`-th weight of `layer` changed (shape and values, or removed with null). */
function withWeight(fixture: KerasModelFixture, layer: string, index: number, change: { shape: number[] } | null): KerasModelFixture {
  const weights = [...fixture.weights[layer]!];
  if (change === null) weights.splice(index, 1);
  else weights[index] = { ...weights[index]!, shape: change.shape, values: new Float32Array(change.shape.reduce((a, b) => a * b, 1)) };
  return { ...fixture, weights: { ...fixture.weights, [layer]: weights } };
}

/** A recurrent model: what the exporter cannot run. */
function recurrentModel(): KerasModelFixture {
  const reshape: KerasLayer = { className: 'Reshape', name: 'reshape_1', inbound: ['input_1'], config: { name: 'reshape_1', trainable: true, target_shape: [16, 3] } };
  const lstm: KerasLayer = { className: 'LSTM', name: 'lstm_1', inbound: ['reshape_1'], config: { name: 'lstm_1', trainable: true, units: 4, activation: 'tanh', recurrent_activation: 'hard_sigmoid', use_bias: true, return_sequences: false } };
  const random = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  return {
    name: 'recurrent',
    layers: [inputLayer('input_1', [4, 4, 3]), reshape, lstm, dense('dense_1', 'lstm_1', 2, 'softmax')],
    input: 'input_1',
    output: 'dense_1',
    weights: {
      lstm_1: [
        { name: 'lstm_1/kernel:0', shape: [3, 16], values: random(48) },
        { name: 'lstm_1/recurrent_kernel:0', shape: [4, 16], values: random(64) },
        { name: 'lstm_1/bias:0', shape: [16], values: random(16) },
      ],
      dense_1: [
        { name: 'dense_1/kernel:0', shape: [4, 2], values: random(8) },
        { name: 'dense_1/bias:0', shape: [2], values: random(2) },
      ],
    },
  };
}

describe('refusals', () => {
  it('refuses a file that is not HDF5, and one that does not exist', async () => {
    const text = path.join(work, 'model.h5');
    await writeFile(text, 'this is a CSV, not a model\n1,2,3\n');
    expect((await refusal(text)).message).toBe(`${text}: not an HDF5 file; expected a Keras 2 model saved with model.save() (.h5)`);
    expect((await refusal(path.join(work, 'missing.h5'))).message).toContain('cannot be read (ENOENT)');
  });

  it('refuses an HDF5 file without model_config: weights only, or not Keras at all', async () => {
    const weightsOnly = await refusal(await h5('weights.h5', tinyResNet(), { layout: 'weights-only' }));
    expect(weightsOnly.message).toContain('holds weights only (model.save_weights()): the import needs the topology too');

    const other = path.join(work, 'other.h5');
    await h5wasm.ready;
    const f = new h5wasm.File(other, 'w');
    f.create_dataset({ name: 'image', data: new Float32Array(4), shape: [2, 2], dtype: '<f' });
    f.close();
    expect((await refusal(other)).message).toBe(`${other}: has no model_config attribute: not a Keras model saved with model.save()`);
  });

  it('refuses a weight of the wrong shape, naming the layer, the weight and both shapes', async () => {
    const error = await refusal(await h5('shape.h5', withWeight(tinyResNet(), 'prt_conv1', 0, { shape: [3, 3, 3, 5] })));
    expect(error.layer).toBe('prt_conv1');
    expect(error.message).toContain('layer prt_conv1: weight kernel has shape [3, 3, 3, 5] in the file, but the topology needs [3, 3, 3, 4]');
  });

  it('refuses a missing weight, and weights for a layer the topology lacks', async () => {
    const missing = await refusal(await h5('missing-var.h5', withWeight(tinyResNet(), 'bn_conv1', 3, null)));
    expect(missing.message).toContain('layer bn_conv1: weight moving_variance is missing from the file (the file has: gamma, beta, moving_mean)');

    const fixture = tinyResNet();
    const extra = { ...fixture, layers: [...fixture.layers, dense('orphan', 'global_average_pooling2d_1', 2, 'softmax')], weights: { ...fixture.weights, orphan: fixture.weights.dense_1! } };
    const orphan = await refusal(await h5('orphan.h5', extra, { config: modelConfig(fixture) }));
    expect(orphan.message).toContain('layer orphan: the file has weights for this layer, but the topology has no such layer');
  });

  it('refuses unsupported layers, naming every one', async () => {
    const error = await refusal(await h5('lstm.h5', recurrentModel()));
    expect(error.message).toContain('unsupported layers: reshape_1 (Reshape), lstm_1 (LSTM)');
    expect(error.message).toContain('Supported: InputLayer, Conv2D');
  });

  it('refuses a Sequential model, Keras 1 and Theano files', async () => {
    const fixture = oneByOneConv();
    const sequential = { class_name: 'Sequential', config: { name: 'seq', layers: fixture.layers.map((l) => ({ class_name: l.className, config: l.config })) } };
    expect((await refusal(await h5('seq.h5', fixture, { config: sequential }))).message).toContain('is a Sequential model');
    expect((await refusal(await h5('k1.h5', fixture, { kerasVersion: '1.2.2' }))).message).toContain('was saved by Keras 1.2.2; only Keras 2.x');
    expect((await refusal(await h5('theano.h5', fixture, { backend: 'theano' }))).message).toContain('was saved with the theano backend');
  });

  it('refuses a model that is not a 2-way softmax classifier', async () => {
    const fixture = oneByOneConv();
    const threeClasses = { ...fixture, layers: [...fixture.layers.slice(0, -1), dense('predictions', 'gap', 3, 'softmax')] };
    const weights3 = { ...fixture.weights, predictions: [
      { name: 'predictions/kernel:0', shape: [2, 3], values: new Float32Array(6) },
      { name: 'predictions/bias:0', shape: [3], values: new Float32Array(3) },
    ] };
    expect((await refusal(await h5('three.h5', { ...threeClasses, weights: weights3 }))).message).toContain("output has shape [None, 3]; expected the authors' 2-way softmax");

    const sigmoid = { ...fixture, layers: [...fixture.layers.slice(0, -1), dense('predictions', 'gap', 2, 'sigmoid')] };
    expect((await refusal(await h5('sigmoid.h5', sigmoid))).message).toContain('cannot be exported to ONNX: layer predictions (Dense): activation sigmoid is not supported');
  });
});

describe('importableTopology', () => {
  const config = (layers: KerasLayer[], output: string) => modelConfig({ name: 'm', layers, input: 'input_1', output });

  it('cuts out dropout chains, also at the output, and rewires their consumers', () => {
    const fixture = oneByOneConv();
    const layers = [fixture.layers[0]!, fixture.layers[1]!, dropout('d1', 'conv', 0.5), dropout('d2', 'd1', 0.2), { ...fixture.layers[2]!, inbound: ['d2'] }, fixture.layers[3]!, dropout('d3', 'predictions', 0.1)];
    const topology = importableTopology('m.h5', config(layers, 'd3'));
    const kept = topology.modelTopology.config.layers as Array<{ name: string; inbound_nodes: unknown[][][] }>;
    expect(kept.map((l) => l.name)).toEqual(['input_1', 'conv', 'gap', 'predictions']);
    expect(kept[2]!.inbound_nodes).toEqual([[['conv', 0, 0, {}]]]);
    expect(topology.modelTopology.config.output_layers).toEqual([['predictions', 0, 0]]);
    expect(topology.removedLayers).toEqual(['d1', 'd2', 'd3']);
  });

  it('drops initializers and takes a one-element batch-norm axis list as the integer', () => {
    const layers = tinyResNet().layers.map((l) => (l.className === 'BatchNormalization' ? { ...l, config: { ...l.config, axis: [3] } } : l));
    const kept = importableTopology('m.h5', config(layers, 'dense_1')).modelTopology.config.layers as Array<{ class_name: string; config: Record<string, unknown> }>;
    expect(kept.flatMap((l) => Object.keys(l.config)).filter((key) => key.endsWith('_initializer'))).toEqual([]);
    expect(new Set(kept.filter((l) => l.class_name === 'BatchNormalization').map((l) => l.config.axis))).toEqual(new Set([3]));
    // Regularizers stay: they matter to further training from the tfjs files.
    expect(kept.find((l) => l.class_name === 'Conv2D')!.config.kernel_regularizer).toBeDefined();
  });

  it("fixes an open input size at the paper's, and refuses a half-open one or 2 channels", () => {
    const layers = (shape: unknown[]) => [{ ...inputLayer('input_1', [1, 1, 1]), config: { batch_input_shape: shape, name: 'input_1' } }];
    const open = config(layers([null, null, null, 3]), 'input_1');
    const topology = importableTopology('m.h5', open);
    expect(topology.input).toEqual({ height: 1152, width: 896, channels: 3 });
    expect(topology.inputSizeFixed).toBe(true);
    const [input] = topology.modelTopology.config.layers as Array<{ config: { batch_input_shape: unknown } }>;
    expect(input!.config.batch_input_shape).toEqual([null, 1152, 896, 3]);
    // The caller's topology is not changed.
    expect(open).toEqual(config(layers([null, null, null, 3]), 'input_1'));

    expect(() => importableTopology('m.h5', config(layers([null, 8, null, 3]), 'input_1'))).toThrow('input shape [None, 8, None, 3] is not supported');
    expect(() => importableTopology('m.h5', config(layers([null, 8, 8, 2]), 'input_1'))).toThrow('[None, 8, 8, 2] is not supported');
  });
});

describe('versionFromFileName', () => {
  it('keeps letters, digits, ".", "_" and "-" and replaces the rest', () => {
    expect(versionFromFileName('/models/ddsm_resnet50_s10_[512-512-1024]x2.h5')).toBe('ddsm_resnet50_s10_-512-512-1024-x2');
    expect(versionFromFileName('inbreast vgg16 512x1.hdf5')).toBe('inbreast-vgg16-512x1');
    expect(versionFromFileName('__.h5')).toBe('keras-model');
  });
});
