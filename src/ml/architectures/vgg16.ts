// VGG16's convolutional part (Keras application layout, include_top=false): the paper's second
// backbone. Layer names are Keras's (block1_conv1, ..., block5_pool), so ImageNet or
// Keras-trained weights can be loaded by name.

import type * as tf from '@tensorflow/tfjs';
import { conv, maxPool, scaleFilters } from './building-blocks.js';

/** Five blocks of 3x3 convolutions (with bias and ReLU, no batch normalisation), each ending in a 2x2 max pool. */
const BLOCKS = [
  { filters: 64, convs: 2 },
  { filters: 128, convs: 2 },
  { filters: 256, convs: 3 },
  { filters: 512, convs: 3 },
  { filters: 512, convs: 3 },
] as const;


/** Applies VGG16's convolutional part to `input`; returns block5_pool. */
export function vgg16Backbone(input: tf.SymbolicTensor, filtersScale: number): tf.SymbolicTensor {
  let x = input;
  BLOCKS.forEach((block, index) => {
    const name = `block${index + 1}`;
    for (let c = 1; c <= block.convs; c++) {
      x = conv(x, {
        name: `${name}_conv${c}`,
        filters: scaleFilters(block.filters, filtersScale),
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
      });
    }
    x = maxPool(x, `${name}_pool`, 2, 2);
  });
  return x;
}
