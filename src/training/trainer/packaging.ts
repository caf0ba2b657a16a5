// Packaging a run's model: the manifest every package of the run starts from (the fold packages
// out-of-fold.ts scores with too), the final unit's whole-image model written as the package
// (ONNX, tfjs weights, pre-processing, calibrated threshold, provenance, training data, metrics,
// the out-of-distribution reference and the training report files), and reading a package's
// tfjs/ model back (the base of a retraining).

import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DatasetError, type JsonValue } from '../../domain/index.js';
import { WHOLE_IMAGE_CLASSES, createPatchModel, createWholeImageModelFromPatchModel } from '../../ml/architectures/index.js';
import type { PlattCalibration } from '../../ml/calibration.js';
import { MANIFEST_FORMAT, type ModelManifest } from '../../ml/model-manifest.js';
import { exportToOnnx } from '../../ml/onnx/index.js';
import { DEFAULT_OOD_THRESHOLD, OOD_REFERENCE_FILE, OOD_STATISTIC, OOD_STATISTIC_VERSION, buildOodReference, oodReferenceBytes } from '../../ml/ood/index.js';
import { writePackage } from '../../ml/registry/index.js';
import type { TrainingDataset, TrainingImage } from '../datasets/dataset.js';
import { kFoldsByWoman } from '../datasets/splits.js';
import { reliabilityPng, rocPng, type EvaluationReport, type GroupedEvaluation, type Reliability } from '../evaluation/index.js';
import type { TrainingMetrics, TrainingRun } from './run-state.js';
import { decodeNamedArrays } from './weights-file.js';

/** The out-of-fold evaluation the package reports (out-of-fold.ts computes it). */
export interface RunEvaluation {
  rule: { targetSpecificity: number };
  /** The chosen threshold on the model's scale, and on the calibrated scale (the package's). */
  rawThreshold: number;
  threshold: number;
  calibration: PlattCalibration;
  calibrationReport: { method: string; a: number; b: number; crossFitted: boolean; raw: Reliability; calibrated: Reliability };
  image: EvaluationReport;
  breast: EvaluationReport;
  shortcuts: GroupedEvaluation;
  metrics: TrainingMetrics;
}

/** The manifest of a package of this run's model, without its files. */
export function manifestBase(run: TrainingRun, version: string, threshold: number, notes: string): Omit<ModelManifest, 'files'> {
  const { backbone, filtersScale, pretrained } = run.config.model;
  const origin = [pretrained ? `initialised from ${path.basename(pretrained)}` : null, run.trainsStage1() ? 'two-stage training' : run.options.basePackageDir ? 'stage 2 on a base model' : 'stage 2 only (no patch stage)'];
  return {
    format: MANIFEST_FORMAT,
    version,
    name: `${backbone} (filters x${filtersScale}) + ${run.config.stage2.top} top, ${origin.filter(Boolean).join(', ')}`,
    architecture: `${backbone}${filtersScale === 1 ? '' : `@${filtersScale}`}+${run.config.stage2.top}-top`,
    classes: [...WHOLE_IMAGE_CLASSES],
    positiveClass: 'malignant',
    preprocessing: run.spec,
    threshold,
    provenance: { source: 'trained', createdAt: new Date().toISOString(), notes },
  };
}

/**
 * The out-of-distribution reference of the package (src/ml/ood): the histograms of every
 * training image's model input, taken when the images were first prepared. Null (a package
 * without one, logged) when too few images or women give no percentile to scale by.
 */
function oodReference(run: TrainingRun, dataset: TrainingDataset, images: readonly TrainingImage[]): { spec: NonNullable<ModelManifest['outOfDistribution']>; bytes: Uint8Array } | null {
  const { histograms, histogramSettings } = run.prepared;
  const used = images.filter((image) => histograms.has(image.id));
  try {
    const reference = buildOodReference(
      used.map((image) => histograms.get(image.id)!),
      used.map((image) => image.womanId),
      histogramSettings,
      run.spec,
      { datasets: [dataset.name], createdAt: new Date().toISOString(), notes: `training images of run ${run.options.runId}` },
    );
    return { spec: { file: OOD_REFERENCE_FILE, statistic: OOD_STATISTIC, version: OOD_STATISTIC_VERSION, threshold: DEFAULT_OOD_THRESHOLD }, bytes: oodReferenceBytes(reference) };
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    run.options.logger?.warn({ run: run.options.runId, reason: error.message }, 'package written without an out-of-distribution reference');
    return null;
  }
}

/**
 * Writes <run dir>/package from the final unit's weights (final-model.bin) and the evaluation,
 * unless a previous start of the run wrote it already.
 */
export async function writeRunPackage(run: TrainingRun, dataset: TrainingDataset, images: readonly TrainingImage[], evaluation: RunEvaluation): Promise<void> {
  if (existsSync(run.store.file('package', 'manifest.json'))) return;
  const { config, state } = run;
  const packageDir = run.store.file('package');
  const oof = state.oof;
  const { rule, rawThreshold, threshold, calibration, calibrationReport, image, breast, shortcuts, metrics } = evaluation;
  await rm(packageDir, { recursive: true, force: true });
  // The images the package's model trained on: all of them, or fold 1's training women.
  const trained = config.packageModel === 'fold-1' ? kFoldsByWoman(images, config.folds, config.seed)[0]!.train : images;
  const whole = createWholeImageModelFromPatchModel(
    createPatchModel({ backbone: config.model.backbone, inputHeight: run.spec.inputHeight, inputWidth: run.spec.inputWidth, channels: run.channels, filtersScale: config.model.filtersScale }),
    run.wholeModelOptions(),
  );
  try {
    setWholeArrays(whole, decodeNamedArrays(new Uint8Array(await readFile(run.store.file('final-model.bin'))), 'final-model.bin'));
    const report = {
      method: evaluationMethod(config, oof.length, trained.length, images.length),
      thresholdRule: rule,
      threshold: { raw: rawThreshold, calibrated: threshold },
      calibration: calibrationReport,
      image,
      breast,
      shortcuts,
    };
    const manifest = {
      ...manifestBase(run, state.version, threshold, `training run ${run.options.runId}; threshold: highest sensitivity at ${rule.targetSpecificity} specificity on the out-of-fold predictions, on the calibrated scale`),
      trainingData: { datasets: [dataset.name], images: trained.length, women: new Set(trained.map((i) => i.womanId)).size, positives: trained.filter((i) => i.malignant).length },
      ...(config.model.intendedUse ? { intendedUse: config.model.intendedUse } : {}),
      metrics: {
        ...metrics,
        calibration: { method: 'platt', ece_raw: calibrationReport.raw.ece, ece_calibrated: calibrationReport.calibrated.ece, crossFitted: calibrationReport.crossFitted },
        crossValidation: { image: withoutRoc(image), breast: withoutRoc(breast) },
        shortcuts,
        folds: config.folds,
        ...(config.foldsToRun !== undefined ? { foldsValidated: config.foldsToRun } : {}),
        skipped: state.skipped.length,
      } as unknown as Record<string, JsonValue>,
    };
    const tfjs = await tfjsArtifacts(whole);
    const text = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
    const ood = oodReference(run, dataset, trained);
    await writePackage(packageDir, { ...manifest, calibration, ...(ood ? { outOfDistribution: ood.spec } : {}) }, {
      ...(ood ? { [OOD_REFERENCE_FILE]: ood.bytes } : {}),
      'model.onnx': exportToOnnx(whole, { docString: state.version }),
      'tfjs/model.json': tfjs.modelJson,
      'tfjs/weights.bin': tfjs.weights,
      'report/config.json': text(JSON.parse(state.config)),
      'report/metrics.json': text(report),
      'report/roc.json': text(image.roc),
      'report/roc.png': new Uint8Array(rocPng(image.roc, { title: 'out-of-fold ROC (per image)', auc: image.auc })),
      'report/reliability.json': text(calibrationReport),
      'report/reliability.png': new Uint8Array(
        reliabilityPng(
          [
            { label: 'raw', reliability: calibrationReport.raw },
            // Cross-fitted when there are several folds (report/reliability.json says which).
            { label: 'calibrated', reliability: calibrationReport.calibrated },
          ],
          { title: 'reliability, out of fold' },
        ),
      ),
      'report/epochs.json': text(state.log),
      'report/out-of-fold.json': text(oof),
      'report/skipped.json': text(state.skipped),
      'report/timings.json': text(state.timings),
    });
  } finally {
    whole.dispose();
  }
}

/** What the reported figures are, and which model the package holds. */
function evaluationMethod(config: TrainingRun['config'], predictions: number, trained: number, images: number): string {
  if (config.packageModel === 'fold-1') {
    return `predictions for the validation women of fold 1 of ${config.folds} folds over women (${predictions} images; a fixed split by woman, not full cross-validation); the package's model is fold 1's own, trained on the other women's ${trained} images: its AUC and their confidence intervals are on women it never saw, while its threshold and calibration were fitted on these same predictions`;
  }
  if (config.foldsToRun !== undefined && config.foldsToRun < config.folds) {
    return `predictions for the validation women of the first ${config.foldsToRun} of ${config.folds} folds over women (${predictions} images; a fixed split by woman, not full cross-validation); the package's model was then trained on all ${images} images`;
  }
  return `out-of-fold predictions of ${config.folds}-fold cross-validation over women; the package's model was then trained on all ${images} images`;
}

function withoutRoc<T extends { roc: unknown }>(report: T): Omit<T, 'roc'> {
  const { roc: _roc, ...rest } = report;
  return rest;
}

/** The weights of every layer as named arrays ("<layer>#<index>"), as final-model.bin holds them. */
export function wholeArrays(model: tf.LayersModel) {
  return model.layers.flatMap((layer) => layer.getWeights().map((w, i) => ({ name: `${layer.name}#${i}`, shape: w.shape, values: w.dataSync() as Float32Array })));
}

function setWholeArrays(model: tf.LayersModel, arrays: ReturnType<typeof decodeNamedArrays>): void {
  const byName = new Map(arrays.map((a) => [a.name, a]));
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((_, i) => {
      const a = byName.get(`${layer.name}#${i}`);
      if (!a) throw new DatasetError('final-model.bin', `no weight ${layer.name}#${i}`);
      return tf.tensor(a.values, a.shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/** The model in tfjs layers format (model.json + one weights file), for further training. */
async function tfjsArtifacts(model: tf.LayersModel): Promise<{ modelJson: Uint8Array; weights: Uint8Array }> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const weightData = saved!.weightData!;
  const weights = new Uint8Array(Array.isArray(weightData) ? tf.io.concatenateArrayBuffers(weightData) : (weightData as ArrayBuffer));
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: null,
    modelTopology: saved!.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: saved!.weightSpecs }],
  };
  return { modelJson: new TextEncoder().encode(JSON.stringify(modelJson)), weights };
}

/** Loads a package's tfjs/ model (the base of a retraining). */
export async function loadTfjsModel(packageDir: string): Promise<tf.LayersModel> {
  const jsonFile = `${packageDir}/tfjs/model.json`;
  if (!existsSync(jsonFile)) throw new DatasetError(packageDir, 'the base model package has no tfjs/ weights to train from (only packages trained here have them)');
  const json = JSON.parse(await readFile(jsonFile, 'utf8')) as { modelTopology: object; weightsManifest: Array<{ weights: tf.io.WeightsManifestEntry[] }> };
  const weightData = new Uint8Array(await readFile(`${packageDir}/tfjs/weights.bin`)).slice().buffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((m) => m.weights), weightData }));
}
