// The composition root and the `mammocad` command line. Only this file constructs the
// program's objects (configuration, logger, store, servers) and wires them together.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { PROJECT_ROOT, createLogger, loadConfig, redactConfig, type Config, type LoadedConfig } from './config/index.js';
import { ConfigError, DicomParseError, MammocadError, REPORT_TEMPLATES, ROLES, ValidationError, type JsonValue, type ReportTemplate, type Role } from './domain/index.js';
import { DicomwebClient } from './dicom/dicomweb-client.js';
import { inspectFile } from './dicom/inspect-file.js';
import { readPart10 } from './dicom/part10.js';
import { buildFilmMammogram } from './dicom/convert/mias-to-dicom.js';
import { REPORT_MANUFACTURER, buildStructuredReport, uidFromName, type DeviceObserver, type ReportInput } from './dicom/sr/index.js';
import { decideReport } from './pipeline/report-policy.js';
import { reportInputFromScoreSet } from './dicom/sr/score-set.js';
import type { SelectionPolicy } from './dicom/view-selection.js';
import { createHttpServer, listen } from './graphql/http-server.js';
import { Authenticator, createApiKey } from './graphql/auth.js';
import { ChangeFeed } from './graphql/change-feed.js';
import { EVALUATE_MODEL_JOB, EvaluateModelJob } from './pipeline/evaluate-model-job.js';
import { JobRunner } from './pipeline/job-runner.js';
import { TRAIN_MODEL_JOB, TrainModelJob } from './pipeline/train-model-job.js';
import { readPackage, type ModelPackage } from './ml/registry/index.js';
import { miasTrainingDataset } from './training/datasets/mias-training.js';
import type { DatasetEvaluation, ImageScore } from './training/trainer/score-dataset.js';
import { loadTrainingConfig } from './training/trainer/config.js';
import { PAPER_DATASET_MEANS } from './ml/preprocess/index.js';
import { createModelRuntime, type ModelRuntime } from './ml/runtime/index.js';
import { AnnouncementQueue } from './pipeline/announcement-queue.js';
import { ModelService } from './pipeline/model-service.js';
import { scoreFiles, type FilesScore, type HeatMapSink } from './pipeline/score-files.js';
import { createJobQueue, type JobQueue } from './pipeline/job-queue.js';
import { PipelineMetrics } from './pipeline/metrics.js';
import { ScoreStudyJob } from './pipeline/score-study-job.js';
import { SCORE_STUDY_JOB, StudyDiscovery } from './pipeline/study-discovery.js';
import { StudyPoller } from './pipeline/study-poller.js';
import type { Logger } from './config/index.js';
import { applyMigrations, openStore, parseDatabaseUrl, type Store } from './store/index.js';
import { MIAS_PIXEL_SPACING_MM, readMiasDataset, readMiasPixels } from './training/datasets/mias.js';
import { registerPacsCommands } from './cli/pacs.js';
import { ProgressReporter } from './cli/progress-reporter.js';
import { trainingProgressUpdate } from './cli/training-progress.js';
import { HEAT_MAP_PICTURE_MAX_SIZE, heatMapPictureWriter } from './cli/score-heatmap.js';

const VERSION = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Exit codes: 0 success, 1 the work failed, 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface GlobalOptions {
  config?: string;
}

function configFrom(command: Command): LoadedConfig {
  const { config } = command.optsWithGlobals<GlobalOptions>();
  return loadConfig(config ? { file: config } : {});
}

/** One line of output on stdout; while a progress line is drawn, through it, so the two stay apart. */
function print(json: boolean, value: unknown, text: string, progress?: ProgressReporter): void {
  const line = json ? `${JSON.stringify(value)}\n` : `${text}\n`;
  if (progress) progress.write(line, process.stdout);
  else process.stdout.write(line);
}

async function migrateCommand(command: Command, json: boolean): Promise<void> {
  const { config } = configFrom(command);
  const started = Date.now();
  const result = await applyMigrations(parseDatabaseUrl(config.database.url));
  const durationMs = Date.now() - started;
  print(
    json,
    { ...result, durationMs },
    result.applied.length
      ? `applied ${result.applied.length} migration(s) on ${result.provider}: ${result.applied.join(', ')}`
      : `${result.provider} database is up to date (${result.available.length} migration(s))`,
  );
}

function configCheckCommand(command: Command, json: boolean): void {
  const { config, sources } = configFrom(command);
  const shown = redactConfig(config);
  const lines = ['configuration is valid', ...flatten(shown).map(([k, v]) => `  ${k} = ${v}${sources[k] ? `   (from ${sources[k]})` : ''}`)];
  print(json, { valid: true, config: shown, sources }, lines.join('\n'));
}

function flatten(value: unknown, prefix = ''): Array<[string, string]> {
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
  }
  return [[prefix, String(value)]];
}

interface Services {
  config: Config;
  logger: Logger;
  store: Store;
  pacs: DicomwebClient;
  selection: SelectionPolicy;
  discovery: StudyDiscovery;
  poller: StudyPoller;
}

/** The job queue of this process (embedded on SQLite, graphile-worker on PostgreSQL): scores studies, evaluates models. */
function buildWorker({ config, logger, store, pacs, selection }: Services, metrics: PipelineMetrics): { worker: JobQueue; scoring: ScoreStudyJob } {
  const scoring = new ScoreStudyJob({ pacs, store, logger, selection, reportTemplate: config.report.template, device: reportDevice(), metrics, inferenceThreads: config.worker.inferenceThreads, imageChecks: config.imageChecks, researchMode: config.report.researchMode, presentationState: config.report.presentationState });
  const worker = createJobQueue({
    store,
    databaseUrl: config.database.url,
    logger,
    handlers: {
      [SCORE_STUDY_JOB]: scoring.handle,
      [EVALUATE_MODEL_JOB]: new EvaluateModelJob({ store, logger }).handle,
      [TRAIN_MODEL_JOB]: trainJob(config, store, logger, pacs).handle,
    },
    onDead: scoring.onDead,
    staleAfterMs: config.worker.staleAfterSeconds * 1000,
  });
  return { worker, scoring };
}

function trainJob(config: Config, store: Store, logger: Logger, pacs?: DicomwebClient): TrainModelJob {
  return new TrainModelJob({
    store,
    logger,
    dataDir: config.dataDir,
    modelDir: config.modelDir,
    miasDir: path.join(config.sharedDataDir, 'mias'),
    ...(pacs ? { pacs } : {}),
    ...(config.worker.inferenceThreads ? { threads: config.worker.inferenceThreads } : {}),
  });
}

/** Resolves on SIGTERM or SIGINT (the first one), after logging it. */
function untilSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** Builds the long-lived objects every service command shares. */
async function buildServices(command: Command, logLevel?: string): Promise<Services> {
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
async function ensureDefaultModel({ config, store, logger }: Services): Promise<void> {
  await new ModelService({ store, modelDir: config.modelDir, logger }).ensureDefaultModel(config.defaultModelDir);
}

async function serveCommand(command: Command, port: number | undefined): Promise<void> {
  const services = await buildServices(command);
  const { config, logger, store, discovery, poller } = services;
  await ensureDefaultModel(services);
  const metrics = new PipelineMetrics(store);
  const { worker, scoring } = buildWorker(services, metrics);
  const webhookSecret = config.webhook.secret;
  const announcements = new AnnouncementQueue(discovery, store, logger);
  const feed = new ChangeFeed(store, config.api.feedIntervalMs, logger.child({ component: 'feed' }));
  // Loaded here, not at the top: the GraphQL stack takes a second to load, and only `serve` needs it.
  const { GRAPHQL_PATH, GraphqlEndpoint } = await import('./graphql/server.js');
  const graphql = await GraphqlEndpoint.create({
    services: { store, discovery, models: new ModelService({ store, modelDir: config.modelDir, logger }), feed, logger },
    authenticator: new Authenticator(store, config.api.jwt),
    settings: config.api,
    logger,
  });
  const server = createHttpServer({
    logger,
    version: VERSION,
    readiness: [{ name: 'database', check: () => store.ping() }],
    webhook: webhookSecret ? { secret: webhookSecret, accept: (uid) => announcements.accept(uid) } : undefined,
    metrics: () => metrics.render(),
    graphql: { path: GRAPHQL_PATH, handle: (req, res) => graphql.handle(req, res) },
  });
  graphql.attach(server);
  const bound = await listen(server, port ?? config.server.port, config.server.host);
  await announcements.resumePending();
  poller.start();
  await worker.start();
  logger.info(
    { host: config.server.host, port: bound, provider: store.provider, version: VERSION, webhook: Boolean(webhookSecret), pollSeconds: config.watch.pollIntervalSeconds },
    'mammocad is serving',
  );
  logger.info(
    { url: `http://${config.server.host}:${bound}${GRAPHQL_PATH}`, introspection: config.api.introspection },
    'GraphQL API (Authorization: Bearer <API key or token>; mammocad apikey create --role admin)',
  );
  await untilSignal(logger);
  feed.close();
  await graphql.stop();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  // In-flight work finishes: the running job, the poll, queued announcements.
  await Promise.all([poller.stop(), worker.stop(), announcements.idle()]);
  await scoring.dispose();
  await store.close();
  logger.info('stopped');
}

async function workerCommand(command: Command): Promise<void> {
  const services = await buildServices(command);
  await ensureDefaultModel(services);
  const { worker, scoring } = buildWorker(services, new PipelineMetrics(services.store));
  await worker.start();
  services.logger.info({ worker: worker.workerId, provider: services.store.provider, queue: worker.kind }, 'mammocad worker is running');
  await untilSignal(services.logger);
  await worker.stop();
  await scoring.dispose();
  await services.store.close();
  services.logger.info('stopped');
}

async function inspectCommand(command: Command, files: string[], json: boolean): Promise<boolean> {
  const { config } = configFrom(command);
  let allReadable = true;
  for (const file of files) {
    const r = await inspectFile(file, config.selection);
    allReadable &&= r.status !== 'failed';
    const text =
      r.status === 'failed'
        ? `${file}: failed: ${r.reason}`
        : `${file}: ${r.status}${r.reason ? ` (${r.reason})` : ''}, ${r.laterality ?? '?'} ${r.view ?? 'view unknown'}` +
          `${r.modifiers.length ? ` [${r.modifiers.join(', ')}]` : ''}, ${r.rows ?? '?'}x${r.columns ?? '?'}, ${r.transferSyntaxUid}` +
          `${r.decodeMs === null ? ', no pixel data' : `, decoded in ${r.decodeMs} ms`}`;
    print(json, r, text);
  }
  return allReadable;
}

async function discoverCommand(command: Command, uids: string[], json: boolean): Promise<void> {
  const { store, discovery } = await buildServices(command, 'warn');
  let failures = 0;
  try {
    // Every UID is tried; one that fails is reported and the others go on.
    for (const uid of uids) {
      try {
        const result = await discovery.announce(uid, 'manual');
        print(json, result, `${uid}: ${result.outcome}${result.jobId ? ` (job ${result.jobId})` : ''}`);
      } catch (error) {
        if (!(error instanceof MammocadError)) throw error;
        failures++;
        print(json, { studyUid: uid, outcome: 'failed', code: error.code, error: error.message }, `${uid}: failed`);
        process.stderr.write(`mammocad: ${error.code}: ${error.message}\n`);
      }
    }
  } finally {
    await store.close();
  }
  if (failures > 0) throw new CommanderError(EXIT.failed, 'mammocad.discover', `${failures} of ${uids.length} studies could not be announced`);
}

async function pollCommand(command: Command, json: boolean): Promise<void> {
  const { store, poller } = await buildServices(command, 'warn');
  try {
    const summary = await poller.pollOnce();
    print(
      json,
      summary,
      `StudyDate ${summary.window.from}-${summary.window.to}: ${summary.seen} studies, ${summary.new} new, ${summary.changed} changed, ${summary.unchanged} unchanged, ${summary.settling} settling (queued by the next poll if unchanged), ${summary.failed} failed`,
    );
  } finally {
    await store.close();
  }
}

/** The device that writes mammocad's reports: this installation, under the same UID every time. */
function reportDevice(): DeviceObserver {
  return { manufacturer: REPORT_MANUFACTURER, modelName: 'mammocad', softwareVersion: VERSION, uid: uidFromName(`mammocad device ${hostname()}`) };
}

function parseTemplate(raw: string, key: string): ReportTemplate {
  const template = raw.trim().toUpperCase();
  if (!(REPORT_TEMPLATES as readonly string[]).includes(template)) throw new ConfigError(key, `must be one of ${REPORT_TEMPLATES.join(', ')} (any case); got '${raw}'`);
  return template as ReportTemplate;
}

interface SrOptions {
  scores?: string;
  out: string;
  template?: string;
  json?: boolean;
}

/** A score set (docs/structured-reports.md) from scoring files with the active model. */
function scoreSetOf(result: FilesScore, runtime: ModelRuntime): unknown {
  const scored = result.images.filter((i) => i.status === 'scored');
  if (scored.length === 0) {
    throw new MammocadError('NO_ELIGIBLE_VIEWS', `no image could be scored: ${result.images.map((i) => `${i.file}: ${i.reason}`).join('; ')}`);
  }
  return {
    images: Object.fromEntries(scored.map((i) => [i.sopInstanceUid, i.probability])),
    threshold: result.threshold,
    model: { version: result.models.join('+'), hash: runtime.members.map((m) => m.packageHash).join('+') },
  };
}

async function srCommand(command: Command, files: string[], opts: SrOptions): Promise<void> {
  const { config } = configFrom(command);
  const template = opts.template === undefined ? config.report.template : parseTemplate(opts.template, '--template');
  const sources = files.map((file) => {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (error) {
      throw new DicomParseError(file, `cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return readPart10(bytes, file).dataset;
  });
  let scoreSet: unknown;
  // Scored here with the active model: the same report policy as the service (report-policy.ts).
  let policy: Pick<ReportInput, 'evidence' | 'researchUse' | 'imageFlags' | 'skippedImages'> = {};
  if (opts.scores) {
    try {
      scoreSet = JSON.parse(readFileSync(opts.scores, 'utf8'));
    } catch (error) {
      throw new ValidationError('--scores', `cannot read ${opts.scores} as JSON: ${(error as Error).message}`);
    }
  } else {
    scoreSet = await withActiveModel(command, async (runtime, pkg) => {
      const decision = decideReport({ metrics: pkg.metrics as JsonValue, manifest: pkg.manifestJson }, config.report.researchMode);
      if (!decision.write) throw new MammocadError('REPORT_WITHHELD', `model ${pkg.version}: ${decision.withheldReason!}`);
      const result = await scoreFiles(files, runtime, config.selection, { checks: config.imageChecks, intendedUse: pkg.manifest.intendedUse ?? null });
      const flagged = result.images.filter((i) => i.status === 'scored' && i.flags.length > 0 && i.sopInstanceUid);
      const skipped = result.images.filter((i) => i.status === 'skipped' && i.sopInstanceUid && i.reason);
      policy = {
        evidence: decision.evidence,
        ...(decision.researchUse ? { researchUse: decision.researchUse } : {}),
        ...(flagged.length ? { imageFlags: Object.fromEntries(flagged.map((i) => [i.sopInstanceUid!, i.flags])) } : {}),
        ...(skipped.length ? { skippedImages: Object.fromEntries(skipped.map((i) => [i.sopInstanceUid!, i.reason!])) } : {}),
      };
      return scoreSetOf(result, runtime);
    });
  }
  // Everything is checked while building; the file is written only for a complete report,
  // and renamed into place, so a failure never leaves a partial file under the given name.
  const built = buildStructuredReport({ ...reportInputFromScoreSet(sources, scoreSet, reportDevice()), ...policy }, template);
  const partial = `${opts.out}.partial`;
  writeFileSync(partial, built.bytes);
  renameSync(partial, opts.out);
  const { bytes: _bytes, ...summary } = built;
  print(Boolean(opts.json), { ...summary, out: opts.out, images: files.length }, built.sopInstanceUid);
}

/** The model service on the configured database and model folder; closed after `work`. */
async function withModels<T>(command: Command, work: (models: ModelService, config: Config) => Promise<T>): Promise<T> {
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
async function withActiveModel<T>(command: Command, work: (runtime: ModelRuntime, pkg: ModelPackage) => Promise<T>): Promise<T> {
  const pkg = await withModels(command, (models, config) => models.activeOrDefaultPackage(config.defaultModelDir));
  if (!pkg) throw new MammocadError('NO_ACTIVE_MODEL', 'no model version is active: import one (mammocad models import DIR) and activate it (mammocad models activate VERSION)');
  const runtime = await createModelRuntime([pkg]);
  try {
    return await work(runtime, pkg);
  } finally {
    await runtime.dispose();
  }
}

/**
 * `mammocad train`: the 'train' job of the service, run in this process: a Job row (so the API
 * shows its progress and can cancel it), claimed here at once; should a worker of the service
 * claim it first, this waits for that worker's outcome. `--run-id` resumes a run.
 */
async function trainCommand(command: Command, opts: { config?: string; runId?: string; json?: boolean }): Promise<void> {
  // `--config` after `train` is the training configuration; the program-level option of the
  // same name takes it when commander parses it first, and the service's configuration then
  // comes from MAMMOCAD_CONFIG (and the environment) only.
  const globalConfig = command.optsWithGlobals<GlobalOptions>().config;
  const file = opts.config ?? globalConfig;
  if (!file) throw new ConfigError('--config', 'mammocad train needs --config FILE (the training configuration)');
  const trainingConfig = await loadTrainingConfig(file);
  const { config } = opts.config === undefined || globalConfig === opts.config ? loadConfig({}) : configFrom(command);
  // The progress line on stderr (none with --json); on a terminal the log passes through it, so
  // that a log line never lands in the middle of the redrawn line.
  const progress = new ProgressReporter({ label: 'train', unit: 'epochs', ratePer: 'minute', enabled: !opts.json });
  const logger = createLogger(opts.json ? 'warn' : config.log.level, progress.mode === 'tty' ? progress.logStream : 2);
  const store = await openStore({ databaseUrl: config.database.url, migrate: config.database.migrateOnStart, logger });
  try {
    const payload = { config: trainingConfig, requestedBy: cliActor(), ...(opts.runId ? { runId: opts.runId } : {}) };
    const { job } = await store.jobs.enqueue(TRAIN_MODEL_JOB, JSON.parse(JSON.stringify(payload)), { maxAttempts: 1 });
    const holder = `cli:${hostname()}:${process.pid}`;
    const claimed = await store.jobs.claimById(job.id, [TRAIN_MODEL_JOB], holder);
    let finished;
    progress.start({ phase: `job ${job.id}${claimed ? '' : ', run by another worker'}` });
    if (claimed) {
      const train = trainJob(config, store, logger).handle;
      const runner = new JobRunner(
        {
          store,
          logger,
          handlers: {
            // The job's progress reports (also its heartbeat) draw the progress line too.
            [TRAIN_MODEL_JOB]: (j, context) =>
              train(j, {
                ...context,
                progress: (p) => {
                  progress.update(trainingProgressUpdate(p));
                  return context.progress(p);
                },
              }),
          },
        },
        logger.child({ component: 'train-cli' }),
      );
      finished = await runner.run(claimed, holder);
    } else {
      for (finished = await store.jobs.get(job.id); !['succeeded', 'failed', 'cancelled', 'dead', 'skipped'].includes(finished.status); finished = await store.jobs.get(job.id)) {
        progress.update(trainingProgressUpdate(finished.progress));
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
    if (finished.status !== 'succeeded') throw new MammocadError('TRAINING_FAILED', `training job ${job.id} ${finished.status}: ${finished.lastError ?? ''}`);
    progress.finish();
    const result = finished.result as { version: string; packageDir: string; metrics: Record<string, unknown>; runId: string };
    const m = result.metrics as { auc: number; auc_ci: [number, number]; n: number; positives: number; threshold: number };
    print(
      Boolean(opts.json),
      { job: job.id, ...result },
      `model ${result.version} trained (run ${result.runId}, registered inactive)\n  cross-validated AUC ${m.auc.toFixed(3)} [${m.auc_ci[0].toFixed(3)}, ${m.auc_ci[1].toFixed(3)}] on ${m.n} images (${m.positives} malignant), threshold ${m.threshold.toFixed(4)}\n  package: ${result.packageDir}`,
    );
  } finally {
    progress.stop();
    await store.close();
  }
}

interface EvaluateOptions {
  model?: string;
  dataset: string;
  dir: string;
  scores?: string;
  json?: boolean;
}

const EVALUATE_DATASETS = ['mias', 'image-folder', 'rsna-screening'] as const;

/**
 * `mammocad evaluate`: a model package on a data set, per image, CI resampling women. Image
 * folders (rsna-screening is one) add the shortcut checks (per machine and site, age alone,
 * within age bands) and the count of images left out; mini-MIAS prints the summary only.
 */
async function evaluateCommand(command: Command, opts: EvaluateOptions): Promise<void> {
  if (!(EVALUATE_DATASETS as readonly string[]).includes(opts.dataset)) {
    throw new ValidationError('--dataset', `must be one of ${EVALUATE_DATASETS.join(', ')}; got ${opts.dataset}`);
  }
  // A fresh install evaluates the shipped default model, as it would score with it.
  const pkg = await withModels(command, async (models, config) => (opts.model ? readPackage((await models.show(opts.model)).path) : models.activeOrDefaultPackage(config.defaultModelDir)));
  if (!pkg) throw new MammocadError('NO_ACTIVE_MODEL', 'no model version is active: name one with --model VERSION');
  const { evaluatePackage, evaluateWithGroups, scoresCsv } = await import('./training/trainer/score-dataset.js');
  const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
  const ci = (c: [number, number] | null) => (c === null ? '' : ` [${f(c[0])}, ${f(c[1])}]`);
  let name: string;
  let result: { evaluation: DatasetEvaluation; scores: ImageScore[] };
  let details: string[] = [];
  let json: object;
  const progress = new ProgressReporter({ label: 'evaluate', unit: 'images', enabled: !opts.json });
  // After the last image come the AUCs and their bootstrap CIs (seconds on a large set).
  const scoring = { progress: (done: number, total: number) => progress.update({ done, total, phase: done < total ? 'scoring' : 'AUC and bootstrap CI' }) };
  if (opts.dataset === 'mias') {
    const dataset = miasTrainingDataset(await readMiasDataset(opts.dir));
    name = dataset.name;
    const evaluated = await progress.track({ done: 0, total: dataset.images.length, phase: 'scoring' }, () => evaluatePackage(pkg, dataset.images, scoring));
    for (const skip of evaluated.skipped) process.stderr.write(`mammocad: skipped ${skip.item}: ${skip.reason}\n`);
    result = evaluated;
    json = evaluated.evaluation;
  } else {
    const { readImageFolderDataset } = await import('./training/datasets/image-folder.js');
    const dataset = await readImageFolderDataset(opts.dir, opts.dataset === 'rsna-screening' ? { name: 'rsna-screening' } : {});
    name = dataset.name;
    const evaluated = await progress.track({ done: 0, total: dataset.images.length, phase: 'scoring' }, () => evaluateWithGroups(pkg, dataset, scoring));
    for (const skip of evaluated.skipped) process.stderr.write(`mammocad: skipped ${skip.item}: ${skip.reason}\n`);
    const e = evaluated.evaluation;
    result = evaluated;
    json = e;
    details = [
      ...Object.entries(e.auc_by_group).flatMap(([column, values]) => [
        `  AUC by ${column}:`,
        ...Object.entries(values).map(([value, g]) => `    ${value}: ${f(g.auc)}${ci(g.auc_ci)} (${g.n} images, ${g.positives} malignant)`),
      ]),
      ...(e.age_only_auc ? [`  age alone: AUC ${f(e.age_only_auc.auc)}${ci(e.age_only_auc.auc_ci)} (${e.age_only_auc.without_age} images without age left out)`] : []),
      ...(e.age_stratified_auc ? [`  within ${e.age_stratified_auc.band_years}-year age bands: AUC ${f(e.age_stratified_auc.auc)}${ci(e.age_stratified_auc.auc_ci)}`] : []),
      `  ${e.skipped} image(s) skipped`,
    ];
  }
  if (opts.scores) {
    // Written whole and renamed into place: a failed run never leaves a partial file under the name.
    const partial = `${opts.scores}.partial`;
    writeFileSync(partial, scoresCsv(result.scores));
    renameSync(partial, opts.scores);
  }
  const { evaluation } = result;
  print(
    Boolean(opts.json),
    json,
    [
      `model ${pkg.version} on ${name} (${evaluation.n} images, ${evaluation.positives} malignant)`,
      `  AUC ${f(evaluation.auc)} [${f(evaluation.auc_ci[0])}, ${f(evaluation.auc_ci[1])}]`,
      `  sensitivity at 80% specificity ${f(evaluation['sensitivity_at_spec_0.8'])}, at 90% ${f(evaluation['sensitivity_at_spec_0.9'])}`,
      `  threshold ${evaluation.threshold}`,
      ...details,
    ].join('\n'),
  );
}

/** Who a command-line action is attributed to in the audit trail. */
const cliActor = () => `cli:${process.env.USER ?? 'unknown'}@${hostname()}`;

function registerModelCommands(program: Command): Command {
  const models = program.command('models').description('model packages: list, show, import, import-keras, verify, activate, ood-reference');
  models
    .command('list')
    .description('registered versions and packages in the model folder')
    .option('--json', 'print one JSON object per version')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const views = await withModels(cmd, (m) => m.list());
      if (views.length === 0 && !opts.json) print(false, null, 'no model versions (mammocad models import DIR)');
      for (const v of views) {
        print(Boolean(opts.json), v, `${v.active ? '*' : ' '} ${v.version}  ${v.architecture ?? '?'}  ${v.registered ? 'registered' : 'not registered'}  ${v.problem ?? v.path}`);
      }
    });
  models
    .command('show')
    .description('one version: manifest, metrics, threshold, state')
    .argument('<version>')
    .option('--json', 'print as JSON')
    .action(async (version: string, opts: { json?: boolean }, cmd: Command) => {
      const view = await withModels(cmd, (m) => m.show(version));
      print(Boolean(opts.json), view, JSON.stringify(view, null, 2));
    });
  models
    .command('import')
    .description('verify a model package folder, copy it into the model folder and register it (inactive)')
    .argument('<dir>')
    .option('--json', 'print as JSON')
    .action(async (dir: string, opts: { json?: boolean }, cmd: Command) => {
      const pkg = await withModels(cmd, (m) => m.import(dir, cliActor()));
      print(Boolean(opts.json), { version: pkg.version, path: pkg.path, packageHash: pkg.packageHash }, `imported ${pkg.version} into ${pkg.path}`);
    });
  models
    .command('verify')
    .description("check a registered version's files and hashes")
    .argument('<version>')
    .option('--json', 'print as JSON')
    .action(async (version: string, opts: { json?: boolean }, cmd: Command) => {
      const result = await withModels(cmd, (m) => m.verify(version));
      print(Boolean(opts.json), result, result.ok ? `${version}: ok` : `${version}: ${result.problems.map((p) => `${p.file ?? 'package'}: ${p.problem}`).join('; ')}`);
      if (!result.ok) throw new CommanderError(EXIT.failed, 'mammocad.verify', 'package verification failed');
    });
  models
    .command('activate')
    .description('make a registered version the one that scores studies')
    .argument('<version>')
    .option('--json', 'print as JSON')
    .action(async (version: string, opts: { json?: boolean }, cmd: Command) => {
      const record = await withModels(cmd, (m) => m.activate(version, cliActor()));
      print(Boolean(opts.json), { version: record.version, active: record.active, activatedAt: record.activatedAt }, `${version} is now active`);
    });
  models
    .command('import-keras')
    .description("import a Keras 2 model of the paper's authors (HDF5 from model.save()) as a package with the paper's pre-processing, and register it (inactive)")
    .argument('<file>', 'the .h5 file')
    // Not --version: the program's -V/--version takes that flag wherever it appears.
    .option('--model-version <version>', 'package version (default: from the file name)')
    .addOption(
      new Option('--dataset-mean <mean>', "mean of the model's training set, subtracted after scaling to 0..255: ddsm, inbreast or a number")
        .argParser(parseDatasetMean)
        .default(PAPER_DATASET_MEANS.ddsm, `ddsm (${PAPER_DATASET_MEANS.ddsm})`),
    )
    .addOption(new Option('--threshold <t>', 'operating threshold on P(malignant) (default: 0.5, not calibrated for this site)').argParser(parseThreshold))
    .option('--json', 'print as JSON')
    .action(async (file: string, opts: { modelVersion?: string; datasetMean: number; threshold?: number; json?: boolean }, cmd: Command) => {
      const { imported, pkg } = await withModels(cmd, async (m, config) => {
        // Staged in a dot folder of the model folder (listings skip those): the copy into place stays on one disk.
        await mkdir(config.modelDir, { recursive: true });
        const staging = await mkdtemp(path.join(config.modelDir, '.keras-import-'));
        try {
          // Loaded on demand: tfjs and h5wasm are heavy, and only this command needs them.
          const { importKerasModel } = await import('./ml/keras/index.js');
          const imported = await importKerasModel(file, { outDir: path.join(staging, 'package'), version: opts.modelVersion, datasetMean: opts.datasetMean, threshold: opts.threshold });
          return { imported, pkg: await m.import(imported.packageDir, cliActor()) };
        } finally {
          await rm(staging, { recursive: true, force: true });
        }
      });
      const thresholdGiven = opts.threshold !== undefined;
      print(
        Boolean(opts.json),
        {
          version: pkg.version, path: pkg.path, packageHash: pkg.packageHash, kerasVersion: imported.kerasVersion, parameters: imported.parameters,
          removedLayers: imported.removedLayers, datasetMean: opts.datasetMean, threshold: pkg.threshold, thresholdGiven, active: false,
        },
        `imported ${pkg.version} (Keras ${imported.kerasVersion}, ${imported.parameters} parameters, dataset mean ${opts.datasetMean}) into ${pkg.path}, inactive` +
          (thresholdGiven ? '' : `\nthreshold ${pkg.threshold} is a default, not calibrated for this site: choose one on local data before activating`),
      );
    });
  models
    .command('ood-reference')
    .description("compute a package's out-of-distribution reference (docs/ood.md) from its training data set and write it into the package (a copy outside the model folder; import it afterwards)")
    .requiredOption('--package <dir>', 'the model package folder (rewritten: ood-reference.json added, manifest files and hash updated)')
    .requiredOption('--dataset <kind>', 'data set kind: mias, image-folder, rsna-screening (as mammocad evaluate)')
    .requiredOption('--dir <dir>', 'the data set folder: the images the model was trained on')
    .addOption(new Option('--threshold <s>', "flag threshold on the statistic (default: the package's, else 1 = the training images' 99th percentile)").argParser(parsePositive))
    .option('--model-version <version>', 'give the package a new version, so it can be imported next to the original')
    .option('--json', 'print as JSON')
    .action(async (opts: { package: string; dataset: string; dir: string; threshold?: number; modelVersion?: string; json?: boolean }, cmd: Command) => oodReferenceCommand(cmd, opts));
  for (const command of models.commands) command.exitOverride();
  return models;
}

function parsePositive(value: string): number {
  const number = Number(value);
  if (!(Number.isFinite(number) && number > 0)) throw new ValidationError('--threshold', `must be a positive number; got ${value}`);
  return number;
}

/** `mammocad models ood-reference`: the reference of a package from a data set, written into the package. */
async function oodReferenceCommand(command: Command, opts: { package: string; dataset: string; dir: string; threshold?: number; modelVersion?: string; json?: boolean }): Promise<void> {
  if (!(EVALUATE_DATASETS as readonly string[]).includes(opts.dataset)) {
    throw new ValidationError('--dataset', `must be one of ${EVALUATE_DATASETS.join(', ')}; got ${opts.dataset}`);
  }
  const { config } = configFrom(command);
  const packageDir = path.resolve(opts.package);
  const modelDir = path.resolve(config.modelDir);
  if (packageDir === modelDir || packageDir.startsWith(`${modelDir}${path.sep}`)) {
    throw new ValidationError('--package', `${packageDir} is in the model folder ${modelDir}: a registered package must not change; run this on a copy and import the copy`);
  }
  const pkg = await readPackage(packageDir);
  const dataset =
    opts.dataset === 'mias'
      ? miasTrainingDataset(await readMiasDataset(opts.dir))
      : await (await import('./training/datasets/image-folder.js')).readImageFolderDataset(opts.dir, opts.dataset === 'rsna-screening' ? { name: 'rsna-screening' } : {});
  const { computeOodReference } = await import('./training/trainer/ood-reference.js');
  const { writeOodReference } = await import('./ml/ood/index.js');
  const computed = await computeOodReference(pkg, dataset, { notes: `mammocad models ood-reference from ${path.resolve(opts.dir)}` });
  for (const skip of computed.skipped) process.stderr.write(`mammocad: skipped ${skip.item}: ${skip.reason}\n`);
  const written = await writeOodReference(packageDir, computed.reference, { threshold: opts.threshold, version: opts.modelVersion });
  const { distances, scale } = computed.reference;
  const ood = written.manifest.outOfDistribution!;
  print(
    Boolean(opts.json),
    { version: written.version, path: written.path, packageHash: written.packageHash, images: computed.images, skipped: computed.skipped.length, statistic: ood.statistic, threshold: ood.threshold, scale, distances, msPerImage: computed.msPerImage },
    [
      `${written.version}: out-of-distribution reference from ${computed.images} images of ${dataset.name} (${computed.skipped.length} skipped)`,
      `  statistic ${ood.statistic} v${ood.version}, scale (99th percentile distance) ${scale.toFixed(4)}, flag threshold ${ood.threshold}`,
      `  training distances: median ${distances.p50.toFixed(4)}, 95th percentile ${distances.p95.toFixed(4)}, max ${distances.max.toFixed(4)}`,
      `  package hash ${written.packageHash}`,
    ].join('\n'),
  );
}

async function scoreCommand(command: Command, files: string[], opts: { json?: boolean; heatmap?: string }): Promise<void> {
  const json = Boolean(opts.json);
  const { config } = configFrom(command);
  const result = await withActiveModel(command, async (runtime, pkg) => {
    let heatMaps: HeatMapSink | undefined;
    if (opts.heatmap !== undefined) {
      // Before any file is scored: a model without heat maps gives no pictures, whatever the files.
      if (runtime.heatMapProblem !== null) throw new MammocadError('HEAT_MAPS_UNAVAILABLE', `--heatmap: model ${pkg.version}: ${runtime.heatMapProblem}`);
      await mkdir(opts.heatmap, { recursive: true });
      heatMaps = heatMapPictureWriter(opts.heatmap, runtime.members.reduce((sum, m) => sum + m.threshold, 0) / runtime.members.length);
    }
    return scoreFiles(files, runtime, config.selection, { checks: config.imageChecks, intendedUse: pkg.manifest.intendedUse ?? null }, { heatMaps });
  });
  for (const image of result.images) {
    const flags = image.flags.map((flag) => ` [${flag}]`).join('');
    const picture = image.heatMap ? ` -> ${image.heatMap}` : '';
    print(json, { level: 'image', ...image }, `${image.file}: ${image.status}${image.probability !== null ? ` p=${image.probability.toFixed(4)}` : ''}${image.reason ? ` (${image.reason})` : ''}${flags}${picture}`);
  }
  for (const breast of result.aggregate?.breasts ?? []) {
    print(json, { level: 'breast', ...breast, positive: breast.probability >= result.threshold }, `breast ${breast.laterality}: p=${breast.probability.toFixed(4)}`);
  }
  if (result.aggregate) {
    const exam = result.aggregate.exam;
    print(json, { level: 'exam', ...exam, positive: exam.probability >= result.threshold, threshold: result.threshold, models: result.models }, `exam: p=${exam.probability.toFixed(4)} (threshold ${result.threshold}, ${exam.probability >= result.threshold ? 'positive' : 'negative'})`);
  }
  if (result.images.some((i) => i.status === 'failed')) throw new CommanderError(EXIT.failed, 'mammocad.score', 'some files could not be scored');
}

/** mini-MIAS -> one DICOM MG file per image, OUT/<woman>/<image id>.dcm; a re-run writes the same UIDs. */
async function convertMiasCommand(dir: string, out: string, json: boolean): Promise<void> {
  const dataset = await readMiasDataset(dir);
  const progress = new ProgressReporter({ label: 'convert mias', unit: 'images', enabled: !json });
  let malignant = 0;
  let done = 0;
  await progress.track({ done: 0, total: dataset.images.length }, async () => {
    for (const [womanId, images] of [...dataset.women].sort(([a], [b]) => a.localeCompare(b))) {
      await mkdir(path.join(out, womanId), { recursive: true });
      for (const [index, image] of images.entries()) {
        const pgm = await readMiasPixels(image);
        const built = buildFilmMammogram({
          imageId: image.id, patientId: `MIAS-${womanId}`, patientName: `MIAS^${womanId}`, laterality: image.laterality, view: image.view,
          instanceNumber: index + 1, rows: pgm.height, columns: pgm.width, pixels: pgm.pixels, pixelSpacingMm: MIAS_PIXEL_SPACING_MM, collection: 'mini-MIAS',
        });
        const file = path.join(out, womanId, `${image.id}.dcm`);
        writeFileSync(`${file}.partial`, built.bytes);
        renameSync(`${file}.partial`, file);
        if (image.malignant) malignant++;
        const { bytes: _bytes, ...uids } = built;
        // Through the progress line: on a terminal, stdout's lines and the redrawn line share the screen.
        print(json, { level: 'file', file, imageId: image.id, womanId, laterality: image.laterality, view: image.view, imageClass: image.imageClass, ...uids }, `${file}: ${image.laterality} ${image.view}, ${image.imageClass}`, progress);
        progress.update({ done: ++done, phase: `${womanId} ${image.id}` });
      }
    }
  });
  const summary = { level: 'summary', dir, out, images: dataset.images.length, women: dataset.women.size, malignantImages: malignant };
  print(json, summary, `wrote ${summary.images} images of ${summary.women} women (${malignant} malignant) under ${out}`);
}

function registerConvertCommands(program: Command): Command {
  const convert = program.command('convert').description('convert public data sets to DICOM');
  convert
    .command('mias')
    .description('write each mini-MIAS image (PGM + labels.txt) as a DICOM Digital Mammography "For Presentation" file: one patient and study per woman, OUT/<woman>/<image id>.dcm')
    .argument('<dir>', 'the mini-MIAS folder (labels.txt and the .pgm files), e.g. <sharedDataDir>/mias')
    .argument('<out>', 'output folder')
    .option('--json', 'print one JSON object per file, then a summary')
    .action(async (dir: string, out: string, opts: { json?: boolean }) => convertMiasCommand(dir, out, Boolean(opts.json)));
  for (const command of convert.commands) command.exitOverride();
  return convert;
}

/** The store alone, for commands that only read or write records. */
async function withStore<T>(command: Command, work: (store: Store) => Promise<T>): Promise<T> {
  const { config } = configFrom(command);
  const store = await openStore({ databaseUrl: config.database.url, migrate: config.database.migrateOnStart });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

function parseRole(raw: string): Role {
  if (!(ROLES as readonly string[]).includes(raw)) throw new ConfigError('--role', `must be one of ${ROLES.join(', ')}; got '${raw}'`);
  return raw as Role;
}

function registerApiKeyCommands(program: Command): Command {
  const apikey = program.command('apikey').description('API keys for the GraphQL API: create, list, revoke');
  apikey
    .command('create')
    .description('create a key and print it (shown once: the database keeps only a hash); the way to make the first admin key')
    .addOption(new Option('--role <role>', `one of ${ROLES.join(', ')}`).argParser(parseRole).makeOptionMandatory())
    .option('--name <name>', 'who or what uses the key', 'created on the command line')
    .option('--json', 'print JSON')
    .action(async (opts: { role: Role; name: string; json?: boolean }, cmd: Command) => {
      const actor = `cli:${hostname()}`;
      const { key, record } = await withStore(cmd, async (store) => {
        const created = await createApiKey(store, { name: opts.name, role: opts.role, createdBy: actor });
        await store.audit.record({ actor, action: 'apikey.created', target: `apikey:${created.record.prefix}`, details: { role: opts.role } });
        return created;
      });
      print(Boolean(opts.json), { key, prefix: record.prefix, role: record.role, name: record.name }, `${key}\n(role ${record.role}; store it now, it is not shown again; revoke with: mammocad apikey revoke ${record.prefix})`);
    });
  apikey
    .command('list')
    .description('list keys (prefix, name, role, last use, revoked)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const keys = await withStore(cmd, (store) => store.apiKeys.list());
      const shown = keys.map(({ secretHash: _hidden, id: _id, ...rest }) => rest);
      print(Boolean(opts.json), shown, shown.map((k) => `${k.prefix}  ${k.role.padEnd(9)} ${k.name}${k.revokedAt ? '  (revoked)' : ''}`).join('\n') || 'no API keys');
    });
  apikey
    .command('revoke')
    .description('revoke a key at once')
    .argument('<prefix>', 'the key prefix, e.g. mk_3f9a12bc')
    .option('--json', 'print JSON')
    .action(async (prefix: string, opts: { json?: boolean }, cmd: Command) => {
      const key = await withStore(cmd, async (store) => {
        const revoked = await store.apiKeys.revoke(prefix);
        await store.audit.record({ actor: `cli:${hostname()}`, action: 'apikey.revoked', target: `apikey:${prefix}` });
        return revoked;
      });
      print(Boolean(opts.json), { prefix: key.prefix, revokedAt: key.revokedAt }, `revoked ${key.prefix}`);
    });
  return apikey;
}

function parseDatasetMean(raw: string): number {
  const name = raw.toLowerCase();
  if (Object.hasOwn(PAPER_DATASET_MEANS, name)) return PAPER_DATASET_MEANS[name as keyof typeof PAPER_DATASET_MEANS];
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) > 255) throw new ConfigError('--dataset-mean', `must be ddsm, inbreast or a number between 0 and 255; got '${raw}'`);
  return Number(raw);
}

function parseThreshold(raw: string): number {
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) > 1) throw new ConfigError('--threshold', `must be a number between 0 and 1; got '${raw}'`);
  return Number(raw);
}

function parsePort(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new ConfigError('--port', `must be an integer between 0 and 65535; got '${raw}'`);
  return Number(raw);
}

export function buildCli(): Command {
  const program = new Command('mammocad')
    .description('Breast-cancer classifier service: watches a DICOMweb PACS, scores mammograms, writes DICOM SR, serves GraphQL')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'configuration file (YAML or JSON); also MAMMOCAD_CONFIG')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('migrate')
    .description('apply pending database migrations (SQLite or PostgreSQL, from the configured database URL)')
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: { json?: boolean }, cmd: Command) => migrateCommand(cmd, Boolean(opts.json)));

  const configCommand = program.command('config').description('inspect the configuration');
  configCommand
    .command('check')
    .description('validate the configuration (defaults, file, environment) and print it with secrets hidden')
    .option('--json', 'print the result as one JSON object')
    .action((opts: { json?: boolean }, cmd: Command) => configCheckCommand(cmd, Boolean(opts.json)));

  program
    .command('serve')
    .description('run the service: HTTP API (/healthz, /readyz, the PACS webhook), the QIDO poller and a worker that scores queued studies (migrates the database first)')
    .addOption(new Option('-p, --port <port>', 'port to listen on (default: server.port, $PORT)').argParser(parsePort))
    .action(async (opts: { port?: number }, cmd: Command) => serveCommand(cmd, opts.port));

  program
    .command('inspect')
    .description('read DICOM files: eligible or skipped (with the reason), laterality, view, size, transfer syntax, decode time')
    .argument('<file...>', 'DICOM Part 10 files')
    .option('--json', 'print one JSON object per file')
    .action(async (files: string[], opts: { json?: boolean }, cmd: Command) => {
      if (!(await inspectCommand(cmd, files, Boolean(opts.json)))) throw new CommanderError(EXIT.failed, 'mammocad.inspect', 'some files could not be read or decoded');
    });

  program
    .command('worker')
    .description('run a worker only: scores queued studies with the active model (several may share one database)')
    .action(async (_opts: unknown, cmd: Command) => workerCommand(cmd));

  program
    .command('discover')
    .description('announce studies by Study Instance UID, as the PACS webhook would (queues new or changed ones)')
    .argument('<studyUid...>', 'Study Instance UIDs')
    .option('--json', 'print one JSON object per study')
    .action(async (uids: string[], opts: { json?: boolean }, cmd: Command) => discoverCommand(cmd, uids, Boolean(opts.json)));

  program
    .command('poll')
    .description('poll the PACS once (QIDO-RS by StudyDate from the saved cursor) and queue new studies')
    .option('--json', 'print the summary as one JSON object')
    .action(async (opts: { json?: boolean }, cmd: Command) => pollCommand(cmd, Boolean(opts.json)));

  const models = registerModelCommands(program);

  program
    .command('score')
    .description('score DICOM files with the active model: one line per image, then per breast and per exam')
    .argument('<file...>', 'DICOM Part 10 files')
    .option('--heatmap <dir>', `also write, per scored image, <dir>/<SOP Instance UID>.png: the image (longest side at most ${HEAT_MAP_PICTURE_MAX_SIZE} pixels) with the model's heat map and, at or above its threshold, the regions it marks`)
    .option('--json', 'print one JSON object per line (with --heatmap, each image line names its picture in "heatMap")')
    .action(async (files: string[], opts: { json?: boolean; heatmap?: string }, cmd: Command) => scoreCommand(cmd, files, opts));

  program
    .command('sr')
    .description('write a structured report (DICOM SR) for the given images and a score set, for users and validators')
    .argument('<file...>', 'the source images (DICOM Part 10 files of one study)')
    .option('--scores <file>', 'the score set (JSON; see docs/structured-reports.md); default: score the images with the active model')
    .requiredOption('--out <file>', 'where to write the report (DICOM Part 10)')
    .option('--template <template>', 'TID1500 (Comprehensive SR) or TID4000 (Mammography CAD SR); default: report.template')
    .option('--json', 'print the result as one JSON object')
    .action(async (files: string[], opts: SrOptions, cmd: Command) => srCommand(cmd, files, opts));

  program
    .command('train')
    .description('train a model with the two-stage method (stage 1 patches, stage 2 whole images) as a job; registers the package inactive')
    .option('--config <file>', 'training configuration (YAML or JSON); the service configuration then comes from MAMMOCAD_CONFIG')
    .option('--run-id <id>', 'resume this run (its folder under <dataDir>/training)')
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: { config?: string; runId?: string; json?: boolean }, cmd: Command) => trainCommand(cmd, opts));

  program
    .command('evaluate')
    .description('evaluate a model package on a data set: per-image AUC with a bootstrap CI by woman, sensitivity at 80/90% specificity')
    .option('--model <version>', 'model version (default: the active one)')
    .requiredOption('--dataset <kind>', 'data set kind: mias, image-folder (manifest.csv + PNG/JPEG images; see docs/training.md), rsna-screening (an image folder)')
    .requiredOption('--dir <dir>', 'the data set folder')
    .option('--scores <file>', "write every image's probability as CSV (id, file, woman, laterality, view, label, probability, inverted, group columns)")
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: EvaluateOptions, cmd: Command) => evaluateCommand(cmd, opts));

  registerConvertCommands(program);
  registerApiKeyCommands(program);
  registerPacsCommands(program);

  for (const command of [program, ...program.commands, ...configCommand.commands, ...models.commands]) command.exitOverride();
  return program;
}

/** Runs the command line and returns the process exit code; never throws. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0; a command may end with its own code.
      if (error.code.startsWith('mammocad.')) return error.exitCode;
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`mammocad: configuration error: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof MammocadError) {
      process.stderr.write(`mammocad: ${error.code}: ${error.message}\n`);
      return EXIT.failed;
    }
    process.stderr.write(`mammocad: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT.failed;
  }
}

export type { Config };
