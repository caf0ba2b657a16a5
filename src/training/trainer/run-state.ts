// The run's state and checkpoints, in one place. On disk: <run dir>/state.json, rewritten after
// every epoch, so a run started again with the same run id goes on from its last finished epoch.
// Weights live in checkpoint files named by a sequence number; state.json (written last,
// atomically) names the current ones, so a crash between the two writes leaves the previous,
// consistent pair in force. In memory: TrainingRun, what every phase of the trainer shares (the
// options and settings, the state, the steps done, progress and the epoch checkpoints).

import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type * as tf from '@tensorflow/tfjs';
import { ConflictError, type JsonValue } from '../../domain/index.js';
import type { createWholeImageModel } from '../../ml/architectures/index.js';
import type { ModelManifest, PreprocessingSpec } from '../../ml/model-manifest.js';
import type { DatasetSkip, TrainingDataset, TrainingImage } from '../datasets/dataset.js';
import { imageSeed } from '../patches/dataset.js';
import { channelsFor, preprocessingFor, type TrainingConfig } from './config.js';
import type { FeatureCache } from './feature-cache.js';
import type { PreparedImages } from './training-data.js';
import { loadModelWeights, saveModelWeights, saveOptimizer, writeFileAtomic } from './weights-file.js';

export const RUN_STATE_FILE = 'state.json';
export const EPOCH_LOG_FILE = 'epochs.jsonl';

/** One finished epoch, as the report and the API show it. */
export interface EpochRecord {
  /** 'fold-1' ... 'fold-k', or 'final' (all training women). */
  unit: string;
  stage: 'stage1' | 'stage2';
  phase: string;
  /** 1-based. */
  epoch: number;
  epochs: number;
  /** Mean training loss over the epoch's batches (training mode). */
  loss: number;
  /** Stage 2: AUC of the fold's validation images (monitoring only; no checkpoint is chosen by it). */
  valAuc: number | null;
  /** Stage 1: accuracy on the validation women's patches. */
  valAccuracy: number | null;
  seconds: number;
  at: string;
}

export interface OutOfFoldScore {
  imageId: string;
  womanId: string;
  laterality: 'L' | 'R';
  label: 0 | 1;
  score: number;
  fold: number;
}

export interface CheckpointRef {
  unit: string;
  /** Which model the weights belong to. */
  model: 'patch' | 'top' | 'whole';
  /** The step being trained and how many of its epochs are done. */
  step: string;
  epochsDone: number;
  weights: string;
  optimizer: string;
}

export interface RunState {
  format: 'mammocad-training-run/1';
  runId: string;
  /** The configuration as started (canonical JSON): a restart with another one is refused. */
  config: string;
  version: string;
  startedAt: string;
  seeds: Record<string, number>;
  /** Steps finished, as "<unit>/<step>". */
  done: string[];
  checkpoint: CheckpointRef | null;
  sequence: number;
  oof: OutOfFoldScore[];
  log: EpochRecord[];
  /** Seconds per "<unit>/<step>". */
  timings: Record<string, number>;
  skipped: DatasetSkip[];
  notes: Record<string, JsonValue>;
  /** Times this run was started (1 = never resumed). */
  starts: number;
}

export class RunStore {
  constructor(readonly dir: string) {}

  file(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  async load(): Promise<RunState | null> {
    const file = this.file(RUN_STATE_FILE);
    if (!existsSync(file)) return null;
    return JSON.parse(await readFile(file, 'utf8')) as RunState;
  }

  /**
   * The saved state when its configuration matches, a fresh one otherwise. A restart with another
   * training configuration is refused; what changes no trained weight may change in between:
   * what the package declares (model.intendedUse), its version name, and packageModel from
   * 'fold-1' to 'final' with a new version name (the run is extended: its fold units stay, the
   * final unit on all women is trained and becomes the package, another model under another
   * name). A package written before such a change is out of date: it is removed before the new
   * configuration is saved, so a crash in between cannot leave it to be shipped.
   */
  async open(fresh: RunState): Promise<{ state: RunState; resumed: boolean; changed: boolean }> {
    await mkdir(this.dir, { recursive: true });
    const saved = await this.load();
    if (!saved) {
      await this.save(fresh);
      return { state: fresh, resumed: false, changed: false };
    }
    const changed = saved.config !== fresh.config;
    if (changed) {
      const before = trainingPart(saved.config);
      const after = trainingPart(fresh.config);
      const refuse = (why: string) => new ConflictError(`training run ${fresh.runId} in ${this.dir} ${why}`);
      if (before.rest !== after.rest) throw refuse('was started with another configuration; start a new run (another run id) or restore the configuration');
      if (before.packageModel !== after.packageModel) {
        if (after.packageModel === 'fold-1') throw refuse("was started with packageModel 'final': it cannot become fold 1's model (its fold 1 kept no package weights); start a new run");
        if (after.version === undefined || after.version === saved.version) throw refuse(`is extended to a model on all women: give that model another version name than ${saved.version}`);
      }
      // A version left out is named once, when the run starts.
      if (after.version !== undefined) saved.version = after.version;
      saved.config = fresh.config;
      await rm(this.file('package'), { recursive: true, force: true });
    }
    saved.starts += 1;
    await this.save(saved);
    return { state: saved, resumed: true, changed };
  }

  async save(state: RunState): Promise<void> {
    await writeFileAtomic(this.file(EPOCH_LOG_FILE), state.log.map((r) => JSON.stringify(r)).join('\n') + (state.log.length ? '\n' : ''));
    await writeFileAtomic(this.file(RUN_STATE_FILE), `${JSON.stringify(state, null, 1)}\n`);
  }

  /** Removes checkpoint files that state.json no longer names. */
  async prune(state: RunState, previous: CheckpointRef | null): Promise<void> {
    if (!previous) return;
    for (const name of [previous.weights, previous.optimizer]) {
      if (name && name !== state.checkpoint?.weights && name !== state.checkpoint?.optimizer) await rm(this.file('checkpoint', name), { force: true });
    }
  }
}

/**
 * A run's canonical configuration without what changes no trained weight (model.intendedUse,
 * what the package declares; version, its name), and packageModel ('final' when left out).
 */
function trainingPart(config: string): { rest: string; packageModel: string; version: string | undefined } {
  const parsed = JSON.parse(config) as { model?: Record<string, unknown>; version?: string; packageModel?: string };
  const { packageModel = 'final', version } = parsed;
  if (parsed.model) delete parsed.model.intendedUse;
  delete parsed.version;
  delete parsed.packageModel;
  return { rest: JSON.stringify(parsed), packageModel, version };
}

// --- the run in memory ---------------------------------------------------------------------

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
  /**
   * Threads the training loop computes gradients on (default 1): more share each batch out
   * where that leaves the result unchanged (BN frozen: fine-tuning pretrained weights). Not
   * part of the configuration: a run may resume with another count.
   */
  trainingThreads?: number;
  /** Test hook: called after each epoch's state is saved. */
  afterEpoch?: (record: EpochRecord) => Promise<void> | void;
}

/** The cross-validated report (out-of-fold, per image) as printed by the CLI. */
export interface TrainingMetrics {
  auc: number;
  auc_ci: [number, number];
  n: number;
  positives: number;
  'sensitivity_at_spec_0.8': number;
  'sensitivity_at_spec_0.9': number;
  threshold: number;
}

export interface TrainingResult {
  runId: string;
  version: string;
  packageDir: string;
  manifest: ModelManifest;
  /** The cross-validated report (out-of-fold, per image) as printed by the CLI. */
  metrics: TrainingMetrics;
  resumed: boolean;
  starts: number;
  timings: Record<string, number>;
  skipped: RunState['skipped'];
}

/** One model the run trains: a fold's (scored on its validation women) or the final one. */
export interface Unit {
  name: string;
  /** Fold index (0-based), null for the final model. */
  fold: number | null;
  train: TrainingImage[];
  validation: TrainingImage[];
}

const noContext: TrainerContext = { progress: async () => undefined, checkpoint: async () => undefined };

/** A 32-bit seed for a named purpose, from the run's seed (FNV-1a, as the patch sampler's). */
export const seedFor = (seed: number, ...parts: Array<string | number>) => imageSeed(seed, parts.join('/'));

/** What every phase of one run shares: its options and settings, its state, progress and checkpoints. */
export class TrainingRun {
  readonly config: TrainingConfig;
  readonly context: TrainerContext;
  readonly store: RunStore;
  readonly spec: PreprocessingSpec;
  readonly channels: 1 | 3;
  readonly threads: number;
  readonly trainingThreads: number;
  state!: RunState;
  prepared!: PreparedImages;
  totalEpochs = 0;
  /** The unit as progress shows it ('1/5', 'final'). */
  unitLabel = '';
  /** Every usable image of the run (units draw their women from these). */
  images: TrainingImage[] = [];
  /** The run's one feature cache when every unit shares the frozen part (features.ts). */
  sharedFeatures: FeatureCache | null = null;

  constructor(readonly options: TrainOptions) {
    this.config = options.config;
    this.context = options.context ?? noContext;
    this.store = new RunStore(options.runDir);
    this.spec = preprocessingFor(this.config);
    this.channels = channelsFor(this.config);
    this.threads = options.threads ?? 1;
    this.trainingThreads = Math.max(1, Math.floor(options.trainingThreads ?? 1));
  }

  log(message: string, fields: Record<string, unknown> = {}): void {
    this.options.logger?.info({ run: this.options.runId, ...fields }, message);
  }

  /** Stage 1 runs unless the backbone comes from a base package or stage 1 is switched off. */
  trainsStage1(): boolean {
    return !this.options.basePackageDir && this.config.stage1.enabled;
  }

  /** The options of the run's whole-image model. */
  wholeModelOptions(): Parameters<typeof createWholeImageModel>[0] {
    const scale = this.config.stage2.topFiltersScale;
    return {
      backbone: this.config.model.backbone,
      top: this.config.stage2.top,
      inputHeight: this.spec.inputHeight,
      inputWidth: this.spec.inputWidth,
      channels: this.channels,
      filtersScale: this.config.model.filtersScale,
      ...(scale === undefined ? {} : { topFiltersScale: scale }),
    };
  }

  isDone(unit: Unit, step: string): boolean {
    return this.state.done.includes(`${unit.name}/${step}`);
  }

  async markDone(unit: Unit, step: string, started: number): Promise<void> {
    this.state.done.push(`${unit.name}/${step}`);
    this.state.timings[`${unit.name}/${step}`] = (this.state.timings[`${unit.name}/${step}`] ?? 0) + (Date.now() - started) / 1000;
    await this.store.save(this.state);
  }

  /**
   * Reports to the context with the run's epoch count once the plan is known (epochsDone counts
   * a resumed run's earlier epochs too), so a reader can show done/total without knowing the plan.
   */
  progress(fields: { [key: string]: JsonValue }): Promise<unknown> {
    return this.context.progress(this.totalEpochs > 0 ? { ...fields, epochsDone: this.state.log.length, epochsTotal: this.totalEpochs } : fields);
  }

  etaSeconds(): number | null {
    const log = this.state.log;
    if (log.length === 0) return null;
    const mean = log.reduce((s, r) => s + r.seconds, 0) / log.length;
    return Math.round(Math.max(0, this.totalEpochs - log.length) * mean);
  }

  /**
   * Resuming `kind` of `unit`: drops a checkpoint of another unit or model (it cannot be resumed
   * here) and loads the weights of one that is this model's into `model`.
   */
  async restoreCheckpoint(unit: Unit, kind: CheckpointRef['model'], model: tf.LayersModel): Promise<void> {
    const ref = this.state.checkpoint;
    if (ref && (ref.unit !== unit.name || ref.model !== kind)) this.state.checkpoint = null;
    if (this.state.checkpoint) await loadModelWeights(this.store.file('checkpoint', this.state.checkpoint.weights), model);
  }

  /** After an epoch: new checkpoint files, then state.json naming them, then the old files go. */
  async saveEpoch(unit: Unit, step: string, kind: CheckpointRef['model'], epochsDone: number, model: tf.LayersModel, optimizer: tf.Optimizer, record: EpochRecord): Promise<void> {
    const previous = this.state.checkpoint;
    const sequence = ++this.state.sequence;
    const name = `${String(sequence).padStart(6, '0')}`;
    await saveModelWeights(this.store.file('checkpoint', `${name}-weights.bin`), model);
    await saveOptimizer(this.store.file('checkpoint', `${name}-optimizer.bin`), optimizer);
    this.state.checkpoint = { unit: unit.name, model: kind, step, epochsDone, weights: `${name}-weights.bin`, optimizer: `${name}-optimizer.bin` };
    this.state.log.push(record);
    await this.store.save(this.state);
    await this.store.prune(this.state, previous);
  }
}
