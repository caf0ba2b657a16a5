// The PostgreSQL job queue: graphile-worker delivers job ids, the Job row stays the record.
// Three queue instances with their own Store (as three worker processes would have) share one
// database. PostgreSQL comes from MAMMOCAD_TEST_PG_URL; in CI its absence fails the suite
// (test/support/databases.ts), elsewhere these cases are skipped.

import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MammocadError, type JsonValue } from '../../src/domain/index.js';
import { GRAPHILE_TASK, GraphileJobQueue, enableGraphileDispatch } from '../../src/pipeline/graphile-job-queue.js';
import { createJobQueue } from '../../src/pipeline/job-queue.js';
import { holderIdOf } from '../../src/pipeline/worker-liveness.js';
import type { JobHandler } from '../../src/pipeline/job-runner.js';
import { openStore, type Store } from '../../src/store/index.js';
import { PG_ADMIN_URL, createTestDatabase, queryRows, type TestDatabase } from '../support/databases.js';

const logger = pino({ level: 'silent' });
const BACKOFF_MS = 300;

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.runIf(PG_ADMIN_URL)('graphile job queue on PostgreSQL', () => {
  let db: TestDatabase;
  let producer: Store;
  const stores: Store[] = [];
  const queues: GraphileJobQueue[] = [];
  /** Every handler start: job id, the holder that ran it, when. */
  const runs: { jobId: string; holder: string; at: number }[] = [];

  const record: JobHandler = async (job, context) => {
    runs.push({ jobId: job.id, holder: context.workerId, at: Date.now() });
    return null;
  };
  const handlers: Record<string, JobHandler> = {
    count: async (job, context) => {
      await record(job, context);
      await sleep(10 + Math.random() * 20);
      return { ok: true };
    },
    flaky: async (job, context) => {
      await record(job, context);
      throw new MammocadError('PACS_UNAVAILABLE', 'PACS unavailable: connection refused', { retryable: true });
    },
    stale: async (job, context) => {
      await record(job, context);
      return { ok: true };
    },
    latency: async (job, context) => {
      await record(job, context);
      return { ok: true };
    },
    orphan: async (job, context) => {
      await record(job, context);
      return { previousError: job.lastError };
    },
  };

  const graphileJobCount = async () => Number((await queryRows<{ n: string }>(db, 'SELECT count(*) AS n FROM graphile_worker.jobs'))[0]!.n);
  const runsOf = (jobId: string) => runs.filter((r) => r.jobId === jobId);
  const settled = (id: string, store: Store = producer) =>
    until(async () => {
      const job = await store.jobs.get(id);
      return ['queued', 'running'].includes(job.status) ? undefined : job;
    }, 30_000, `job ${id} to end`);

  beforeAll(async () => {
    db = await createTestDatabase('postgresql');
    producer = await openStore({ databaseUrl: db.url, logger });
    for (let i = 0; i < 3; i++) {
      const store = await openStore({ databaseUrl: db.url, migrate: false });
      stores.push(store);
      queues.push(
        new GraphileJobQueue({
          store,
          logger,
          handlers,
          connectionString: db.url,
          workerId: `worker-${i}`,
          backoffMs: BACKOFF_MS,
          maxBackoffMs: 2 * BACKOFF_MS,
          staleAfterMs: 3_000,
          sweepMs: 500,
        }),
      );
    }
    // All three at once on an empty database: graphile's schema installation must not race.
    await Promise.all(queues.map((q) => q.start()));
    enableGraphileDispatch(producer);
  });

  afterAll(async () => {
    await Promise.all(queues.map((q) => q.stop()));
    for (const store of [producer, ...stores]) await store?.close();
    await db?.drop();
  });

  it('starts a job enqueued while idle within a second or so (LISTEN/NOTIFY)', async () => {
    await sleep(1_500); // let the queues go idle after start-up
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = Date.now();
      const { job } = await producer.jobs.enqueue('latency', { i });
      const started = await until(async () => runsOf(job.id)[0]?.at, 10_000, 'the latency job to start');
      latencies.push(started - before);
      await settled(job.id);
      await sleep(300);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(`graphile pickup latency (enqueue -> handler start), ms: ${latencies.join(', ')}; median ${sorted[2]}, max ${sorted[4]}`);
    expect(Math.max(...latencies)).toBeLessThan(5_000);
  });

  it('runs 40 jobs across three queue instances, each exactly once', async () => {
    const ids = (await Promise.all(Array.from({ length: 40 }, (_, i) => producer.jobs.enqueue('count', { i })))).map((r) => r.job.id);
    const done = await Promise.all(ids.map((id) => settled(id)));
    expect(done.map((j) => j.status)).toEqual(ids.map(() => 'succeeded'));
    expect(done.map((j) => j.attempts)).toEqual(ids.map(() => 1));
    for (const id of ids) expect(runsOf(id)).toHaveLength(1);
    const workers = new Set(ids.map((id) => runsOf(id)[0]!.holder.split('#')[0]));
    expect(workers.size).toBeGreaterThanOrEqual(2);
    // Every delivery was completed and removed: graphile keeps nothing behind (no retries of its own).
    await until(async () => ((await graphileJobCount()) === 0 ? true : undefined), 5_000, 'graphile jobs to be removed');
  });

  it('retries a retryable failure after its backoff and ends dead after maxAttempts, saying why', async () => {
    const { job } = await producer.jobs.enqueue('flaky', { study: 'x' }, { maxAttempts: 3 });
    const dead = await settled(job.id);
    expect(dead.status).toBe('dead');
    expect(dead.attempts).toBe(3);
    expect(dead.lastError).toBe('PACS unavailable: connection refused');
    const starts = runsOf(job.id).map((r) => r.at);
    expect(starts).toHaveLength(3);
    // The row's runAt decides when the retry runs: backoff(1) = backoff(2) = 300 ms (the quick
    // first retry is capped by the base here).
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(BACKOFF_MS);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(BACKOFF_MS);
    await until(async () => ((await graphileJobCount()) === 0 ? true : undefined), 5_000, 'graphile jobs to be removed');
  });

  it('picks up, by its sweep, a job whose process vanished while running it', async () => {
    // A store without dispatch, as a process that claimed the job and then died: the row is
    // 'running' under a lock nobody refreshes, and there is no graphile job for it.
    const bare = await openStore({ databaseUrl: db.url, migrate: false });
    let id: string;
    try {
      const future = new Date(Date.now() + 3_600_000); // not due: the sweep must not dispatch it meanwhile
      id = (await bare.jobs.enqueue('stale', {}, { runAt: future })).job.id;
      expect(await bare.jobs.claim(['stale'], 'vanished-host:4242', future)).not.toBeNull();
    } finally {
      await bare.close();
    }
    const deliveries = `SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = '${id}'`;
    expect(await queryRows(db, deliveries)).toEqual([{ n: '0' }]);
    // Then it is as if claimed (when due) an hour ago and never heard of since.
    await queryRows(db, `UPDATE "Job" SET "runAt" = (now() AT TIME ZONE 'UTC') - interval '61 minutes', "lockedAt" = (now() AT TIME ZONE 'UTC') - interval '1 hour' WHERE id = '${id}'`);
    const done = await settled(id);
    expect(done.status).toBe('succeeded');
    expect(done.attempts).toBe(2); // the vanished attempt counts
    expect(runsOf(id)).toHaveLength(1);
    expect(runsOf(id)[0]!.holder).toMatch(/^worker-\d#/);
  });

  it('takes over at once, not after the stale limit, the job of a worker process on this host that ended', async () => {
    // A real process holds the job (as a worker names itself), then is killed: its lock is fresh,
    // so only the liveness test can free it before the 3 s stale limit.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    const holder = `${holderIdOf(child.pid!)}#1`;
    const bare = await openStore({ databaseUrl: db.url, migrate: false });
    let id: string;
    try {
      id = (await bare.jobs.enqueue('orphan', {})).job.id;
      expect(await bare.jobs.claim(['orphan'], holder)).not.toBeNull();
    } finally {
      await bare.close();
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const done = await settled(id);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2, result: { previousError: `its worker process ended (${holder})` } });
    expect(runsOf(id)).toHaveLength(1);
  });

  it('adds the graphile job in the same transaction as the Job row', async () => {
    // A delivery whose Job row does not exist would be what a half-done enqueue leaves.
    const orphans = `SELECT count(*) AS n FROM graphile_worker.jobs j WHERE NOT EXISTS (SELECT 1 FROM "Job" WHERE id = j.key)`;
    // PostgreSQL refuses NUL in jsonb: the row's insert fails after add_job ran in the transaction.
    await expect(producer.jobs.enqueue('atomic', { text: 'nul\u0000' } as JsonValue)).rejects.toThrow(/unicode|\\u0000/i);
    expect(await queryRows(db, orphans)).toEqual([{ n: '0' }]);
    expect(await producer.jobs.list({ kind: 'atomic' })).toEqual([]);

    // And the other way round: no graphile schema, so add_job fails and no Job row is left.
    const bareDb = await createTestDatabase('postgresql');
    const bare = await openStore({ databaseUrl: bareDb.url, logger });
    try {
      bare.jobs.dispatchTo(GRAPHILE_TASK);
      await expect(bare.jobs.enqueue('atomic', {})).rejects.toThrow();
      expect(await bare.jobs.list({ kind: 'atomic' })).toEqual([]);
    } finally {
      await bare.close();
      await bareDb.drop();
    }

    // An idempotent enqueue adds nothing twice: one row, one delivery keyed by its id.
    const first = await producer.jobs.enqueue('atomic', {}, { idempotencyKey: 'atomic-1', runAt: new Date(Date.now() + 3_600_000) });
    const again = await producer.jobs.enqueue('atomic', {}, { idempotencyKey: 'atomic-1' });
    expect(again).toEqual({ job: first.job, created: false });
    const keyed = await queryRows<{ key: string; run_at: Date }>(db, `SELECT key, run_at FROM graphile_worker.jobs WHERE key = '${first.job.id}'`);
    expect(keyed).toHaveLength(1);
    expect(new Date(keyed[0]!.run_at).getTime()).toBe(first.job.runAt.getTime());
    await producer.jobs.requestCancel(first.job.id);
  });

  it('lists jobs changed since a time, oldest change first', async () => {
    const since = new Date();
    await sleep(5);
    const a = (await producer.jobs.enqueue('feed', {}, { runAt: new Date(Date.now() + 3_600_000) })).job;
    await sleep(5);
    const b = (await producer.jobs.enqueue('feed', {}, { runAt: new Date(Date.now() + 3_600_000) })).job;
    await sleep(5);
    await producer.jobs.requestCancel(a.id);
    const changed = await producer.jobs.changedSince(since, 10);
    expect(changed.map((j) => j.id)).toEqual([b.id, a.id]);
    expect(changed[1]!.status).toBe('cancelled');
    expect(changed[0]!.updatedAt.getTime()).toBeLessThanOrEqual(changed[1]!.updatedAt.getTime());
    expect((await producer.jobs.changedSince(since, 1)).map((j) => j.id)).toEqual([b.id]);
    expect(await producer.jobs.changedSince(changed[1]!.updatedAt, 10)).toEqual([]);
  });
});

describe('createJobQueue', () => {
  it('gives the embedded worker on SQLite', async () => {
    const db = await createTestDatabase('sqlite');
    const store = await openStore({ databaseUrl: db.url });
    try {
      const queue = createJobQueue({ store, databaseUrl: db.url, logger, handlers: {} });
      expect(queue.kind).toBe('embedded');
      await queue.start();
      await queue.stop();
    } finally {
      await store.close();
      await db.drop();
    }
  });

  it.runIf(PG_ADMIN_URL)('gives graphile on PostgreSQL', () => {
    const queue = createJobQueue({ store: { provider: 'postgresql' } as Store, databaseUrl: PG_ADMIN_URL!, logger, handlers: {} });
    expect(queue.kind).toBe('graphile');
  });
});
