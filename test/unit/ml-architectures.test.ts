// The model factories: Keras-compatible layouts (layer names, parameter counts), the feature-map
// sizes the paper's design implies, option validation, the patch -> whole-image weight
// transfer, FLOP counting, and that building and predicting repeatedly leaks no tensors.

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import {
  PATCH_CLASSES,
  TOP_LAYER_PREFIX,
  WHOLE_IMAGE_CLASSES,
  countFlops,
  createPatchModel,
  createWholeImageModel,
  createWholeImageModelFromPatchModel,
  type WholeImageModelOptions,
} from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';

/** Keras's include_top=False parameter counts for 3-channel input (keras.applications). */
const KERAS_RESNET50_NO_TOP_PARAMS = 23_587_712;
const KERAS_VGG16_NO_TOP_PARAMS = 14_714_688;
/** A sixteenth of the published widths: same layout and feature-map sizes, built in milliseconds. */
const TINY = 1 / 16;

const shapeOf = (model: tf.LayersModel, layer: string) => model.getLayer(layer).outputShape;
const weightsOf = (model: tf.LayersModel, layer: string) => model.getLayer(layer).getWeights().map((w) => Array.from(w.dataSync()));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('backbones', () => {
  it('lay out ResNet50 and VGG16 as Keras does (names and parameter counts)', () => {
    const resnet = createPatchModel({ backbone: 'resnet50', inputHeight: 224, inputWidth: 224, channels: 3 });
    const head = 2048 * PATCH_CLASSES.length + PATCH_CLASSES.length;
    expect(resnet.countParams()).toBe(KERAS_RESNET50_NO_TOP_PARAMS + head);
    expect(shapeOf(resnet, 'conv5_block3_out')).toEqual([null, 7, 7, 2048]);
    expect(resnet.getLayer('conv4_block6_3_bn').getClassName()).toBe('BatchNormalization');
    resnet.dispose();

    const vgg = createPatchModel({ backbone: 'vgg16', inputHeight: 224, inputWidth: 224, channels: 3 });
    expect(vgg.countParams()).toBe(KERAS_VGG16_NO_TOP_PARAMS + 512 * PATCH_CLASSES.length + PATCH_CLASSES.length);
    expect(shapeOf(vgg, 'block5_pool')).toEqual([null, 7, 7, 512]);
    vgg.dispose();
  });

  it('keeps YaroslavNet small and single-channel friendly', () => {
    const model = createPatchModel({ backbone: 'yaroslavnet', inputHeight: 256, inputWidth: 256, channels: 1 });
    expect(model.countParams()).toBeLessThan(3_500_000);
    expect(shapeOf(model, 'yaroslav_block6_pool')).toEqual([null, 4, 4, 256]);
    expect(model.layers.filter((l) => l.getClassName() === 'BatchNormalization')).toHaveLength(11);
    model.dispose();
  });
});

describe('createWholeImageModel', () => {
  it.each([
    // 1152 x 896 -> ResNet50 36 x 28 -> two stride-2 bottleneck blocks 18 x 14 -> 9 x 7 x 1024
    ['resnet50', 'resnet', 'top_block2_out', [null, 9, 7, 1024 * TINY]],
    // VGG16 36 x 28 -> 3x3 conv 512 + 2x2 max pool -> 18 x 14 x 512
    ['vgg16', 'vgg', 'top_block1_pool', [null, 18, 14, 512 * TINY]],
    // YaroslavNet 18 x 14 -> 9 x 7 -> 5 x 4
    ['yaroslavnet', 'resnet', 'top_block2_out', [null, 5, 4, 1024 * TINY]],
  ] as const)('%s + %s top on the paper\'s 1152 x 896 ends in %s %j and a 2-class softmax', (backbone, top, lastBlock, shape) => {
    const model = createWholeImageModel({ backbone, top, inputHeight: 1152, inputWidth: 896, channels: backbone === 'yaroslavnet' ? 1 : 3, filtersScale: TINY });
    expect(shapeOf(model, lastBlock)).toEqual(shape);
    expect(model.outputShape).toEqual([null, WHOLE_IMAGE_CLASSES.length]);
    expect(model.getLayer('top_predictions').getConfig().activation).toBe('softmax');
    model.dispose();
  });

  it('uses projection shortcuts with batch normalisation in the residual top', () => {
    const model = createWholeImageModel({ backbone: 'resnet50', top: 'resnet', inputHeight: 224, inputWidth: 192, channels: 3 });
    for (const block of ['top_block1', 'top_block2']) {
      expect(model.getLayer(`${block}_0_conv`).getWeights()[0]!.shape.slice(2)).toEqual([block === 'top_block1' ? 2048 : 1024, 1024]);
      expect(model.getLayer(`${block}_0_bn`).getClassName()).toBe('BatchNormalization');
      expect(model.getLayer(`${block}_1_conv`).getConfig().strides).toEqual([2, 2]);
      expect(model.getLayer(`${block}_2_conv`).getConfig().filters).toBe(512);
    }
    model.dispose();
  });

  it.each<[string, Partial<WholeImageModelOptions>, string]>([
    ['an unknown backbone', { backbone: 'alexnet' as never }, 'backbone'],
    ['an unknown top', { top: 'dense' as never }, 'top'],
    ['an input smaller than the backbone\'s stride', { backbone: 'yaroslavnet', inputHeight: 63 }, 'inputHeight'],
    ['a VGG top without room for its pool', { top: 'vgg', inputWidth: 32 }, 'inputWidth'],
    ['a fractional size', { inputWidth: 100.5 }, 'inputWidth'],
    ['zero channels', { channels: 0 }, 'channels'],
    ['a zero width', { filtersScale: 0 }, 'filtersScale'],
    ['a width above the published one', { filtersScale: 2 }, 'filtersScale'],
  ])('refuses %s, naming the option', (_what, override, field) => {
    const options: WholeImageModelOptions = { backbone: 'resnet50', top: 'resnet', inputHeight: 64, inputWidth: 64, channels: 3, filtersScale: TINY, ...override };
    expect(() => createWholeImageModel(options)).toThrow(ValidationError);
    expect(() => createWholeImageModel(options)).toThrow(new RegExp(`^${field}:`));
  });
});

describe('createWholeImageModelFromPatchModel', () => {
  const options: WholeImageModelOptions = { backbone: 'yaroslavnet', top: 'resnet', inputHeight: 128, inputWidth: 96, channels: 1, filtersScale: TINY };

  it('carries every backbone weight of the patch model over, and none of its head', () => {
    const patch = createPatchModel({ backbone: 'yaroslavnet', inputHeight: 64, inputWidth: 64, channels: 1, filtersScale: TINY });
    randomizeWeights(patch, 7);
    const whole = createWholeImageModelFromPatchModel(patch, options);
    const backboneLayers = whole.layers.filter((l) => l.weights.length > 0 && !l.name.startsWith(TOP_LAYER_PREFIX));
    expect(backboneLayers.map((l) => l.name)).toContain('yaroslav_block1_conv1');
    for (const layer of backboneLayers) expect(weightsOf(whole, layer.name)).toEqual(weightsOf(patch, layer.name));
    // BN statistics are weights too: the moving variance must not be the initial ones.
    expect(weightsOf(whole, 'yaroslav_block3_bn2')[3]).not.toEqual(new Array(weightsOf(whole, 'yaroslav_block3_bn2')[3]!.length).fill(1));

    // The two models own their weights independently afterwards.
    patch.dispose();
    expect(() => tf.tidy(() => whole.predict(tf.zeros([1, 128, 96, 1])))).not.toThrow();
    whole.dispose();
  });

  it('refuses a patch model of another backbone or width, naming the layer', () => {
    const vgg = createPatchModel({ backbone: 'vgg16', inputHeight: 64, inputWidth: 64, channels: 1, filtersScale: TINY });
    expect(() => createWholeImageModelFromPatchModel(vgg, options)).toThrow(/^source: model .* has no layer yaroslav_block1_conv1/);
    vgg.dispose();
    const wider = createPatchModel({ backbone: 'yaroslavnet', inputHeight: 64, inputWidth: 64, channels: 1, filtersScale: 2 * TINY });
    expect(() => createWholeImageModelFromPatchModel(wider, options)).toThrow(/layer yaroslav_block1_conv1 has weights \[3x3x1x2\] in .* but \[3x3x1x1\]/);
    wider.dispose();
  });
});

describe('countFlops', () => {
  it('counts 2 x the multiply-accumulates of convolutions and dense layers', () => {
    const input = tf.input({ shape: [8, 8, 1] });
    const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(pooled) as tf.SymbolicTensor });
    // conv: 8 x 8 positions x 3 x 3 x 1 x 4; dense: 4 x 2
    expect(countFlops(model)).toBe(2 * (8 * 8 * 9 * 4 + 4 * 2));
    model.dispose();
  });

  it('gives ResNet50 on 224 x 224 its published ~3.9 G multiply-accumulates', () => {
    const model = createPatchModel({ backbone: 'resnet50', inputHeight: 224, inputWidth: 224, channels: 3 });
    expect(countFlops(model) / 2 / 1e9).toBeCloseTo(3.86, 2);
    model.dispose();
  });
});

describe('tensor discipline', () => {
  it('building, predicting and disposing again and again leaves no tensors behind', () => {
    const cycle = () => {
      const model = createWholeImageModel({ backbone: 'yaroslavnet', top: 'vgg', inputHeight: 128, inputWidth: 128, channels: 1, filtersScale: TINY });
      const input = tf.randomNormal([2, 128, 128, 1], 0, 1, 'float32', 1);
      randomizeWeights(model, 3, input);
      const probabilities = tf.tidy(() => model.predict(input) as tf.Tensor);
      const sums = tf.tidy(() => probabilities.sum(1).dataSync());
      tf.dispose([input, probabilities]);
      model.dispose();
      return sums;
    };
    cycle();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) expect(Array.from(cycle()).map((s) => Math.round(s * 1e5) / 1e5)).toEqual([1, 1]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('predicting repeatedly with one model does not grow the tensor count', () => {
    const model = createPatchModel({ backbone: 'resnet50', inputHeight: 64, inputWidth: 64, channels: 3, filtersScale: TINY });
    const input = tf.zeros([1, 64, 64, 3]);
    const predict = () => tf.dispose(model.predict(input));
    predict();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) predict();
    expect(tf.memory().numTensors).toBe(before);
    input.dispose();
    model.dispose();
  });
});
