// Keras 2 model files for the import tests, written with h5wasm exactly as Keras 2.x
// `model.save()` lays them out (keras/engine/saving.py), so no Python is needed:
//
//   /                         attrs keras_version, backend, model_config (topology JSON)
//   /model_weights            attrs layer_names (every layer, in model order), keras_version, backend
//   /model_weights/<layer>    attr weight_names, e.g. ["conv1/kernel:0", "conv1/bias:0"]
//                             (an empty float64 array for a layer without weights, as numpy
//                             writes an empty list); the datasets live under the weight names,
//                             so "conv1/kernel:0" is the dataset kernel:0 in the group conv1.
//
// Strings are fixed-length byte strings, as Keras's `.encode('utf8')` makes h5py write them.
// The weight names keep the name a layer had when its variables were created, which is not
// always its name in the model: the authors renamed their backbone's layers ("prt_" prefix)
// after building it, and `prt_conv1` below keeps weights named "conv1/kernel:0" for that reason.
//
// Layer configs are those Keras 2.1.6 serialises (snake_case, initializers and regularizers
// included), so the importer sees what the authors' released files hold.

import h5wasm from 'h5wasm/node';
import { seededRandom } from '../../src/training/datasets/splits.js';

export type KerasConfig = Record<string, unknown>;

/** One layer of a functional model: its class, config and the layers it takes input from. */
export interface KerasLayer {
  className: string;
  name: string;
  config: KerasConfig;
  inbound: string[];
}

export interface KerasWeight {
  /** As Keras stores it, e.g. "conv1/kernel:0". */
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface KerasModelFixture {
  name: string;
  layers: KerasLayer[];
  input: string;
  output: string;
  /** By layer name; layers without weights are absent. */
  weights: Record<string, KerasWeight[]>;
}

export interface KerasH5Options {
  kerasVersion?: string;
  backend?: string;
  /**
   * 'weights-only' writes what `model.save_weights()` writes: no model_config, and the layer
   * groups and their attributes at the root instead of under model_weights.
   */
  layout?: 'model' | 'weights-only';
  /**
   * Writes layer_names in numbered chunks (layer_names0, layer_names1, ...) of this many names,
   * as Keras does when the list outgrows an HDF5 object header.
   */
  layerNamesChunk?: number;
}

// --- layer configs, as Keras 2.1.6 serialises them -----------------------------------------------

const he = { class_name: 'VarianceScaling', config: { scale: 2.0, mode: 'fan_in', distribution: 'normal', seed: null } };
const zeros = { class_name: 'Zeros', config: {} };
const ones = { class_name: 'Ones', config: {} };
const l2 = { class_name: 'L1L2', config: { l1: 0.0, l2: 9.999999747378752e-5 } };

export function inputLayer(name: string, shape: [number, number, number]): KerasLayer {
  return { className: 'InputLayer', name, inbound: [], config: { batch_input_shape: [null, ...shape], dtype: 'float32', sparse: false, name } };
}

export function conv2d(
  name: string,
  input: string,
  options: { filters: number; kernel: number; strides?: number; padding?: 'same' | 'valid'; activation?: string; useBias?: boolean },
): KerasLayer {
  const { filters, kernel, strides = 1, padding = 'same', activation = 'linear', useBias = true } = options;
  return {
    className: 'Conv2D',
    name,
    inbound: [input],
    config: {
      name, trainable: true, filters, kernel_size: [kernel, kernel], strides: [strides, strides], padding, data_format: 'channels_last',
      dilation_rate: [1, 1], activation, use_bias: useBias, kernel_initializer: he, bias_initializer: zeros, kernel_regularizer: l2,
      bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
    },
  };
}

export function batchNormalization(name: string, input: string, epsilon = 0.001): KerasLayer {
  return {
    className: 'BatchNormalization',
    name,
    inbound: [input],
    config: {
      name, trainable: true, axis: 3, momentum: 0.99, epsilon, center: true, scale: true, beta_initializer: zeros, gamma_initializer: ones,
      moving_mean_initializer: zeros, moving_variance_initializer: ones, beta_regularizer: null, gamma_regularizer: null,
      beta_constraint: null, gamma_constraint: null,
    },
  };
}

export function activation(name: string, input: string, fn: string): KerasLayer {
  return { className: 'Activation', name, inbound: [input], config: { name, trainable: true, activation: fn } };
}

export function zeroPadding2d(name: string, input: string, padding: number): KerasLayer {
  return {
    className: 'ZeroPadding2D',
    name,
    inbound: [input],
    config: { name, trainable: true, padding: [[padding, padding], [padding, padding]], data_format: 'channels_last' },
  };
}

export function maxPooling2d(name: string, input: string, pool: number, strides: number, padding: 'same' | 'valid'): KerasLayer {
  return {
    className: 'MaxPooling2D',
    name,
    inbound: [input],
    config: { name, trainable: true, pool_size: [pool, pool], padding, strides: [strides, strides], data_format: 'channels_last' },
  };
}

export function add(name: string, inputs: string[]): KerasLayer {
  return { className: 'Add', name, inbound: inputs, config: { name, trainable: true } };
}

export function globalAveragePooling2d(name: string, input: string): KerasLayer {
  return { className: 'GlobalAveragePooling2D', name, inbound: [input], config: { name, trainable: true, data_format: 'channels_last' } };
}

export function dropout(name: string, input: string, rate: number): KerasLayer {
  return { className: 'Dropout', name, inbound: [input], config: { name, trainable: true, rate, noise_shape: null, seed: null } };
}

export function dense(name: string, input: string, units: number, fn: string): KerasLayer {
  return {
    className: 'Dense',
    name,
    inbound: [input],
    config: {
      name, trainable: true, units, activation: fn, use_bias: true, kernel_initializer: he, bias_initializer: zeros,
      kernel_regularizer: l2, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
    },
  };
}

/** The root `model_config` attribute: `{"class_name": "Model", "config": model.get_config()}`. */
export function modelConfig(fixture: Pick<KerasModelFixture, 'name' | 'layers' | 'input' | 'output'>): KerasConfig {
  return {
    class_name: 'Model',
    config: {
      name: fixture.name,
      layers: fixture.layers.map((layer) => ({
        name: layer.name,
        class_name: layer.className,
        config: layer.config,
        inbound_nodes: layer.inbound.length === 0 ? [] : [layer.inbound.map((from) => [from, 0, 0, {}])],
      })),
      input_layers: [[fixture.input, 0, 0]],
      output_layers: [[fixture.output, 0, 0]],
    },
  };
}

// --- models ------------------------------------------------------------------------------------

/** Input height, width and channels of tinyResNet. */
export const TINY_INPUT: [number, number, number] = [32, 24, 3];

/**
 * A ResNet50-like model at toy size, with the layer types and naming of the authors' files:
 * padded strided stem, batch norms that can be folded and one that cannot (after a ReLU
 * convolution), a projection and an identity shortcut, dropout before the 2-way softmax, and a
 * renamed layer whose weights keep their original name.
 */
export function tinyResNet(seed = 7): KerasModelFixture {
  const layers = [
    inputLayer('input_1', TINY_INPUT),
    zeroPadding2d('zero_padding2d_1', 'input_1', 1),
    conv2d('prt_conv1', 'zero_padding2d_1', { filters: 4, kernel: 3, strides: 2, padding: 'valid' }),
    batchNormalization('bn_conv1', 'prt_conv1'),
    activation('activation_1', 'bn_conv1', 'relu'),
    maxPooling2d('max_pooling2d_1', 'activation_1', 3, 2, 'same'),
    conv2d('res2a_branch2a', 'max_pooling2d_1', { filters: 4, kernel: 1 }),
    batchNormalization('bn2a_branch2a', 'res2a_branch2a'),
    activation('activation_2', 'bn2a_branch2a', 'relu'),
    conv2d('res2a_branch2b', 'activation_2', { filters: 8, kernel: 3 }),
    batchNormalization('bn2a_branch2b', 'res2a_branch2b'),
    conv2d('res2a_branch1', 'max_pooling2d_1', { filters: 8, kernel: 1, useBias: false }),
    batchNormalization('bn2a_branch1', 'res2a_branch1'),
    add('add_1', ['bn2a_branch2b', 'bn2a_branch1']),
    activation('activation_3', 'add_1', 'relu'),
    conv2d('res2b_branch2a', 'activation_3', { filters: 8, kernel: 3, activation: 'relu' }),
    batchNormalization('bn2b_branch2a', 'res2b_branch2a', 0.01),
    add('add_2', ['bn2b_branch2a', 'activation_3']),
    activation('activation_4', 'add_2', 'relu'),
    globalAveragePooling2d('global_average_pooling2d_1', 'activation_4'),
    dropout('dropout_1', 'global_average_pooling2d_1', 0.5),
    dense('dense_1', 'dropout_1', 2, 'softmax'),
  ];
  const random = seededRandom(seed);
  const uniform = (n: number, low: number, high: number) => Float32Array.from({ length: n }, () => low + (high - low) * random());
  const weight = (name: string, shape: number[], low: number, high: number): KerasWeight => ({
    name,
    shape,
    values: uniform(shape.reduce((a, b) => a * b, 1), low, high),
  });
  // He-like ranges keep activations of order one, so the softmax is not saturated; batch-norm
  // statistics far from the identity make a wrong folding show.
  const convWeights = (prefix: string, shape: number[], useBias = true) => {
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const limit = Math.sqrt(6 / fanIn);
    return [weight(`${prefix}/kernel:0`, shape, -limit, limit), ...(useBias ? [weight(`${prefix}/bias:0`, [shape.at(-1)!], -0.1, 0.1)] : [])];
  };
  const bnWeights = (prefix: string, channels: number) => [
    weight(`${prefix}/gamma:0`, [channels], 0.5, 1.5),
    weight(`${prefix}/beta:0`, [channels], -0.2, 0.2),
    weight(`${prefix}/moving_mean:0`, [channels], -0.2, 0.2),
    weight(`${prefix}/moving_variance:0`, [channels], 0.5, 1.5),
  ];
  const weights: Record<string, KerasWeight[]> = {
    prt_conv1: convWeights('conv1', [3, 3, 3, 4]),
    bn_conv1: bnWeights('bn_conv1', 4),
    res2a_branch2a: convWeights('res2a_branch2a', [1, 1, 4, 4]),
    bn2a_branch2a: bnWeights('bn2a_branch2a', 4),
    res2a_branch2b: convWeights('res2a_branch2b', [3, 3, 4, 8]),
    bn2a_branch2b: bnWeights('bn2a_branch2b', 8),
    res2a_branch1: convWeights('res2a_branch1', [1, 1, 4, 8], false),
    bn2a_branch1: bnWeights('bn2a_branch1', 8),
    res2b_branch2a: convWeights('res2b_branch2a', [3, 3, 8, 8]),
    bn2b_branch2a: bnWeights('bn2b_branch2a', 8),
    // Smaller than He: the residual sums grow the features, and the softmax must not saturate.
    dense_1: [weight('dense_1/kernel:0', [8, 2], -0.15, 0.15), weight('dense_1/bias:0', [2], -0.1, 0.1)],
  };
  return { name: 'model_1', layers, input: 'input_1', output: 'dense_1', weights };
}

/** Weights of `oneByOneConv`, small enough to check by hand. */
export const ONE_BY_ONE = {
  /** Height 1, width 2, 3 channels. */
  input: [1, 2, 3] as [number, number, number],
  /** conv kernel [1, 1, in 3, out 2] as [in][out], and its bias. */
  conv: [[1, -1], [0.5, 2], [-0.25, 0.75]],
  convBias: [0.1, -0.2],
  /** dense kernel [in 2, out 2] as [in][out], and its bias. */
  dense: [[0.3, -0.4], [-0.6, 0.2]],
  denseBias: [0.05, -0.05],
};

/** Input 1x2 pixels of 3 channels -> 1x1 convolution (2 filters) -> global average -> dense softmax. */
export function oneByOneConv(): KerasModelFixture {
  const { conv, convBias, dense: denseKernel, denseBias } = ONE_BY_ONE;
  return {
    name: 'one_by_one',
    layers: [
      inputLayer('input_1', ONE_BY_ONE.input),
      conv2d('conv', 'input_1', { filters: 2, kernel: 1 }),
      globalAveragePooling2d('gap', 'conv'),
      dense('predictions', 'gap', 2, 'softmax'),
    ],
    input: 'input_1',
    output: 'predictions',
    weights: {
      conv: [
        { name: 'conv/kernel:0', shape: [1, 1, 3, 2], values: Float32Array.from(conv.flat()) },
        { name: 'conv/bias:0', shape: [2], values: Float32Array.from(convBias) },
      ],
      predictions: [
        { name: 'predictions/kernel:0', shape: [2, 2], values: Float32Array.from(denseKernel.flat()) },
        { name: 'predictions/bias:0', shape: [2], values: Float32Array.from(denseBias) },
      ],
    },
  };
}

// --- writing -----------------------------------------------------------------------------------

type H5Node = InstanceType<typeof h5wasm.Group>;

/** A fixed-length byte string (array) attribute, as h5py writes numpy bytes. */
function bytesAttribute(node: H5Node, name: string, value: string | string[]): void {
  const longest = Math.max(1, ...[value].flat().map((s) => Buffer.byteLength(s)));
  node.create_attribute(name, value, null, `S${longest}`);
}

/** Writes `fixture` as Keras 2 `model.save()` would (see the header); `config` replaces the topology when given. */
export async function writeKerasH5(file: string, fixture: KerasModelFixture, options: KerasH5Options & { config?: KerasConfig } = {}): Promise<string> {
  const { kerasVersion = '2.1.6', backend = 'tensorflow', layout = 'model' } = options;
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'w');
  try {
    let root: H5Node = f;
    if (layout === 'model') {
      bytesAttribute(f, 'keras_version', kerasVersion);
      bytesAttribute(f, 'backend', backend);
      bytesAttribute(f, 'model_config', JSON.stringify(options.config ?? modelConfig(fixture)));
      root = f.create_group('model_weights');
    }
    const layerNames = fixture.layers.map((layer) => layer.name);
    if (options.layerNamesChunk) {
      for (let i = 0; i * options.layerNamesChunk < layerNames.length; i++) {
        bytesAttribute(root, `layer_names${i}`, layerNames.slice(i * options.layerNamesChunk, (i + 1) * options.layerNamesChunk));
      }
    } else {
      bytesAttribute(root, 'layer_names', layerNames);
    }
    bytesAttribute(root, 'backend', backend);
    bytesAttribute(root, 'keras_version', kerasVersion);
    for (const layer of fixture.layers) {
      const group = root.create_group(layer.name);
      const weights = fixture.weights[layer.name] ?? [];
      if (weights.length === 0) {
        group.create_attribute('weight_names', new Float64Array(0), [0], '<d');
        continue;
      }
      bytesAttribute(group, 'weight_names', weights.map((w) => w.name));
      for (const w of weights) {
        // "conv1/kernel:0" is the dataset "kernel:0" in the subgroup "conv1" (h5py creates it).
        const parts = w.name.split('/');
        let parent = group;
        for (const part of parts.slice(0, -1)) parent = parent.keys().includes(part) ? (parent.get(part) as H5Node) : parent.create_group(part);
        parent.create_dataset({ name: parts.at(-1)!, data: w.values, shape: w.shape, dtype: '<f' });
      }
    }
  } finally {
    f.close();
  }
  return file;
}
