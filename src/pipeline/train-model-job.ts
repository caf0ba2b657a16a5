// The "train" job: runs the two-stage trainer (src/training/trainer) and registers the model
// package it writes, inactive (an admin activates it after looking at its metrics). The payload
// is either the API's TrainingConfigInput fields (mutation startTraining) or a full training
// configuration under `config` (the CLI's `mammocad train --config FILE`). The run id is the
// job id (or the payload's runId): a job that is run again — its worker died, it was retried —
// finds <dataDir>/training/<run id>/ and goes on from its last finished epoch.

import path from 'node:path';
import type { Logger } from 'pino';
import { NotFoundError, ValidationError, type JobRecord, type JsonValue } from '../domain/index.js';
import type { DicomwebClient } from '../dicom/dicomweb-client.js';
import { readPart10 } from '../dicom/part10.js';
import { decodeImage } from '../dicom/pixels/decode-image.js';
import { readPackage } from '../ml/registry/index.js';
import type { Store } from '../store/index.js';
import type { TrainingDataset } from '../training/datasets/dataset.js';
import { readLabelledImages, type PixelFetcher } from '../training/datasets/labelled-images.js';
import { configFromApiInput, parseTrainingConfig, type ApiTrainingInput, type TrainingConfig } from '../training/trainer/config.js';
import type { TrainingResult } from '../training/trainer/index.js';
import type { JobContext } from './job-runner.js';
import { ModelService } from './model-service.js';

export const TRAIN_MODEL_JOB = 'train';

export interface TrainJobPayload extends Partial<ApiTrainingInput> {
  /** A full training configuration (wins over the API fields). */
  config?: unknown;
  /** Resume this run instead of starting one named after the job. */
  runId?: string;
  requestedBy?: string;
}

export interface TrainModelJobDeps {
  store: Store;
  logger: Logger;
  dataDir: string;
  modelDir: string;
  /** The mini-MIAS folder for API requests with dataset 'mias' (default <sharedDataDir>/mias). */
  miasDir?: string;
  /** For dataset 'labels': the PACS the labelled images are fetched from. */
  pacs?: DicomwebClient;
  /** onnxruntime threads of the feature and scoring passes. */
  threads?: number;
  /** Threads the training loop computes gradients on (worker.trainingThreads). */
  trainingThreads?: number;
}

/** Pixels of a stored image from the PACS (WADO-RS), as stored (the decoder's mirror undone by the reader). */
export function pacsPixelFetcher(pacs: DicomwebClient): PixelFetcher {
  return async (ref) => {
    const { bytes } = await pacs.retrieveInstance(ref.studyUid, ref.seriesUid, ref.sopInstanceUid);
    const decoded = await decodeImage(readPart10(bytes, `image ${ref.sopInstanceUid}`));
    return { width: decoded.width, height: decoded.height, pixels: decoded.pixels, pixelSpacingMm: decoded.pixelSpacingMm, flippedHorizontally: decoded.flippedHorizontally };
  };
}

export function trainingConfigOfPayload(payload: TrainJobPayload, miasDir?: string): TrainingConfig {
  if (payload.config !== undefined) {
    const config = parseTrainingConfig(payload.config);
    // A configuration file may leave the mini-MIAS folder out: the shared data's is meant.
    if (config.dataset.kind === 'mias' && !config.dataset.dir && miasDir) config.dataset.dir = miasDir;
    return config;
  }
  if (payload.dataset === undefined) throw new ValidationError('payload', 'a train job needs `config` or the TrainingConfigInput fields');
  return configFromApiInput(payload as ApiTrainingInput, miasDir ? { miasDir } : {});
}

export class TrainModelJob {
  constructor(private readonly deps: TrainModelJobDeps) {}

  readonly handle = async (job: JobRecord, context: JobContext): Promise<JsonValue> => {
    const result = await this.run(job, context);
    return {
      version: result.version,
      runId: result.runId,
      packageDir: result.packageDir,
      metrics: result.metrics as unknown as JsonValue,
      resumed: result.resumed,
      timings: result.timings,
      skipped: result.skipped.length,
    };
  };

  async run(job: JobRecord, context: JobContext): Promise<TrainingResult & { registeredPath: string }> {
    const { store, logger } = this.deps;
    const payload = (job.payload ?? {}) as TrainJobPayload;
    const config = trainingConfigOfPayload(payload, this.deps.miasDir);
    const runId = payload.runId ?? job.id;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(runId)) throw new ValidationError('runId', `must be letters, digits, '.', '_' or '-'; got ${runId}`);
    // Labels carry no lesion outlines, so stage 1 cannot run on them: retraining on the site's
    // labels starts from a model's backbone — the one named, else the active one.
    if (config.dataset.kind === 'labels' && config.baseVersion === undefined) {
      const active = await store.modelVersions.findActive();
      if (!active) throw new ValidationError('baseVersion', 'retraining on the recorded labels starts from a model version: name baseVersion, or activate one');
      config.baseVersion = active.version;
    }
    let basePackageDir: string | undefined;
    if (config.baseVersion !== undefined) {
      const base = await store.modelVersions.findByVersion(config.baseVersion);
      if (!base) throw new NotFoundError('model version', config.baseVersion);
      basePackageDir = base.path;
    }
    const { pacs } = this.deps;
    const labelledImages = pacs ? (): Promise<TrainingDataset> => readLabelledImages(store, pacsPixelFetcher(pacs)) : undefined;
    const runDir = config.outputDir ? path.resolve(config.outputDir, runId) : path.join(this.deps.dataDir, 'training', runId);
    const log = logger.child({ component: 'train', job: job.id, run: runId });
    log.info({ runDir, dataset: config.dataset.kind }, 'training run starting');
    // Loaded when a run starts: tfjs and its wasm backend are heavy, and most processes never train.
    const { trainModel } = await import('../training/trainer/trainer.js');
    const result = await trainModel({
      config,
      runId,
      runDir,
      context: { progress: (p) => context.progress(p), checkpoint: () => context.checkpoint() },
      logger: log,
      ...(labelledImages ? { labelledImages } : {}),
      ...(basePackageDir ? { basePackageDir } : {}),
      ...(this.deps.threads ? { threads: this.deps.threads } : {}),
      ...(this.deps.trainingThreads ? { trainingThreads: this.deps.trainingThreads } : {}),
    });
    // Registered inactive; a rerun after a crash between import and the job's end finds it there.
    const models = new ModelService({ store, modelDir: this.deps.modelDir, logger });
    const existing = await store.modelVersions.findByVersion(result.version);
    let registeredPath: string;
    if (existing) {
      const trained = await readPackage(result.packageDir);
      if (trained.packageHash !== existing.packageHash) throw new ValidationError('version', `model version ${result.version} is already registered with another package`);
      registeredPath = existing.path;
    } else {
      registeredPath = (await models.import(result.packageDir, payload.requestedBy ?? `job:${job.id}`)).path;
    }
    log.info({ version: result.version, auc: result.metrics.auc, path: registeredPath }, 'trained model registered (inactive)');
    return { ...result, registeredPath };
  }
}
