// Moves trained weights between models by layer name: how a patch classifier's backbone seeds
// a whole-image model, and how weights named the Keras way find their layers.

import type * as tf from '@tensorflow/tfjs';
import { ValidationError } from '../../domain/errors.js';

/**
 * Gives each named layer of `target` the weights of the same-named layer of `source`. Checks
 * every layer before changing any, so a mismatch leaves `target` untouched.
 * The target's variables then share the source's buffers (tfjs counts references), so
 * disposing either model afterwards is safe, and training one does not change the other.
 */
export function copyWeightsByName(source: tf.LayersModel, target: tf.LayersModel, layerNames: readonly string[]): void {
  const sourceLayers = new Map(source.layers.map((layer) => [layer.name, layer]));
  const pairs = layerNames.map((name) => {
    const from = sourceLayers.get(name);
    if (!from) throw new ValidationError('source', `model ${source.name} has no layer ${name}`);
    const to = target.getLayer(name);
    const fromShapes = from.weights.map((w) => w.shape.join('x')).join(', ');
    const toShapes = to.weights.map((w) => w.shape.join('x')).join(', ');
    if (fromShapes !== toShapes) {
      throw new ValidationError('source', `layer ${name} has weights [${fromShapes}] in ${source.name} but [${toShapes}] in ${target.name}`);
    }
    return { from, to };
  });
  for (const { from, to } of pairs) to.setWeights(from.getWeights());
}
