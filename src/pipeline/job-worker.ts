// The embedded job queue's worker: takes due jobs from the database (a compare-and-set claim,
// so several workers — threads of one process or other processes on the same database — never
// run the same job), runs the handler for the job's kind, and records the outcome:
//   handler returned          -> succeeded (or skipped, when the result says so)
//   retryable MammocadError    -> back to the queue after an exponential backoff, dead after
//                                 maxAttempts (kept with its last error)
//   anything else             -> failed, with the error
// Jobs of a worker that stopped reporting are requeued. stop() lets the running job finish.

import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ConflictError, JobPostponedError, MammocadError, type JobRecord, type JsonValue } from '../domain/index.js';
import type { Store } from '../store/index.js';

export interface JobContext {
  workerId: string;
  /** Records progress; also the job's heartbeat. Returns false when the job was taken over. */
  progress(progress: JsonValue): Promise<boolean>;
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

export interface JobWorkerOptions {
  store: Store;
  logger: Logger;
  handlers: Record<string, JobHandler>;
  workerId?: string;
  /** How often an idle worker looks for work. */
  pollMs?: number;
  /** First retry delay (default 30 s); doubles per attempt up to maxBackoffMs (default 15 min). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A running job whose worker has not reported for this long is requeued (default 2 min; the heartbeat runs every third of it). */
  staleAfterMs?: number;
  /** Called for a job that died without its handler seeing the end (its worker kept dying). */
  onDead?: (job: JobRecord) => Promise<void>;
}

export class JobWorker {
  readonly workerId: string;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: JobWorkerOptions) {
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}`;
    this.log = options.logger.child({ component: 'worker', worker: this.workerId });
  }

  /** Backoff before attempt n+1 (n = attempts made so far). */
  backoff(attempts: number): number {
    const base = this.options.backoffMs ?? 30_000;
    return Math.min(this.options.maxBackoffMs ?? 15 * 60_000, base * 2 ** Math.max(0, attempts - 1));
  }

  /** Claims and runs one due job; returns it, or null when there was none. */
  private get staleAfterMs(): number {
    return this.options.staleAfterMs ?? 120_000;
  }

  /** Claims and runs one due job; returns it, or null when there was none. */
  async runOnce(): Promise<JobRecord | null> {
    const { store } = this.options;
    const { dead } = await store.jobs.requeueStale(new Date(Date.now() - this.staleAfterMs));
    for (const job of dead) {
      this.log.error({ job: job.id, kind: job.kind, attempts: job.attempts }, 'job died with its worker on every attempt');
      await this.options.onDead?.(job);
    }
    const job = await store.jobs.claim(Object.keys(this.options.handlers), this.workerId);
    if (!job) return null;
    const handler = this.options.handlers[job.kind]!;
    const log = this.log.child({ job: job.id, kind: job.kind, attempt: job.attempts });
    const started = Date.now();
    // The heartbeat also runs on a timer: one stage (a slow PACS, a big study) can outlast the
    // stale limit, and a silent job would be handed to a second worker while this one runs.
    let lastProgress: JsonValue = job.progress ?? {};
    const context: JobContext = {
      workerId: this.workerId,
      progress: (progress) => {
        lastProgress = progress;
        return store.jobs.reportProgress(job.id, progress, this.workerId);
      },
    };
    const heartbeat = setInterval(() => {
      store.jobs.reportProgress(job.id, lastProgress, this.workerId).catch((error: unknown) => log.warn({ err: String(error) }, 'heartbeat failed'));
    }, Math.max(1_000, this.staleAfterMs / 3));
    try {
      const result = await handler(job, context);
      const skipped = typeof result === 'object' && result !== null && !Array.isArray(result) && result.status === 'skipped';
      log.info({ durationMs: Date.now() - started, outcome: skipped ? 'skipped' : 'succeeded' }, 'job finished');
      return await this.record(store.jobs.finish(job.id, skipped ? 'skipped' : 'succeeded', { result }, this.workerId), job);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof JobPostponedError) {
        log.info({ reason: message }, 'job postponed');
        return await this.record(store.jobs.postpone(job.id, message, new Date(Date.now() + error.delayMs), this.workerId), job);
      }
      if ((error instanceof MammocadError && error.retryable) || isTransientDatabaseError(error)) {
        const after = await this.record(store.jobs.retryLater(job.id, message, new Date(Date.now() + this.backoff(job.attempts)), this.workerId), job);
        log.warn({ err: message, status: after.status }, after.status === 'dead' ? 'job gave up after its last attempt' : 'job will be retried');
        return after;
      }
      log.error({ err: message, code: error instanceof MammocadError ? error.code : undefined }, 'job failed');
      return await this.record(store.jobs.finish(job.id, 'failed', { error: message }, this.workerId), job);
    } finally {
      clearInterval(heartbeat);
    }
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

  /** Runs jobs until stop(). */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = (async () => {
      while (!this.stopping) {
        let ran: JobRecord | null = null;
        try {
          ran = await this.runOnce();
        } catch (error) {
          // The database itself failed: wait and try again rather than spin or die.
          this.log.error({ err: error instanceof Error ? error.message : String(error) }, 'worker loop error');
        }
        if (!ran && !this.stopping) await sleep(this.options.pollMs ?? 1_000);
      }
    })();
  }

  /** Finishes the running job (if any) and stops taking new ones. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    this.loop = undefined;
  }
}
