// Stage 2 of a unit, the whole-image model: the model it starts from (the backbone of stage 1,
// of the base package or of the pretrained weights, with a seeded top), phase 1 (the top blocks,
// pooling and softmax trained on the cached backbone features, features.ts) and the optional
// phase 2 (every layer, end to end on whole images).

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TOP_LAYER_PREFIX, createWholeImageModel, createWholeImageModelFromPatchModel, initialWeights } from '../../ml/architectures/index.js';
import { auc } from '../evaluation/index.js';
import { stage2Features } from './features.js';
import { balancedClassWeights, oneHot, predictInBatches, variablesOf } from './fit.js';
import { scoreValidation } from './out-of-fold.js';
import { seedFor, type TrainingRun, type Unit } from './run-state.js';
import { loadPretrained, stage1 } from './stage1.js';
import { copyLayers, topLayerNames } from './stage2-models.js';
import { trainPhase } from './train-phase.js';
import { loadModelWeights, saveModelWeights } from './weights-file.js';

/**
 * The whole-image model a unit's stage 2 starts from: its backbone from stage 1, from the base
 * package, or (stage 1 off) from the pretrained weights; the top from its seeded initialisers
 * (or the base package's top).
 */
export async function initialWholeModel(run: TrainingRun, unit: Unit, options: Parameters<typeof createWholeImageModel>[0]): Promise<tf.LayersModel> {
  const initTop = (whole: tf.LayersModel) => initialWeights(whole, seedFor(run.config.seed, unit.name, 'top-init'), (name) => name.startsWith(TOP_LAYER_PREFIX));
  if (!run.trainsStage1() && !run.options.basePackageDir) {
    const whole = createWholeImageModel(options);
    initTop(whole);
    await loadPretrained(run, whole);
    return whole;
  }
  const source = await stage1(run, unit);
  try {
    const whole = createWholeImageModelFromPatchModel(source, options);
    initTop(whole);
    if (run.options.basePackageDir) copyLayers(source, whole, topLayerNames(whole).filter((n) => source.layers.some((l) => l.name === n)));
    return whole;
  } finally {
    source.dispose();
  }
}

/** Phase 1: the top model (the layers from phase1.trainFrom on) trained on the cached features. */
export async function stage2Phase1(run: TrainingRun, unit: Unit, whole: tf.LayersModel, top: tf.LayersModel): Promise<void> {
  const done = run.store.file('units', unit.name, 'top.bin');
  if (run.isDone(unit, 'stage2-phase1')) {
    await loadModelWeights(done, top);
    return;
  }
  const started = Date.now();
  const features = await stage2Features(run, unit, whole);
  await run.restoreCheckpoint(unit, 'top', top);
  const { phase1, classWeighting } = run.config.stage2;
  const labels = unit.train.map((i) => i.label);
  const classWeights = classWeighting === 'balanced' ? balancedClassWeights(labels, 2) : [1, 1];
  const [h, w, c] = features.shape;
  const stack = (items: Array<{ id: string; flip: number }>) => tf.tensor4d(features.batch(items), [items.length, h, w, c]);
  const testFlips = run.spec.testTimeFlips.map((f) => features.flips.indexOf(f));
  const variables = variablesOf(top, () => true);
  const kernels = top.layers.flatMap((l) => l.trainableWeights.filter((wt) => /kernel$/.test(wt.originalName)).map((wt) => wt.read() as tf.Variable));
  await trainPhase(run, unit, {
    stage: 'stage2',
    phase: 'phase1-top',
    modelKind: 'top',
    model: top,
    epochs: phase1.epochs,
    learningRate: phase1.learningRate,
    variables,
    count: unit.train.length,
    batchSize: phase1.batchSize,
    classWeights,
    batchNorm: phase1.trainFrom === undefined ? 'batch' : 'frozen',
    weightDecay: { rate: phase1.weightDecay, kernels },
    batch: (indices, random) => ({
      x: stack(indices.map((i) => ({ id: unit.train[i]!.id, flip: phase1.flipAugmentation ? Math.floor(random() * features.flips.length) : 0 }))),
      y: oneHot(indices.map((i) => labels[i]!), 2),
    }),
    validate: async () => {
      if (unit.validation.length === 0) return { valAuc: null, valAccuracy: null };
      const scores = unit.validation.map(() => 0);
      for (const f of testFlips) {
        const rows = predictInBatches(top, unit.validation.length, 16, (idx) => stack(idx.map((i) => ({ id: unit.validation[i]!.id, flip: f }))));
        rows.forEach((r, i) => (scores[i]! += r[1]! / testFlips.length));
      }
      return { valAuc: auc(scores, unit.validation.map((i) => i.label)), valAccuracy: null };
    },
  });
  await mkdir(path.dirname(done), { recursive: true });
  await saveModelWeights(done, top);
  await run.markDone(unit, 'stage2-phase1', started);
}

/** Phase 2 (optional): every layer of the whole-image model, end to end on whole images. */
export async function stage2Phase2(run: TrainingRun, unit: Unit, whole: tf.LayersModel): Promise<void> {
  const done = run.store.file('units', unit.name, 'whole.bin');
  if (run.isDone(unit, 'stage2-phase2')) {
    await loadModelWeights(done, whole);
    return;
  }
  const started = Date.now();
  await run.restoreCheckpoint(unit, 'whole', whole);
  const { phase2, classWeighting } = run.config.stage2;
  const labels = unit.train.map((i) => i.label);
  const { inputHeight: H, inputWidth: W } = run.spec;
  const c = run.channels;
  const inputs = new Map<string, Float32Array>();
  for (const image of unit.train) inputs.set(image.id, (await run.prepared.get(image)).data);
  await trainPhase(run, unit, {
    stage: 'stage2',
    phase: 'phase2-all',
    modelKind: 'whole',
    model: whole,
    epochs: phase2.epochs,
    learningRate: phase2.learningRate,
    variables: variablesOf(whole, () => true),
    count: unit.train.length,
    batchSize: phase2.batchSize,
    classWeights: classWeighting === 'balanced' ? balancedClassWeights(labels, 2) : [1, 1],
    batchNorm: phase2.batchNorm ?? (run.config.model.pretrained !== undefined || run.config.baseVersion !== undefined ? 'frozen' : 'batch'),
    batch: (indices, random) => {
      const data = new Float32Array(indices.length * c * H * W);
      indices.forEach((i, n) => data.set(inputs.get(unit.train[i]!.id)!, n * c * H * W));
      let x = tf.tensor4d(data, [indices.length, c, H, W]).transpose([0, 2, 3, 1]) as tf.Tensor4D;
      if (random() < 0.5) x = tf.reverse(x, 2);
      if (random() < 0.5) x = tf.reverse(x, 1);
      return { x, y: oneHot(indices.map((i) => labels[i]!), 2) };
    },
    // Each epoch's model scores the validation women as the service would (ONNX, test-time
    // flips): the epoch's AUC in the run's state, to follow a run that spans days.
    validate: async () => {
      if (unit.validation.length === 0) return { valAuc: null, valAccuracy: null };
      const { scores } = await scoreValidation(run, unit, whole, 'epoch-package');
      return { valAuc: auc(scores.map((s) => s.score), scores.map((s) => s.image.label)), valAccuracy: null };
    },
  });
  await mkdir(path.dirname(done), { recursive: true });
  await saveModelWeights(done, whole);
  await run.markDone(unit, 'stage2-phase2', started);
}
