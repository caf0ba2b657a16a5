// Model weights and optimizer state as one binary file of named float32 tensors, so that a
// training run can stop after any epoch and go on in another process. Layers are named the
// Keras way and never renamed, so a weight is keyed by "<layer name>#<index in the layer>";
// tfjs's own variable names are not used (they gain suffixes when a process builds the same
// architecture twice). Optimizer state is kept in the optimizer's own order (Adam matches its
// moments to the variables by position).
//
// Format: "MCW1", uint32 header length, JSON header [{name, shape, offset}], float32 data (LE).
// Written to a temporary file and renamed, so a reader never sees half a file.

import { readFile, rename, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { DatasetError } from '../../domain/errors.js';

const MAGIC = 'MCW1';

export interface NamedArray {
  name: string;
  shape: number[];
  values: Float32Array;
}

export function encodeNamedArrays(arrays: readonly NamedArray[]): Uint8Array {
  let offset = 0;
  const header = arrays.map((a) => {
    const entry = { name: a.name, shape: a.shape, offset };
    offset += a.values.length;
    return entry;
  });
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + headerBytes.length + offset * 4 + ((4 - ((8 + headerBytes.length) % 4)) % 4));
  const pad = (4 - ((8 + headerBytes.length) % 4)) % 4;
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(4, headerBytes.length + pad, true);
  out.set(headerBytes, 8);
  out.fill(0x20, 8 + headerBytes.length, 8 + headerBytes.length + pad);
  const data = new Float32Array(out.buffer, 8 + headerBytes.length + pad, offset);
  for (const [i, a] of arrays.entries()) data.set(a.values, header[i]!.offset);
  return out;
}

export function decodeNamedArrays(bytes: Uint8Array, source: string): NamedArray[] {
  if (new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) throw new DatasetError(source, 'not a weights file (bad magic)');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Array<{ name: string; shape: number[]; offset: number }>;
  const dataStart = 8 + headerLength;
  const copy = bytes.slice(dataStart);
  const data = new Float32Array(copy.buffer, 0, Math.floor(copy.byteLength / 4));
  return header.map((h) => {
    const size = h.shape.reduce((a, b) => a * b, 1);
    if (h.offset + size > data.length) throw new DatasetError(source, `weights file truncated at ${h.name}`);
    return { name: h.name, shape: h.shape, values: data.slice(h.offset, h.offset + size) };
  });
}

export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  const partial = `${file}.partial`;
  await writeFile(partial, bytes);
  await rename(partial, file);
}

/** Every weight of the model (trainable or not: BN moving statistics too), keyed by layer. */
export function modelArrays(model: tf.LayersModel, layerFilter: (name: string) => boolean = () => true): NamedArray[] {
  return model.layers
    .filter((layer) => layerFilter(layer.name))
    .flatMap((layer) => layer.getWeights().map((w, i) => ({ name: `${layer.name}#${i}`, shape: w.shape, values: w.dataSync() as Float32Array })));
}

/** Sets the model's weights from arrays keyed as modelArrays writes them; every layer with weights must be there. */
export function setModelArrays(model: tf.LayersModel, arrays: readonly NamedArray[], source: string, layerFilter: (name: string) => boolean = () => true): void {
  const byName = new Map(arrays.map((a) => [a.name, a]));
  for (const layer of model.layers) {
    if (!layerFilter(layer.name) || layer.weights.length === 0) continue;
    const values = layer.weights.map((w, i) => {
      const a = byName.get(`${layer.name}#${i}`);
      if (!a || a.shape.join('x') !== w.shape.join('x')) {
        throw new DatasetError(source, `checkpoint has no weight ${layer.name}#${i} of shape [${w.shape.join(', ')}] (model ${model.name}): the configuration changed since it was written`);
      }
      return tf.tensor(a.values, a.shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

export async function saveModelWeights(file: string, model: tf.LayersModel, layerFilter?: (name: string) => boolean): Promise<void> {
  await writeFileAtomic(file, encodeNamedArrays(modelArrays(model, layerFilter)));
}

export async function loadModelWeights(file: string, model: tf.LayersModel, layerFilter?: (name: string) => boolean): Promise<void> {
  setModelArrays(model, decodeNamedArrays(new Uint8Array(await readFile(file)), file), file, layerFilter);
}

export async function saveOptimizer(file: string, optimizer: tf.Optimizer): Promise<void> {
  const weights = await optimizer.getWeights();
  const arrays = weights.map((w, i) => ({ name: `${i}:${w.name}`, shape: w.tensor.shape, values: w.tensor.dataSync() as Float32Array }));
  await writeFileAtomic(file, encodeNamedArrays(arrays));
}

export async function loadOptimizer(file: string, optimizer: tf.Optimizer): Promise<void> {
  const arrays = decodeNamedArrays(new Uint8Array(await readFile(file)), file);
  const named = arrays.map((a) => ({ name: a.name.slice(a.name.indexOf(':') + 1), tensor: tf.tensor(a.values, a.shape) }));
  await optimizer.setWeights(named);
  tf.dispose(named.map((n) => n.tensor));
}
