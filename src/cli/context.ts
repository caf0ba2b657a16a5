// The composition root of the `mammocad` command line: the version and exit codes, the
// configuration a command runs with, and the objects built from it (logger, store, PACS client,
// discovery, poller, job queue, model service, model runtime), each built only when a command
// asks for it. With main.ts, the only place the program's objects are constructed.

import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { PROJECT_ROOT, createLogger, loadConfig, type Config, type LoadedConfig, type Logger } from '../config/index.js';
import { MammocadError } from '../domain/index.js';
import { DicomwebClient } from '../dicom/dicomweb-client.js';
import { REPORT_MANUFACTURER, uidFromName, type DeviceObserver } from '../dicom/sr/index.js';
import type { SelectionPolicy } from '../dicom/view-selection.js';
import type { ModelPackage } from '../ml/registry/index.js';
import { createModelRuntime, createThreadedModelRuntime, type ModelRuntime } from '../ml/runtime/index.js';
import { EVALUATE_MODEL_JOB, EvaluateModelJob } from '../pipeline/evaluate-model-job.js';
import { createJobQueue, type JobQueue } from '../pipeline/job-queue.js';
import type { JobHandler } from '../pipeline/job-runner.js';
import type { PipelineMetrics } from '../pipeline/metrics.js';
import { ModelService } from '../pipeline/model-service.js';
import { ScoreStudyJob, type RuntimeFactory } from '../pipeline/score-study-job.js';
import { SCORE_STUDY_JOB, StudyDiscovery } from '../pipeline/study-discovery.js';
import { StudyPoller } from '../pipeline/study-poller.js';
import { TRAIN_MODEL_JOB, TrainModelJob } from '../pipeline/train-model-job.js';
import { openStore, type Store } from '../store/index.js';

export const VERSION = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Exit codes: 0 success, 1 the work failed, 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface GlobalOptions {
  config?: string;
}

/** The configuration of this run: defaults, the file of the program's `--config` (or MAMMOCAD_CONFIG), the environment. */
export function configFrom(command: Command): LoadedConfig {
  const { config } = command.optsWithGlobals<GlobalOptions>();
  return loadConfig(config ? { file: config } : {});
}

/** Who a command-line action is attributed to in the audit trail. */
export const cliActor = () => `cli:${process.env.USER ?? 'unknown'}@${hostname()}`;

/** The device that writes mammocad's reports: this installation, under the same UID every time. */
export function reportDevice(): DeviceObserver {
  return { manufacturer: REPORT_MANUFACTURER, modelName: 'mammocad', softwareVersion: VERSION, uid: uidFromName(`mammocad device ${hostname()}`) };
}

/** The long-lived objects the service commands (serve, worker, discover, poll) share. */
export interface Services {
  config: Config;
  logger: Logger;
  store: Store;
  pacs: DicomwebClient;
  selection: SelectionPolicy;
  discovery: StudyDiscovery;
  poller: StudyPoller;
}

/** Builds the long-lived objects every service command shares. */
export async function buildServices(command: Command, logLevel?: string): Promise<Services> {
  const { config } = configFrom(command);
  const logger = createLogger(logLevel ?? config.log.level);
  const store = await openStore({ databaseUrl: config.database.url, migrate: config.database.migrateOnStart, logger });
  const pacs = new DicomwebClient({ ...config.pacs, logger: logger.child({ component: 'dicomweb' }) });
  const selection: SelectionPolicy = { ...config.selection };
  const discovery = new StudyDiscovery({ pacs, store, logger });
  const poller = new StudyPoller({
    pacs,
    store,
    discovery,
    logger,
    modalities: ['MG', ...config.selection.extraModalities],
    lookbackDays: config.watch.lookbackDays,
    intervalSeconds: config.watch.pollIntervalSeconds,
  });
  return { config, logger, store, pacs, selection, discovery, poller };
}

/** A fresh install activates the shipped default model (nothing happens once a site has its own). */
export async function ensureDefaultModel({ config, store, logger }: Services): Promise<void> {
  await new ModelService({ store, modelDir: config.modelDir, logger }).ensureDefaultModel(config.defaultModelDir);
}

/** The job queue of this process (embedded on SQLite, graphile-worker on PostgreSQL): scores studies, evaluates models. */
export function buildWorker({ config, logger, store, pacs, selection }: Services, metrics: PipelineMetrics): { worker: JobQueue; scoring: ScoreStudyJob } {
  // Inference on a worker thread (threaded-runtime.ts): the jobs this process runs at once go on
  // fetching and reporting while one study is scored; at a lower priority, so that they do.
  const createRuntime: RuntimeFactory = async (packages, options) => {
    const runtime = await createThreadedModelRuntime(packages, { ...options, movePixels: true, nice: config.worker.inferenceNice });
    if (runtime.priority && 'problem' in runtime.priority) logger.warn({ problem: runtime.priority.problem }, 'inference runs at the service\'s own priority');
    return runtime;
  };
  const scoring = new ScoreStudyJob({ pacs, store, logger, selection, reportTemplate: config.report.template, device: reportDevice(), metrics, inferenceThreads: config.worker.inferenceThreads, createRuntime, decodeAtModelResolution: config.worker.decodeAtModelResolution, decodeResolutionMargin: config.worker.decodeResolutionMargin, imageChecks: config.imageChecks, researchMode: config.report.researchMode, presentationState: config.report.presentationState });
  let heavyTail: Promise<unknown> = Promise.resolve();
  const heavy =
    (handler: JobHandler): JobHandler =>
    (job, context) => {
      const run = heavyTail.then(() => handler(job, context));
      heavyTail = run.catch(() => undefined);
      return run;
    };
  const worker = createJobQueue({
    store,
    databaseUrl: config.database.url,
    logger,
    handlers: {
      [SCORE_STUDY_JOB]: scoring.handle,
      // Training and evaluation hold the process's tfjs engine and much memory: one at a time
      // per process, whatever worker.concurrency allows for scoring.
      [EVALUATE_MODEL_JOB]: heavy(new EvaluateModelJob({ store, logger }).handle),
      [TRAIN_MODEL_JOB]: heavy(trainJob(config, store, logger, pacs).handle),
    },
    onEnded: scoring.onEnded,
    staleAfterMs: config.worker.staleAfterSeconds * 1000,
    concurrency: workerConcurrency(config),
  });
  return { worker, scoring };
}

/** Jobs per worker process: worker.concurrency, or by default 2 where there are two cores or more. */
export function workerConcurrency(config: Config): number {
  return config.worker.concurrency > 0 ? config.worker.concurrency : availableParallelism() >= 2 ? 2 : 1;
}

/** The 'train' job of the service (run by a worker, or by `mammocad train` in its own process). */
export function trainJob(config: Config, store: Store, logger: Logger, pacs?: DicomwebClient): TrainModelJob {
  return new TrainModelJob({
    store,
    logger,
    dataDir: config.dataDir,
    modelDir: config.modelDir,
    miasDir: path.join(config.sharedDataDir, 'mias'),
    ...(pacs ? { pacs } : {}),
    ...(config.worker.inferenceThreads ? { threads: config.worker.inferenceThreads } : {}),
    trainingThreads: config.worker.trainingThreads > 0 ? config.worker.trainingThreads : availableParallelism(),
  });
}

/** The store alone, for commands that only read or write records. */
export async function withStore<T>(command: Command, work: (store: Store) => Promise<T>): Promise<T> {
  const { config } = configFrom(command);
  const store = await openStore({ databaseUrl: config.database.url, migrate: config.database.migrateOnStart });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** The model service on the configured database and model folder; closed after `work`. */
export async function withModels<T>(command: Command, work: (models: ModelService, config: Config) => Promise<T>): Promise<T> {
  const { config } = configFrom(command);
  const logger = createLogger('warn');
  const store = await openStore({ databaseUrl: config.database.url, migrate: config.database.migrateOnStart, logger });
  try {
    return await work(new ModelService({ store, modelDir: config.modelDir, logger }), config);
  } finally {
    await store.close();
  }
}

/** A runtime on the active model for the duration of `work`. */
export async function withActiveModel<T>(command: Command, work: (runtime: ModelRuntime, pkg: ModelPackage) => Promise<T>): Promise<T> {
  const pkg = await withModels(command, (models, config) => models.activeOrDefaultPackage(config.defaultModelDir));
  if (!pkg) throw new MammocadError('NO_ACTIVE_MODEL', 'no model version is active: import one (mammocad models import DIR) and activate it (mammocad models activate VERSION)');
  const runtime = await createModelRuntime([pkg]);
  try {
    return await work(runtime, pkg);
  } finally {
    await runtime.dispose();
  }
}
