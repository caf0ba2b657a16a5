// Training on the wasm backend (src/ml/training): the Conv2DBackpropFilter kernel the project
// registers agrees with tfjs's cpu backend (its reference implementation) over strides, paddings,
// channel counts, batch sizes, odd sizes and the chunked paths; so do the kernels that replace
// wasm's own (Conv2DBackpropInput, MaxPoolGrad, Tile) and wasm's AvgPoolGrad; a small conv net trains on
// wasm and takes the same SGD step as on cpu; the project's architectures fit on wasm.

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPatchModel, createWholeImageModel } from '../../src/ml/architectures/index.js';
import { initialWeights } from '../../src/ml/architectures/random-weights.js';
import { TARGET_CHUNK_ROWS, planChunks } from '../../src/ml/training/wasm-kernels.js';
import { WASM_TRAINING_KERNELS, registerWasmTrainingKernels, trainingBackend } from '../../src/ml/training/index.js';

const TOLERANCE = 1e-4;

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number;
  pad: Pad;
}

const CONV_CASES: ConvCase[] = [
  { name: '1 channel, 3x3, stride 1, same, batch 1', x: [1, 7, 9, 1], filter: [3, 3, 1, 4], stride: 1, pad: 'same' },
  { name: '1 channel, 3x3, stride 2, valid, batch 3, odd sizes', x: [3, 11, 9, 1], filter: [3, 3, 1, 5], stride: 2, pad: 'valid' },
  { name: '3 channels, 3x3, stride 2, same, batch 3', x: [3, 9, 8, 3], filter: [3, 3, 3, 5], stride: 2, pad: 'same' },
  { name: '3 channels, 7x7, stride 2, same, batch 1 (ResNet stem)', x: [1, 15, 13, 3], filter: [7, 7, 3, 8], stride: 2, pad: 'same' },
  { name: '16 channels, 3x3, stride 1, valid, batch 3', x: [3, 9, 11, 16], filter: [3, 3, 16, 8], stride: 1, pad: 'valid' },
  { name: '12 channels, 3x3, stride 2, same, batch 3, odd sizes', x: [3, 13, 11, 12], filter: [3, 3, 12, 7], stride: 2, pad: 'same' },
  { name: '12 channels, 1x1, stride 2, valid (projection shortcut)', x: [2, 13, 10, 12], filter: [1, 1, 12, 7], stride: 2, pad: 'valid' },
  { name: '9 channels, 5x3, explicit pads', x: [2, 8, 8, 9], filter: [5, 3, 9, 6], stride: 1, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  // Above TARGET_CHUNK_ROWS output positions: chunked over images, then over rows of one image.
  { name: 'chunked over images (8 channels)', x: [3, 40, 50, 8], filter: [3, 3, 8, 8], stride: 1, pad: 'same' },
  { name: 'chunked over rows (8 channels, stride 2)', x: [1, 141, 139, 8], filter: [3, 3, 8, 4], stride: 2, pad: 'same' },
  { name: 'chunked over rows (1 channel)', x: [1, 70, 65, 1], filter: [3, 3, 1, 4], stride: 1, pad: 'same' },
];

/** max |a - b| / max |b|: the error relative to the reference's scale. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

/** Runs `compute` on the wasm and on the cpu backend; returns both results' values. */
async function onBothBackends(compute: () => tf.Tensor | tf.Tensor[]): Promise<{ wasm: Float32Array[]; cpu: Float32Array[] }> {
  const values = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => [compute()].flat().map((t) => t.dataSync() as Float32Array));
  };
  const wasm = await values('wasm');
  const cpu = await values('cpu');
  await tf.setBackend('wasm');
  return { wasm, cpu };
}

const figures: string[] = [];

beforeAll(async () => {
  await trainingBackend();
});

afterAll(() => {
  console.info(`wasm vs cpu, max relative error:\n  ${figures.join('\n  ')}`);
});

describe('registration', () => {
  it('registers the missing kernels once and makes wasm the backend', async () => {
    expect(tf.getBackend()).toBe('wasm');
    for (const name of WASM_TRAINING_KERNELS) expect(tf.getKernel(name, 'wasm')).toBeDefined();
    expect(registerWasmTrainingKernels()).toEqual([]);
    expect((await trainingBackend()).registeredKernels).toEqual([]);
  });

  it('plans chunks within the bound, covering every output position once', () => {
    for (const [batch, height, width, max] of [
      [3, 40, 50, 4096],
      [1, 141, 70, 4096],
      [5, 7, 3, 4],
      [2, 3, 100, 10],
    ] as const) {
      const chunks = planChunks(batch, height, width, max);
      const covered = chunks.reduce((sum, c) => sum + c.images * c.rows * width, 0);
      expect(covered).toBe(batch * height * width);
      for (const c of chunks) expect(c.images * c.rows * width <= Math.max(max, width)).toBe(true);
    }
  });
});

describe('Conv2DBackpropFilter on wasm matches the cpu backend', () => {
  it.each(CONV_CASES)('$name', async ({ name, x: xShape, filter: filterShape, stride, pad }) => {
    const seeds = { x: 1, f: 2, dy: 3 };
    const { wasm, cpu } = await onBothBackends(() => {
      const x = tf.randomNormal(xShape, 0, 1, 'float32', seeds.x) as tf.Tensor4D;
      const filter = tf.randomNormal(filterShape, 0, 1, 'float32', seeds.f) as tf.Tensor4D;
      const y = tf.conv2d(x, filter, stride, pad);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', seeds.dy) as tf.Tensor4D;
      const [dx, dFilter] = tf.grads((...[a, b]: tf.Tensor[]) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad))([x, filter], dy);
      return [dFilter!, dx!];
    });
    const filterError = relativeError(wasm[0]!, cpu[0]!);
    const inputError = relativeError(wasm[1]!, cpu[1]!);
    figures.push(`${name}: filter ${filterError.toExponential(1)}, input ${inputError.toExponential(1)}`);
    expect(filterError).toBeLessThan(TOLERANCE);
    expect(inputError).toBeLessThan(TOLERANCE);
  });

  it('covers the chunked paths (the cases above exceed the chunk length)', () => {
    expect(40 * 50 * 3).toBeGreaterThan(TARGET_CHUNK_ROWS);
    expect(70 * 65).toBeGreaterThan(TARGET_CHUNK_ROWS);
    expect(71 * 70).toBeGreaterThan(TARGET_CHUNK_ROWS);
  });
});

interface DepthwiseCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid';
}

// MobileNet's shapes (3x3, multiplier 1, stride 1 and 2 with 'same') and the general cases the
// kernels also accept (multiplier 2, 'valid', odd sizes where 'same' pads unevenly).
const DEPTHWISE_CASES: DepthwiseCase[] = [
  { name: '3x3, stride 1, same, multiplier 1', x: [2, 9, 7, 6], filter: [3, 3, 6, 1], stride: 1, pad: 'same' },
  { name: '3x3, stride 2, same, multiplier 1, odd sizes', x: [3, 11, 9, 5], filter: [3, 3, 5, 1], stride: 2, pad: 'same' },
  { name: '3x3, stride 2, same, even sizes (uneven padding)', x: [1, 12, 10, 4], filter: [3, 3, 4, 1], stride: 2, pad: 'same' },
  { name: '3x3, stride 1, valid, multiplier 2', x: [2, 8, 9, 3], filter: [3, 3, 3, 2], stride: 1, pad: 'valid' },
  { name: '5x3, stride 2, same, multiplier 3', x: [2, 10, 11, 2], filter: [5, 3, 2, 3], stride: 2, pad: 'same' },
];

describe('depthwise convolution gradients on wasm match the cpu backend', () => {
  it.each(DEPTHWISE_CASES)('$name', async ({ name, x: xShape, filter: filterShape, stride, pad }) => {
    const { wasm, cpu } = await onBothBackends(() => {
      const x = tf.randomNormal(xShape, 0, 1, 'float32', 11) as tf.Tensor4D;
      const filter = tf.randomNormal(filterShape, 0, 1, 'float32', 12) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x, filter, stride, pad);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 13) as tf.Tensor4D;
      const [dx, dFilter] = tf.grads((...[a, b]: tf.Tensor[]) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad))([x, filter], dy);
      return [dFilter!, dx!];
    });
    const filterError = relativeError(wasm[0]!, cpu[0]!);
    const inputError = relativeError(wasm[1]!, cpu[1]!);
    figures.push(`depthwise ${name}: filter ${filterError.toExponential(1)}, input ${inputError.toExponential(1)}`);
    expect(filterError).toBeLessThan(TOLERANCE);
    expect(inputError).toBeLessThan(TOLERANCE);
  });

  it('trains a MobileNet whole-image model on wasm: the loss falls on a batch it is shown again', async () => {
    const model = createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: 64, inputWidth: 64, channels: 3, filtersScale: 0.25 });
    initialWeights(model, 21); // tfjs's own initialisers are unseeded: one unlucky draw failed this in a full run
    const x = tf.randomNormal([4, 64, 64, 3], 0, 1, 'float32', 21);
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2).toFloat();
    const optimizer = tf.train.adam(1e-3);
    const step = () => (optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor), true) as tf.Scalar).dataSync()[0]!;
    const first = step();
    let last = first;
    for (let i = 0; i < 15; i++) last = step();
    expect(Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(first * 0.5);
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
  });
});

// wasm's own MaxPoolGrad fails these (a window of values <= 1.2e-38 gets no gradient); the
// registered replacement passes. AvgPoolGrad is wasm's own.
describe('pooling gradients on wasm match the cpu backend', () => {
  it.each([
    { name: 'max pool 2x2 / 2', pool: 'max', size: 2, stride: 2, pad: 'valid' },
    { name: 'max pool 3x3 / 2 same (ResNet stem)', pool: 'max', size: 3, stride: 2, pad: 'same' },
    { name: 'average pool 3x3 / 2 same', pool: 'avg', size: 3, stride: 2, pad: 'same' },
  ] as const)('$name', async ({ name, pool, size, stride, pad }) => {
    const { wasm, cpu } = await onBothBackends(() => {
      const x = tf.randomNormal([3, 11, 9, 5], 0, 1, 'float32', 4) as tf.Tensor4D;
      const op = (t: tf.Tensor) => {
        const a = t as tf.Tensor4D;
        return pool === 'max' ? tf.maxPool(a, size, stride, pad) : tf.avgPool(a, size, stride, pad);
      };
      const dy = tf.randomNormal(op(x).shape, 0, 1, 'float32', 5) as tf.Tensor4D;
      return tf.grad(op)(x, dy);
    });
    const error = relativeError(wasm[0]!, cpu[0]!);
    figures.push(`${name}: ${error.toExponential(1)}`);
    expect(error).toBeLessThan(TOLERANCE);
  });
});

describe('Tile on wasm (replaced) matches the cpu backend exactly', () => {
  it.each([
    { name: 'batch-norm gradient', shape: [1, 1, 1, 5], reps: [3, 4, 2, 1], dtype: 'float32' },
    { name: 'every axis', shape: [2, 3, 4], reps: [2, 3, 2], dtype: 'float32' },
    { name: 'rank 1', shape: [4], reps: [3], dtype: 'float32' },
    { name: 'int32', shape: [3, 2], reps: [2, 3], dtype: 'int32' },
    { name: 'bool', shape: [2, 2], reps: [1, 3], dtype: 'bool' },
    { name: 'zero repetitions', shape: [2, 2], reps: [0, 3], dtype: 'float32' },
  ] as const)('$name', async ({ shape, reps, dtype }) => {
    const { wasm, cpu } = await onBothBackends(() => {
      const values = Array.from({ length: shape.reduce((a: number, b: number) => a * b, 1) }, (_, i) => (dtype === 'bool' ? i % 3 === 0 : i * 1.5 - 2));
      const x = tf.tensor(values as number[], [...shape], dtype === 'bool' ? 'bool' : dtype);
      return tf.tile(dtype === 'int32' ? tf.cast(x, 'int32') : x, [...reps]);
    });
    expect(Array.from(wasm[0]!)).toEqual(Array.from(cpu[0]!));
  });
});

/** conv + BN + ReLU + max pool, a strided conv, global average pool, dense softmax. */
function tinyConvNet(): tf.LayersModel {
  const input = tf.input({ shape: [15, 13, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.heNormal({ seed: 1 }) }).apply(input);
  x = tf.layers.batchNormalization({ epsilon: 1e-3 }).apply(x);
  x = tf.layers.activation({ activation: 'relu' }).apply(x);
  x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }).apply(x);
  x = tf.layers.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: tf.initializers.heNormal({ seed: 2 }) }).apply(x);
  x = tf.layers.activation({ activation: 'relu' }).apply(x);
  x = tf.layers.globalAveragePooling2d({}).apply(x);
  const output = tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

function batch(): { x: tf.Tensor; y: tf.Tensor } {
  const x = tf.randomNormal([6, 15, 13, 3], 0, 1, 'float32', 7);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3);
  return { x, y };
}

describe('a small conv net on wasm', () => {
  it('takes the same SGD step as on cpu', async () => {
    const weightsAfterOneStep = async (backend: string, initial?: Float32Array[]): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      const model = tinyConvNet();
      if (initial) model.setWeights(initial.map((values, i) => tf.tensor(values, model.getWeights()[i]!.shape)));
      const start = model.getWeights().map((w) => w.dataSync() as Float32Array);
      model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
      const { x, y } = batch();
      await model.fit(x, y, { epochs: 1, batchSize: 6, shuffle: false, verbose: 0 });
      const after = model.getWeights().map((w) => w.dataSync() as Float32Array);
      tf.dispose([x, y]);
      model.dispose();
      return initial ? after : [...start, ...after];
    };
    const wasmRun = await weightsAfterOneStep('wasm');
    const count = wasmRun.length / 2;
    const cpuAfter = await weightsAfterOneStep('cpu', wasmRun.slice(0, count));
    await tf.setBackend('wasm');
    const wasmAfter = wasmRun.slice(count);
    // Every trainable weight moved, and moved the same way on both backends.
    let moved = 0;
    let worst = 0;
    for (let i = 0; i < count; i++) {
      worst = Math.max(worst, ...wasmAfter[i]!.map((v, j) => Math.abs(v - cpuAfter[i]![j]!)));
      if (wasmAfter[i]!.some((v, j) => v !== wasmRun[i]![j])) moved++;
    }
    figures.push(`small conv net, weights after one SGD step: max |wasm - cpu| ${worst.toExponential(1)}`);
    expect(worst).toBeLessThan(TOLERANCE);
    expect(moved).toBeGreaterThanOrEqual(6);
  });

  it('trains with Adam: the loss falls', async () => {
    const model = tinyConvNet();
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    const { x, y } = batch();
    const history = await model.fit(x, y, { epochs: 15, batchSize: 6, shuffle: false, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.7);
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe("the project's architectures fit on wasm", () => {
  it.each([
    { name: 'YaroslavNet patch model', build: () => createPatchModel({ backbone: 'yaroslavnet', inputHeight: 64, inputWidth: 64, channels: 1, filtersScale: 1 / 8 }) },
    { name: 'ResNet50 patch model', build: () => createPatchModel({ backbone: 'resnet50', inputHeight: 64, inputWidth: 64, channels: 3, filtersScale: 1 / 16 }) },
    {
      name: 'VGG16 + vgg top',
      build: () => createWholeImageModel({ backbone: 'vgg16', top: 'vgg', inputHeight: 64, inputWidth: 64, channels: 3, filtersScale: 1 / 16 }),
    },
    {
      name: 'YaroslavNet + resnet top',
      build: () => createWholeImageModel({ backbone: 'yaroslavnet', top: 'resnet', inputHeight: 128, inputWidth: 128, channels: 1, filtersScale: 1 / 16 }),
    },
  ])('$name: one Adam step, finite loss, no leaked tensors', async ({ build }) => {
    const model = build();
    const [, height, width, channels] = model.inputs[0]!.shape as number[];
    const classes = (model.outputs[0]!.shape as number[])[1]!;
    model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
    const x = tf.randomNormal([2, height!, width!, channels!], 0, 1, 'float32', 8);
    const y = tf.oneHot(tf.tensor1d([0, 1], 'int32'), classes);
    await model.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0 }); // optimizer state is created here
    const before = tf.memory().numTensors;
    const history = await model.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0 });
    expect(Number.isFinite(history.history.loss![0] as number)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    model.dispose();
  });
});
