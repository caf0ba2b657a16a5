// The training loss, shared by the training loop (src/training/trainer/fit.ts) and its gradient
// threads (gradient-thread.ts), which must compute exactly the same thing.

import * as tf from '@tensorflow/tfjs';

/**
 * Sum over examples of -w(y) log p(y), p clipped away from 0. Divided by the sum of the weights
 * it is the loss the loop minimises; a shard of a batch divides by the whole batch's sum, so the
 * shards' losses (and gradients) add up to the batch's.
 */
export function weightedCrossEntropySum(probabilities: tf.Tensor, oneHot: tf.Tensor, classWeights: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logP = probabilities.clipByValue(1e-7, 1).log();
    const perExample = oneHot.mul(logP).sum(1).neg();
    return perExample.mul(exampleWeights(oneHot, classWeights)).sum() as tf.Scalar;
  });
}

/** Each example's weight: its class's. */
export function exampleWeights(oneHot: tf.Tensor, classWeights: tf.Tensor1D): tf.Tensor1D {
  return oneHot.mul(classWeights).sum(1) as tf.Tensor1D;
}
