// The embedded job queue's worker: takes due jobs from the database (a compare-and-set claim,
// so several workers — threads of one process or other processes on the same database — never
// run the same job) and hands each to the JobRunner, which runs the handler for the job's kind
// and records the outcome (succeeded/skipped, retried after a backoff, postponed, failed, dead).
// Jobs of a worker that stopped reporting are requeued. stop() lets the running job finish.
// This is the queue on SQLite; on PostgreSQL graphile-worker delivers the jobs instead
// (graphile-job-queue.ts), running them through the same JobRunner.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { JobRecord } from '../domain/index.js';
import type { JobQueue } from './job-queue-types.js';
import { JobRunner, type JobRunnerOptions } from './job-runner.js';
import { processHolderId } from './worker-liveness.js';

// Re-exported: handlers and callers have always imported these from here.
export { isTransientDatabaseError, type JobContext, type JobHandler } from './job-runner.js';

export interface JobWorkerOptions extends JobRunnerOptions {
  workerId?: string;
  /** How often an idle worker looks for work. */
  pollMs?: number;
  /**
   * Jobs this process runs at once (default 1): each in its own loop, claiming under its own
   * holder "<workerId>#<n>", so that a job taken over from one loop cannot be finished by another.
   */
  concurrency?: number;
}

export class JobWorker implements JobQueue {
  readonly kind = 'embedded' as const;
  readonly workerId: string;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private readonly log: Logger;
  private readonly runner: JobRunner;

  constructor(private readonly options: JobWorkerOptions) {
    this.workerId = options.workerId ?? processHolderId();
    this.log = options.logger.child({ component: 'worker', worker: this.workerId });
    this.runner = new JobRunner(options, this.log);
  }

  /** Backoff before the next attempt after `failures` failed attempts (JobRunner.backoff). */
  backoff(failures: number): number {
    return this.runner.backoff(failures);
  }

  /** Claims and runs one due job; returns it, or null when there was none. */
  async runOnce(holder: string = this.workerId): Promise<JobRecord | null> {
    await this.runner.requeueStale();
    const job = await this.options.store.jobs.claim(this.runner.kinds, holder);
    if (!job) return null;
    return this.runner.run(job, holder);
  }

  /** Runs jobs until stop(). Resolves at once: the loops run in the background. */
  async start(): Promise<void> {
    if (this.loops.length > 0) return;
    this.stopping = false;
    const concurrency = Math.max(1, this.options.concurrency ?? 1);
    for (let n = 1; n <= concurrency; n++) this.loops.push(this.loop(concurrency === 1 ? this.workerId : `${this.workerId}#${n}`));
  }

  /** One slot: claims and runs jobs under `holder` until stop(). */
  private async loop(holder: string): Promise<void> {
    while (!this.stopping) {
      let ran: JobRecord | null = null;
      try {
        ran = await this.runOnce(holder);
      } catch (error) {
        // The database itself failed: wait and try again rather than spin or die.
        this.log.error({ err: error instanceof Error ? error.message : String(error) }, 'worker loop error');
      }
      if (!ran && !this.stopping) await sleep(this.options.pollMs ?? 1_000);
    }
  }

  /** Finishes the running jobs (if any) and stops taking new ones. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    this.loops = [];
  }
}
