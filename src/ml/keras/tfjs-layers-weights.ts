// Reads the weights of a model saved in TensorFlow.js layers format (model.json + binary
// shards, as tfjs's converter and `model.save` write them) without building its topology, and
// gives them to a model of ours by layer name. This is how an ImageNet-trained backbone
// (../shared/weights/mobilenet_v1_0.75_224) starts a model whose input size, channels or top
// differ from the saved one: a fully convolutional backbone's weights do not depend on them.
//
// Only float32 weights are read; quantised files (uint8/uint16 with a quantization entry) and
// other dtypes are refused, naming the weight: de-quantising silently would change the model.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { KerasWeightValues } from './keras-h5-file.js';
import { KerasImportError } from './keras-import-error.js';
import { assignLayerWeights } from './keras-weights.js';

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

interface ModelJson {
  weightsManifest?: Array<{ paths: string[]; weights: WeightSpec[] }>;
}

/** The model.json of a tfjs layers folder (or the file itself). */
function modelJsonPath(location: string): string {
  return location.endsWith('.json') ? location : path.join(location, 'model.json');
}

/**
 * The weights of a tfjs layers model, grouped by layer name (the part of the weight's name
 * before its last "/": "conv_dw_1/depthwise_kernel" belongs to layer "conv_dw_1").
 */
export async function readTfjsLayersWeights(location: string): Promise<Map<string, KerasWeightValues[]>> {
  const file = modelJsonPath(location);
  let manifest: ModelJson;
  try {
    manifest = JSON.parse(await readFile(file, 'utf8')) as ModelJson;
  } catch (error) {
    throw new KerasImportError(file, `cannot be read as a tfjs model.json: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(manifest.weightsManifest) || manifest.weightsManifest.length === 0) {
    throw new KerasImportError(file, 'has no weightsManifest: not a tfjs layers model with weights');
  }
  const byLayer = new Map<string, KerasWeightValues[]>();
  for (const group of manifest.weightsManifest) {
    // A group's weights are stored one after another across its shards, in order.
    const shards = await Promise.all(group.paths.map((p) => readFile(path.join(path.dirname(file), p))));
    const bytes = Buffer.concat(shards);
    let offset = 0;
    for (const spec of group.weights) {
      if (spec.dtype !== 'float32' || spec.quantization) {
        throw new KerasImportError(file, `weight ${spec.name} is ${spec.quantization ? 'quantised' : spec.dtype}: only float32 weights are read`);
      }
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const end = offset + count * 4;
      if (end > bytes.length) throw new KerasImportError(file, `weight ${spec.name} runs past the end of its shards (${group.paths.join(', ')}): truncated files?`);
      // Copied out: the Buffer's offset need not be 4-byte aligned.
      const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + end));
      offset = end;
      const layer = spec.name.includes('/') ? spec.name.slice(0, spec.name.lastIndexOf('/')) : spec.name;
      const list = byLayer.get(layer) ?? [];
      list.push({ name: spec.name, shape: spec.shape, values });
      byLayer.set(layer, list);
    }
    if (offset !== bytes.length) throw new KerasImportError(file, `shards ${group.paths.join(', ')} hold ${bytes.length} bytes but the manifest describes ${offset}`);
  }
  return byLayer;
}

/**
 * Loads the named layers of `model` from a tfjs layers folder (every one must be there, with
 * the same weight shapes: a different width multiplier or channel count is an error naming the
 * layer). Returns the number of weight values loaded.
 */
export async function loadTfjsLayersWeights(location: string, model: tf.LayersModel, layerNames: readonly string[]): Promise<number> {
  const saved = await readTfjsLayersWeights(location);
  assignLayerWeights(modelJsonPath(location), model, saved, layerNames);
  return layerNames.reduce((sum, name) => sum + (saved.get(name) ?? []).reduce((s, w) => s + w.values.length, 0), 0);
}
