// The job queue as the entry point sees it: start it, stop it gracefully. Two implementations
// share the Job table as the record the API shows and the JobRunner for a job's life:
//   embedded (SQLite): JobWorker polls the Job table itself;
//   graphile (PostgreSQL): graphile-worker delivers job ids to any number of worker processes
//   (LISTEN/NOTIFY, no polling delay), see graphile-job-queue.ts.

import type { Provider, Store } from '../store/index.js';
import { GraphileJobQueue } from './graphile-job-queue.js';
import type { JobRunnerOptions } from './job-runner.js';
import { JobWorker } from './job-worker.js';

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
  /** Jobs run at once by this process (graphile only; the embedded worker runs one). Default 1. */
  concurrency?: number;
}

/** graphile-worker on PostgreSQL, the embedded JobWorker on SQLite. */
export function createJobQueue(options: CreateJobQueueOptions): JobQueue {
  const { databaseUrl, provider = options.store.provider, concurrency, ...rest } = options;
  if (provider === 'postgresql') return new GraphileJobQueue({ ...rest, connectionString: databaseUrl, concurrency });
  return new JobWorker(rest);
}
