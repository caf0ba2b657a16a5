// Export parity: each architecture of the method, with seeded random weights (batch
// normalisation statistics included) and a seeded random input, gives the same probabilities in
// tfjs and in onnxruntime on the exported bytes. Small inputs (224 x 192) keep it fast; the
// layers and their padding arithmetic are those of the full-size models. tfjs runs on its wasm
// backend (the cpu backend would take minutes for ResNet50).

import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPatchModel, createWholeImageModel } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { compareWithOnnxRuntime, exportToOnnx } from '../../src/ml/onnx/index.js';

const { onnx } = onnxProto;
const TOLERANCE = 1e-4;
const WEIGHT_SEED = 2019;
const INPUT_SEED = 12495;
const BATCH = 2;
const HEIGHT = 224;
const WIDTH = 192;
/** Every batch normalisation of the architectures follows a convolution and must be folded into it. */
const EXPECTED_OPS = new Set(['Conv', 'Relu', 'Clip', 'Add', 'Pad', 'MaxPool', 'GlobalAveragePool', 'Flatten', 'Gemm', 'Softmax']);

const CASES = [
  { name: 'ResNet50 + [512-512-1024]x2', build: () => createWholeImageModel({ backbone: 'resnet50', top: 'resnet', inputHeight: HEIGHT, inputWidth: WIDTH, channels: 3 }) },
  { name: 'VGG16 + 512x1', build: () => createWholeImageModel({ backbone: 'vgg16', top: 'vgg', inputHeight: HEIGHT, inputWidth: WIDTH, channels: 3 }) },
  { name: 'YaroslavNet + [512-512-1024]x2', build: () => createWholeImageModel({ backbone: 'yaroslavnet', top: 'resnet', inputHeight: HEIGHT, inputWidth: WIDTH, channels: 1 }) },
  // Depthwise convolutions (grouped Conv), ReLU6 (Clip) and stride-2 'same' padding at an odd size.
  { name: 'MobileNet v1 x0.75 + 512x1', build: () => createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: HEIGHT, inputWidth: WIDTH, channels: 3, filtersScale: 0.75 }) },
  { name: 'MobileNet v1 x0.25 + [512-512-1024]x2, 200x136', build: () => createWholeImageModel({ backbone: 'mobilenet', top: 'resnet', inputHeight: 200, inputWidth: 136, channels: 3, filtersScale: 0.25 }) },
  { name: 'ResNet50 patch classifier', build: () => createPatchModel({ backbone: 'resnet50', inputHeight: 224, inputWidth: 224, channels: 3 }) },
];

const figures: string[] = [];

beforeAll(async () => {
  // In Node the wasm binaries are read from the package's dist folder, given as a file path.
  const packageDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  setWasmPaths(`${path.join(packageDir, 'dist')}${path.sep}`);
  await tf.setBackend('wasm');
});

afterAll(() => {
  console.info(`ONNX export parity (max |tfjs - onnxruntime| of the probabilities):\n${figures.join('\n')}`);
});

describe('ONNX export parity', () => {
  it.each(CASES)('$name: onnxruntime agrees with tfjs within 1e-4', async ({ name, build }) => {
    const model = build();
    const [, height, width, channels] = model.inputs[0]!.shape as number[];
    const input = tf.randomNormal([BATCH, height!, width!, channels!], 0, 1, 'float32', INPUT_SEED) as tf.Tensor4D;
    randomizeWeights(model, WEIGHT_SEED, input);

    const bytes = exportToOnnx(model);
    const ops = new Set(onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType!));
    expect([...ops].filter((op) => !EXPECTED_OPS.has(op))).toEqual([]);

    const report = await compareWithOnnxRuntime(model, bytes, input);
    figures.push(`  ${name}: ${report.maxAbsDiff.toExponential(2)}`);
    expect(report.maxAbsDiff).toBeLessThan(TOLERANCE);
    // Saturated probabilities (all 0 and 1) would agree whatever the export did.
    expect(Math.max(...report.tfjs)).toBeLessThan(0.99);

    input.dispose();
    model.dispose();
  });
});
