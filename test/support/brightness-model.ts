// A whole-image model whose heat map we control, for the heat-map tests: built from the
// architectures' building blocks in the method's shape (convolutions, then global average
// pooling and a dense softmax, named like the real top), with hand-set weights. Its "feature
// map" is the mean input brightness of each `cell` x `cell` block, and the dense layer turns a
// cell's brightness f into the logit difference GAIN * f - OFFSET: a bright blob is malignant
// (P ~ 1), dark tissue and padding benign (P ~ 0). Inputs are meant to lie in [0, 1] (intensity
// 'minmax', mean 0, scale 1).

import * as tf from '@tensorflow/tfjs';
import { applyLayer, conv } from '../../src/ml/architectures/building-blocks.js';
import { TOP_LAYER_PREFIX } from '../../src/ml/architectures/index.js';
import type { PreprocessingSpec } from '../../src/ml/model-manifest.js';

export const BRIGHTNESS_GAIN = 12;
export const BRIGHTNESS_OFFSET = 6;

export interface BrightnessModelOptions {
  inputHeight: number;
  inputWidth: number;
  channels: 1 | 3;
  /** Side of a heat-map cell in input pixels (the model's stride). */
  cell: number;
}

export function brightnessModel(options: BrightnessModelOptions): tf.LayersModel {
  const { inputHeight, inputWidth, channels, cell } = options;
  const input = tf.input({ name: 'input', shape: [inputHeight, inputWidth, channels] });
  const cells = conv(input, { name: 'cell_mean', filters: 1, kernelSize: cell, strides: cell, padding: 'same' });
  const pooled = applyLayer(tf.layers.globalAveragePooling2d({ name: `${TOP_LAYER_PREFIX}avg_pool` }), cells);
  const probabilities = applyLayer(tf.layers.dense({ name: `${TOP_LAYER_PREFIX}predictions`, units: 2, activation: 'softmax' }), pooled);
  const model = tf.model({ name: 'brightness', inputs: input, outputs: probabilities });
  tf.tidy(() => {
    model.getLayer('cell_mean').setWeights([tf.fill([cell, cell, channels, 1], 1 / (cell * cell * channels)), tf.zeros([1])]);
    // z(benign) = OFFSET, z(malignant) = GAIN * f.
    model.getLayer(`${TOP_LAYER_PREFIX}predictions`).setWeights([tf.tensor2d([[0, BRIGHTNESS_GAIN]]), tf.tensor1d([BRIGHTNESS_OFFSET, 0])]);
  });
  return model;
}

/** The pre-processing the brightness model expects, with the given overrides (fit, flips, canonical flip, size). */
export function brightnessPreprocessing(overrides: Partial<PreprocessingSpec> = {}): Partial<PreprocessingSpec> {
  return {
    inputHeight: 64,
    inputWidth: 48,
    resize: 'area',
    intensity: { method: 'minmax', mean: 0, scale: 1 },
    channels: 1,
    ...overrides,
  };
}

export interface Blob {
  /** Centre (column, row) in the stored pixel matrix, SCOORD convention (pixel centres at + 0.5). */
  center: [number, number];
  radius: number;
}

/**
 * A dark textured image (values 100-300) with a bright disc (4000) at `blob`, given in the
 * stored matrix; with `mirrored`, returned as the decoder delivers an image it turned to put
 * the breast on the left: pixels mirrored, flippedHorizontally set.
 */
export function imageWithBlob(width: number, height: number, blob: Blob, mirrored: boolean) {
  const pixels = new Float32Array(width * height);
  let state = 12345;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = (x + 0.5 - blob.center[0]) ** 2 + (y + 0.5 - blob.center[1]) ** 2 <= blob.radius ** 2;
      const value = inside ? 4000 : 100 + 200 * random();
      pixels[y * width + (mirrored ? width - 1 - x : x)] = value;
    }
  }
  return { width, height, pixels, pixelSpacingMm: null, ...(mirrored ? { flippedHorizontally: true } : {}) };
}
