// One training epoch of a tfjs model on examples held in JavaScript arrays: shuffled (seeded),
// batched, class-weighted cross-entropy on the softmax output, Adam on the chosen variables
// only (how the method's phases freeze layers), BN in training mode (or frozen, for fine-tuning). A custom loop rather than
// model.fit, so that the phase decides which variables move, the epoch can stop between
// batches, and nothing depends on tfjs's `trainable` flags surviving a checkpoint.

import * as tf from '@tensorflow/tfjs';
import { shuffled } from '../datasets/splits.js';

export interface Batch {
  x: tf.Tensor4D;
  /** One-hot labels [batch, classes]. */
  y: tf.Tensor2D;
}

export interface EpochOptions {
  model: tf.LayersModel;
  optimizer: tf.Optimizer;
  /** The variables this phase trains. */
  variables: tf.Variable[];
  count: number;
  batchSize: number;
  random: () => number;
  /** Builds the tensors of the examples at these indices (called inside tidy). */
  batch: (indices: number[]) => Batch;
  /** Loss weight per class (same length as the model's output). */
  classWeights: readonly number[];
  /** Called between batches (cancellation, heartbeat). */
  betweenBatches?: () => Promise<void>;
  /**
   * 'batch' (default): BN layers normalise by the batch and update their moving statistics;
   * 'frozen': BN runs in inference mode (its moving statistics, e.g. ImageNet's, stay; gamma and
   * beta still train), what fine-tuning a pretrained network with small batches needs.
   */
  batchNorm?: 'batch' | 'frozen';
  /** L2 penalty: loss + weightDecay * sum of squares of these kernels (none when 0 or absent). */
  weightDecay?: { rate: number; kernels: tf.Variable[] };
}

/** Mean over examples of -w(y) log p(y) / mean w, with p clipped away from 0. */
export function weightedCrossEntropy(probabilities: tf.Tensor, oneHot: tf.Tensor, classWeights: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logP = probabilities.clipByValue(1e-7, 1).log();
    const perExample = oneHot.mul(logP).sum(1).neg();
    const weights = oneHot.mul(classWeights).sum(1);
    return perExample.mul(weights).sum().div(weights.sum()) as tf.Scalar;
  });
}

/** Trains one epoch; returns the mean training loss (examples weighted by their batch). */
export async function trainEpoch(options: EpochOptions): Promise<number> {
  const { model, optimizer, variables, count, batchSize, random, batch } = options;
  const training = options.batchNorm !== 'frozen';
  const decay = options.weightDecay && options.weightDecay.rate > 0 && options.weightDecay.kernels.length > 0 ? options.weightDecay : null;
  const order = shuffled(
    Array.from({ length: count }, (_, i) => i),
    random,
  );
  const weights = tf.tensor1d([...options.classWeights]);
  let total = 0;
  let seen = 0;
  try {
    for (let start = 0; start < order.length; start += batchSize) {
      const indices = order.slice(start, start + batchSize);
      const loss = tf.tidy(() => {
        const { x, y } = batch(indices);
        return optimizer.minimize(
          () => {
            const loss = weightedCrossEntropy(model.apply(x, { training }) as tf.Tensor, y, weights);
            return decay ? loss.add(tf.addN(decay.kernels.map((k) => k.square().sum())).mul(decay.rate)) : loss;
          },
          true,
          variables,
        )!;
      });
      const value = (await loss.data())[0]!;
      loss.dispose();
      if (!Number.isFinite(value)) throw new Error(`training diverged: the loss became ${value} (lower the learning rate)`);
      total += value * indices.length;
      seen += indices.length;
      await options.betweenBatches?.();
    }
  } finally {
    weights.dispose();
  }
  return seen === 0 ? NaN : total / seen;
}

/** The variables of the layers whose names pass `select` (what a phase trains). */
export function variablesOf(model: tf.LayersModel, select: (layerName: string) => boolean): tf.Variable[] {
  return model.layers.filter((layer) => select(layer.name)).flatMap((layer) => layer.trainableWeights.map((w) => w.read() as tf.Variable));
}

/** Inverse class frequencies scaled to mean 1 over the classes present; absent classes weigh 0. */
export function balancedClassWeights(labels: readonly number[], classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const label of labels) counts[label]!++;
  const present = counts.filter((c) => c > 0).length;
  return counts.map((c) => (c > 0 ? labels.length / (present * c) : 0));
}

/** One-hot rows for integer labels. */
export function oneHot(labels: readonly number[], classes: number): tf.Tensor2D {
  return tf.oneHot(tf.tensor1d([...labels], 'int32'), classes).toFloat() as tf.Tensor2D;
}

/** Class probabilities in inference mode, in batches. */
export function predictInBatches(model: tf.LayersModel, count: number, batchSize: number, input: (indices: number[]) => tf.Tensor4D): Float32Array[] {
  const rows: Float32Array[] = [];
  for (let start = 0; start < count; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, count - start) }, (_, i) => start + i);
    const out = tf.tidy(() => model.predict(input(indices)) as tf.Tensor2D);
    const data = out.dataSync() as Float32Array;
    const classes = out.shape[1];
    for (let i = 0; i < indices.length; i++) rows.push(data.slice(i * classes, (i + 1) * classes));
    out.dispose();
  }
  return rows;
}
