// Seeded random weights for export checks and benchmarks. Initialisers leave batch
// normalisation as the identity (mean 0, variance 1, gamma 1, beta 0), which hides mistakes in
// folding it into convolutions; these weights give every statistic a non-trivial value.
// Random statistics do not normalise anything, so activations grow block by block (x1e4 through
// ResNet50) and the softmax would saturate: every model would then "agree" on 0 and 1. Given a
// calibration input, the output layer is scaled so that the logits have unit spread on it.

import * as tf from '@tensorflow/tfjs';

/** He scaling: a ReLU network keeps its activations' variance from layer to layer. */
const HE_GAIN = 2;
const BIAS_RANGE = 0.1;
const GAMMA_RANGE = [0.5, 1.5] as const;
const BETA_RANGE = 0.2;
const MEAN_RANGE = 0.2;
const VARIANCE_RANGE = [0.5, 1.5] as const;

/**
 * Inputs that feed one output value: conv kernels are [h, w, in, out] and dense kernels [in,
 * out] (all but the last dimension); a depthwise kernel [h, w, channels, multiplier] reads one
 * channel (h x w).
 */
function fanIn(kind: 'kernel' | 'depthwise_kernel', shape: readonly number[]): number {
  return kind === 'depthwise_kernel' ? shape[0]! * shape[1]! : shape.slice(0, -1).reduce((a, b) => a * b, 1);
}

function randomWeight(kind: string, shape: number[], seed: number): tf.Tensor {
  switch (kind) {
    case 'kernel':
    case 'depthwise_kernel':
      return tf.randomNormal(shape, 0, Math.sqrt(HE_GAIN / fanIn(kind, shape)), 'float32', seed);
    case 'bias':
      return tf.randomUniform(shape, -BIAS_RANGE, BIAS_RANGE, 'float32', seed);
    case 'gamma':
      return tf.randomUniform(shape, GAMMA_RANGE[0], GAMMA_RANGE[1], 'float32', seed);
    case 'beta':
      return tf.randomUniform(shape, -BETA_RANGE, BETA_RANGE, 'float32', seed);
    case 'moving_mean':
      return tf.randomUniform(shape, -MEAN_RANGE, MEAN_RANGE, 'float32', seed);
    case 'moving_variance':
      return tf.randomUniform(shape, VARIANCE_RANGE[0], VARIANCE_RANGE[1], 'float32', seed);
    default:
      throw new Error(`randomizeWeights: no rule for weight kind ${kind}`);
  }
}

/** The spread of the logits (before the softmax) that calibration aims at. */
const TARGET_LOGIT_STD = 1;

/**
 * Replaces every weight of `model` with seeded random values; the same seed gives the same
 * weights. With `calibrationInput` (NHWC), the last Dense layer is rescaled on it as above.
 */
export function randomizeWeights(model: tf.LayersModel, seed: number, calibrationInput?: tf.Tensor): void {
  let counter = 0;
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    // originalName is "<layer>/<kind>", without the suffix tfjs adds to keep names unique.
    const values = layer.weights.map((w) => randomWeight(w.originalName.split('/').at(-1)!, w.shape as number[], seed + counter++));
    layer.setWeights(values);
    tf.dispose(values);
  }
  if (calibrationInput) calibrateOutputLayer(model, calibrationInput);
}

function calibrateOutputLayer(model: tf.LayersModel, input: tf.Tensor): void {
  const output = model.layers.findLast((layer) => layer.getClassName() === 'Dense');
  if (!output) throw new Error(`randomizeWeights: model ${model.name} has no Dense layer to calibrate`);
  // A view of the same layers up to the output layer's input. It must not be disposed: it
  // owns nothing, and disposing it would dispose the shared layers.
  const features = tf.model({ inputs: model.inputs, outputs: output.input as tf.SymbolicTensor });
  tf.tidy(() => {
    const [kernel, bias] = output.getWeights();
    const logits = tf.matMul(features.predict(input) as tf.Tensor2D, kernel as tf.Tensor2D);
    const std = tf.moments(logits).variance.sqrt();
    // The variable keeps its own reference to the new values; tidy releases ours.
    output.setWeights(bias ? [tf.div(kernel!, std).mul(TARGET_LOGIT_STD), bias] : [tf.div(kernel!, std).mul(TARGET_LOGIT_STD)]);
  });
}

/**
 * Seeded initial weights for training, as Keras initialises them but reproducibly (tfjs's own
 * initialisers draw from an unseeded generator): He-normal kernels, zero biases, and batch
 * normalisation as the identity (gamma 1, beta 0, mean 0, variance 1). `only` limits it to some
 * layers (e.g. new top layers on a trained backbone).
 */
export function initialWeights(model: tf.LayersModel, seed: number, only: (layerName: string) => boolean = () => true): void {
  let counter = 0;
  for (const layer of model.layers) {
    if (layer.weights.length === 0 || !only(layer.name)) continue;
    const values = layer.weights.map((w) => {
      const shape = w.shape as number[];
      const kind = w.originalName.split('/').at(-1);
      switch (kind) {
        case 'kernel':
        case 'depthwise_kernel':
          return tf.truncatedNormal(shape, 0, Math.sqrt(HE_GAIN / fanIn(kind, shape)), 'float32', seed + counter++);
        case 'gamma':
        case 'moving_variance':
          return tf.ones(shape);
        default:
          return tf.zeros(shape); // bias, beta, moving_mean
      }
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}
