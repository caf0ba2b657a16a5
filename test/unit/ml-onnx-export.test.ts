// exportToOnnx on small hand-built models that use every supported layer in the awkward ways
// the architectures could (asymmetric 'same' padding, batch normalisation that can and cannot
// be folded, three-way additions): tfjs and onnxruntime must agree, the graph must have the
// promised interface, and anything unsupported is refused with the layer's name.

import * as tf from '@tensorflow/tfjs';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, OnnxExportError, compareWithOnnxRuntime, exportToOnnx } from '../../src/ml/onnx/index.js';

const { onnx } = onnxProto;
const SEED = 1234;
/** Small models in float32 agree far better than the architectures' 1e-4. */
const TOLERANCE = 1e-5;

const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

/**
 * Every supported layer, with even input sizes so that strided 'same' convolutions and pools
 * pad one pixel more at the end than at the start (a symmetric export would be off by a pixel).
 */
function everyLayerModel(): tf.LayersModel {
  const input = tf.input({ name: 'input', shape: [12, 10, 3] });
  let x = apply(tf.layers.zeroPadding2d({ name: 'pad', padding: [[1, 2], [0, 1]] }), input);
  // Strided 'same' without bias, folded with the BN after it.
  x = apply(tf.layers.conv2d({ name: 'c1', filters: 5, kernelSize: 3, strides: 2, padding: 'same', useBias: false }), x);
  x = apply(tf.layers.batchNormalization({ name: 'bn1' }), x);
  x = apply(tf.layers.activation({ name: 'relu1', activation: 'relu' }), x);
  // ReLU inside the convolution: the BN after it cannot be folded and becomes its own node.
  const c2 = apply(tf.layers.conv2d({ name: 'c2', filters: 6, kernelSize: 4, padding: 'same', activation: 'relu' }), x);
  const bn2 = apply(tf.layers.batchNormalization({ name: 'bn2', epsilon: 1e-2 }), c2);
  const c3 = apply(tf.layers.conv2d({ name: 'c3', filters: 6, kernelSize: 1, strides: 2 }), bn2);
  const bn3 = apply(tf.layers.batchNormalization({ name: 'bn3', center: false, scale: false }), c3);
  const c4 = apply(tf.layers.conv2d({ name: 'c4', filters: 6, kernelSize: 3, strides: 2, padding: 'same' }), bn2);
  x = apply(tf.layers.add({ name: 'add3' }), [bn3, c4, c4]);
  x = apply(tf.layers.batchNormalization({ name: 'bn_after_add' }), x);
  x = apply(tf.layers.maxPooling2d({ name: 'pool_same', poolSize: 3, strides: 2, padding: 'same' }), x);
  x = apply(tf.layers.zeroPadding2d({ name: 'pad2', padding: 1 }), x);
  x = apply(tf.layers.maxPooling2d({ name: 'pool_valid', poolSize: 2, strides: 1 }), x);
  x = apply(tf.layers.globalAveragePooling2d({ name: 'gap' }), x);
  x = apply(tf.layers.dense({ name: 'hidden', units: 4, activation: 'relu' }), x);
  x = apply(tf.layers.batchNormalization({ name: 'bn_dense' }), x);
  x = apply(tf.layers.dense({ name: 'out', units: 3, activation: 'softmax' }), x);
  return tf.model({ name: 'every_layer', inputs: input, outputs: x });
}

/** A minimal valid model with `middle` inserted between the input and the classifier. */
function modelWith(middle: tf.layers.Layer, options: { finalActivation?: 'softmax' | 'linear' } = {}): tf.LayersModel {
  const input = tf.input({ name: 'input', shape: [8, 8, 2] });
  const x = apply(tf.layers.globalAveragePooling2d({ name: 'gap' }), apply(middle, input));
  const out = apply(tf.layers.dense({ name: 'out', units: 2, activation: options.finalActivation ?? 'softmax' }), x);
  return tf.model({ inputs: input, outputs: out });
}

function seededInput(shape: [number, number, number, number], seed = SEED): tf.Tensor4D {
  return tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor4D;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('exportToOnnx', () => {
  it('agrees with tfjs on a model that uses every supported layer', async () => {
    const model = everyLayerModel();
    const input = seededInput([2, 12, 10, 3]);
    randomizeWeights(model, SEED, input);
    const tensors = tf.memory().numTensors;
    const report = await compareWithOnnxRuntime(model, exportToOnnx(model), input);
    // Neither the export nor the comparison leaves tensors behind.
    expect(tf.memory().numTensors).toBe(tensors);
    expect(report.maxAbsDiff).toBeLessThan(TOLERANCE);
    // Unsaturated probabilities, or agreement would prove nothing.
    expect(Math.max(...report.tfjs)).toBeLessThan(0.99);
    tf.dispose(input);
    model.dispose();
  });

  it('folds a batch normalisation into the convolution before it only when nothing else sits between them', () => {
    const model = everyLayerModel();
    const graph = onnx.ModelProto.decode(exportToOnnx(model)).graph!;
    const ops = graph.node!.map((n) => `${n.opType}:${n.name}`);
    expect(ops.filter((op) => op.startsWith('Conv:'))).toEqual(['Conv:c1', 'Conv:c2', 'Conv:c3', 'Conv:c4']);
    expect(ops.filter((op) => op.startsWith('BatchNormalization:'))).toEqual(['BatchNormalization:bn2', 'BatchNormalization:bn_after_add', 'BatchNormalization:bn_dense']);
    const pads = (name: string) => graph.node!.find((n) => n.name === name)!.attribute!.find((a) => a.name === 'pads')!.ints!.map(Number);
    // [top, left, bottom, right]. c1: 15 x 11 in, 3x3 stride 2, 8 x 6 out: 2 rows and 2 columns, split evenly.
    // c2: 4x4 stride 1 pads 3, one before and two after. c4: 8 x 6 in, 3x3 stride 2, 4 x 3 out: 1 and 1, at the end.
    expect(pads('c1')).toEqual([1, 1, 1, 1]);
    expect(pads('c2')).toEqual([1, 1, 2, 2]);
    expect(pads('c4')).toEqual([0, 0, 1, 1]);
    model.dispose();
  });

  it('takes NCHW "input" with a dynamic batch and gives "probabilities" [batch, classes]', async () => {
    const model = everyLayerModel();
    const calibration = seededInput([2, 12, 10, 3]);
    randomizeWeights(model, SEED, calibration);
    const bytes = exportToOnnx(model, { docString: 'test-version-1' });
    const decoded = onnx.ModelProto.decode(bytes);
    expect(decoded.opsetImport.map((o) => Number(o.version))).toEqual([13]);
    expect(decoded.docString).toBe('test-version-1');
    const dims = (info: onnxProto.onnx.IValueInfoProto) => info.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    expect(decoded.graph!.input!.map((i) => i.name)).toEqual([ONNX_INPUT_NAME]);
    expect(dims(decoded.graph!.input![0]!)).toEqual(['batch', 3, 12, 10]);
    expect(decoded.graph!.output!.map((o) => o.name)).toEqual([ONNX_OUTPUT_NAME]);
    expect(dims(decoded.graph!.output![0]!)).toEqual(['batch', 3]);

    const session = await ort.InferenceSession.create(bytes);
    for (const batch of [1, 3]) {
      const input = seededInput([batch, 12, 10, 3], SEED + batch);
      const expected = tf.tidy(() => (model.predict(input) as tf.Tensor).dataSync());
      const nchw = tf.tidy(() => tf.transpose(input, [0, 3, 1, 2]).dataSync() as Float32Array);
      const outputs = await session.run({ input: new ort.Tensor('float32', nchw, [batch, 3, 12, 10]) });
      expect(outputs.probabilities!.dims).toEqual([batch, 3]);
      const actual = outputs.probabilities!.data as Float32Array;
      actual.forEach((p, i) => expect(Math.abs(p - expected[i]!)).toBeLessThan(TOLERANCE));
      input.dispose();
    }
    await session.release();
    calibration.dispose();
    model.dispose();
  });

  it('keeps the zeros of a ZeroPadding2D before a max pool (onnxruntime must not fuse them as -infinity)', async () => {
    const input = tf.input({ name: 'input', shape: [4, 4, 1] });
    const padded = apply(tf.layers.zeroPadding2d({ name: 'pad', padding: 1 }), input);
    const pooled = apply(tf.layers.globalAveragePooling2d({ name: 'gap' }), apply(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2, strides: 1 }), padded));
    const model = tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'out', units: 2, activation: 'softmax' }), pooled) });
    randomizeWeights(model, SEED);
    // All negative: every window that touches the border has 0 as its maximum.
    const negative = tf.fill([1, 4, 4, 1], -1) as tf.Tensor4D;
    const report = await compareWithOnnxRuntime(model, exportToOnnx(model), negative);
    expect(report.maxAbsDiff).toBeLessThan(TOLERANCE);
    negative.dispose();
    model.dispose();
  });

  it.each([
    ['Dropout', () => modelWith(tf.layers.dropout({ name: 'drop', rate: 0.5 })), 'drop', /layer drop \(Dropout\): unsupported layer type/],
    ['a dilated Conv2D', () => modelWith(tf.layers.conv2d({ name: 'dilated', filters: 2, kernelSize: 3, dilationRate: 2 })), 'dilated', /dilated/],
    ['a sigmoid activation', () => modelWith(tf.layers.activation({ name: 'sig', activation: 'sigmoid' })), 'sig', /activation sigmoid/],
    ['channelsFirst pooling', () => modelWith(tf.layers.maxPooling2d({ name: 'cf', poolSize: 2, dataFormat: 'channelsFirst' })), 'cf', /channelsFirst/],
  ])('refuses %s, naming the layer', (_what, build, layer, message) => {
    const model = build();
    const error = (() => {
      try {
        exportToOnnx(model);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(OnnxExportError);
    expect((error as OnnxExportError).code).toBe('ONNX_EXPORT_UNSUPPORTED');
    expect((error as OnnxExportError).layer).toBe(layer);
    expect((error as Error).message).toMatch(message);
    model.dispose();
  });

  it('refuses a model that does not end in a softmax, and Sequential models', () => {
    const linear = modelWith(tf.layers.activation({ name: 'r', activation: 'relu' }), { finalActivation: 'linear' });
    expect(() => exportToOnnx(linear)).toThrow(/must end in a softmax/);
    linear.dispose();
    const sequential = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2, activation: 'softmax' })] });
    expect(() => exportToOnnx(sequential)).toThrow(/not a functional model/);
    sequential.dispose();
  });
});
