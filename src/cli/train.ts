// `mammocad train`: trains a model with the two-stage method (docs/training.md) as the service's
// 'train' job, run in this process, with a progress line on stderr (training-progress.ts); the
// package it makes is registered inactive.

import { hostname } from 'node:os';
import type { Command } from 'commander';
import { createLogger, loadConfig } from '../config/index.js';
import { ConfigError, MammocadError } from '../domain/index.js';
import { JobRunner } from '../pipeline/job-runner.js';
import { TRAIN_MODEL_JOB } from '../pipeline/train-model-job.js';
import { openStore } from '../store/index.js';
import { loadTrainingConfig } from '../training/trainer/config.js';
import { cliActor, configFrom, trainJob, type GlobalOptions } from './context.js';
import { print } from './output.js';
import { ProgressReporter } from './progress-reporter.js';
import { trainingProgressUpdate } from './training-progress.js';

interface TrainOptions {
  config?: string;
  runId?: string;
  json?: boolean;
}

export function registerTrainCommand(program: Command): Command {
  return program
    .command('train')
    .description('train a model with the two-stage method (stage 1 patches, stage 2 whole images) as a job; registers the package inactive')
    .option('--config <file>', 'training configuration (YAML or JSON); the service configuration then comes from MAMMOCAD_CONFIG')
    .option('--run-id <id>', 'resume this run (its folder under <dataDir>/training)')
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: TrainOptions, cmd: Command) => trainCommand(cmd, opts));
}

/**
 * `mammocad train`: the 'train' job of the service, run in this process: a Job row (so the API
 * shows its progress and can cancel it), claimed here at once; should a worker of the service
 * claim it first, this waits for that worker's outcome. `--run-id` resumes a run.
 */
async function trainCommand(command: Command, opts: TrainOptions): Promise<void> {
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
