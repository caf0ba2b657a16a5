// One training phase of a unit (a stage-1 phase, stage 2's top or its end-to-end phase) as the
// run's epoch loop (on several threads where the run has them and BN is frozen): a fresh Adam,
// resumed from the run's checkpoint (weights and optimizer moments) where one of this step
// exists, an epoch seeded by unit, step and epoch number, then the epoch's checkpoint and state
// (run-state.ts), progress and the caller's hook.

import * as tf from '@tensorflow/tfjs';
import { GradientThreads } from '../../ml/training/index.js';
import { seededRandom } from '../datasets/splits.js';
import { trainEpoch } from './fit.js';
import { seedFor, type CheckpointRef, type EpochRecord, type TrainingRun, type Unit } from './run-state.js';
import { loadOptimizer } from './weights-file.js';

/** What a phase trains and how. */
export interface PhasePlan {
  stage: 'stage1' | 'stage2';
  phase: string;
  modelKind: CheckpointRef['model'];
  model: tf.LayersModel;
  epochs: number;
  learningRate: number;
  variables: tf.Variable[];
  count: number;
  batchSize: number;
  classWeights: number[];
  batchNorm?: 'batch' | 'frozen';
  weightDecay?: { rate: number; kernels: tf.Variable[] };
  batch: (indices: number[], random: () => number) => { x: tf.Tensor4D; y: tf.Tensor2D };
  validate: () => Promise<{ valAuc: number | null; valAccuracy: number | null }>;
}

/** Trains one phase from where the run stands, saving state after every epoch. */
export async function trainPhase(run: TrainingRun, unit: Unit, p: PhasePlan): Promise<void> {
  const step = `${p.stage}-${p.phase}`;
  if (run.isDone(unit, step)) return;
  const started = Date.now();
  const optimizer = tf.train.adam(p.learningRate);
  let threads: GradientThreads | undefined;
  try {
    let first = 0;
    const ref = run.state.checkpoint;
    if (ref && ref.unit === unit.name && ref.step === step && ref.epochsDone > 0) {
      first = ref.epochsDone;
      // The optimizer's moments are created on its first step; restore them after the weights.
      await loadOptimizer(run.store.file('checkpoint', ref.optimizer), optimizer);
    }
    // More than one training thread: the batches are shared out (fit.ts), where the result
    // stays the same, i.e. BN frozen. Started after the checkpoint's weights are in the model.
    // (Gradient threads run the wasm backend: with the loop on another one they would not add
    // up to its step. Threads that do not start leave the phase on one thread, logged.)
    if (run.trainingThreads > 1 && p.batchNorm === 'frozen' && p.batchSize > 1 && first < p.epochs && tf.getBackend() === 'wasm') {
      try {
        threads = await GradientThreads.start(p.model, p.variables, { threads: Math.min(run.trainingThreads, p.batchSize) - 1, training: false, classWeights: p.classWeights });
      } catch (error) {
        run.log('training on one thread', { step, reason: (error as Error).message });
      }
    }
    for (let epoch = first; epoch < p.epochs; epoch++) {
      await run.context.checkpoint();
      const t0 = Date.now();
      const random = seededRandom(seedFor(run.config.seed, unit.name, step, epoch));
      let batches = 0;
      const loss = await trainEpoch({
        model: p.model,
        optimizer,
        variables: p.variables,
        count: p.count,
        batchSize: p.batchSize,
        random,
        batch: (indices) => p.batch(indices, random),
        classWeights: p.classWeights,
        ...(p.batchNorm ? { batchNorm: p.batchNorm } : {}),
        ...(p.weightDecay ? { weightDecay: p.weightDecay } : {}),
        ...(threads ? { threads } : {}),
        betweenBatches: async () => {
          if (++batches % 20 === 0) await run.context.checkpoint();
        },
      });
      const record: EpochRecord = {
        unit: unit.name,
        stage: p.stage,
        phase: p.phase,
        epoch: epoch + 1,
        epochs: p.epochs,
        loss,
        valAuc: null,
        valAccuracy: null,
        seconds: (Date.now() - t0) / 1000,
        at: new Date().toISOString(),
      };
      // The epoch is saved before it is scored: scoring the validation women can take minutes
      // (phase 2 exports and runs the whole model), and a stop meanwhile must not cost the epoch.
      await run.saveEpoch(unit, step, p.modelKind, epoch + 1, p.model, optimizer, record);
      const val = await p.validate();
      record.valAuc = val.valAuc;
      record.valAccuracy = val.valAccuracy;
      record.seconds = (Date.now() - t0) / 1000; // the epoch's time, its scoring included, as before
      await run.store.save(run.state);
      await run.progress({
        stage: p.stage,
        phase: p.phase,
        fold: run.unitLabel,
        epoch: epoch + 1,
        epochs: p.epochs,
        loss,
        valAuc: val.valAuc,
        ...(val.valAccuracy === null ? {} : { valAccuracy: val.valAccuracy }),
        etaSeconds: run.etaSeconds(),
      });
      await run.options.afterEpoch?.(record);
    }
  } finally {
    optimizer.dispose();
    await threads?.close();
  }
  await run.markDone(unit, step, started);
}
