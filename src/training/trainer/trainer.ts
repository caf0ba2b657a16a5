// The two-stage method end to end (docs/method.md), as one resumable run; this file holds the
// run's order, each phase its own file:
//
//   data     read -> decode every image once (skips recorded) -> refuse one class / bad folds
//   units    fold 1..k (cross-validation over women), then 'final' (all women; none when the
//            package is fold 1's model, packageModel 'fold-1'); each unit:
//     stage 1   patch classifier on S1/S10 patches of its training women, with augmentation,
//               in phases: last layer, top layers, all layers (each its own Adam and rate)    stage1.ts
//     features  the stage-1 backbone inside the whole-image model, exported to ONNX and run
//               once over every image and test-time flip (onnxruntime), cached on disk         features.ts
//     stage 2   phase 1: top blocks + pooling + softmax trained on the cached features;
//               phase 2 (optional): every layer, end to end on whole images                    stage2.ts
//     score     folds: the fold's model, packaged, scores its validation women's images
//               through createModelRuntime -> out-of-fold predictions                          out-of-fold.ts
//   report   out-of-fold AUC with a bootstrap CI by woman, per breast, ROC JSON + PNG,
//            sensitivity at 80/90% specificity, the threshold chosen on the out-of-fold
//            predictions (never the best of many checkpoints on one split)                      out-of-fold.ts
//   package  the final unit's whole-image model: ONNX, tfjs weights, pre-processing, threshold,
//            provenance, training data, metrics and the training report files                  packaging.ts
//
// After every epoch (train-phase.ts) the run writes its state and weights to the run dir
// (run-state.ts, which also holds what the phases share), reports progress (the job's
// heartbeat) and passes a checkpoint (where a cancellation stops it).

import { mkdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { ValidationError, type JsonValue } from '../../domain/index.js';
import { canonicalJson } from '../../ml/preprocess/index.js';
import { readPackage, type ModelPackage } from '../../ml/registry/index.js';
import { trainingBackend } from '../../ml/training/index.js';
import type { TrainingDataset, TrainingImage } from '../datasets/dataset.js';
import { kFoldsByWoman } from '../datasets/splits.js';
import type { TrainingConfig } from './config.js';
import { evaluateOutOfFold, scoreFold } from './out-of-fold.js';
import { wholeArrays, writeRunPackage } from './packaging.js';
import { TrainingRun, type TrainOptions, type TrainingResult, type Unit } from './run-state.js';
import { stage1Epochs } from './stage1.js';
import { initialWholeModel, stage2Phase1, stage2Phase2 } from './stage2.js';
import { copyLayers, createTopModel, tailLayers, trainedLayerNames } from './stage2-models.js';
import { PreparedImages, readConfiguredDataset, requireBothClasses, requireUsableFolds, usableImages } from './training-data.js';
import { encodeNamedArrays, writeFileAtomic } from './weights-file.js';

export type { TrainerContext, TrainOptions, TrainingResult } from './run-state.js';
export { loadTfjsModel } from './packaging.js';

export async function trainModel(options: TrainOptions): Promise<TrainingResult> {
  const { config, runId } = options;
  const run = new TrainingRun(options);
  if (config.backend === 'wasm') {
    try {
      await trainingBackend();
    } catch (error) {
      options.logger?.warn({ err: (error as Error).message }, "tfjs wasm training backend unavailable; using 'cpu'");
      await tf.setBackend('cpu');
    }
  } else {
    await tf.setBackend('cpu');
  }
  await tf.ready();

  const createdAt = new Date().toISOString();
  const version = config.version ?? `${config.model.backbone}-${config.stage2.top}-${createdAt.slice(0, 10).replaceAll('-', '')}-${runId.replace(/[^A-Za-z0-9]/g, '').slice(0, 12)}`;
  const { state, resumed, changed } = await run.store.open({
    format: 'mammocad-training-run/1',
    runId,
    config: canonicalJson(config as unknown as JsonValue),
    version,
    startedAt: createdAt,
    seeds: { run: config.seed, folds: config.seed, patches: config.seed },
    done: [],
    checkpoint: null,
    sequence: 0,
    oof: [],
    log: [],
    timings: {},
    skipped: [],
    notes: { backend: tf.getBackend(), initialWeightsSeeded: true },
    starts: 1,
  });
  run.state = state;
  if (resumed) run.log('training run resumed', { done: state.done.length, epochs: state.log.length, configurationChanged: changed });
  await mkdir(run.store.file('checkpoint'), { recursive: true });

  // --- data ---
  await run.progress({ stage: 'data', phase: 'reading', runId });
  const dataset = await readConfiguredDataset(config, options.labelledImages);
  run.prepared = new PreparedImages(run.spec, config.imageCacheMb * 2 ** 20);
  const { images, skipped } = await usableImages(dataset, run.prepared, () => run.context.checkpoint());
  run.state.skipped = [...dataset.skipped, ...skipped];
  await run.store.save(run.state);
  requireBothClasses(dataset.name, images);
  run.images = images;
  const folds = kFoldsByWoman(images, config.folds, config.seed);
  requireUsableFolds(dataset.name, folds);
  const hasRois = images.some((i) => i.lesions.length > 0);
  if (run.trainsStage1() && !hasRois) {
    throw new ValidationError('dataset', `${dataset.name} has no lesion outlines, so stage 1 (patches) cannot run: give baseVersion, a model whose backbone to start from`);
  }
  // With packageModel 'fold-1' fold 1's model is the package: no unit on all women.
  const units: Unit[] = [
    ...folds.slice(0, config.foldsToRun ?? folds.length).map((f) => ({ name: `fold-${f.index + 1}`, fold: f.index, train: f.train, validation: f.validation })),
    ...(config.packageModel === 'fold-1' ? [] : [{ name: 'final', fold: null, train: images, validation: [] }]),
  ];
  run.totalEpochs = units.length * epochsPerUnit(run);

  for (const unit of units) {
    run.unitLabel = unit.fold === null ? 'final' : `${unit.fold + 1}/${folds.length}`;
    await runUnit(run, unit);
  }
  return finish(run, dataset, images);
}

function epochsPerUnit(run: TrainingRun): number {
  const { stage2 } = run.config;
  const s1 = !run.trainsStage1() ? 0 : stage1Epochs(run.config);
  return s1 + stage2.phase1.epochs + (stage2.phase2.enabled ? stage2.phase2.epochs : 0);
}

/** One unit: stage 1, features, stage 2, then the fold's scores or the final model's weights. */
async function runUnit(run: TrainingRun, unit: Unit): Promise<void> {
  if (run.isDone(unit, 'unit')) return;
  const started = Date.now();
  const whole = await initialWholeModel(run, unit, run.wholeModelOptions());
  try {
    const tail = tailLayers(whole, run.config.stage2.phase1.trainFrom);
    const top = await createTopModel(whole, tail);
    try {
      await stage2Phase1(run, unit, whole, top);
      copyLayers(top, whole, trainedLayerNames(top));
    } finally {
      top.dispose();
    }
    if (run.config.stage2.phase2.enabled) await stage2Phase2(run, unit, whole);
    if (unit.fold !== null) await scoreFold(run, unit, whole);
    if (unit.fold === null || (unit.fold === 0 && run.config.packageModel === 'fold-1')) {
      await writeFileAtomic(run.store.file('final-model.bin'), encodeNamedArrays(wholeArrays(whole)));
    }
  } finally {
    whole.dispose();
  }
  await run.markDone(unit, 'unit', started);
}

/** The report on the out-of-fold predictions, the package (once), and the run's result. */
async function finish(run: TrainingRun, dataset: TrainingDataset, images: readonly TrainingImage[]): Promise<TrainingResult> {
  const evaluation = evaluateOutOfFold(run, dataset, images);
  const { metrics } = evaluation;
  await writeRunPackage(run, dataset, images, evaluation);
  const pkg: ModelPackage = await readPackage(run.store.file('package'));
  run.log('training run finished', { version: pkg.version, auc: metrics.auc });
  await run.progress({ stage: 'done', version: pkg.version, auc: metrics.auc, auc_ci: metrics.auc_ci, etaSeconds: 0 });
  return {
    runId: run.options.runId,
    version: pkg.version,
    packageDir: pkg.path,
    manifest: pkg.manifest,
    metrics,
    resumed: run.state.starts > 1,
    starts: run.state.starts,
    timings: run.state.timings,
    skipped: run.state.skipped,
  };
}

/** A short stable digest of a run's configuration (reports and logs). */
export function configDigest(config: TrainingConfig): string {
  return createHash('sha256').update(canonicalJson(config as unknown as JsonValue)).digest('hex').slice(0, 12);
}
