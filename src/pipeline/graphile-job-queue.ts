// The job queue on PostgreSQL: graphile-worker delivers job ids to any number of worker
// processes, and the JobRunner runs them exactly as the embedded worker does.
//
// The Job row stays the one source of truth (status, attempts, runAt, lock, outcome); a graphile
// job { jobId } with job_key = the Job id is only a delivery. So:
//   - the store adds the graphile job in the same transaction as every write that makes a row
//     'queued' (enqueue, retry, postpone, stale requeue; see JobRepository.dispatchTo), with
//     run_at = the row's runAt, so backoff and postponement are the row's, not graphile's;
//   - a delivery claims the row by id with the same compare-and-set as the embedded worker, so a
//     duplicate or late delivery is a no-op, and outcome writes stay fenced by the lock holder;
//   - graphile's own retries are off (max_attempts 1) and the task never throws: every outcome is
//     recorded on the row, and a fault while recording leaves the row 'running' for the sweep;
//   - a periodic sweep requeues rows whose worker went silent (crashed process, lost machine)
//     and re-adds deliveries for all due queued rows, so nothing is lost between two steps;
//   - a worker process on this host that ended (killed, crashed) is noticed within livenessMs:
//     its rows are requeued then, not after the stale limit (worker-liveness.ts).

import { Logger as GraphileLogger, run, type JobHelpers, type Runner } from 'graphile-worker';
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { JobQueue } from './job-queue-types.js';
import { JobRunner, type JobRunnerOptions } from './job-runner.js';
import { processHolderId } from './worker-liveness.js';

/** The one graphile task: its payload is { jobId }; what to do is the Job row's kind. */
export const GRAPHILE_TASK = 'mammocad_job';

export interface GraphileJobQueueOptions extends JobRunnerOptions {
  /** PostgreSQL URL; graphile-worker keeps its own pool (and its schema, graphile_worker). */
  connectionString: string;
  workerId?: string;
  /** Jobs this process runs at once (default 1). */
  concurrency?: number;
  /** How often the safety-net sweep runs (default a third of staleAfterMs). */
  sweepMs?: number;
  /** How often running rows are checked for a holder process on this host that has ended (default 2 s). */
  livenessMs?: number;
  /**
   * graphile's poll for jobs that became due (retries, postponed jobs); new jobs arrive at once
   * by LISTEN/NOTIFY. Default 2 s.
   */
  pollIntervalMs?: number;
}

/** Lets this store's writes add deliveries for the graphile queue (needs graphile's schema). */
export function enableGraphileDispatch(store: Store): void {
  store.jobs.dispatchTo(GRAPHILE_TASK);
}

export class GraphileJobQueue implements JobQueue {
  readonly kind = 'graphile' as const;
  readonly workerId: string;
  private readonly log: Logger;
  private readonly runner: JobRunner;
  private graphile: Runner | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly options: GraphileJobQueueOptions) {
    this.workerId = options.workerId ?? processHolderId();
    this.log = options.logger.child({ component: 'worker', worker: this.workerId, queue: 'graphile' });
    this.runner = new JobRunner(options, this.log);
  }

  async start(): Promise<void> {
    if (this.graphile) return;
    const graphileLog = this.log.child({ component: 'graphile-worker' });
    this.graphile = await run({
      connectionString: this.options.connectionString,
      concurrency: this.options.concurrency ?? 1,
      pollInterval: this.options.pollIntervalMs ?? 2_000,
      // Our claim compares runAt with this process's clock; graphile must pick jobs by the same
      // clock, or a job delivered "due" by the database's clock would be refused as early.
      useNodeTime: true,
      // main.ts owns the signals and calls stop().
      noHandleSignals: true,
      taskList: { [GRAPHILE_TASK]: (payload, helpers) => this.deliver(payload, helpers) },
      // graphile's chatter at debug; its warnings and errors (lost connections) stay visible.
      logger: new GraphileLogger((scope) => (level, message, meta) => {
        const fields = { graphile: scope, ...(meta ?? {}) };
        if (level === 'error') graphileLog.error(fields, message);
        else if (level === 'warning') graphileLog.warn(fields, message);
        else graphileLog.debug(fields, message);
      }),
    });
    // run() has installed graphile's schema, so the store can now add deliveries as it writes.
    enableGraphileDispatch(this.options.store);
    // A first sweep picks up what was queued while no worker ran (or before dispatch was on).
    await this.sweep();
    const every = this.options.sweepMs ?? Math.max(1_000, this.runner.staleAfterMs / 3);
    this.sweepTimer = setInterval(() => void this.sweep(), every);
    // Between sweeps, one small query: running rows whose holder process has ended here.
    this.livenessTimer = setInterval(() => {
      if (this.sweeping || this.checking) return;
      this.checking = this.runner
        .requeueStale()
        .then(() => undefined)
        .catch((error: unknown) => this.log.error({ err: error instanceof Error ? error.message : String(error) }, 'liveness check failed'))
        .finally(() => (this.checking = undefined));
    }, this.options.livenessMs ?? 2_000);
    this.log.info({ concurrency: this.options.concurrency ?? 1, sweepMs: every }, 'graphile job queue started');
  }

  /**
   * The safety net: requeues running rows whose worker went silent, then re-adds deliveries for
   * every due queued row (idempotent by job_key). One sweep at a time.
   */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        const requeued = await this.runner.requeueStale();
        const due = await this.options.store.jobs.dispatchDue();
        if (requeued) this.log.warn({ requeued }, 'requeued jobs whose worker stopped responding');
        this.log.debug({ due }, 'sweep');
      } catch (error) {
        this.log.error({ err: error instanceof Error ? error.message : String(error) }, 'sweep failed');
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }

  /** graphile's task: claim the row by id and run it. Never throws (graphile retries are off). */
  private async deliver(payload: unknown, helpers: JobHelpers): Promise<void> {
    const jobId = (payload as { jobId?: unknown } | null)?.jobId;
    if (typeof jobId !== 'string') {
      this.log.error({ payload }, 'graphile delivered a job without a jobId; dropped');
      return;
    }
    // The holder names this delivery, not just the process: with concurrency > 1, a job taken
    // over from this process must not pass the fence of another delivery in the same process.
    const holder = `${this.workerId}#${helpers.job.id}`;
    try {
      const job = await this.options.store.jobs.claimById(jobId, this.runner.kinds, holder);
      if (!job) {
        // Taken, finished, cancelled: nothing to do. Queued but not due (a duplicate delivery
        // from before a retry was scheduled): deliver it again at the row's runAt.
        await this.options.store.jobs.redispatchIfEarly(jobId);
        return;
      }
      await this.runner.run(job, holder);
    } catch (error) {
      // The database failed while claiming or recording: the row is left 'running' under this
      // holder and the sweep requeues it once its lock is stale.
      this.log.error({ job: jobId, err: error instanceof Error ? error.message : String(error) }, 'job delivery failed; the sweep will requeue it');
    }
  }

  /** Stops taking jobs, lets the running ones finish, and closes graphile's pool. */
  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    clearInterval(this.livenessTimer);
    this.sweepTimer = undefined;
    this.livenessTimer = undefined;
    const graphile = this.graphile;
    this.graphile = undefined;
    await graphile?.stop();
    await this.sweeping;
    await this.checking;
  }
}
