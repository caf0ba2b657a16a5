// Tiny ONNX classifiers and complete model packages for the registry and runtime tests, built
// in memory with onnx-proto (no Python, no downloads). The graph has the shape of the real
// models, at toy size:
//   input [N, C, H, W] -> Conv 3x3 (4 filters) -> Relu -> GlobalAveragePool -> Flatten
//                      -> Gemm (4 -> classes) -> Softmax "probabilities" [N, classes]
// Weights are pseudo-random from a seed, so two seeds give two different models. Relu makes
// the output depend on orientation, so test-time flips change the scores.

import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { ModelManifest, PreprocessingSpec } from '../../src/ml/model-manifest.js';
import { writePackage } from '../../src/ml/registry/index.js';
import { seededRandom } from '../../src/training/datasets/splits.js';

const { onnx } = onnxProto;
const { AttributeType } = onnx.AttributeProto;
const { DataType } = onnx.TensorProto;

const OPSET = 13;
const IR_VERSION = 8;
const FILTERS = 4;

export interface ClassifierOptions {
  channels: number;
  /** A size, or null for a symbolic dimension (the model then takes any size). */
  height: number | null;
  width: number | null;
  /** A fixed batch size, or null (default) for any. */
  batch?: number | null;
  seed?: number;
  classes?: number;
  /** false leaves the logits unnormalised (a classic export mistake). */
  softmax?: boolean;
  /** Element type of the input (default FLOAT). */
  inputType?: number;
}

/** The ONNX bytes of a tiny conv classifier (see the header). */
export function buildClassifierOnnx(options: ClassifierOptions): Uint8Array {
  const { channels, height, width, batch = null, seed = 1, classes = 2, softmax = true, inputType = DataType.FLOAT } = options;
  const random = seededRandom(seed);
  const uniform = (n: number, scale: number) => Array.from({ length: n }, () => (random() * 2 - 1) * scale);
  const dim = (value: number | null, name: string) => (value === null ? { dimParam: name } : { dimValue: value });
  const tensor = (name: string, dims: number[], values: number[]) => ({ name, dims, dataType: DataType.FLOAT, floatData: values });
  const ints = (name: string, values: number[]) => ({ name, type: AttributeType.INTS, ints: values });

  const graph: onnxProto.onnx.IGraphProto = {
    name: 'tiny-classifier',
    input: [{ name: 'input', type: { tensorType: { elemType: inputType, shape: { dim: [dim(batch, 'batch'), dim(channels, 'channels'), dim(height, 'height'), dim(width, 'width')] } } } }],
    output: [
      {
        name: softmax ? 'probabilities' : 'logits',
        type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [dim(batch, 'batch'), { dimValue: classes }] } } },
      },
    ],
    initializer: [
      tensor('conv.weight', [FILTERS, channels, 3, 3], uniform(FILTERS * channels * 9, 0.5)),
      tensor('conv.bias', [FILTERS], uniform(FILTERS, 0.1)),
      tensor('dense.weight', [classes, FILTERS], uniform(classes * FILTERS, 2)),
      tensor('dense.bias', [classes], uniform(classes, 0.1)),
    ],
    node: [
      { opType: 'Conv', input: ['input', 'conv.weight', 'conv.bias'], output: ['conv'], attribute: [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])] },
      { opType: 'Relu', input: ['conv'], output: ['relu'] },
      { opType: 'GlobalAveragePool', input: ['relu'], output: ['pooled'] },
      { opType: 'Flatten', input: ['pooled'], output: ['features'], attribute: [{ name: 'axis', type: AttributeType.INT, i: 1 }] },
      {
        opType: 'Gemm',
        input: ['features', 'dense.weight', 'dense.bias'],
        output: ['logits'],
        attribute: [{ name: 'transB', type: AttributeType.INT, i: 1 }],
      },
      ...(softmax ? [{ opType: 'Softmax', input: ['logits'], output: ['probabilities'], attribute: [{ name: 'axis', type: AttributeType.INT, i: 1 }] }] : []),
    ],
  };
  return onnx.ModelProto.encode({ irVersion: IR_VERSION, producerName: 'mammocad-tests', opsetImport: [{ domain: '', version: OPSET }], graph }).finish();
}

/** A small spec the fixtures agree with: 32 x 24 grey, plain fit, z-score with percentile windows, no flips. */
export function testPreprocessing(overrides: Partial<PreprocessingSpec> = {}): PreprocessingSpec {
  return {
    inputHeight: 32,
    inputWidth: 24,
    targetPixelSpacingMm: null,
    fallbackPixelSpacingMm: 0.2,
    fit: 'pad',
    resize: 'area',
    intensity: { method: 'window-then-breast-zscore', useImageWindow: false, windowPercentiles: [1, 99], breastThreshold: 0.1, mean: 0, scale: 1 },
    channels: 1,
    canonicalFlip: true,
    testTimeFlips: ['none'],
    ...overrides,
  };
}

export interface TestPackageOptions {
  version?: string;
  preprocessing?: Partial<PreprocessingSpec>;
  /** Model bytes; default: buildClassifierOnnx for the spec's input with `seed`. */
  model?: Uint8Array;
  seed?: number;
  /** Further files, e.g. {"tfjs/model.json": ...}. */
  extraFiles?: Record<string, Uint8Array>;
  manifest?: Partial<Omit<ModelManifest, 'files'>>;
}

/** Writes a complete package into `<parent>/<version>` with writePackage; returns its folder. */
export async function writeTestPackage(parent: string, options: TestPackageOptions = {}): Promise<string> {
  const version = options.version ?? 'test-model-1';
  const preprocessing = testPreprocessing(options.preprocessing);
  const model =
    options.model ??
    buildClassifierOnnx({ channels: preprocessing.channels, height: preprocessing.inputHeight, width: preprocessing.inputWidth, seed: options.seed ?? 1 });
  const dir = path.join(parent, version);
  await writePackage(
    dir,
    {
      format: 'mammocad-model/1',
      version,
      name: 'tiny test classifier',
      architecture: 'test-conv4',
      classes: ['not-malignant', 'malignant'],
      positiveClass: 'malignant',
      preprocessing,
      threshold: 0.5,
      provenance: { source: 'trained', createdAt: '2026-11-26T10:00:00Z' },
      ...options.manifest,
    },
    { 'model.onnx': model, ...options.extraFiles },
  );
  return dir;
}

/** A grey test image: background 0 on the right third, a textured "breast" on the left. */
export function testImage(width: number, height: number, seed = 1): { width: number; height: number; pixels: Float32Array; pixelSpacingMm: null } {
  const random = seededRandom(seed);
  const pixels = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) pixels[y * width + x] = x < (width * 2) / 3 ? 800 + 3000 * random() * (1 - y / height) : 0;
  }
  return { width, height, pixels, pixelSpacingMm: null };
}
