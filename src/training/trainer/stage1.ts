// Stage 1 of a unit: the patch classifier, trained on S1/S10 patches of the unit's training
// women (with augmentation) in three phases, last layer, top layers, all layers, each with its
// own Adam and rate. Its backbone becomes the whole-image model's (stage2.ts). With a base
// package the package's tfjs model stands in for it. Also the configured pretrained weights,
// which stage 1 and a stage 2 without stage 1 start from.

import { mkdir } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { DatasetError, type JsonValue } from '../../domain/index.js';
import { PATCH_CLASSES, PATCH_HEAD_PREFIX, TOP_LAYER_PREFIX, createPatchModel, initialWeights, type BackboneName } from '../../ml/architectures/index.js';
import { loadTfjsLayersWeights } from '../../ml/keras/tfjs-layers-weights.js';
import { randomAugment } from '../patches/augment.js';
import { samplePatchDataset } from '../patches/dataset.js';
import type { Patch } from '../patches/types.js';
import type { TrainingConfig } from './config.js';
import { balancedClassWeights, oneHot, predictInBatches, variablesOf } from './fit.js';
import { loadTfjsModel } from './packaging.js';
import { seedFor, type TrainingRun, type Unit } from './run-state.js';
import { trainPhase } from './train-phase.js';
import { patchSource } from './training-data.js';
import { loadModelWeights, saveModelWeights } from './weights-file.js';

/** Backbone layers the "top layers" phase of stage 1 trains (the last blocks), per backbone. */
const BACKBONE_TOP_PREFIXES: Record<BackboneName, string[]> = {
  yaroslavnet: ['yaroslav_block5', 'yaroslav_block6'],
  resnet50: ['conv5_'],
  vgg16: ['block5_'],
  mobilenet: ['conv_dw_12', 'conv_pw_12', 'conv_dw_13', 'conv_pw_13'],
};

const STAGE1_PHASES = ['lastLayer', 'topLayers', 'allLayers'] as const;
type Stage1Phase = (typeof STAGE1_PHASES)[number];

/** The epochs of stage 1's phases together. */
export function stage1Epochs(config: TrainingConfig): number {
  return STAGE1_PHASES.reduce((sum, p) => sum + config.stage1.phases[p].epochs, 0);
}

/** Gives the backbone layers of `model` the configured pretrained weights (none configured: nothing). */
export async function loadPretrained(run: TrainingRun, model: tf.LayersModel): Promise<void> {
  const file = run.config.model.pretrained;
  if (!file) return;
  const backbone = model.layers.filter((l) => !l.name.startsWith(TOP_LAYER_PREFIX) && !l.name.startsWith(PATCH_HEAD_PREFIX) && l.weights.length > 0).map((l) => l.name);
  await loadTfjsLayersWeights(file, model, backbone);
}

/** Stage 1 (or the base package's model): returns a model holding the backbone's weights. */
export async function stage1(run: TrainingRun, unit: Unit): Promise<tf.LayersModel> {
  if (run.options.basePackageDir) return loadTfjsModel(run.options.basePackageDir);
  const { stage1, model } = run.config;
  const patchModel = createPatchModel({ backbone: model.backbone, inputHeight: stage1.patchSize, inputWidth: stage1.patchSize, channels: run.channels, filtersScale: model.filtersScale });
  // Seeded, so a run with the same seed starts from the same weights (a resumed run loads its checkpoint instead).
  initialWeights(patchModel, seedFor(run.config.seed, unit.name, 'stage1-init'));
  // The paper starts stage 1 from ImageNet weights where it has them.
  await loadPretrained(run, patchModel);
  const done = run.store.file('units', unit.name, 'stage1.bin');
  if (run.isDone(unit, 'stage1')) {
    await loadModelWeights(done, patchModel);
    return patchModel;
  }
  const started = Date.now();
  await run.progress({ stage: 'stage1', phase: 'sampling patches', fold: run.unitLabel, etaSeconds: run.etaSeconds() });
  const sources = await Promise.all(unit.train.map((image) => patchSource(image)));
  const patches = await samplePatchDataset(sources, {
    set: stage1.set,
    seed: seedFor(run.config.seed, unit.name, 'patches'),
    spec: run.spec,
    validationFraction: run.config.validationFraction,
    sample: { patchSize: stage1.patchSize, ...(stage1.patchesPerRoi ? { patchesPerRoi: stage1.patchesPerRoi } : {}), ...(stage1.backgroundPerImage !== undefined ? { backgroundPerImage: stage1.backgroundPerImage } : {}), ...(stage1.hardNegativesPerImage !== undefined ? { hardNegativesPerImage: stage1.hardNegativesPerImage } : {}) },
  });
  if (patches.train.length === 0) throw new DatasetError(unit.name, 'stage 1 found no training patches (no lesion or background patch fits the images at this patch size)');
  run.state.notes[`${unit.name}/patches`] = patches.counts as unknown as JsonValue;
  await run.restoreCheckpoint(unit, 'patch', patchModel);

  const classWeights = balancedClassWeights(patches.train.map((p) => p.label), PATCH_CLASSES.length);
  const topPrefixes = [PATCH_HEAD_PREFIX, ...BACKBONE_TOP_PREFIXES[model.backbone]];
  const select: Record<Stage1Phase, (name: string) => boolean> = {
    lastLayer: (name) => name.startsWith(PATCH_HEAD_PREFIX),
    topLayers: (name) => topPrefixes.some((p) => name.startsWith(p)),
    allLayers: () => true,
  };
  for (const phase of STAGE1_PHASES) {
    const { epochs, learningRate } = stage1.phases[phase];
    if (epochs === 0) continue;
    await trainPhase(run, unit, {
      stage: 'stage1',
      phase,
      modelKind: 'patch',
      model: patchModel,
      epochs,
      learningRate,
      variables: variablesOf(patchModel, select[phase]),
      count: patches.train.length,
      batchSize: stage1.batchSize,
      classWeights,
      batch: (indices, random) => patchBatch(run, patches.train, indices, stage1.augmentation ? random : null),
      validate: async () => ({ valAuc: null, valAccuracy: patchAccuracy(patchModel, patches.validation, (idx) => patchBatch(run, patches.validation, idx, null).x) }),
    });
  }
  await mkdir(run.store.file('units', unit.name), { recursive: true });
  await saveModelWeights(done, patchModel);
  await run.markDone(unit, 'stage1', started);
  return patchModel;
}

function patchBatch(run: TrainingRun, patches: readonly Patch[], indices: number[], random: (() => number) | null): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const size = run.config.stage1.patchSize;
  const c = run.channels;
  const data = new Float32Array(indices.length * size * size * c);
  indices.forEach((index, n) => {
    const patch = patches[index]!;
    const pixels = random ? randomAugment(patch.pixels, size, random).pixels : patch.pixels;
    const base = n * size * size * c;
    if (c === 1) data.set(pixels, base);
    else for (let p = 0; p < pixels.length; p++) for (let ch = 0; ch < c; ch++) data[base + p * c + ch] = pixels[p]!;
  });
  return { x: tf.tensor4d(data, [indices.length, size, size, c]), y: oneHot(indices.map((i) => patches[i]!.label), PATCH_CLASSES.length) };
}

function patchAccuracy(model: tf.LayersModel, patches: readonly Patch[], input: (indices: number[]) => tf.Tensor4D): number | null {
  if (patches.length === 0) return null;
  const rows = predictInBatches(model, patches.length, 64, input);
  let right = 0;
  rows.forEach((r, i) => {
    let best = 0;
    for (let k = 1; k < r.length; k++) if (r[k]! > r[best]!) best = k;
    if (best === patches[i]!.label) right++;
  });
  return right / patches.length;
}
