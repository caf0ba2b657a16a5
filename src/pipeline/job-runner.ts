// Runs one job that has already been claimed, whichever queue delivered it (the embedded
// JobWorker's poll, or graphile-worker on PostgreSQL), and records the outcome on the Job row:
//   handler returned          -> succeeded (or skipped, when the result says so)
//   JobPostponedError         -> back to the queue at the delay it asked for, attempt not counted
//   retryable MammocadError    -> back to the queue after a backoff (5 s, then 30 s doubling), dead after
//                                 maxAttempts (kept with its last error)
//   JobCancelledError         -> cancelled (the handler saw a cancellation at a checkpoint)
//   anything else             -> failed, with the error
// Every outcome write is fenced by the lock holder, so a worker whose job was taken over (it
// went silent, the job was requeued and claimed again) leaves the outcome to the new holder.
// Kept in one place so both queues give a job the same life; the queues only differ in how
// a job id reaches them.

import type { Logger } from 'pino';
import { ConflictError, JobCancelledError, JobPostponedError, MammocadError, type JobRecord, type JsonValue } from '../domain/index.js';
import { endedByTakeover, type Store } from '../store/index.js';
import { holderIsGone } from './worker-liveness.js';

export interface JobContext {
  workerId: string;
  /** Records progress; also the job's heartbeat. Returns false when the job was taken over. */
  progress(progress: JsonValue): Promise<boolean>;
  /** A place where the job may stop: throws JobCancelledError when its cancellation was requested. */
  checkpoint(): Promise<void>;
  /** progress() then checkpoint(), in one database round trip: the start of a stage. */
  stage(progress: JsonValue): Promise<boolean>;
}

export type JobHandler = (job: JobRecord, context: JobContext) => Promise<JsonValue>;

/**
 * Faults of the database connection that are worth retrying (the driver throws them as plain
 * errors): Prisma's "can't reach", "server closed the connection", "timed out fetching a
 * connection", and SQLite's busy lock.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (code === 'P1001' || code === 'P1017' || code === 'P2024') return true;
  const message = error instanceof Error ? error.message : String(error);
  return /SQLITE_BUSY|database is locked|ECONNRESET|ECONNREFUSED|Connection terminated|connection.*closed/i.test(message);
}

export interface JobRunnerOptions {
  store: Store;
  logger: Logger;
  handlers: Record<string, JobHandler>;
  /**
   * Retry delays: the first after firstRetryMs (default 5 s, at most backoffMs), then backoffMs
   * (default 30 s) doubled per further failure (30 s, 60 s, 120 s...) up to maxBackoffMs
   * (default 15 min).
   */
  firstRetryMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A running job whose worker has not reported for this long is requeued (default 2 min; the heartbeat runs every third of it). */
  staleAfterMs?: number;
  /**
   * Called for a job that ended without its handler seeing the end: it died with its worker on
   * every attempt, or was cancelled after a retryable fault, a postponement or while its worker
   * was silent (a queued job cancelled by the API: cancelJob in scoring-job-ends.ts).
   */
  onEnded?: (job: JobRecord) => Promise<void>;
}

export class JobRunner {
  constructor(
    private readonly options: JobRunnerOptions,
    /** The queue's logger (already carrying its component and worker id). */
    private readonly log: Logger,
  ) {}

  /** The job kinds this process can run. */
  get kinds(): string[] {
    return Object.keys(this.options.handlers);
  }

  get staleAfterMs(): number {
    return this.options.staleAfterMs ?? 120_000;
  }

  /**
   * Backoff before the next attempt, after `failures` attempts that failed (an attempt whose worker
   * died and was taken over does not move the schedule on: its failure is the job's first).
   */
  backoff(failures: number): number {
    const base = this.options.backoffMs ?? 30_000;
    // Most faults are blips (a PACS restarting, a dropped connection): the first retry comes soon.
    if (failures <= 1) return Math.min(base, this.options.firstRetryMs ?? 5_000);
    return Math.min(this.options.maxBackoffMs ?? 15 * 60_000, base * 2 ** (failures - 2));
  }

  /**
   * Requeues the jobs of workers that stopped reporting, and at once those of a worker process on
   * this host that has ended (worker-liveness.ts); reports those that used up their attempts.
   */
  async requeueStale(): Promise<number> {
    const { requeued, dead, cancelled, holdersGone } = await this.options.store.jobs.requeueStale(new Date(Date.now() - this.staleAfterMs), holderIsGone);
    if (holdersGone) this.log.warn({ jobs: holdersGone }, 'took over the jobs of a worker process that ended');
    for (const job of dead) {
      this.log.error({ job: job.id, kind: job.kind, attempts: job.attempts }, 'job died with its worker on every attempt');
      await this.options.onEnded?.(job);
    }
    for (const job of cancelled) {
      this.log.info({ job: job.id, kind: job.kind }, 'job cancelled on request while its worker was silent');
      await this.options.onEnded?.(job);
    }
    return requeued;
  }

  /**
   * Runs a job that `holder` has just claimed (status running, lockedBy = holder) and records its
   * outcome. Returns the Job row as it stands afterwards.
   */
  async run(job: JobRecord, holder: string): Promise<JobRecord> {
    const { store } = this.options;
    const handler = this.options.handlers[job.kind];
    if (!handler) throw new Error(`no handler for job kind ${job.kind}`);
    const log = this.log.child({ job: job.id, kind: job.kind, attempt: job.attempts });
    const started = Date.now();
    // The heartbeat also runs on a timer: one stage (a slow PACS, a big study) can outlast the
    // stale limit, and a silent job would be handed to a second worker while this one runs.
    let lastProgress: JsonValue = job.progress ?? {};
    const context: JobContext = {
      workerId: holder,
      progress: (progress) => {
        lastProgress = progress;
        return store.jobs.reportProgress(job.id, progress, holder);
      },
      checkpoint: async () => {
        if (await store.jobs.isCancelRequested(job.id)) throw new JobCancelledError(job.id);
      },
      stage: async (progress) => {
        lastProgress = progress;
        const { held, cancelRequested } = await store.jobs.reportStage(job.id, progress, holder);
        if (cancelRequested) throw new JobCancelledError(job.id);
        return held;
      },
    };
    const heartbeat = setInterval(() => {
      store.jobs.reportProgress(job.id, lastProgress, holder).catch((error: unknown) => log.warn({ err: String(error) }, 'heartbeat failed'));
    }, Math.max(1_000, this.staleAfterMs / 3));
    try {
      const result = await handler(job, context);
      const skipped = typeof result === 'object' && result !== null && !Array.isArray(result) && result.status === 'skipped';
      log.info({ durationMs: Date.now() - started, outcome: skipped ? 'skipped' : 'succeeded' }, 'job finished');
      return await this.record(store.jobs.finish(job.id, skipped ? 'skipped' : 'succeeded', { result }, holder), job);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof JobCancelledError) {
        log.info('job cancelled at a checkpoint');
        return await this.record(store.jobs.finish(job.id, 'cancelled', { error: message }, holder), job);
      }
      if (error instanceof JobPostponedError) {
        log.info({ reason: message }, 'job postponed');
        return await this.endedUnseen(await this.record(store.jobs.postpone(job.id, message, new Date(Date.now() + error.delayMs), holder), job));
      }
      if ((error instanceof MammocadError && error.retryable) || isTransientDatabaseError(error)) {
        const failures = job.attempts - (endedByTakeover(job.lastError) ? 1 : 0);
        const after = await this.record(store.jobs.retryLater(job.id, message, new Date(Date.now() + this.backoff(failures)), holder), job);
        log.warn({ err: message, status: after.status }, after.status === 'dead' ? 'job gave up after its last attempt' : after.status === 'cancelled' ? 'job cancelled on request' : 'job will be retried');
        return await this.endedUnseen(after);
      }
      log.error({ err: message, code: error instanceof MammocadError ? error.code : undefined }, 'job failed');
      return await this.record(store.jobs.finish(job.id, 'failed', { error: message }, holder), job);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** A retry or postponement that a cancellation request turned into the job's end: its handler thought it would run again. */
  private async endedUnseen(after: JobRecord): Promise<JobRecord> {
    if (after.status === 'cancelled') await this.options.onEnded?.(after);
    return after;
  }

  /** Writes an outcome; when another worker has taken the job over meanwhile, leaves it to that one. */
  private async record(writing: Promise<JobRecord>, job: JobRecord): Promise<JobRecord> {
    try {
      return await writing;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      this.log.warn({ job: job.id }, 'job was taken over by another worker; its outcome is left to that worker');
      return this.options.store.jobs.get(job.id);
    }
  }
}
