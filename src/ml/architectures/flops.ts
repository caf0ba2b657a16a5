// The arithmetic cost of one forward pass, counted from the model's layers: what a measured
// inference time is compared against (GFLOP/s, share of the machine's peak).

import type * as tf from '@tensorflow/tfjs';

/** A multiply-accumulate is two floating-point operations. */
const FLOPS_PER_MAC = 2;

/**
 * Floating-point operations of one forward pass for one image: 2 x the multiply-accumulates of
 * the Conv2D and Dense layers. Bias additions, batch normalisation, ReLU, pooling and residual
 * additions are left out, as is usual: they are under 1% of a convolutional network's work.
 */
export function countFlops(model: tf.LayersModel): number {
  let macs = 0;
  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (className !== 'Conv2D' && className !== 'Dense') continue;
    const kernel = layer.weights[0]!.shape as number[];
    const weightsPerOutput = kernel.reduce((a, b) => a * b, 1);
    // Every output position of a convolution applies the whole kernel; a dense layer has one position.
    const outputShape = layer.outputShape as (number | null)[];
    const positions = className === 'Conv2D' ? (outputShape[1] as number) * (outputShape[2] as number) : 1;
    macs += positions * weightsPerOutput;
  }
  return macs * FLOPS_PER_MAC;
}
