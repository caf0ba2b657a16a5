// Reads a Keras 2 model file (HDF5, written by `model.save()`) into memory: the topology JSON,
// the Keras version and backend, and every layer's weights by layer name. The layout read here
// is Keras 2's (keras/engine/saving.py, also tf.keras 2.x):
//
//   /                        attrs model_config (JSON), keras_version, backend
//   /model_weights           attr layer_names: every layer of the model, in order
//   /model_weights/<layer>   attr weight_names, e.g. ["conv1/kernel:0", "conv1/bias:0"]; the
//                            datasets are found under those names, relative to the layer's group
//
// Keras splits an attribute too large for an HDF5 object header (64 KiB; a few thousand layer
// names) into numbered chunks, layer_names0, layer_names1, ...; both forms are read.
//
// Nothing here interprets the topology or checks shapes: that is keras-topology.ts and
// keras-weights.ts. Files are read whole: the authors' largest model is about 100 MB of weights.

import { open } from 'node:fs/promises';
import h5wasm from 'h5wasm/node';
import { KerasImportError } from './keras-import-error.js';

/** One saved weight: "conv1/kernel:0", its shape and its values. */
export interface KerasWeightValues {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface KerasModelFile {
  kerasVersion: string;
  backend: string;
  /** The parsed `model_config` attribute: `{class_name, config}`. */
  modelConfig: unknown;
  /** Weights by layer name, in the order Keras saved them; layers without weights are absent. */
  weights: Map<string, KerasWeightValues[]>;
}

type H5Group = InstanceType<typeof h5wasm.Group>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

/** "\x89HDF\r\n\x1a\n": HDF5's format signature. */
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Reads `file`; throws KerasImportError naming what is missing or unreadable. The file is checked
 * to be HDF5 before the HDF5 library sees it, so that a wrong file gives one clear sentence
 * rather than the library's error stack.
 */
export async function readKerasModelFile(file: string): Promise<KerasModelFile> {
  if (!(await hasHdf5Signature(file))) {
    throw new KerasImportError(file, 'not an HDF5 file; expected a Keras 2 model saved with model.save() (.h5)');
  }
  const module = await h5wasm.ready;
  // By default the library prints its error stack and returns an invalid handle; the throwing
  // handler turns those failures into exceptions for the duration of this (synchronous) read.
  module.activate_throwing_error_handler();
  let h5: InstanceType<typeof h5wasm.File> | null = null;
  try {
    h5 = new h5wasm.File(file, 'r');
    return readModel(file, h5);
  } catch (error) {
    if (error instanceof KerasImportError) throw error;
    throw new KerasImportError(file, `the HDF5 file cannot be read (${lastLine(error)})`, { cause: error });
  } finally {
    h5?.close();
    module.deactivate_throwing_error_handler();
  }
}

function readModel(file: string, h5: InstanceType<typeof h5wasm.File>): KerasModelFile {
  const attributes = h5.attrs;
  if (!attributes.model_config) {
    const weightsOnly = Boolean(attributes.layer_names ?? attributes.layer_names0);
    throw new KerasImportError(
      file,
      weightsOnly
        ? 'holds weights only (model.save_weights()): the import needs the topology too, a file saved with model.save()'
        : 'has no model_config attribute: not a Keras model saved with model.save()',
    );
  }
  const kerasVersion = stringAttribute(file, h5, 'keras_version');
  const backend = stringAttribute(file, h5, 'backend');
  let modelConfig: unknown;
  try {
    modelConfig = JSON.parse(stringAttribute(file, h5, 'model_config'));
  } catch (error) {
    throw new KerasImportError(file, `model_config is not valid JSON (${(error as Error).message})`);
  }
  const weightsRoot = h5.get('model_weights');
  if (!(weightsRoot instanceof h5wasm.Group)) throw new KerasImportError(file, 'has no model_weights group: the model was saved without its weights');

  const weights = new Map<string, KerasWeightValues[]>();
  for (const layer of stringListAttribute(file, weightsRoot, 'layer_names')) {
    const group = weightsRoot.get(layer);
    if (!(group instanceof h5wasm.Group)) throw new KerasImportError(file, `model_weights/${layer} is missing (listed in layer_names)`, { layer });
    const names = stringListAttribute(file, group, 'weight_names');
    if (names.length > 0) weights.set(layer, names.map((name) => readWeight(file, layer, group, name)));
  }
  return { kerasVersion, backend, modelConfig, weights };
}

function readWeight(file: string, layer: string, group: H5Group, name: string): KerasWeightValues {
  const dataset = group.get(name);
  if (!(dataset instanceof h5wasm.Dataset)) throw new KerasImportError(file, `weight ${name} is listed in weight_names but has no dataset`, { layer });
  return { name, shape: dataset.shape ?? [], values: floatValues(file, layer, name, dataset) };
}

function floatValues(file: string, layer: string, name: string, dataset: H5Dataset): Float32Array {
  const value = dataset.value;
  if (value instanceof Float32Array) return value;
  // float64 weights are exact in float32 for any trained model's purposes; the runtime is float32.
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new KerasImportError(file, `weight ${name} has data type ${String(dataset.dtype)}; float32 or float64 expected`, { layer });
}

/** A string attribute of the file's root (Keras writes them as fixed-length byte strings). */
function stringAttribute(file: string, h5: H5Group, name: string): string {
  const value = h5.attrs[name]?.value;
  if (typeof value !== 'string') throw new KerasImportError(file, `has no ${name} attribute (or it is not a string): not a Keras model saved with model.save()`);
  return value;
}

/** A list of strings, whole or in numbered chunks (see the header); an empty list may be stored as an empty numeric array. */
function stringListAttribute(file: string, node: H5Group, name: string): string[] {
  const attributes = node.attrs;
  const chunks = attributes[name] ? [attributes[name]] : [];
  for (let i = 0; attributes[`${name}${i}`]; i++) chunks.push(attributes[`${name}${i}`]!);
  if (chunks.length === 0) throw new KerasImportError(file, `${node.path} has no ${name} attribute: not a Keras 2 weights group`);
  return chunks.flatMap((chunk) => {
    const value = chunk.value;
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
    if (ArrayBuffer.isView(value) && (value as ArrayLike<number>).length === 0) return [];
    throw new KerasImportError(file, `${node.path}: attribute ${chunk.name} is not a list of names`);
  });
}

/** Whether the file starts with HDF5's signature, at offset 0 or a user block of 512, 1024, 2048, ... bytes. */
async function hasHdf5Signature(file: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new KerasImportError(file, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(HDF5_SIGNATURE.length);
    for (let offset = 0; offset + buffer.length <= size; offset = offset === 0 ? 512 : offset * 2) {
      await handle.read(buffer, 0, buffer.length, offset);
      if (buffer.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    await handle.close();
  }
}

/** The HDF5 library's error stack ends with the most specific line ("minor: Not an HDF5 file"). */
function lastLine(error: unknown): string {
  const lines = String(error instanceof Error ? error.message : error)
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.at(-1) ?? 'unknown error';
}
