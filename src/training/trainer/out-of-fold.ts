// Evaluation of a run: each fold's model, packaged, scores its validation women's images through
// the service's runtime (the out-of-fold predictions, kept in the run state), and from those
// predictions the run's report: the operating threshold (chosen on them, never the best of many
// checkpoints on one split), Platt calibration, AUC with a bootstrap CI by woman per image and
// per breast, sensitivity at 80/90% specificity, and the shortcut checks.

import { rm } from 'node:fs/promises';
import type * as tf from '@tensorflow/tfjs';
import { applyCalibration } from '../../ml/calibration.js';
import { exportToOnnx } from '../../ml/onnx/index.js';
import { readPackage, writePackage } from '../../ml/registry/index.js';
import type { TrainingDataset, TrainingImage } from '../datasets/dataset.js';
import { chooseOperatingThreshold, crossFittedCalibration, evaluationReport, evaluationReportPerBreast, fitPlatt, groupedEvaluation, reliability } from '../evaluation/index.js';
import { manifestBase, type RunEvaluation } from './packaging.js';
import type { TrainingRun, Unit } from './run-state.js';
import { scoreImages } from './score-dataset.js';
import { requireBothClasses } from './training-data.js';

/**
 * Scores a unit's validation images with the whole-image model as it stands, through the
 * service's runtime (exported to ONNX, packaged, read back): what the service would answer.
 */
export async function scoreValidation(run: TrainingRun, unit: Unit, whole: tf.LayersModel, label: string): Promise<Awaited<ReturnType<typeof scoreImages>>> {
  const dir = run.store.file('units', unit.name, label);
  await rm(dir, { recursive: true, force: true });
  try {
    await writePackage(dir, manifestBase(run, `${run.state.version}-${unit.name}`, 0.5, `cross-validation model of run ${run.options.runId}, ${unit.name}`), { 'model.onnx': exportToOnnx(whole) });
    const pkg = await readPackage(dir);
    return await scoreImages(pkg, unit.validation, { threads: run.threads, betweenImages: () => run.context.checkpoint() });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Scores a fold's validation images with the fold's model: its out-of-fold predictions. */
export async function scoreFold(run: TrainingRun, unit: Unit, whole: tf.LayersModel): Promise<void> {
  const started = Date.now();
  await run.progress({ stage: 'evaluation', phase: 'scoring validation images', fold: run.unitLabel, images: unit.validation.length, etaSeconds: run.etaSeconds() });
  const { scores, skipped } = await scoreValidation(run, unit, whole, 'package');
  run.state.skipped.push(...skipped);
  run.state.oof = run.state.oof.filter((o) => o.fold !== unit.fold);
  for (const { image, score } of scores) {
    run.state.oof.push({ imageId: image.id, womanId: image.womanId, laterality: image.laterality, label: image.label, score, fold: unit.fold! });
  }
  await run.markDone(unit, 'score', started);
}

/** The run's report from its out-of-fold predictions (refusing them without both classes). */
export function evaluateOutOfFold(run: TrainingRun, dataset: TrainingDataset, images: readonly TrainingImage[]): RunEvaluation {
  const { config } = run;
  const oof = run.state.oof;
  const labels = oof.map((o) => o.label);
  const scores = oof.map((o) => o.score);
  requireBothClasses(dataset.name, images.filter((i) => oof.some((o) => o.imageId === i.id)), 'the out-of-fold predictions');
  const rule = { targetSpecificity: config.thresholdSpecificity };
  const chosen = chooseOperatingThreshold(scores, labels, rule).threshold;
  const rawThreshold = Number.isFinite(chosen) ? Math.min(1, Math.max(0, chosen)) : 1;
  // Calibration (Platt on the logit) fitted on the out-of-fold predictions; the package's
  // threshold is the chosen one on that scale (a monotone map: same images above it). Its
  // reliability is measured with each fold calibrated by the other folds only.
  const women = new Set(oof.map((o) => o.womanId)).size;
  const malignantShare = labels.filter((l) => l === 1).length / labels.length;
  const calibration = fitPlatt(
    scores,
    labels,
    `out-of-fold predictions of ${oof.length} images of ${women} women, ${(100 * malignantShare).toFixed(0)}% malignant: calibrated for that mix, not for a screening population's prevalence`,
  );
  const threshold = applyCalibration(calibration, rawThreshold);
  const crossFitted = crossFittedCalibration(oof);
  const calibrationReport = {
    method: 'Platt scaling on the logit (src/training/evaluation/calibration.ts), fitted on all out-of-fold predictions',
    a: calibration.a,
    b: calibration.b,
    crossFitted: crossFitted.crossFitted,
    raw: reliability(scores, labels),
    calibrated: reliability(crossFitted.scores, labels),
  };
  const bootstrap = { seed: config.seed, samples: config.bootstrapSamples };
  const image = evaluationReport({ scores, labels, groups: oof.map((o) => o.womanId) }, { ...bootstrap, threshold: rawThreshold });
  const breast = evaluationReportPerBreast(
    oof.map((o) => ({ woman: o.womanId, laterality: o.laterality, score: o.score, label: o.label })),
    { ...bootstrap, threshold: rawThreshold },
  );
  // Shortcut checks on the same predictions: per machine and site, age alone, within age
  // bands (data sets without those columns give empty groups and nulls).
  const byId = new Map(images.map((i) => [i.id, i]));
  const shortcuts = groupedEvaluation(
    oof.map((o) => ({ score: o.score, label: o.label, woman: o.womanId, attributes: byId.get(o.imageId)?.attributes ?? {} })),
    bootstrap,
  );
  const metrics = {
    auc: image.auc,
    auc_ci: image.auc_ci,
    n: image.n,
    positives: image.positives,
    'sensitivity_at_spec_0.8': image['sensitivity_at_spec_0.8'],
    'sensitivity_at_spec_0.9': image['sensitivity_at_spec_0.9'],
    threshold,
  };
  return { rule, rawThreshold, threshold, calibration, calibrationReport, image, breast, shortcuts, metrics };
}
