// Imports a whole-image model released by the paper's authors (Keras 2, HDF5 from
// `model.save()`, GitHub lishen/end2end-all-conv) as a model package:
//
//   read the file -> check and convert the topology -> build it in tfjs -> set the saved weights
//   -> export to ONNX -> write model.onnx, tfjs/ and a manifest with the paper's pre-processing
//
// The released models expect the paper's scaling (stored 16-bit values x 255/65535, minus the
// training set's mean), so the package carries paperPreprocessing(mean) at the model's own input
// size: scoring with any other pre-processing silently ruins such a model (docs/method.md,
// "Known problems"). Class order is the authors' 2-way softmax: index 1 is malignant.
//
// Registering the package is the caller's step (ModelService.import), so that this module needs
// no database.

import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ValidationError } from '../../domain/errors.js';
import { WHOLE_IMAGE_CLASSES } from '../architectures/index.js';
import type { ModelManifest } from '../model-manifest.js';
import { OnnxExportError, exportToOnnx } from '../onnx/index.js';
import { paperPreprocessing } from '../preprocess/presets.js';
import { writePackage } from '../registry/index.js';
import { readKerasModelFile } from './keras-h5-file.js';
import { KerasImportError } from './keras-import-error.js';
import { importableTopology } from './keras-topology.js';
import { assignKerasWeights } from './keras-weights.js';
import { tfjsModelFiles } from './tfjs-files.js';

/**
 * The threshold a package gets when none is given: the midpoint of the softmax. Nobody chose it
 * on this site's data, so it is not an operating point until it is calibrated here.
 */
export const UNCALIBRATED_THRESHOLD = 0.5;

/** Backends whose saved kernels tfjs uses as they are (Theano's are flipped; Keras converts them on load). */
const SUPPORTED_BACKENDS = ['tensorflow', 'cntk'];

export interface KerasImportOptions {
  /** Folder the package is written to; it must not hold a package yet. */
  outDir: string;
  /** The package version; default: derived from the file name (versionFromFileName). */
  version?: string;
  /** The training set's mean in 0..255 units (PAPER_DATASET_MEANS.ddsm or .inbreast for the released models). */
  datasetMean: number;
  /** Operating threshold on P(malignant); default UNCALIBRATED_THRESHOLD. */
  threshold?: number;
}

export interface KerasImportResult {
  packageDir: string;
  manifest: ModelManifest;
  kerasVersion: string;
  /** Dropout and other layers cut out as the identity at inference. */
  removedLayers: string[];
  parameters: number;
}

/** Writes the package for the Keras model in `file` (see the header); throws KerasImportError, writing nothing, when it cannot. */
export async function importKerasModel(file: string, options: KerasImportOptions): Promise<KerasImportResult> {
  const version = options.version ?? versionFromFileName(file);
  const threshold = options.threshold ?? UNCALIBRATED_THRESHOLD;
  if (!(threshold >= 0 && threshold <= 1)) throw new ValidationError('threshold', `must be between 0 and 1; got ${threshold}`);
  if (!Number.isFinite(options.datasetMean)) throw new ValidationError('datasetMean', `must be a finite number; got ${options.datasetMean}`);

  const saved = await readKerasModelFile(file);
  if (!/^2\./.test(saved.kerasVersion)) {
    throw new KerasImportError(file, `was saved by Keras ${saved.kerasVersion}; only Keras 2.x files (and tf.keras 2.x) are supported`);
  }
  if (!SUPPORTED_BACKENDS.includes(saved.backend)) {
    throw new KerasImportError(file, `was saved with the ${saved.backend} backend; only ${SUPPORTED_BACKENDS.join(' and ')} kernels are supported`);
  }
  const topology = importableTopology(file, saved.modelConfig);
  const model = await buildModel(file, topology.modelTopology);
  try {
    const outputShape = model.outputs[0]!.shape;
    if (outputShape.length !== 2 || outputShape[1] !== WHOLE_IMAGE_CLASSES.length) {
      throw new KerasImportError(file, `the model's output has shape [${outputShape.map((d) => d ?? 'None').join(', ')}]; expected the authors' 2-way softmax [None, 2] (not malignant, malignant)`);
    }
    assignKerasWeights(file, model, saved.weights);
    const onnx = exportModel(file, model, version);
    const tfjsFiles = await tfjsModelFiles(model);
    const fileName = path.basename(file);
    const manifest = await writePackage(
      options.outDir,
      {
        format: 'mammocad-model/1',
        version,
        name: `${fileName} (Keras ${saved.kerasVersion})`,
        architecture: `keras:${model.name}`,
        classes: [...WHOLE_IMAGE_CLASSES],
        positiveClass: WHOLE_IMAGE_CLASSES[1],
        preprocessing: {
          ...paperPreprocessing(options.datasetMean),
          inputHeight: topology.input.height,
          inputWidth: topology.input.width,
          channels: topology.input.channels,
        },
        threshold,
        provenance: {
          source: 'keras-import',
          createdAt: new Date().toISOString(),
          notes:
            `imported from ${fileName}, saved by Keras ${saved.kerasVersion} (${saved.backend} backend); ` +
            `threshold ${threshold}${options.threshold === undefined ? ' is a default, not calibrated for this site' : ' as given at import'}` +
            (topology.inputSizeFixed ? `; the file leaves the input size open: fixed at the paper's ${topology.input.height}x${topology.input.width}` : '') +
            (topology.removedLayers.length > 0 ? `; dropped as the identity at inference: ${topology.removedLayers.join(', ')}` : ''),
        },
      },
      { 'model.onnx': onnx, ...tfjsFiles },
    );
    return { packageDir: path.resolve(options.outDir), manifest, kerasVersion: saved.kerasVersion, removedLayers: topology.removedLayers, parameters: model.countParams() };
  } finally {
    model.dispose();
  }
}

/** A package version from a file name: "ddsm_resnet50_s10_[512-512-1024]x2.h5" -> "ddsm_resnet50_s10_-512-512-1024-x2". */
export function versionFromFileName(file: string): string {
  const stem = path.basename(file, path.extname(file));
  const version = stem
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 128);
  return version || 'keras-model';
}

async function buildModel(file: string, modelTopology: object): Promise<tf.LayersModel> {
  try {
    return await tf.models.modelFromJSON({ modelTopology } as Parameters<typeof tf.models.modelFromJSON>[0]);
  } catch (error) {
    throw new KerasImportError(file, `tfjs cannot build the topology: ${(error as Error).message}`, { cause: error });
  }
}

function exportModel(file: string, model: tf.LayersModel, version: string): Uint8Array {
  try {
    return exportToOnnx(model, { docString: `mammocad model ${version}, imported from ${path.basename(file)}` });
  } catch (error) {
    if (!(error instanceof OnnxExportError)) throw error;
    // The exporter's message already names the layer.
    throw new KerasImportError(file, `cannot be exported to ONNX: ${error.message}`, { cause: error });
  }
}
