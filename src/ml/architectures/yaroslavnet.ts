// A small backbone in the spirit of the paper's "YaroslavNet" (6 convolutional blocks with
// batch normalisation, one grey channel, trained from scratch): small enough to train on a
// CPU. It is our own layout, not a copy of the DM Challenge network: 3x3 convolutions without
// bias (BN's beta plays that role), BN and ReLU, each block ending in a 2x2 max pool. The
// first block has a single convolution because at full resolution a second one would cost as
// much as the rest of the network.

import type * as tf from '@tensorflow/tfjs';
import { DEFAULT_BN_EPSILON, batchNorm, conv, maxPool, relu, scaleFilters } from './building-blocks.js';

const BLOCKS = [
  { filters: 16, convs: 1 },
  { filters: 32, convs: 2 },
  { filters: 64, convs: 2 },
  { filters: 128, convs: 2 },
  { filters: 256, convs: 2 },
  { filters: 256, convs: 2 },
] as const;


/** Applies the backbone to `input`; returns yaroslav_block6_pool. */
export function yaroslavNetBackbone(input: tf.SymbolicTensor, filtersScale: number): tf.SymbolicTensor {
  let x = input;
  BLOCKS.forEach((block, index) => {
    const name = `yaroslav_block${index + 1}`;
    for (let c = 1; c <= block.convs; c++) {
      x = conv(x, {
        name: `${name}_conv${c}`,
        filters: scaleFilters(block.filters, filtersScale),
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: 'heNormal',
      });
      x = relu(batchNorm(x, `${name}_bn${c}`, DEFAULT_BN_EPSILON), `${name}_relu${c}`);
    }
    x = maxPool(x, `${name}_pool`, 2, 2);
  });
  return x;
}
