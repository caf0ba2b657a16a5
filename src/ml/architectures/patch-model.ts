// Stage 1 of the method: the patch classifier, a backbone + global average pooling + a dense
// softmax over the five patch classes. Trained on small patches cut from annotated images; its
// backbone then seeds the whole-image model (see whole-image-model.ts).

import * as tf from '@tensorflow/tfjs';
import { applyLayer } from './building-blocks.js';
import { BACKBONES, type BackboneOptions, validateBackboneOptions } from './backbones.js';

/** Output classes in order. */
export const PATCH_CLASSES = ['background', 'calc_benign', 'calc_malignant', 'mass_benign', 'mass_malignant'] as const;

/** Names of the layers after the backbone start with this, so they are never mistaken for backbone layers. */
export const PATCH_HEAD_PREFIX = 'patch_';

export type PatchModelOptions = BackboneOptions;

export function createPatchModel(options: PatchModelOptions): tf.LayersModel {
  const { backbone, inputHeight, inputWidth, channels, filtersScale } = validateBackboneOptions(options);
  const input = tf.input({ name: 'input', shape: [inputHeight, inputWidth, channels] });
  const features = BACKBONES[backbone].build(input, filtersScale);
  const pooled = applyLayer(tf.layers.globalAveragePooling2d({ name: `${PATCH_HEAD_PREFIX}avg_pool` }), features);
  const probabilities = applyLayer(
    tf.layers.dense({ name: `${PATCH_HEAD_PREFIX}predictions`, units: PATCH_CLASSES.length, activation: 'softmax', kernelInitializer: 'heNormal' }),
    pooled,
  );
  return tf.model({ name: `${backbone}_patch`, inputs: input, outputs: probabilities });
}
