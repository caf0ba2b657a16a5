// Gives an existing package heat maps (issue 16): its model.onnx, exported before the "heatmap"
// output existed, is exported again from the package's own tfjs/ weights, and the result is
// written as a new package, after checking on real images that the new graph's probabilities
// are the old graph's (the probabilities path is the same nodes; the check makes sure of it).
//
// A changed model.onnx changes its sha256 in manifest.json, hence the package hash (the digest
// of manifest.json) by which predictions record the model: the result is a new model version,
// never the old one rewritten. Everything else (manifest fields, tfjs/, report/, the
// out-of-distribution reference) is carried over byte for byte.
//
//   const report = await addHeatMapOutput('models/default', 'var/models/default-rsna-2-hm', { version: 'default-rsna-2-hm', images });

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { ConflictError, ValidationError } from '../../domain/errors.js';
import { positiveLogit } from '../heatmap/cell-logits.js';
import type { GridSize } from '../heatmap/heat-map-geometry.js';
import { MODEL_FILE } from '../model-manifest.js';
import { preprocessImage, toBatch, type GreyImage } from '../preprocess/preprocess.js';
import { readPackage, writePackage, type ModelPackage } from './model-package.js';
import { HEAT_MAP_OUTPUT, readOnnxSignature } from './onnx-signature.js';

/** The re-export must reproduce the old probabilities this closely (the same float32 graph: in practice exactly). */
export const DEFAULT_REEXPORT_TOLERANCE = 1e-5;

export interface HeatMapReexportOptions {
  /** Version of the new package (a new model version: the package hash changes with model.onnx). */
  version: string;
  /** Images to compare the old and new model.onnx on, through the package's pre-processing and every test-time flip; at least one. */
  images: readonly GreyImage[];
  /** Largest accepted |old - new| of any class probability (default 1e-5); above it nothing is written. */
  tolerance?: number;
  /** onnxruntime intra-op threads for the comparison (default: onnxruntime's choice). */
  intraOpThreads?: number;
}

export interface HeatMapReexportReport {
  /** The new package, read back and verified. */
  package: ModelPackage;
  /** Largest |old - new| over every class probability of every image and flip. */
  maxAbsDiff: number;
  /** Model runs compared: images x test-time flips. */
  runs: number;
  /**
   * Largest |mean of the cells' positive logits - the image's logit log(p / (1 - p))| over the
   * same runs: the class-activation-map identity, checked on the new graph.
   */
  camIdentityMaxDiff: number;
  /** The heat map's grid over the model input. */
  grid: GridSize;
}

/** Re-exports `sourceDir`'s model with the heat map output into a new package at `targetDir` (see the header). */
export async function addHeatMapOutput(sourceDir: string, targetDir: string, options: HeatMapReexportOptions): Promise<HeatMapReexportReport> {
  const source = await readPackage(sourceDir);
  if (source.model.signature.heatMap) throw new ConflictError(`model package ${source.path} already has a "${HEAT_MAP_OUTPUT}" output`);
  if (options.version === source.version) throw new ValidationError('version', `must differ from the source package's (${source.version}): a new model.onnx is a new model version`);
  if (options.images.length === 0) throw new ValidationError('images', 'at least one image is needed to compare the old and new model');
  const tolerance = options.tolerance ?? DEFAULT_REEXPORT_TOLERANCE;

  // tfjs only here: the registry is read by every worker, which has no other use for it (~1 s to load).
  const [{ loadTfjsModel }, { exportToOnnx }] = await Promise.all([import('../keras/tfjs-files.js'), import('../onnx/export-onnx.js')]);
  const model = await loadTfjsModel(source.path);
  let bytes: Uint8Array;
  try {
    checkSameInterface(model, source);
    bytes = exportToOnnx(model, { docString: options.version, heatMap: true });
  } finally {
    model.dispose();
  }
  const signature = readOnnxSignature(bytes);
  const grid = { rows: signature.heatMap!.shape[2] as number, columns: signature.heatMap!.shape[3] as number };
  const comparison = await compareModels(source, await readFile(source.model.path), bytes, grid, options);
  if (!(comparison.maxAbsDiff <= tolerance)) {
    throw new ValidationError('tolerance', `the re-exported model's probabilities differ from the old model.onnx's by up to ${comparison.maxAbsDiff} (more than ${tolerance}): not written`);
  }

  const files: Record<string, Uint8Array> = { [MODEL_FILE]: bytes };
  for (const entry of source.manifest.files) {
    if (entry.path !== MODEL_FILE) files[entry.path] = await readFile(path.join(source.path, ...entry.path.split('/')));
  }
  const { files: _oldFiles, ...manifest } = source.manifest;
  const note = `model.onnx re-exported from tfjs/ with the "${HEAT_MAP_OUTPUT}" output (from package ${source.version}, hash ${source.packageHash}); probabilities within ${comparison.maxAbsDiff.toExponential(1)} of the old model.onnx on ${comparison.runs} runs`;
  await writePackage(
    targetDir,
    {
      ...manifest,
      version: options.version,
      provenance: { ...manifest.provenance, notes: manifest.provenance.notes ? `${manifest.provenance.notes}; ${note}` : note },
    },
    files,
  );
  return { package: await readPackage(targetDir), ...comparison, grid };
}

/** The tfjs model must be the one the package's model.onnx was made from, as far as its interface shows. */
function checkSameInterface(model: tf.LayersModel, pkg: ModelPackage): void {
  const { inputHeight, inputWidth, channels } = pkg.manifest.preprocessing;
  const [, height, width, depth] = model.inputs[0]!.shape;
  const classes = model.outputs[0]!.shape[1];
  if (height !== inputHeight || width !== inputWidth || depth !== channels || classes !== pkg.manifest.classes.length) {
    throw new ValidationError(
      'tfjs',
      `the tfjs model takes [${height}, ${width}, ${depth}] and gives ${classes} classes; the package's model takes [${inputHeight}, ${inputWidth}, ${channels}] and gives ${pkg.manifest.classes.length}`,
    );
  }
}

async function compareModels(
  pkg: ModelPackage,
  oldBytes: Uint8Array,
  newBytes: Uint8Array,
  grid: GridSize,
  options: HeatMapReexportOptions,
): Promise<{ maxAbsDiff: number; runs: number; camIdentityMaxDiff: number }> {
  const settings: ort.InferenceSession.SessionOptions = {
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...(options.intraOpThreads === undefined ? {} : { intraOpNumThreads: options.intraOpThreads }),
  };
  const spec = pkg.manifest.preprocessing;
  const positive = pkg.manifest.classes.indexOf(pkg.manifest.positiveClass);
  const classes = pkg.manifest.classes.length;
  const cells = grid.rows * grid.columns;
  const [before, after] = [await ort.InferenceSession.create(oldBytes, settings), await ort.InferenceSession.create(newBytes, settings)];
  let maxAbsDiff = 0;
  let camIdentityMaxDiff = 0;
  let runs = 0;
  try {
    for (const image of options.images) {
      const prepared = preprocessImage(image, spec);
      for (const flip of spec.testTimeFlips) {
        const batch = toBatch([prepared], flip);
        const input = { [pkg.model.signature.input.name]: new ort.Tensor('float32', batch.data, batch.shape) };
        const oldOut = await before.run(input);
        const newOut = await after.run(input);
        const oldP = oldOut[pkg.model.signature.output.name]!.data as Float32Array;
        const newP = newOut.probabilities!.data as Float32Array;
        for (let k = 0; k < classes; k++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(oldP[k]! - newP[k]!));
        const map = newOut[HEAT_MAP_OUTPUT]!.data as Float32Array;
        let mean = 0;
        const logits = new Float64Array(classes);
        for (let cell = 0; cell < cells; cell++) {
          for (let k = 0; k < classes; k++) logits[k] = map[k * cells + cell]!;
          mean += positiveLogit(logits, positive) / cells;
        }
        const p = newP[positive]!;
        camIdentityMaxDiff = Math.max(camIdentityMaxDiff, Math.abs(mean - Math.log(p / (1 - p))));
        runs++;
      }
    }
  } finally {
    await Promise.all([before.release(), after.release()]);
  }
  return { maxAbsDiff, runs, camIdentityMaxDiff };
}
