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
import { MammocadError, type JobRecord, type JsonValue } from '../domain/index.js';
import type { Store } from '../store/index.js';

export type JobHandler = (job: JobRecord) => Promise<JsonValue>;

export interface JobWorkerOptions {
  store: Store;
  logger: Logger;
  handlers: Record<string, JobHandler>;
  workerId?: string;
  /** How often an idle worker looks for work. */
  pollMs?: number;
  /** First retry delay; doubles per attempt up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A running job whose worker has not reported for this long is requeued. */
  staleAfterMs?: number;
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
    const base = this.options.backoffMs ?? 5_000;
    return Math.min(this.options.maxBackoffMs ?? 15 * 60_000, base * 2 ** Math.max(0, attempts - 1));
  }

  /** Claims and runs one due job; returns it, or null when there was none. */
  async runOnce(): Promise<JobRecord | null> {
    const { store } = this.options;
    await store.jobs.requeueStale(new Date(Date.now() - (this.options.staleAfterMs ?? 10 * 60_000)));
    const job = await store.jobs.claim(Object.keys(this.options.handlers), this.workerId);
    if (!job) return null;
    const handler = this.options.handlers[job.kind]!;
    const log = this.log.child({ job: job.id, kind: job.kind, attempt: job.attempts });
    const started = Date.now();
    try {
      const result = await handler(job);
      const skipped = typeof result === 'object' && result !== null && !Array.isArray(result) && result.status === 'skipped';
      log.info({ durationMs: Date.now() - started, outcome: skipped ? 'skipped' : 'succeeded' }, 'job finished');
      return await store.jobs.finish(job.id, skipped ? 'skipped' : 'succeeded', { result });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof MammocadError && error.retryable) {
        const after = await store.jobs.retryLater(job.id, message, new Date(Date.now() + this.backoff(job.attempts)));
        log.warn({ err: message, status: after.status }, after.status === 'dead' ? 'job gave up after its last attempt' : 'job will be retried');
        return after;
      }
      log.error({ err: message, code: error instanceof MammocadError ? error.code : undefined }, 'job failed');
      return store.jobs.finish(job.id, 'failed', { error: message });
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
