// Several jobs in flight per worker process (worker.concurrency), on both queues: the embedded
// JobWorker on SQLite and graphile-worker on PostgreSQL (when MAMMOCAD_TEST_PG_URL is set; in
// CI its absence fails the suite, test/support/databases.ts). The handlers record when they
// start and end and wait on promises the test releases, so "three at once, a fourth waits" is
// observed, not inferred. Exactly-once, retries, graceful stop and stale takeover are checked
// with concurrency 3. Then the service's own case: six studies scored by one process with three
// jobs at once and inference on a worker thread load the model once and write one report each.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MammocadError, type JobRecord } from '../../src/domain/index.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import { createThreadedModelRuntime, type ModelRuntime } from '../../src/ml/runtime/index.js';
import { GraphileJobQueue, enableGraphileDispatch } from '../../src/pipeline/graphile-job-queue.js';
import type { JobQueue } from '../../src/pipeline/job-queue-types.js';
import type { JobHandler } from '../../src/pipeline/job-runner.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { ScoreStudyJob, type RuntimeFactory } from '../../src/pipeline/score-study-job.js';
import { SCORE_STUDY_JOB, StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { openStore, type Provider, type Store } from '../../src/store/index.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { PROVIDERS, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { doseReport, mammogram, newStudyIds } from '../support/dicom-factory.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';

const logger = pino({ level: 'silent' });
const BACKOFF_MS = 200;

async function until<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** What the handlers saw: each start and end, and the most jobs running at once. */
class Recorder {
  readonly starts: { jobId: string; holder: string; at: number }[] = [];
  readonly ends: { jobId: string; at: number }[] = [];
  private running = 0;
  maxRunning = 0;
  private readonly releases = new Map<string, () => void>();

  startsOf(jobId: string) {
    return this.starts.filter((s) => s.jobId === jobId);
  }

  /** A handler that waits until the test releases its job. */
  waiting(): JobHandler {
    return async (job, context) => {
      this.begin(job, context.workerId);
      try {
        await new Promise<void>((resolve) => this.releases.set(job.id, resolve));
        return { ok: true };
      } finally {
        this.end(job);
      }
    };
  }

  /** A handler that takes `ms`. */
  timed(ms: () => number): JobHandler {
    return async (job, context) => {
      this.begin(job, context.workerId);
      try {
        await sleep(ms());
        return { ok: true };
      } finally {
        this.end(job);
      }
    };
  }

  release(jobId: string): void {
    const release = this.releases.get(jobId);
    if (!release) throw new Error(`job ${jobId} is not waiting`);
    this.releases.delete(jobId);
    release();
  }

  releaseAll(): void {
    for (const id of [...this.releases.keys()]) this.release(id);
  }

  begin(job: JobRecord, holder: string): void {
    this.starts.push({ jobId: job.id, holder, at: Date.now() });
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
  }

  end(job: JobRecord): void {
    this.ends.push({ jobId: job.id, at: Date.now() });
    this.running--;
  }
}

describe.each(PROVIDERS)('worker concurrency on %s', (provider: Provider) => {
  let db: TestDatabase;
  let producer: Store;
  const opened: Store[] = [];
  const queues: JobQueue[] = [];

  /** A queue of this provider with its own Store (as a worker process would have). */
  async function queue(handlers: Record<string, JobHandler>, options: { concurrency: number; workerId: string; staleAfterMs?: number }): Promise<JobQueue> {
    const store = await openStore({ databaseUrl: db.url, migrate: false });
    opened.push(store);
    const common = { store, logger, handlers, backoffMs: BACKOFF_MS, maxBackoffMs: 2 * BACKOFF_MS, ...options };
    const q: JobQueue =
      provider === 'postgresql'
        ? new GraphileJobQueue({ ...common, connectionString: db.url, sweepMs: 500, pollIntervalMs: 200 })
        : new JobWorker({ ...common, pollMs: 50 });
    queues.push(q);
    await q.start();
    // graphile's schema exists now: the producer's enqueues add deliveries.
    if (provider === 'postgresql') enableGraphileDispatch(producer);
    return q;
  }

  const settled = (id: string) =>
    until(async () => {
      const job = await producer.jobs.get(id);
      return ['queued', 'running'].includes(job.status) ? undefined : job;
    }, 30_000, `job ${id} to end`);

  beforeAll(async () => {
    db = await createTestDatabase(provider);
    producer = await openStore({ databaseUrl: db.url, logger });
  });

  afterAll(async () => {
    await Promise.all(queues.map((q) => q.stop()));
    for (const store of [producer, ...opened]) await store?.close();
    await db?.drop();
  });

  it('runs three waiting jobs at once with concurrency 3, and a fourth waits for a free slot', async () => {
    const rec = new Recorder();
    const q = await queue({ 'wait-a': rec.waiting() }, { concurrency: 3, workerId: 'w-a' });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await producer.jobs.enqueue('wait-a', { i })).job.id);

    await until(() => (rec.starts.length >= 3 ? true : undefined), 10_000, 'three jobs to start');
    await sleep(800); // several polls (and graphile's poll interval): the fourth must still wait
    expect(rec.starts).toHaveLength(3);
    const [waitingId] = ids.filter((id) => rec.startsOf(id).length === 0);
    expect((await producer.jobs.get(waitingId!)).status).toBe('queued');
    const running = await producer.jobs.list({ kind: 'wait-a', status: 'running' });
    expect(running).toHaveLength(3);
    // Each in-flight job is held under a holder of its own, all of this worker.
    expect(new Set(running.map((j) => j.lockedBy)).size).toBe(3);
    for (const j of running) expect(j.lockedBy).toMatch(/^w-a#/);

    // A slot frees: the fourth starts.
    rec.release(rec.starts[0]!.jobId);
    await until(() => (rec.startsOf(waitingId!).length === 1 ? true : undefined), 10_000, 'the fourth job to start');
    expect(rec.maxRunning).toBe(3);
    rec.releaseAll();
    await until(() => (rec.starts.length === 4 && rec.ends.length === 4 ? true : undefined), 10_000, 'all four to end');
    const done = await Promise.all(ids.map(settled));
    expect(done.map((j) => [j.status, j.attempts])).toEqual(ids.map(() => ['succeeded', 1]));
    await q.stop();
  });

  it('runs each of 30 jobs exactly once across two workers of concurrency 3', async () => {
    const rec = new Recorder();
    const handlers = { 'count-b': rec.timed(() => 20 + Math.random() * 60) };
    const q1 = await queue(handlers, { concurrency: 3, workerId: 'w-b1' });
    const q2 = await queue(handlers, { concurrency: 3, workerId: 'w-b2' });
    const ids = (await Promise.all(Array.from({ length: 30 }, (_, i) => producer.jobs.enqueue('count-b', { i })))).map((r) => r.job.id);
    const done = await Promise.all(ids.map(settled));
    expect(done.map((j) => [j.status, j.attempts])).toEqual(ids.map(() => ['succeeded', 1]));
    for (const id of ids) expect(rec.startsOf(id)).toHaveLength(1);
    expect(rec.maxRunning).toBeGreaterThan(1);
    expect(rec.maxRunning).toBeLessThanOrEqual(6);
    await Promise.all([q1.stop(), q2.stop()]);
  });

  it('retries a failing job after its backoff, as with one job at a time, while others run', async () => {
    const rec = new Recorder();
    let flakyRuns = 0;
    const q = await queue(
      {
        'flaky-c': async (job, context) => {
          rec.begin(job, context.workerId);
          rec.end(job);
          if (++flakyRuns < 3) throw new MammocadError('PACS_UNAVAILABLE', 'PACS unavailable: connection refused', { retryable: true });
          return { ok: true };
        },
        'broken-c': async () => {
          throw new Error('not retryable');
        },
        'wait-c': rec.waiting(),
      },
      { concurrency: 3, workerId: 'w-c' },
    );
    const { job: blocker } = await producer.jobs.enqueue('wait-c', {});
    await until(() => (rec.startsOf(blocker.id).length === 1 ? true : undefined), 10_000, 'the waiting job to start');
    const { job: flaky } = await producer.jobs.enqueue('flaky-c', {}, { maxAttempts: 5 });
    const { job: broken } = await producer.jobs.enqueue('broken-c', {}, { maxAttempts: 5 });
    const after = await settled(flaky.id);
    expect(after).toMatchObject({ status: 'succeeded', attempts: 3, lastError: null });
    const starts = rec.startsOf(flaky.id).map((s) => s.at);
    expect(starts).toHaveLength(3);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(BACKOFF_MS - 5);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(BACKOFF_MS - 5); // 5 s capped by the base, then the base
    expect(await settled(broken.id)).toMatchObject({ status: 'failed', attempts: 1, lastError: 'not retryable' });
    // The waiting job held its slot all along.
    expect((await producer.jobs.get(blocker.id)).status).toBe('running');
    rec.releaseAll();
    expect(await settled(blocker.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    await q.stop();
  });

  it('lets the in-flight jobs finish when stopped, and starts no new ones', async () => {
    const rec = new Recorder();
    const q = await queue({ 'wait-d': rec.waiting() }, { concurrency: 3, workerId: 'w-d' });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await producer.jobs.enqueue('wait-d', { i })).job.id);
    await until(() => (rec.starts.length >= 3 ? true : undefined), 10_000, 'three jobs to start');
    let stopped = false;
    const stopping = q.stop().then(() => (stopped = true));
    await sleep(300);
    expect(stopped).toBe(false); // it waits for the three
    rec.releaseAll();
    await stopping;
    expect(rec.ends).toHaveLength(3);
    expect(rec.starts).toHaveLength(3);
    const jobs = await Promise.all(ids.map((id) => producer.jobs.get(id)));
    expect(jobs.filter((j) => j.status === 'succeeded').map((j) => j.id).sort()).toEqual(rec.starts.map((s) => s.jobId).sort());
    expect(jobs.filter((j) => j.status === 'queued')).toHaveLength(2);
    // The two left are run by the next worker.
    const rec2 = new Recorder();
    const q2 = await queue({ 'wait-d': rec2.timed(() => 10) }, { concurrency: 3, workerId: 'w-d2' });
    for (const j of jobs.filter((job) => job.status === 'queued')) expect(await settled(j.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(rec2.starts).toHaveLength(2);
    await q2.stop();
  });

  it('takes over, as stale, the jobs a vanished worker held mid-way, each once', async () => {
    // As a process of concurrency 3 that claimed three jobs and died: rows 'running' under
    // locks nobody refreshes (claimed an hour ago), no deliveries for them.
    const bare = await openStore({ databaseUrl: db.url, migrate: false });
    const ids: string[] = [];
    try {
      const anHourAgo = new Date(Date.now() - 3_600_000);
      for (let i = 0; i < 3; i++) {
        const { job } = await bare.jobs.enqueue('stale-e', { i }, { runAt: new Date(anHourAgo.getTime() - 1_000) });
        ids.push(job.id);
        expect(await bare.jobs.claimById(job.id, ['stale-e'], `vanished:1#${i}`, anHourAgo)).not.toBeNull();
      }
    } finally {
      await bare.close();
    }
    const rec = new Recorder();
    const q = await queue({ 'stale-e': rec.timed(() => 20) }, { concurrency: 3, workerId: 'w-e', staleAfterMs: 3_000 });
    const done = await Promise.all(ids.map(settled));
    expect(done.map((j) => [j.status, j.attempts])).toEqual(ids.map(() => ['succeeded', 2])); // the vanished attempt counts
    for (const id of ids) {
      expect(rec.startsOf(id)).toHaveLength(1);
      expect(rec.startsOf(id)[0]!.holder).toMatch(/^w-e#/);
    }
    await q.stop();
  });
});

describe.skipIf(!LocalOrthanc.available())('scoring studies concurrently in one process', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-worker-concurrency-'));
  let orthanc: LocalOrthanc;
  let store: Store;

  beforeAll(async () => {
    orthanc = new LocalOrthanc();
    await orthanc.start();
    store = await openStore({ databaseUrl: `file:${path.join(work, 'db.sqlite')}` });
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await orthanc?.stop();
  });

  it('loads the model once for three jobs that ask at once, and scores each study once with one report', async () => {
    const pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000, backoffMs: 10 });
    const models = new ModelService({ store, modelDir: path.join(work, 'models'), logger });
    await models.import(await writeTestPackage(path.join(work, 'incoming'), { version: 'tiny-concurrent' }), 'admin:test');
    await models.activate('tiny-concurrent', 'admin:test');
    const discovery = new StudyDiscovery({ pacs, store, logger });
    const device = { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: 'test', uid: '2.25.1234567890' };
    // The service's runtime (inference on a worker thread), counted.
    const runtimes = { created: 0, runs: 0 };
    const createRuntime: RuntimeFactory = async (packages, options) => {
      runtimes.created++;
      // A slow load: the three jobs that start at once all ask for the model while it loads.
      await sleep(500);
      const runtime: ModelRuntime = await createThreadedModelRuntime(packages, options);
      const scoreWithHeatMaps = runtime.scoreWithHeatMaps.bind(runtime);
      runtime.scoreWithHeatMaps = (images, timing) => {
        runtimes.runs++;
        return scoreWithHeatMaps(images, timing);
      };
      return runtime;
    };
    const scoring = new ScoreStudyJob({ pacs, store, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500', researchMode: true, device, createRuntime });
    const studies = [];
    for (let i = 0; i < 6; i++) {
      const ids = newStudyIds();
      await pacs.store([mammogram(ids, { laterality: 'L', view: 'CC', size: 256 }).bytes, mammogram(ids, { laterality: 'R', view: 'MLO', size: 256 }).bytes, doseReport(ids).bytes]);
      studies.push(ids.studyUid);
    }
    // All six queued before the worker starts: its first claims find a backlog, and the first
    // jobs all ask for the (not yet loaded) model at once.
    for (const uid of studies) expect((await discovery.announce(uid, 'manual')).outcome).toBe('new');
    const worker = new JobWorker({ store, logger, handlers: { [SCORE_STUDY_JOB]: scoring.handle }, concurrency: 3, pollMs: 50, backoffMs: 10 });
    await worker.start();
    try {
      const jobs = await until(async () => {
        const all = await store.jobs.list({ kind: SCORE_STUDY_JOB });
        return all.length === 6 && all.every((j) => !['queued', 'running'].includes(j.status)) ? all : undefined;
      }, 60_000, 'the six studies to be scored');
      expect(jobs.map((j) => [j.status, j.attempts])).toEqual(jobs.map(() => ['succeeded', 1]));
      for (const j of jobs) expect((j.result as { timingsMs: Record<string, number> }).timingsMs.infer).toBeGreaterThan(0);
    } finally {
      await worker.stop();
      await scoring.dispose();
    }
    // Three jobs asked for the model at once: it was loaded once.
    expect(runtimes.created).toBe(1);
    expect(runtimes.runs).toBe(6);
    for (const uid of studies) {
      expect((await store.studies.findByUid(uid))?.status).toBe('scored');
      const series = await pacs.search(`studies/${uid}/series`, { Modality: 'SR', includefield: ['Manufacturer'] });
      const ours = series.filter((s) => s['00080070']?.Value?.[0] === 'mammocad');
      expect(ours).toHaveLength(1);
    }
  }, 120_000);
});
