// Stage 2 of the method: the whole-image classifier. A backbone's convolutional part runs over
// the whole mammogram (it is all-convolutional, so any input size works), new "top" blocks
// follow, then global average pooling and a 2-way softmax (not malignant / malignant). The
// backbone usually comes from a trained patch classifier (createWholeImageModelFromPatchModel).

import * as tf from '@tensorflow/tfjs';
import { ValidationError } from '../../domain/errors.js';
import { DEFAULT_BN_EPSILON, applyLayer, batchNorm, bottleneckBlock, conv, maxPool, relu, scaleFilters } from './building-blocks.js';
import { BACKBONES, type BackboneOptions, validateBackboneOptions } from './backbones.js';
import { copyWeightsByName } from './weight-transfer.js';

/** Output classes in order; P(malignant) is the second output. */
export const WHOLE_IMAGE_CLASSES = ['not_malignant', 'malignant'] as const;

import { TOP_NAMES, TOP_STRIDES, type TopName } from './names.js';

export { TOP_NAMES, type TopName };
/** "resnet": two bottleneck blocks [512-512-1024]x2; "vgg": one block 512x1 (paper's notation). */

/**
 * Names of the top layers (blocks, pooling, softmax) start with this: they are what phase-1
 * training updates while the backbone is frozen, and they never take weights from a patch model.
 */
export const TOP_LAYER_PREFIX = 'top_';

/** The paper's residual top: 1x1 512, 3x3 512, 1x1 1024, each block halving the feature map. */
const RESNET_TOP_FILTERS = [512, 512, 1024] as const;
const RESNET_TOP_BLOCKS = 2;
const RESNET_TOP_STRIDE = 2;
/** The paper's VGG top: one block of a 3x3 convolution with 512 filters, BN, ReLU and a 2x2 max pool. */
const VGG_TOP_FILTERS = 512;
const VGG_TOP_POOL = TOP_STRIDES.vgg;

export interface WholeImageModelOptions extends BackboneOptions {
  top: TopName;
  /**
   * Fraction of the paper's top filters, in (0, 1] (default: the backbone's filtersScale). The
   * paper's VGG top (3x3, 512 filters) on a 768-channel MobileNet map costs twice the backbone
   * itself; a narrower top keeps training on a CPU affordable.
   */
  topFiltersScale?: number;
}

function resnetTop(features: tf.SymbolicTensor, filtersScale: number): tf.SymbolicTensor {
  const filters = RESNET_TOP_FILTERS.map((f) => scaleFilters(f, filtersScale)) as [number, number, number];
  let x = features;
  for (let block = 1; block <= RESNET_TOP_BLOCKS; block++) {
    x = bottleneckBlock(x, {
      name: `${TOP_LAYER_PREFIX}block${block}`,
      filters,
      strides: RESNET_TOP_STRIDE,
      projection: true,
      bnEpsilon: DEFAULT_BN_EPSILON,
      kernelInitializer: 'heNormal',
    });
  }
  return x;
}

function vggTop(features: tf.SymbolicTensor, filtersScale: number): tf.SymbolicTensor {
  const name = `${TOP_LAYER_PREFIX}block1`;
  let x = conv(features, {
    name: `${name}_conv`,
    filters: scaleFilters(VGG_TOP_FILTERS, filtersScale),
    kernelSize: 3,
    padding: 'same',
    kernelInitializer: 'heNormal',
  });
  x = relu(batchNorm(x, `${name}_bn`, DEFAULT_BN_EPSILON), `${name}_relu`);
  return maxPool(x, `${name}_pool`, VGG_TOP_POOL, VGG_TOP_POOL);
}

/** Builds an untrained whole-image model (backbone weights from their initialisers). */
export function createWholeImageModel(options: WholeImageModelOptions): tf.LayersModel {
  if (!TOP_NAMES.includes(options.top)) {
    throw new ValidationError('top', `must be one of ${TOP_NAMES.join(', ')}; got ${String(options.top)}`);
  }
  // The VGG top's max pool needs a feature map of at least 2x2.
  const headStride = TOP_STRIDES[options.top];
  const { backbone, top, inputHeight, inputWidth, channels, filtersScale } = validateBackboneOptions(options, headStride);
  const topScale = options.topFiltersScale ?? filtersScale;
  if (!(topScale > 0 && topScale <= 1)) throw new ValidationError('topFiltersScale', `must be in (0, 1]; got ${topScale}`);
  const input = tf.input({ name: 'input', shape: [inputHeight, inputWidth, channels] });
  const features = BACKBONES[backbone].build(input, filtersScale);
  const topOutput = top === 'resnet' ? resnetTop(features, topScale) : vggTop(features, topScale);
  const pooled = applyLayer(tf.layers.globalAveragePooling2d({ name: `${TOP_LAYER_PREFIX}avg_pool` }), topOutput);
  const probabilities = applyLayer(
    tf.layers.dense({ name: `${TOP_LAYER_PREFIX}predictions`, units: WHOLE_IMAGE_CLASSES.length, activation: 'softmax', kernelInitializer: 'heNormal' }),
    pooled,
  );
  return tf.model({ name: `${backbone}_${top}_top`, inputs: input, outputs: probabilities });
}

/**
 * Builds a whole-image model whose backbone carries the weights of a trained patch model (the
 * method's stage 1 -> stage 2 step); the top layers start from their initialisers. `options`
 * must describe the patch model's backbone (name, channels, filtersScale); the input size is
 * the whole image's. Throws when a backbone layer is missing from the patch model or differs
 * in shape, which is what a mismatched backbone or width gives.
 */
export function createWholeImageModelFromPatchModel(patchModel: tf.LayersModel, options: WholeImageModelOptions): tf.LayersModel {
  const model = createWholeImageModel(options);
  const backboneLayers = model.layers.filter((layer) => !layer.name.startsWith(TOP_LAYER_PREFIX) && layer.weights.length > 0);
  try {
    copyWeightsByName(patchModel, model, backboneLayers.map((layer) => layer.name));
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}
