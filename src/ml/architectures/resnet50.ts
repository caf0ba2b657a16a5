// ResNet50's convolutional part (Keras application layout, include_top=false): the backbone of
// the paper's best whole-image model. Layer names are Keras's (conv1_conv, conv2_block1_1_bn, ...),
// so ImageNet or Keras-trained weights can be loaded by name.

import * as tf from '@tensorflow/tfjs';
import { applyLayer, batchNorm, bottleneckBlock, conv, maxPool, relu, scaleFilters } from './building-blocks.js';

/** Keras's ResNet uses 1.001e-5 rather than the BatchNormalization default. */
const RESNET_BN_EPSILON = 1.001e-5;

/** Stages conv2..conv5: base filters (the block's output has 4x) and number of blocks. */
const STAGES = [
  { name: 'conv2', filters: 64, blocks: 3, firstStride: 1 },
  { name: 'conv3', filters: 128, blocks: 4, firstStride: 2 },
  { name: 'conv4', filters: 256, blocks: 6, firstStride: 2 },
  { name: 'conv5', filters: 512, blocks: 3, firstStride: 2 },
] as const;

const STEM_FILTERS = 64;
const BOTTLENECK_EXPANSION = 4;


/** Applies ResNet50's convolutional part to `input`; returns conv5_block3_out. */
export function resnet50Backbone(input: tf.SymbolicTensor, filtersScale: number): tf.SymbolicTensor {
  let x = applyLayer(tf.layers.zeroPadding2d({ name: 'conv1_pad', padding: 3 }), input);
  x = conv(x, { name: 'conv1_conv', filters: scaleFilters(STEM_FILTERS, filtersScale), kernelSize: 7, strides: 2 });
  x = relu(batchNorm(x, 'conv1_bn', RESNET_BN_EPSILON), 'conv1_relu');
  x = applyLayer(tf.layers.zeroPadding2d({ name: 'pool1_pad', padding: 1 }), x);
  x = maxPool(x, 'pool1_pool', 3, 2);
  for (const stage of STAGES) {
    const filters = scaleFilters(stage.filters, filtersScale);
    for (let block = 1; block <= stage.blocks; block++) {
      x = bottleneckBlock(x, {
        name: `${stage.name}_block${block}`,
        filters: [filters, filters, filters * BOTTLENECK_EXPANSION],
        strides: block === 1 ? stage.firstStride : 1,
        projection: block === 1,
        bnEpsilon: RESNET_BN_EPSILON,
        kernelInitializer: 'glorotUniform',
      });
    }
  }
  return x;
}
