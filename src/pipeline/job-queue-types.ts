// The job queue's contract: the interface the entry point starts and stops, and the options it is
// created with. The implementations (job-worker.ts, graphile-job-queue.ts) import it; the factory
// that chooses between them is job-queue.ts (so neither implementation imports the factory).

import type { Provider, Store } from '../store/index.js';
import type { JobRunnerOptions } from './job-runner.js';

export interface JobQueue {
  readonly kind: 'embedded' | 'graphile';
  /** Who claims jobs (Job.lockedBy starts with it): host:pid unless given. */
  readonly workerId: string;
  /** Starts taking jobs; resolves once the queue is running (graphile: connected, schema installed). */
  start(): Promise<void>;
  /** Stops taking jobs and waits for the running ones to finish. */
  stop(): Promise<void>;
}

export interface CreateJobQueueOptions extends JobRunnerOptions {
  store: Store;
  /** The database URL (graphile-worker opens its own connections with it). */
  databaseUrl: string;
  /** Defaults to the store's provider. */
  provider?: Provider;
  workerId?: string;
  /** Jobs run at once by this process (on either queue). Default 1. */
  concurrency?: number;
}
