// One training epoch of a tfjs model on examples held in JavaScript arrays: shuffled (seeded),
// batched, class-weighted cross-entropy on the softmax output, Adam on the chosen variables
// only (how the method's phases freeze layers), BN in training mode (or frozen, for fine-tuning). A custom loop rather than
// model.fit, so that the phase decides which variables move, the epoch can stop between
// batches, and nothing depends on tfjs's `trainable` flags surviving a checkpoint.

import * as tf from '@tensorflow/tfjs';
import { exampleWeights, ownBuffer, weightedCrossEntropySum, type GradientThreads, type Shard } from '../../ml/training/index.js';
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
  /**
   * Gradient threads (started on this model and these variables, with BN frozen): each batch
   * is split into shards, this thread computing the first; one optimizer step on their sum.
   */
  threads?: GradientThreads;
}

/** Mean over examples of -w(y) log p(y) / mean w, with p clipped away from 0. */
export function weightedCrossEntropy(probabilities: tf.Tensor, oneHot: tf.Tensor, classWeights: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => weightedCrossEntropySum(probabilities, oneHot, classWeights).div(exampleWeights(oneHot, classWeights).sum()) as tf.Scalar);
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
  const penalty = () => (decay ? tf.addN(decay.kernels.map((k) => k.square().sum())).mul(decay.rate) : tf.scalar(0));
  let total = 0;
  let seen = 0;
  try {
    for (let start = 0; start < order.length; start += batchSize) {
      const indices = order.slice(start, start + batchSize);
      let value: number;
      if (options.threads && indices.length > 1) {
        value = await parallelStep(options as EpochOptions & { threads: GradientThreads }, tf.tidy(() => ({ ...batch(indices) })) as Batch, weights, training, penalty);
      } else {
        const loss = tf.tidy(() => {
          const { x, y } = batch(indices);
          return optimizer.minimize(() => weightedCrossEntropy(model.apply(x, { training }) as tf.Tensor, y, weights).add(penalty()) as tf.Scalar, true, variables)!;
        });
        value = (await loss.data())[0]!;
        loss.dispose();
      }
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

/**
 * One optimizer step on a batch split into shards: the gradient threads compute theirs while
 * this thread computes the first (with the weight penalty); the step applies their sum.
 * Returns the batch's loss. Disposes the batch.
 */
async function parallelStep(options: EpochOptions & { threads: GradientThreads }, { x, y }: Batch, weights: tf.Tensor1D, training: boolean, penalty: () => tf.Tensor): Promise<number> {
  const { model, optimizer, variables, threads } = options;
  try {
    // BN in training mode normalises by the batch: shards would not add up to it.
    if (training) throw new Error('gradient threads need BN frozen: with batch statistics the shards would not add up to the batch');
    const rows = x.shape[0];
    const parts = Math.min(threads.count + 1, rows);
    const bounds = Array.from({ length: parts + 1 }, (_, k) => Math.round((k * rows) / parts));
    const totalWeight = tf.tidy(() => exampleWeights(y, weights).sum().dataSync()[0]!);
    const shards: Shard[] = bounds.slice(1, -1).map((from, k) => {
      const size = bounds[k + 2]! - from;
      return tf.tidy(() => ({
        x: ownBuffer(x.slice([from, 0, 0, 0], [size, -1, -1, -1]).dataSync() as Float32Array),
        xShape: [size, x.shape[1], x.shape[2], x.shape[3]] as Shard['xShape'],
        y: ownBuffer(y.slice([from, 0], [size, -1]).dataSync() as Float32Array),
        yShape: [size, y.shape[1]] as Shard['yShape'],
      }));
    });
    const values = variables.map((v) => ownBuffer(v.dataSync() as Float32Array));
    const others = threads.send(shards, values, totalWeight);
    // Whatever this thread does next, the others' replies are awaited (or their failure caught).
    others.catch(() => undefined);
    const own = tf.variableGrads(
      () =>
        tf.tidy(() => {
          const first = bounds[1]!;
          const xs = x.slice([0, 0, 0, 0], [first, -1, -1, -1]);
          const ys = y.slice([0, 0], [first, -1]);
          return weightedCrossEntropySum(model.apply(xs, { training }) as tf.Tensor, ys, weights).div(totalWeight).add(penalty()) as tf.Scalar;
        }),
      variables,
    );
    try {
      const replies = await others;
      tf.tidy(() => {
        const summed: tf.NamedTensorMap = {};
        variables.forEach((v, i) => {
          summed[v.name] = replies.reduce<tf.Tensor>((sum, r) => sum.add(tf.tensor(r.gradients[i]!, v.shape)), own.grads[v.name] ?? tf.zerosLike(v));
        });
        optimizer.applyGradients(summed);
      });
      return own.value.dataSync()[0]! + replies.reduce((sum, r) => sum + r.loss, 0);
    } finally {
      own.value.dispose();
      tf.dispose(own.grads);
    }
  } finally {
    x.dispose();
    y.dispose();
  }
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
