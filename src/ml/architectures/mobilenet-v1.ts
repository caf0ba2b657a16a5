// MobileNet v1 (Howard et al. 2017) as a backbone: a 3x3 convolution, then 13 depthwise-separable
// blocks (3x3 depthwise convolution + BN + ReLU6, 1x1 pointwise convolution + BN + ReLU6), stride
// 32 in all. It is here because it is the one ImageNet-trained CNN the project can obtain
// (../shared/weights/mobilenet_v1_0.75_224, tfjs layers format): layer names and weight shapes
// follow the Keras application exactly, so those files load by name (pretrained-weights.ts), at
// any input size (the network is fully convolutional) and any width whose files exist.
//
// `filtersScale` is MobileNet's width multiplier (alpha): 0.75 matches the shared weights.

import * as tf from '@tensorflow/tfjs';
import { applyLayer, scaleFilters } from './building-blocks.js';

/** Keras's MobileNet BN epsilon (its default 1e-3). */
const MOBILENET_BN_EPSILON = 1e-3;

/** Pointwise filters (at width 1) and the depthwise stride of the 13 blocks. */
const BLOCKS: ReadonlyArray<{ filters: number; stride: 1 | 2 }> = [
  { filters: 64, stride: 1 },
  { filters: 128, stride: 2 },
  { filters: 128, stride: 1 },
  { filters: 256, stride: 2 },
  { filters: 256, stride: 1 },
  { filters: 512, stride: 2 },
  { filters: 512, stride: 1 },
  { filters: 512, stride: 1 },
  { filters: 512, stride: 1 },
  { filters: 512, stride: 1 },
  { filters: 512, stride: 1 },
  { filters: 1024, stride: 2 },
  { filters: 1024, stride: 1 },
];
const STEM_FILTERS = 32;

/** Number of depthwise-separable blocks; block i's layers are conv_dw_i* and conv_pw_i*. */
export const MOBILENET_BLOCKS = BLOCKS.length;

function bnRelu6(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  const normalised = applyLayer(tf.layers.batchNormalization({ name: `${name}_bn`, axis: -1, epsilon: MOBILENET_BN_EPSILON }), x);
  return applyLayer(tf.layers.activation({ name: `${name}_relu`, activation: 'relu6' }), normalised);
}

/** Applies the backbone to `input`; returns conv_pw_13_relu (stride 32, 1024 x alpha channels). */
export function mobileNetV1Backbone(input: tf.SymbolicTensor, filtersScale: number): tf.SymbolicTensor {
  let x = applyLayer(
    tf.layers.conv2d({ name: 'conv1', filters: scaleFilters(STEM_FILTERS, filtersScale), kernelSize: 3, strides: 2, padding: 'same', useBias: false }),
    input,
  );
  x = bnRelu6(x, 'conv1');
  BLOCKS.forEach((block, index) => {
    const dw = `conv_dw_${index + 1}`;
    const pw = `conv_pw_${index + 1}`;
    x = applyLayer(tf.layers.depthwiseConv2d({ name: dw, kernelSize: 3, strides: block.stride, padding: 'same', depthMultiplier: 1, useBias: false }), x);
    x = bnRelu6(x, dw);
    x = applyLayer(tf.layers.conv2d({ name: pw, filters: scaleFilters(block.filters, filtersScale), kernelSize: 1, padding: 'same', useBias: false }), x);
    x = bnRelu6(x, pw);
  });
  return x;
}
