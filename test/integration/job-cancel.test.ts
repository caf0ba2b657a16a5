// Cancelling jobs: a queued job ends at once; a running one stops at its next checkpoint; a job
// asked to stop is never requeued (after a retryable fault, a postponement, or its worker going
// silent). A scoring job that ends so fails its study, which would otherwise wait for it forever.
// On both databases, with the runner both queues share.

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MammocadError } from '../../src/domain/index.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import { cancelJob, recordUnseenEnd } from '../../src/pipeline/scoring-job-ends.js';
import { SCORE_STUDY_JOB } from '../../src/pipeline/study-discovery.js';
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

  it("fails the study of a scoring job cancelled where its handler does not see it, and leaves a later job's outcome alone", async () => {
    const queuedStudy = async (uid: string) => {
      await store.studies.announce({ studyUid: uid, source: 'manual' });
      await store.studies.setStatus(uid, 'queued');
      return (await store.jobs.enqueue(SCORE_STUDY_JOB, { studyUid: uid }, { idempotencyKey: `score:${uid}`, maxAttempts: 5 })).job;
    };
    const failedBecause = async (uid: string) => {
      const study = await store.studies.findByUid(uid);
      return `${study?.status}: ${study?.statusReason}`;
    };
    // Cancelled while queued (the API's cancelJob).
    const waiting = await queuedStudy('1.2.826.0.1.3680043.10.1.77.1');
    expect(await cancelJob(store, waiting.id)).toMatchObject({ status: 'cancelled' });
    expect(await failedBecause('1.2.826.0.1.3680043.10.1.77.1')).toBe('failed: scoring was cancelled on request');

    // Cancelled while it waited for a retry: the handler had set the study back to queued.
    const ended: string[] = [];
    const worker = new JobWorker({
      store,
      logger,
      backoffMs: 1,
      onEnded: async (job) => void ended.push(`${job.status}:${String(await recordUnseenEnd(store, job))}`),
      handlers: {
        [SCORE_STUDY_JOB]: async (job) => {
          const { studyUid } = job.payload as { studyUid: string };
          await store.studies.setStatus(studyUid, 'queued', 'retrying: the PACS went away');
          await store.jobs.requestCancel(job.id);
          throw new MammocadError('PACS_UNAVAILABLE', 'the PACS went away', { retryable: true });
        },
      },
    });
    const retried = await queuedStudy('1.2.826.0.1.3680043.10.1.77.2');
    expect(await worker.runOnce()).toMatchObject({ id: retried.id, status: 'cancelled' });
    expect(await failedBecause('1.2.826.0.1.3680043.10.1.77.2')).toBe('failed: scoring was cancelled on request');

    // Cancelled while its worker was silent: the study said scoring.
    const orphan = await queuedStudy('1.2.826.0.1.3680043.10.1.77.3');
    await store.jobs.claim([SCORE_STUDY_JOB], 'vanished-worker');
    await store.studies.setStatus('1.2.826.0.1.3680043.10.1.77.3', 'scoring');
    await store.jobs.requestCancel(orphan.id);
    const sweeper = new JobWorker({ store, logger, staleAfterMs: 1, onEnded: async (job) => void ended.push(`${job.status}:${String(await recordUnseenEnd(store, job))}`), handlers: {} });
    await new Promise((resolve) => setTimeout(resolve, 10));
    await sweeper.runOnce(); // sweeps the stale jobs first; nothing of its own to run
    expect(await store.jobs.get(orphan.id)).toMatchObject({ status: 'cancelled' });
    expect(await failedBecause('1.2.826.0.1.3680043.10.1.77.3')).toBe('failed: scoring was cancelled on request');
    expect(ended).toEqual(['cancelled:true', 'cancelled:true']);

    // An old job cancelled after a later one scored the study: the study stays scored.
    const old = await queuedStudy('1.2.826.0.1.3680043.10.1.77.4');
    await store.studies.setStatus('1.2.826.0.1.3680043.10.1.77.4', 'scored');
    await cancelJob(store, old.id);
    expect(await failedBecause('1.2.826.0.1.3680043.10.1.77.4')).toBe('scored: null');
  });
});
