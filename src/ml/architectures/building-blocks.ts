// The layers every architecture is assembled from (convolution, batch normalisation, ReLU,
// the ResNet bottleneck block), named the way Keras names them, so that weights can be moved
// between models by layer name and Keras-trained weights can be imported later.

import * as tf from '@tensorflow/tfjs';

/** Keras's BatchNormalization default; the paper's top layers and YaroslavNet use it. */
export const DEFAULT_BN_EPSILON = 1e-3;

/** A layer's output when it is applied to one symbolic tensor (tfjs types allow arrays too). */
export function applyLayer(layer: tf.layers.Layer, input: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  return layer.apply(input) as tf.SymbolicTensor;
}

/** `filters` scaled by `scale`, at least one: small copies of an architecture for tests and quick runs. */
export function scaleFilters(filters: number, scale: number): number {
  return Math.max(1, Math.round(filters * scale));
}

export interface ConvSpec {
  name: string;
  filters: number;
  kernelSize: number;
  strides?: number;
  padding?: 'same' | 'valid';
  /** A convolution followed by batch normalisation needs no bias (BN's beta is one), but Keras's applications keep it. */
  useBias?: boolean;
  kernelInitializer?: 'glorotUniform' | 'heNormal';
  activation?: 'relu';
}

export function conv(x: tf.SymbolicTensor, spec: ConvSpec): tf.SymbolicTensor {
  return applyLayer(
    tf.layers.conv2d({
      name: spec.name,
      filters: spec.filters,
      kernelSize: spec.kernelSize,
      strides: spec.strides ?? 1,
      padding: spec.padding ?? 'valid',
      useBias: spec.useBias ?? true,
      kernelInitializer: spec.kernelInitializer ?? 'glorotUniform',
      activation: spec.activation ?? 'linear',
    }),
    x,
  );
}

export function batchNorm(x: tf.SymbolicTensor, name: string, epsilon: number): tf.SymbolicTensor {
  return applyLayer(tf.layers.batchNormalization({ name, axis: -1, epsilon }), x);
}

export function relu(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return applyLayer(tf.layers.activation({ name, activation: 'relu' }), x);
}

export function maxPool(x: tf.SymbolicTensor, name: string, poolSize: number, strides: number): tf.SymbolicTensor {
  return applyLayer(tf.layers.maxPooling2d({ name, poolSize, strides, padding: 'valid' }), x);
}

export interface BottleneckSpec {
  /** Layer name prefix: "conv2_block1" gives conv2_block1_1_conv, conv2_block1_1_bn, ... */
  name: string;
  /** Filters of the 1x1 reduction, the 3x3 convolution and the 1x1 expansion. */
  filters: readonly [number, number, number];
  /** Stride of the first 1x1 convolution and of the shortcut. */
  strides: number;
  /** A 1x1 convolution (+ BN) on the shortcut; otherwise the input is added as it is. */
  projection: boolean;
  bnEpsilon: number;
  kernelInitializer: 'glorotUniform' | 'heNormal';
}

/**
 * The ResNet bottleneck block in Keras's `block1` layout: 1x1 -> 3x3 -> 1x1 convolutions, each
 * followed by BN (and ReLU, except the last), added to the shortcut, then ReLU. ResNet50's
 * stages use it with filters [f, f, 4f]; the paper's whole-image top with [512, 512, 1024].
 */
export function bottleneckBlock(x: tf.SymbolicTensor, spec: BottleneckSpec): tf.SymbolicTensor {
  const { name, filters, strides, bnEpsilon, kernelInitializer } = spec;
  let shortcut = x;
  if (spec.projection) {
    shortcut = conv(x, { name: `${name}_0_conv`, filters: filters[2], kernelSize: 1, strides, kernelInitializer });
    shortcut = batchNorm(shortcut, `${name}_0_bn`, bnEpsilon);
  }
  let y = conv(x, { name: `${name}_1_conv`, filters: filters[0], kernelSize: 1, strides, kernelInitializer });
  y = relu(batchNorm(y, `${name}_1_bn`, bnEpsilon), `${name}_1_relu`);
  y = conv(y, { name: `${name}_2_conv`, filters: filters[1], kernelSize: 3, padding: 'same', kernelInitializer });
  y = relu(batchNorm(y, `${name}_2_bn`, bnEpsilon), `${name}_2_relu`);
  y = conv(y, { name: `${name}_3_conv`, filters: filters[2], kernelSize: 1, kernelInitializer });
  y = batchNorm(y, `${name}_3_bn`, bnEpsilon);
  const sum = applyLayer(tf.layers.add({ name: `${name}_add` }), [shortcut, y]);
  return relu(sum, `${name}_out`);
}
