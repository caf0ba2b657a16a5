// The job queue as the entry point sees it: start it, stop it gracefully. Two implementations
// share the Job table as the record the API shows and the JobRunner for a job's life:
//   embedded (SQLite): JobWorker polls the Job table itself;
//   graphile (PostgreSQL): graphile-worker delivers job ids to any number of worker processes
//   (LISTEN/NOTIFY, no polling delay), see graphile-job-queue.ts.
// This file is the factory that picks one; the interface both implement is job-queue-types.ts
// (re-exported here for the entry point).

import { GraphileJobQueue } from './graphile-job-queue.js';
import type { CreateJobQueueOptions, JobQueue } from './job-queue-types.js';
import { JobWorker } from './job-worker.js';

export type { CreateJobQueueOptions, JobQueue } from './job-queue-types.js';

/** graphile-worker on PostgreSQL, the embedded JobWorker on SQLite. */
export function createJobQueue(options: CreateJobQueueOptions): JobQueue {
  const { databaseUrl, provider = options.store.provider, concurrency, ...rest } = options;
  if (provider === 'postgresql') return new GraphileJobQueue({ ...rest, connectionString: databaseUrl, concurrency });
  return new JobWorker({ ...rest, concurrency });
}
