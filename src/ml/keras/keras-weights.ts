// Gives a tfjs model built from a Keras topology the weights saved in the Keras file, by layer
// name and weight name, checking every shape. Keras itself loads by position (the n-th saved
// array to the n-th weight); matching by name instead turns a file that does not fit its own
// topology into an error naming the layer, where loading by position could put a mean where a
// variance belongs.
//
// A weight is matched by its short name, the part after the last "/" without ":0" ("kernel",
// "bias", "gamma", "moving_mean"...): the saved name keeps the name the layer had when its
// variables were created, and the authors renamed layers afterwards ("conv1/kernel:0" is the
// weight of the layer "prt_conv1").

import * as tf from '@tensorflow/tfjs';
import type { KerasWeightValues } from './keras-h5-file.js';
import { KerasImportError } from './keras-import-error.js';

/**
 * Checks every layer's weights against `saved`, then sets them all; on a mismatch it throws
 * KerasImportError naming the layer and weight, and the model keeps its initial weights.
 */
export function assignKerasWeights(file: string, model: tf.LayersModel, saved: ReadonlyMap<string, KerasWeightValues[]>): void {
  const modelLayers = new Set(model.layers.map((layer) => layer.name));
  for (const name of saved.keys()) {
    if (!modelLayers.has(name)) throw new KerasImportError(file, 'the file has weights for this layer, but the topology has no such layer', { layer: name });
  }
  assignLayers(
    file,
    model.layers.filter((layer) => layer.weights.length > 0),
    saved,
  );
}

/**
 * Gives the named layers of `model` their weights from `saved` (pretrained weights for part of
 * a model: a backbone whose file also holds a classifier the model does not have). Every named
 * layer must be in the file with matching shapes; nothing changes unless all are.
 */
export function assignLayerWeights(file: string, model: tf.LayersModel, saved: ReadonlyMap<string, KerasWeightValues[]>, layerNames: readonly string[]): void {
  const layers = layerNames.map((name) => model.getLayer(name));
  for (const layer of layers) {
    if (!saved.has(layer.name)) throw new KerasImportError(file, 'the model needs weights for this layer, but the file has none', { layer: layer.name });
  }
  assignLayers(file, layers, saved);
}

function assignLayers(file: string, layers: readonly tf.layers.Layer[], saved: ReadonlyMap<string, KerasWeightValues[]>): void {
  const assignments = layers.map((layer) => ({ layer, values: matchLayer(file, layer, saved.get(layer.name) ?? []) }));
  for (const { layer, values } of assignments) {
    const tensors = values.map((weight) => tf.tensor(weight.values, weight.shape, 'float32'));
    // setWeights copies into the layer's variables; the tensors made here are ours to free.
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}

/** The saved arrays for `layer`'s weights, in the layer's order. */
function matchLayer(file: string, layer: tf.layers.Layer, saved: KerasWeightValues[]): KerasWeightValues[] {
  const byName = new Map(saved.map((weight) => [shortName(weight.name), weight]));
  const wanted = layer.weights.map((weight) => ({ name: shortName(weight.originalName), shape: weight.shape }));
  const savedNames = [...byName.keys()].join(', ') || 'none';
  if (byName.size !== saved.length) {
    throw new KerasImportError(file, `the file lists weights with the same name twice (${saved.map((w) => w.name).join(', ')})`, { layer: layer.name });
  }
  const unexpected = [...byName.keys()].filter((name) => !wanted.some((w) => w.name === name));
  if (unexpected.length > 0) {
    throw new KerasImportError(file, `the file has weights ${unexpected.join(', ')} that a ${layer.getClassName()} layer configured this way does not have (it has ${wanted.map((w) => w.name).join(', ')})`, {
      layer: layer.name,
    });
  }
  return wanted.map(({ name, shape }) => {
    const weight = byName.get(name);
    if (!weight) throw new KerasImportError(file, `weight ${name} is missing from the file (the file has: ${savedNames})`, { layer: layer.name });
    if (!sameShape(weight.shape, shape)) {
      throw new KerasImportError(file, `weight ${name} has shape [${weight.shape.join(', ')}] in the file, but the topology needs [${shape.join(', ')}]`, {
        layer: layer.name,
      });
    }
    return weight;
  });
}

/** "conv1/kernel:0" -> "kernel"; tfjs's "res2a/moving_mean" -> "moving_mean". */
function shortName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1).replace(/:\d+$/, '');
}

function sameShape(a: readonly number[], b: readonly (number | null)[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}
