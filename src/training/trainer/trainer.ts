// The two-stage method end to end (docs/method.md), as one resumable run:
//
//   data     read -> decode every image once (skips recorded) -> refuse one class / bad folds
//   units    fold 1..k (cross-validation over women), then 'final' (all women); each unit:
//     stage 1   patch classifier on S1/S10 patches of its training women, with augmentation,
//               in phases: last layer, top layers, all layers (each its own Adam and rate)
//     features  the stage-1 backbone inside the whole-image model, exported to ONNX and run
//               once over every image and test-time flip (onnxruntime), cached on disk
//     stage 2   phase 1: top blocks + pooling + softmax trained on the cached features;
//               phase 2 (optional): every layer, end to end on whole images
//     score     folds: the fold's model, packaged, scores its validation women's images
//               through createModelRuntime -> out-of-fold predictions
//   report   out-of-fold AUC with a bootstrap CI by woman, per breast, ROC JSON + PNG,
//            sensitivity at 80/90% specificity, the threshold chosen on the out-of-fold
//            predictions (never the best of many checkpoints on one split)
//   package  the final unit's whole-image model: ONNX, tfjs weights, pre-processing, threshold,
//            provenance, training data, metrics and the training report files
//
// After every epoch the run writes its state and weights to the run dir (run-state.ts), reports
// progress (the job's heartbeat) and passes a checkpoint (where a cancellation stops it).

import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import * as tf from '@tensorflow/tfjs';
import { DatasetError, ValidationError, type JsonValue } from '../../domain/index.js';
import {
  PATCH_CLASSES,
  PATCH_HEAD_PREFIX,
  WHOLE_IMAGE_CLASSES,
  createPatchModel,
  initialWeights,
  TOP_LAYER_PREFIX,
  createWholeImageModel,
  createWholeImageModelFromPatchModel,
  type BackboneName,
} from '../../ml/architectures/index.js';
import { loadTfjsLayersWeights } from '../../ml/keras/tfjs-layers-weights.js';
import { MANIFEST_FORMAT, type ModelManifest, type PreprocessingSpec, type TestTimeFlip } from '../../ml/model-manifest.js';
import { exportToOnnx } from '../../ml/onnx/index.js';
import { DEFAULT_OOD_THRESHOLD, OOD_REFERENCE_FILE, OOD_STATISTIC, OOD_STATISTIC_VERSION, buildOodReference, oodReferenceBytes } from '../../ml/ood/index.js';
import { canonicalJson, toBatch } from '../../ml/preprocess/index.js';
import { readPackage, writePackage, type ModelPackage } from '../../ml/registry/index.js';
import { trainingBackend } from '../../ml/training/index.js';
import type { TrainingDataset, TrainingImage } from '../datasets/dataset.js';
import { kFoldsByWoman, seededRandom } from '../datasets/splits.js';
import { auc, chooseOperatingThreshold, crossFittedCalibration, evaluationReport, evaluationReportPerBreast, fitPlatt, groupedEvaluation, reliability, reliabilityPng, rocPng } from '../evaluation/index.js';
import { applyCalibration } from '../../ml/calibration.js';
import { randomAugment } from '../patches/augment.js';
import { imageSeed, samplePatchDataset } from '../patches/dataset.js';
import type { Patch } from '../patches/types.js';
import { channelsFor, preprocessingFor, type TrainingConfig } from './config.js';
import { balancedClassWeights, oneHot, predictInBatches, trainEpoch, variablesOf } from './fit.js';
import { RunStore, type CheckpointRef, type EpochRecord, type RunState } from './run-state.js';
import { scoreImages } from './score-dataset.js';
import { FeatureCache, storeMap } from './feature-cache.js';
import { BackboneFeatures, copyLayers, createTopModel, tailLayers, topLayerNames, trainedLayerNames } from './stage2-models.js';
import { PreparedImages, patchSource, readConfiguredDataset, requireBothClasses, requireUsableFolds, usableImages } from './training-data.js';
import { decodeNamedArrays, encodeNamedArrays, loadModelWeights, loadOptimizer, saveModelWeights, saveOptimizer, writeFileAtomic } from './weights-file.js';

/** What the trainer reports to and asks of its caller (a job, the CLI, a test). */
export interface TrainerContext {
  /** Progress (also the job's heartbeat); called at least once per epoch. */
  progress(progress: JsonValue): Promise<unknown>;
  /** Throws when the run must stop (JobCancelledError); called at least once per epoch. */
  checkpoint(): Promise<void>;
}

export interface TrainOptions {
  config: TrainingConfig;
  runId: string;
  /** Where state, checkpoints, caches and the package go. */
  runDir: string;
  context?: TrainerContext;
  logger?: Logger;
  /** The service's labelled images (dataset 'labels'). */
  labelledImages?: () => Promise<TrainingDataset>;
  /** The package of config.baseVersion: its tfjs weights replace stage 1. */
  basePackageDir?: string;
  /** onnxruntime threads (default 1: the machine is shared). */
  threads?: number;
  /** Test hook: called after each epoch's state is saved. */
  afterEpoch?: (record: EpochRecord) => Promise<void> | void;
}

export interface TrainingResult {
  runId: string;
  version: string;
  packageDir: string;
  manifest: ModelManifest;
  /** The cross-validated report (out-of-fold, per image) as printed by the CLI. */
  metrics: { auc: number; auc_ci: [number, number]; n: number; positives: number; 'sensitivity_at_spec_0.8': number; 'sensitivity_at_spec_0.9': number; threshold: number };
  resumed: boolean;
  starts: number;
  timings: Record<string, number>;
  skipped: RunState['skipped'];
}

/** Backbone layers the "top layers" phase of stage 1 trains (the last blocks), per backbone. */
const BACKBONE_TOP_PREFIXES: Record<BackboneName, string[]> = {
  yaroslavnet: ['yaroslav_block5', 'yaroslav_block6'],
  resnet50: ['conv5_'],
  vgg16: ['block5_'],
  mobilenet: ['conv_dw_12', 'conv_pw_12', 'conv_dw_13', 'conv_pw_13'],
};

const STAGE1_PHASES = ['lastLayer', 'topLayers', 'allLayers'] as const;
type Stage1Phase = (typeof STAGE1_PHASES)[number];

interface Unit {
  name: string;
  /** Fold index (0-based), null for the final model. */
  fold: number | null;
  train: TrainingImage[];
  validation: TrainingImage[];
}

const noContext: TrainerContext = { progress: async () => undefined, checkpoint: async () => undefined };

/** A 32-bit seed for a named purpose, from the run's seed (FNV-1a, as the patch sampler's). */
const seedFor = (seed: number, ...parts: Array<string | number>) => imageSeed(seed, parts.join('/'));

export async function trainModel(options: TrainOptions): Promise<TrainingResult> {
  return new Trainer(options).run();
}

class Trainer {
  private readonly config: TrainingConfig;
  private readonly context: TrainerContext;
  private readonly store: RunStore;
  private readonly spec: PreprocessingSpec;
  private readonly channels: 1 | 3;
  private readonly threads: number;
  private state!: RunState;
  private prepared!: PreparedImages;
  private totalEpochs = 0;
  private unitLabel = '';
  /** Every usable image of the run (units draw their women from these). */
  private images: TrainingImage[] = [];
  /** The run's one feature cache when every unit shares the frozen part. */
  private sharedFeatures: FeatureCache | null = null;

  constructor(private readonly options: TrainOptions) {
    this.config = options.config;
    this.context = options.context ?? noContext;
    this.store = new RunStore(options.runDir);
    this.spec = preprocessingFor(this.config);
    this.channels = channelsFor(this.config);
    this.threads = options.threads ?? 1;
  }

  private log(message: string, fields: Record<string, unknown> = {}): void {
    this.options.logger?.info({ run: this.options.runId, ...fields }, message);
  }

  async run(): Promise<TrainingResult> {
    const { config, runId } = this.options;
    if (config.backend === 'wasm') {
      try {
        await trainingBackend();
      } catch (error) {
        this.options.logger?.warn({ err: (error as Error).message }, "tfjs wasm training backend unavailable; using 'cpu'");
        await tf.setBackend('cpu');
      }
    } else {
      await tf.setBackend('cpu');
    }
    await tf.ready();

    const createdAt = new Date().toISOString();
    const version = config.version ?? `${config.model.backbone}-${config.stage2.top}-${createdAt.slice(0, 10).replaceAll('-', '')}-${runId.replace(/[^A-Za-z0-9]/g, '').slice(0, 12)}`;
    const { state, resumed } = await this.store.open({
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
    this.state = state;
    if (resumed) this.log('training run resumed', { done: state.done.length, epochs: state.log.length });
    await mkdir(this.store.file('checkpoint'), { recursive: true });

    // --- data ---
    await this.progress({ stage: 'data', phase: 'reading', runId });
    const dataset = await readConfiguredDataset(config, this.options.labelledImages);
    this.prepared = new PreparedImages(this.spec, config.imageCacheMb * 2 ** 20);
    const { images, skipped } = await usableImages(dataset, this.prepared, () => this.context.checkpoint());
    this.state.skipped = [...dataset.skipped, ...skipped];
    await this.store.save(this.state);
    requireBothClasses(dataset.name, images);
    this.images = images;
    const folds = kFoldsByWoman(images, config.folds, config.seed);
    requireUsableFolds(dataset.name, folds);
    const hasRois = images.some((i) => i.lesions.length > 0);
    if (this.trainsStage1() && !hasRois) {
      throw new ValidationError('dataset', `${dataset.name} has no lesion outlines, so stage 1 (patches) cannot run: give baseVersion, a model whose backbone to start from`);
    }
    const units: Unit[] = [
      ...folds.slice(0, config.foldsToRun ?? folds.length).map((f) => ({ name: `fold-${f.index + 1}`, fold: f.index, train: f.train, validation: f.validation })),
      { name: 'final', fold: null, train: images, validation: [] },
    ];
    this.totalEpochs = units.length * this.epochsPerUnit();

    for (const unit of units) {
      this.unitLabel = unit.fold === null ? 'final' : `${unit.fold + 1}/${folds.length}`;
      await this.runUnit(unit);
    }
    return this.finish(dataset, images);
  }

  private topScale(): { topFiltersScale?: number } {
    const scale = this.config.stage2.topFiltersScale;
    return scale === undefined ? {} : { topFiltersScale: scale };
  }

  /** Stage 1 runs unless the backbone comes from a base package or stage 1 is switched off. */
  private trainsStage1(): boolean {
    return !this.options.basePackageDir && this.config.stage1.enabled;
  }

  private epochsPerUnit(): number {
    const s1 = !this.trainsStage1() ? 0 : STAGE1_PHASES.reduce((sum, p) => sum + this.config.stage1.phases[p].epochs, 0);
    return s1 + this.config.stage2.phase1.epochs + (this.config.stage2.phase2.enabled ? this.config.stage2.phase2.epochs : 0);
  }

  private isDone(unit: Unit, step: string): boolean {
    return this.state.done.includes(`${unit.name}/${step}`);
  }

  private async markDone(unit: Unit, step: string, started: number): Promise<void> {
    this.state.done.push(`${unit.name}/${step}`);
    this.state.timings[`${unit.name}/${step}`] = (this.state.timings[`${unit.name}/${step}`] ?? 0) + (Date.now() - started) / 1000;
    await this.store.save(this.state);
  }

  /**
   * Reports to the context with the run's epoch count once the plan is known (epochsDone counts
   * a resumed run's earlier epochs too), so a reader can show done/total without knowing the plan.
   */
  private progress(fields: { [key: string]: JsonValue }): Promise<unknown> {
    return this.context.progress(this.totalEpochs > 0 ? { ...fields, epochsDone: this.state.log.length, epochsTotal: this.totalEpochs } : fields);
  }

  private etaSeconds(): number | null {
    const log = this.state.log;
    if (log.length === 0) return null;
    const mean = log.reduce((s, r) => s + r.seconds, 0) / log.length;
    return Math.round(Math.max(0, this.totalEpochs - log.length) * mean);
  }

  // --- one unit: stage 1, features, stage 2, score ------------------------------------------

  private async runUnit(unit: Unit): Promise<void> {
    if (this.isDone(unit, 'unit')) return;
    const started = Date.now();
    const wholeOptions = {
      backbone: this.config.model.backbone,
      top: this.config.stage2.top,
      inputHeight: this.spec.inputHeight,
      inputWidth: this.spec.inputWidth,
      channels: this.channels,
      filtersScale: this.config.model.filtersScale,
      ...this.topScale(),
    };
    const whole = await this.initialWholeModel(unit, wholeOptions);
    try {
      const tail = tailLayers(whole, this.config.stage2.phase1.trainFrom);
      const top = await createTopModel(whole, tail);
      try {
        await this.stage2Phase1(unit, whole, top);
        copyLayers(top, whole, trainedLayerNames(top));
      } finally {
        top.dispose();
      }
      if (this.config.stage2.phase2.enabled) await this.stage2Phase2(unit, whole);
      if (unit.fold !== null) await this.scoreFold(unit, whole);
      else await writeFileAtomic(this.store.file('final-model.bin'), encodeNamedArrays(wholeArrays(whole)));
    } finally {
      whole.dispose();
    }
    await this.markDone(unit, 'unit', started);
  }

  /**
   * The whole-image model a unit's stage 2 starts from: its backbone from stage 1, from the base
   * package, or (stage 1 off) from the pretrained weights; the top from its seeded initialisers
   * (or the base package's top).
   */
  private async initialWholeModel(unit: Unit, options: Parameters<typeof createWholeImageModel>[0]): Promise<tf.LayersModel> {
    const initTop = (whole: tf.LayersModel) => initialWeights(whole, seedFor(this.config.seed, unit.name, 'top-init'), (name) => name.startsWith(TOP_LAYER_PREFIX));
    if (!this.trainsStage1() && !this.options.basePackageDir) {
      const whole = createWholeImageModel(options);
      initTop(whole);
      await this.loadPretrained(whole);
      return whole;
    }
    const source = await this.stage1(unit);
    try {
      const whole = createWholeImageModelFromPatchModel(source, options);
      initTop(whole);
      if (this.options.basePackageDir) copyLayers(source, whole, topLayerNames(whole).filter((n) => source.layers.some((l) => l.name === n)));
      return whole;
    } finally {
      source.dispose();
    }
  }

  /** Gives the backbone layers of `model` the configured pretrained weights (none configured: nothing). */
  private async loadPretrained(model: tf.LayersModel): Promise<void> {
    const file = this.config.model.pretrained;
    if (!file) return;
    const backbone = model.layers.filter((l) => !l.name.startsWith(TOP_LAYER_PREFIX) && !l.name.startsWith(PATCH_HEAD_PREFIX) && l.weights.length > 0).map((l) => l.name);
    await loadTfjsLayersWeights(file, model, backbone);
  }

  /** Stage 1 (or the base package's model): returns a model holding the backbone's weights. */
  private async stage1(unit: Unit): Promise<tf.LayersModel> {
    if (this.options.basePackageDir) return loadTfjsModel(this.options.basePackageDir);
    const { stage1, model } = this.config;
    const patchModel = createPatchModel({ backbone: model.backbone, inputHeight: stage1.patchSize, inputWidth: stage1.patchSize, channels: this.channels, filtersScale: model.filtersScale });
    // Seeded, so a run with the same seed starts from the same weights (a resumed run loads its checkpoint instead).
    initialWeights(patchModel, seedFor(this.config.seed, unit.name, 'stage1-init'));
    // The paper starts stage 1 from ImageNet weights where it has them.
    await this.loadPretrained(patchModel);
    const done = this.store.file('units', unit.name, 'stage1.bin');
    if (this.isDone(unit, 'stage1')) {
      await loadModelWeights(done, patchModel);
      return patchModel;
    }
    const started = Date.now();
    await this.progress({ stage: 'stage1', phase: 'sampling patches', fold: this.unitLabel, etaSeconds: this.etaSeconds() });
    const sources = await Promise.all(unit.train.map((image) => patchSource(image)));
    const patches = await samplePatchDataset(sources, {
      set: stage1.set,
      seed: seedFor(this.config.seed, unit.name, 'patches'),
      spec: this.spec,
      validationFraction: this.config.validationFraction,
      sample: { patchSize: stage1.patchSize, ...(stage1.patchesPerRoi ? { patchesPerRoi: stage1.patchesPerRoi } : {}), ...(stage1.backgroundPerImage !== undefined ? { backgroundPerImage: stage1.backgroundPerImage } : {}), ...(stage1.hardNegativesPerImage !== undefined ? { hardNegativesPerImage: stage1.hardNegativesPerImage } : {}) },
    });
    if (patches.train.length === 0) throw new DatasetError(unit.name, 'stage 1 found no training patches (no lesion or background patch fits the images at this patch size)');
    this.state.notes[`${unit.name}/patches`] = patches.counts as unknown as JsonValue;
    this.restoreCheckpoint(unit, 'patch');
    if (this.state.checkpoint?.unit === unit.name && this.state.checkpoint.model === 'patch') await loadModelWeights(this.store.file('checkpoint', this.state.checkpoint.weights), patchModel);

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
      await this.trainPhase(unit, {
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
        batch: (indices, random) => this.patchBatch(patches.train, indices, stage1.augmentation ? random : null),
        validate: async () => ({ valAuc: null, valAccuracy: patchAccuracy(patchModel, patches.validation, (idx) => this.patchBatch(patches.validation, idx, null).x) }),
      });
    }
    await mkdir(this.store.file('units', unit.name), { recursive: true });
    await saveModelWeights(done, patchModel);
    await this.markDone(unit, 'stage1', started);
    return patchModel;
  }

  private patchBatch(patches: readonly Patch[], indices: number[], random: (() => number) | null): { x: tf.Tensor4D; y: tf.Tensor2D } {
    const size = this.config.stage1.patchSize;
    const c = this.channels;
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

  /** Drops a checkpoint of another unit or model: it cannot be resumed here. */
  private restoreCheckpoint(unit: Unit, model: CheckpointRef['model']): void {
    const ref = this.state.checkpoint;
    if (ref && (ref.unit !== unit.name || ref.model !== model)) this.state.checkpoint = null;
  }

  /**
   * The cached features where phase 1's trained layers begin, for every image of the unit and
   * every flip. When the frozen part is the same for every unit (no stage 1: pretrained or base
   * backbone), one cache at the run's level serves all units; otherwise each unit has its own.
   */
  private async stage2Features(unit: Unit, whole: tf.LayersModel): Promise<FeatureCache> {
    const flips = [...new Set<TestTimeFlip>(['none', ...this.spec.testTimeFlips])];
    const shared = !this.trainsStage1();
    const images = shared ? this.images : [...unit.train, ...unit.validation];
    if (shared && this.sharedFeatures?.has(images.map((i) => i.id))) return this.sharedFeatures;
    const file = shared ? this.store.file('features.bin') : this.store.file('units', unit.name, 'features.bin');
    const storage = this.config.stage2.phase1.featureStorage;
    const loaded = await FeatureCache.load(file, { flips, storage });
    if (loaded?.has(images.map((i) => i.id))) {
      if (shared) this.sharedFeatures = loaded;
      return loaded;
    }
    const started = Date.now();
    await this.progress({ stage: 'stage2', phase: 'backbone features', fold: this.unitLabel, images: images.length, etaSeconds: this.etaSeconds() });
    const backbone = await BackboneFeatures.open(whole, this.threads, this.config.stage2.phase1.trainFrom);
    let cache: FeatureCache | null = null;
    try {
      for (const image of images) {
        const prepared = await this.prepared.get(image);
        const maps = [];
        for (const flip of flips) {
          const out = await backbone.compute(toBatch([prepared], flip));
          cache ??= new FeatureCache(out.shape, flips, storage);
          maps.push(storeMap(out.maps[0]!, storage));
        }
        cache!.maps.set(image.id, maps);
        await this.context.checkpoint();
      }
    } finally {
      await backbone.close();
    }
    await mkdir(path.dirname(file), { recursive: true });
    await cache!.save(file);
    this.state.timings[shared ? 'features' : `${unit.name}/features`] = (Date.now() - started) / 1000;
    this.state.notes.featureCacheMb = Math.round(cache!.bytes / 2 ** 20);
    await this.store.save(this.state);
    if (shared) this.sharedFeatures = cache;
    return cache!;
  }

  private async stage2Phase1(unit: Unit, whole: tf.LayersModel, top: tf.LayersModel): Promise<void> {
    const done = this.store.file('units', unit.name, 'top.bin');
    if (this.isDone(unit, 'stage2-phase1')) {
      await loadModelWeights(done, top);
      return;
    }
    const started = Date.now();
    const features = await this.stage2Features(unit, whole);
    this.restoreCheckpoint(unit, 'top');
    if (this.state.checkpoint) await loadModelWeights(this.store.file('checkpoint', this.state.checkpoint.weights), top);
    const { phase1, classWeighting } = this.config.stage2;
    const labels = unit.train.map((i) => i.label);
    const classWeights = classWeighting === 'balanced' ? balancedClassWeights(labels, 2) : [1, 1];
    const [h, w, c] = features.shape;
    const stack = (items: Array<{ id: string; flip: number }>) => tf.tensor4d(features.batch(items), [items.length, h, w, c]);
    const testFlips = this.spec.testTimeFlips.map((f) => features.flips.indexOf(f));
    const variables = variablesOf(top, () => true);
    const kernels = top.layers.flatMap((l) => l.trainableWeights.filter((wt) => /kernel$/.test(wt.originalName)).map((wt) => wt.read() as tf.Variable));
    await this.trainPhase(unit, {
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
    await this.markDone(unit, 'stage2-phase1', started);
  }

  private async stage2Phase2(unit: Unit, whole: tf.LayersModel): Promise<void> {
    const done = this.store.file('units', unit.name, 'whole.bin');
    if (this.isDone(unit, 'stage2-phase2')) {
      await loadModelWeights(done, whole);
      return;
    }
    const started = Date.now();
    this.restoreCheckpoint(unit, 'whole');
    if (this.state.checkpoint) await loadModelWeights(this.store.file('checkpoint', this.state.checkpoint.weights), whole);
    const { phase2, classWeighting } = this.config.stage2;
    const labels = unit.train.map((i) => i.label);
    const { inputHeight: H, inputWidth: W } = this.spec;
    const c = this.channels;
    const inputs = new Map<string, Float32Array>();
    for (const image of unit.train) inputs.set(image.id, (await this.prepared.get(image)).data);
    await this.trainPhase(unit, {
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
      batch: (indices, random) => {
        const data = new Float32Array(indices.length * c * H * W);
        indices.forEach((i, n) => data.set(inputs.get(unit.train[i]!.id)!, n * c * H * W));
        let x = tf.tensor4d(data, [indices.length, c, H, W]).transpose([0, 2, 3, 1]) as tf.Tensor4D;
        if (random() < 0.5) x = tf.reverse(x, 2);
        if (random() < 0.5) x = tf.reverse(x, 1);
        return { x, y: oneHot(indices.map((i) => labels[i]!), 2) };
      },
      validate: async () => ({ valAuc: null, valAccuracy: null }),
    });
    await mkdir(path.dirname(done), { recursive: true });
    await saveModelWeights(done, whole);
    await this.markDone(unit, 'stage2-phase2', started);
  }

  /** Trains one phase from where the run stands, saving state after every epoch. */
  private async trainPhase(
    unit: Unit,
    p: {
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
    },
  ): Promise<void> {
    const step = `${p.stage}-${p.phase}`;
    if (this.isDone(unit, step)) return;
    const started = Date.now();
    const optimizer = tf.train.adam(p.learningRate);
    try {
      let first = 0;
      const ref = this.state.checkpoint;
      if (ref && ref.unit === unit.name && ref.step === step && ref.epochsDone > 0) {
        first = ref.epochsDone;
        // The optimizer's moments are created on its first step; restore them after the weights.
        await loadOptimizer(this.store.file('checkpoint', ref.optimizer), optimizer);
      }
      for (let epoch = first; epoch < p.epochs; epoch++) {
        await this.context.checkpoint();
        const t0 = Date.now();
        const random = seededRandom(seedFor(this.config.seed, unit.name, step, epoch));
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
          betweenBatches: async () => {
            if (++batches % 20 === 0) await this.context.checkpoint();
          },
        });
        const val = await p.validate();
        const record: EpochRecord = {
          unit: unit.name,
          stage: p.stage,
          phase: p.phase,
          epoch: epoch + 1,
          epochs: p.epochs,
          loss,
          valAuc: val.valAuc,
          valAccuracy: val.valAccuracy,
          seconds: (Date.now() - t0) / 1000,
          at: new Date().toISOString(),
        };
        await this.saveEpoch(unit, step, p.modelKind, epoch + 1, p.model, optimizer, record);
        await this.progress({
          stage: p.stage,
          phase: p.phase,
          fold: this.unitLabel,
          epoch: epoch + 1,
          epochs: p.epochs,
          loss,
          valAuc: val.valAuc,
          ...(val.valAccuracy === null ? {} : { valAccuracy: val.valAccuracy }),
          etaSeconds: this.etaSeconds(),
        });
        await this.options.afterEpoch?.(record);
      }
    } finally {
      optimizer.dispose();
    }
    await this.markDone(unit, step, started);
  }

  private async saveEpoch(unit: Unit, step: string, model: CheckpointRef['model'], epochsDone: number, tfModel: tf.LayersModel, optimizer: tf.Optimizer, record: EpochRecord): Promise<void> {
    const previous = this.state.checkpoint;
    const sequence = ++this.state.sequence;
    const name = `${String(sequence).padStart(6, '0')}`;
    await saveModelWeights(this.store.file('checkpoint', `${name}-weights.bin`), tfModel);
    await saveOptimizer(this.store.file('checkpoint', `${name}-optimizer.bin`), optimizer);
    this.state.checkpoint = { unit: unit.name, model, step, epochsDone, weights: `${name}-weights.bin`, optimizer: `${name}-optimizer.bin` };
    this.state.log.push(record);
    await this.store.save(this.state);
    await this.store.prune(this.state, previous);
  }

  // --- scoring and the package -------------------------------------------------------------

  private async scoreFold(unit: Unit, whole: tf.LayersModel): Promise<void> {
    const started = Date.now();
    await this.progress({ stage: 'evaluation', phase: 'scoring validation images', fold: this.unitLabel, images: unit.validation.length, etaSeconds: this.etaSeconds() });
    const dir = this.store.file('units', unit.name, 'package');
    await rm(dir, { recursive: true, force: true });
    await writePackage(dir, this.manifestBase(`${this.state.version}-${unit.name}`, 0.5, `cross-validation model of run ${this.options.runId}, ${unit.name}`), { 'model.onnx': exportToOnnx(whole) });
    const pkg = await readPackage(dir);
    const { scores, skipped } = await scoreImages(pkg, unit.validation, { threads: this.threads, betweenImages: () => this.context.checkpoint() });
    this.state.skipped.push(...skipped);
    this.state.oof = this.state.oof.filter((o) => o.fold !== unit.fold);
    for (const { image, score } of scores) {
      this.state.oof.push({ imageId: image.id, womanId: image.womanId, laterality: image.laterality, label: image.label, score, fold: unit.fold! });
    }
    await rm(dir, { recursive: true, force: true });
    await this.markDone(unit, 'score', started);
  }

  private manifestBase(version: string, threshold: number, notes: string): Omit<ModelManifest, 'files'> {
    const { backbone, filtersScale, pretrained } = this.config.model;
    const origin = [pretrained ? `initialised from ${path.basename(pretrained)}` : null, this.trainsStage1() ? 'two-stage training' : this.options.basePackageDir ? 'stage 2 on a base model' : 'stage 2 only (no patch stage)'];
    return {
      format: MANIFEST_FORMAT,
      version,
      name: `${backbone} (filters x${filtersScale}) + ${this.config.stage2.top} top, ${origin.filter(Boolean).join(', ')}`,
      architecture: `${backbone}${filtersScale === 1 ? '' : `@${filtersScale}`}+${this.config.stage2.top}-top`,
      classes: [...WHOLE_IMAGE_CLASSES],
      positiveClass: 'malignant',
      preprocessing: this.spec,
      threshold,
      provenance: { source: 'trained', createdAt: new Date().toISOString(), notes },
    };
  }

  /**
   * The out-of-distribution reference of the package (src/ml/ood): the histograms of every
   * training image's model input, taken when the images were first prepared. Null (a package
   * without one, logged) when too few images or women give no percentile to scale by.
   */
  private oodReference(dataset: TrainingDataset, images: readonly TrainingImage[]): { spec: NonNullable<ModelManifest['outOfDistribution']>; bytes: Uint8Array } | null {
    const { histograms, histogramSettings } = this.prepared;
    const used = images.filter((image) => histograms.has(image.id));
    try {
      const reference = buildOodReference(
        used.map((image) => histograms.get(image.id)!),
        used.map((image) => image.womanId),
        histogramSettings,
        this.spec,
        { datasets: [dataset.name], createdAt: new Date().toISOString(), notes: `training images of run ${this.options.runId}` },
      );
      return { spec: { file: OOD_REFERENCE_FILE, statistic: OOD_STATISTIC, version: OOD_STATISTIC_VERSION, threshold: DEFAULT_OOD_THRESHOLD }, bytes: oodReferenceBytes(reference) };
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      this.options.logger?.warn({ run: this.options.runId, reason: error.message }, 'package written without an out-of-distribution reference');
      return null;
    }
  }

  private async finish(dataset: TrainingDataset, images: readonly TrainingImage[]): Promise<TrainingResult> {
    const packageDir = this.store.file('package');
    const oof = this.state.oof;
    const labels = oof.map((o) => o.label);
    const scores = oof.map((o) => o.score);
    requireBothClasses(dataset.name, images.filter((i) => oof.some((o) => o.imageId === i.id)), 'the out-of-fold predictions');
    const rule = { targetSpecificity: this.config.thresholdSpecificity };
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
    const bootstrap = { seed: this.config.seed, samples: this.config.bootstrapSamples };
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

    if (!existsSync(this.store.file('package', 'manifest.json'))) {
      await rm(packageDir, { recursive: true, force: true });
      const whole = createWholeImageModelFromPatchModel(
        createPatchModel({ backbone: this.config.model.backbone, inputHeight: this.spec.inputHeight, inputWidth: this.spec.inputWidth, channels: this.channels, filtersScale: this.config.model.filtersScale }),
        { backbone: this.config.model.backbone, top: this.config.stage2.top, inputHeight: this.spec.inputHeight, inputWidth: this.spec.inputWidth, channels: this.channels, filtersScale: this.config.model.filtersScale, ...this.topScale() },
      );
      try {
        setWholeArrays(whole, decodeNamedArrays(new Uint8Array(await readFile(this.store.file('final-model.bin'))), 'final-model.bin'));
        const evaluation = {
          method:
            this.config.foldsToRun !== undefined && this.config.foldsToRun < this.config.folds
              ? `predictions for the validation women of the first ${this.config.foldsToRun} of ${this.config.folds} folds over women (${oof.length} images; a fixed split by woman, not full cross-validation); the package's model was then trained on all ${images.length} images`
              : `out-of-fold predictions of ${this.config.folds}-fold cross-validation over women; the package's model was then trained on all ${images.length} images`,
          thresholdRule: rule,
          threshold: { raw: rawThreshold, calibrated: threshold },
          calibration: calibrationReport,
          image,
          breast,
          shortcuts,
        };
        const manifest = {
          ...this.manifestBase(this.state.version, threshold, `training run ${this.options.runId}; threshold: highest sensitivity at ${rule.targetSpecificity} specificity on the out-of-fold predictions, on the calibrated scale`),
          trainingData: { datasets: [dataset.name], images: images.length, women: new Set(images.map((i) => i.womanId)).size, positives: images.filter((i) => i.malignant).length },
          ...(this.config.model.intendedUse ? { intendedUse: this.config.model.intendedUse } : {}),
          metrics: {
            ...metrics,
            calibration: { method: 'platt', ece_raw: calibrationReport.raw.ece, ece_calibrated: calibrationReport.calibrated.ece, crossFitted: crossFitted.crossFitted },
            crossValidation: { image: withoutRoc(image), breast: withoutRoc(breast) },
            shortcuts,
            folds: this.config.folds,
            ...(this.config.foldsToRun !== undefined ? { foldsValidated: this.config.foldsToRun } : {}),
            skipped: this.state.skipped.length,
          } as unknown as Record<string, JsonValue>,
        };
        const tfjs = await tfjsArtifacts(whole);
        const text = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
        const ood = this.oodReference(dataset, images);
        await writePackage(packageDir, { ...manifest, calibration, ...(ood ? { outOfDistribution: ood.spec } : {}) }, {
          ...(ood ? { [OOD_REFERENCE_FILE]: ood.bytes } : {}),
          'model.onnx': exportToOnnx(whole, { docString: this.state.version }),
          'tfjs/model.json': tfjs.modelJson,
          'tfjs/weights.bin': tfjs.weights,
          'report/config.json': text(JSON.parse(this.state.config)),
          'report/metrics.json': text(evaluation),
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
          'report/epochs.json': text(this.state.log),
          'report/out-of-fold.json': text(oof),
          'report/skipped.json': text(this.state.skipped),
          'report/timings.json': text(this.state.timings),
        });
      } finally {
        whole.dispose();
      }
    }
    const pkg: ModelPackage = await readPackage(packageDir);
    this.log('training run finished', { version: pkg.version, auc: metrics.auc });
    await this.progress({ stage: 'done', version: pkg.version, auc: metrics.auc, auc_ci: metrics.auc_ci, etaSeconds: 0 });
    return {
      runId: this.options.runId,
      version: pkg.version,
      packageDir: pkg.path,
      manifest: pkg.manifest,
      metrics,
      resumed: this.state.starts > 1,
      starts: this.state.starts,
      timings: this.state.timings,
      skipped: this.state.skipped,
    };
  }
}

function withoutRoc<T extends { roc: unknown }>(report: T): Omit<T, 'roc'> {
  const { roc: _roc, ...rest } = report;
  return rest;
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

function wholeArrays(model: tf.LayersModel) {
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

/** A short stable digest of a run's configuration (reports and logs). */
export function configDigest(config: TrainingConfig): string {
  return createHash('sha256').update(canonicalJson(config as unknown as JsonValue)).digest('hex').slice(0, 12);
}

