// Cancelling jobs: a queued job ends at once; a running one stops at its next checkpoint; a job
// asked to stop is never requeued (after a retryable fault, a postponement, or its worker going
// silent). On both databases, with the runner both queues share.

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MammocadError } from '../../src/domain/index.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import type { JobContext } from '../../src/pipeline/job-runner.js';
import { openStore, type Store } from '../../src/store/index.js';
import { PROVIDERS, createTestDatabase, type TestDatabase } from '../support/databases.js';

const logger = pino({ level: 'silent' });

describe.each(PROVIDERS)('job cancellation on %s', (provider) => {
  let db: TestDatabase;
  let store: Store;

  beforeAll(async () => {
    db = await createTestDatabase(provider);
    store = await openStore({ databaseUrl: db.url });
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('stops a running job at its next checkpoint and records it cancelled', async () => {
    let steps = 0;
    const worker = new JobWorker({
      store,
      logger,
      handlers: {
        'long-task': async (_job, context: JobContext) => {
          for (steps = 0; steps < 200; steps++) {
            await context.checkpoint();
            await context.progress({ step: steps });
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          return { done: true };
        },
      },
    });
    const { job } = await store.jobs.enqueue('long-task', {});
    const running = worker.runOnce();
    // Cancel once the handler is under way.
    for (let i = 0; i < 200 && (await store.jobs.get(job.id)).progress === null; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await store.jobs.requestCancel(job.id)).cancelRequested).toBe(true);
    const after = await running;
    expect(after).toMatchObject({ id: job.id, status: 'cancelled', lastError: `job ${job.id} was cancelled on request`, lockedBy: null });
    expect(after!.finishedAt).not.toBeNull();
    expect(steps).toBeLessThan(200); // it did not run to the end
  });

  it('cancels a queued job at once, and never requeues a job asked to stop', async () => {
    const { job: queued } = await store.jobs.enqueue('other-task', {});
    expect(await store.jobs.requestCancel(queued.id)).toMatchObject({ status: 'cancelled' });

    // A retryable fault after the request: cancelled, not back in the queue.
    const worker = new JobWorker({
      store,
      logger,
      backoffMs: 1,
      handlers: {
        'flaky-task': async (job) => {
          await store.jobs.requestCancel(job.id);
          throw new MammocadError('PACS_UNAVAILABLE', 'the PACS went away', { retryable: true });
        },
      },
    });
    const { job: flaky } = await store.jobs.enqueue('flaky-task', {}, { maxAttempts: 5 });
    expect(await worker.runOnce()).toMatchObject({ id: flaky.id, status: 'cancelled', lastError: 'cancelled on request (last error: the PACS went away)' });

    // A worker that went silent while its job was asked to stop: the job ends, nobody reruns it.
    const { job: orphan } = await store.jobs.enqueue('orphan-task', {});
    await store.jobs.claim(['orphan-task'], 'vanished-worker');
    await store.jobs.requestCancel(orphan.id);
    await store.jobs.requeueStale(new Date(Date.now() + 1_000));
    expect(await store.jobs.get(orphan.id)).toMatchObject({ status: 'cancelled', lockedBy: null });
  });
});
