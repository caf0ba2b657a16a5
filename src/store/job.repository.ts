// Durable job records: the embedded queue's storage, and the history every queue keeps.
//
// Claiming is a compare-and-set (update ... where status = 'queued'), which is atomic on both
// SQLite and PostgreSQL, so two workers can never run the same job.
//
// Dispatch (PostgreSQL with graphile-worker): the Job row stays the one source of truth, and a
// graphile job { jobId } is only the doorbell that makes a worker look at it. Once dispatchTo()
// names the graphile task, every write that makes a row 'queued' (enqueue, retry, postpone,
// stale requeue) adds that graphile job in the same transaction, with job_key = the Job id (so
// adding again is idempotent) and run_at = the row's runAt. dispatchDue() re-adds them for all
// due queued rows, the safety net for anything added while dispatch was off or lost in between.

import { randomUUID } from 'node:crypto';
import type { JobRecord, JobStatus, JsonValue } from '../domain/index.js';
import { ConflictError, JOB_STATUSES, NotFoundError, ValidationError, assertOneOf } from '../domain/index.js';
import type { Db } from './database.js';
import { isRecordNotFound, isUniqueViolation } from './prisma-errors.js';

export interface EnqueueOptions {
  /** A job with the same key is not enqueued twice (the existing one is returned). */
  idempotencyKey?: string;
  maxAttempts?: number;
  runAt?: Date;
}

export interface JobFilter {
  status?: JobStatus;
  kind?: string;
  take?: number;
  after?: string;
}

const asRecord = (row: unknown) => row as JobRecord;

/** A job with the time of its last change (the subscription feed's cursor). */
export type ChangedJobRecord = JobRecord & { updatedAt: Date };

/** The lastError of a job requeued because its worker process ended (a crash, a kill). */
export const WORKER_ENDED = 'its worker process ended';
/** The lastError of a job requeued because its worker stopped reporting (the stale limit). */
export const WORKER_SILENT = 'worker stopped responding';

/** Whether a job's last attempt ended by being taken over from its worker, not by an error of its own. */
export function endedByTakeover(lastError: string | null): boolean {
  return lastError !== null && (lastError.startsWith(WORKER_ENDED) || lastError === WORKER_SILENT);
}

export class JobRepository {
  /** The graphile-worker task that delivers jobs, while dispatch is on (PostgreSQL only). */
  private dispatchTask: string | undefined;

  constructor(private readonly db: Db) {}

  /**
   * Turns dispatch to graphile-worker on (a task name) or off (undefined). Only on PostgreSQL,
   * and only once graphile's schema is installed (its runner does that at start): add_job is
   * its SQL function.
   */
  dispatchTo(task: string | undefined): void {
    this.dispatchTask = task;
  }

  /**
   * add_job for the row `id` if it is queued, reading run_at from the row itself. Graphile's own
   * retries are off (max_attempts 1): the Job row counts attempts and schedules retries. The
   * default job_key_mode 'replace' updates a waiting graphile job, and for one that is running
   * (or locked by a process that vanished) clears its key and adds a new one, so a re-add is never
   * swallowed. "runAt" is stored as UTC in a timestamp without time zone.
   */
  private dispatchQueued(task: string, id: string) {
    return this.db.$executeRaw`
      SELECT graphile_worker.add_job(${task}, json_build_object('jobId', "id"),
        run_at := "runAt" AT TIME ZONE 'UTC', max_attempts := 1, job_key := "id")
      FROM "Job" WHERE "id" = ${id} AND "status" = 'queued'`;
  }

  async enqueue(kind: string, payload: JsonValue, options: EnqueueOptions = {}): Promise<{ job: JobRecord; created: boolean }> {
    if (!kind) throw new ValidationError('kind', 'is required');
    if (options.maxAttempts !== undefined && (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1)) {
      throw new ValidationError('maxAttempts', 'must be a positive integer');
    }
    const key = options.idempotencyKey;
    if (key) {
      const existing = await this.db.job.findUnique({ where: { idempotencyKey: key } });
      if (existing) return { job: asRecord(existing), created: false };
    }
    try {
      const task = this.dispatchTask;
      if (!task) {
        const job = await this.db.job.create({
          data: { kind, payload: payload as object, idempotencyKey: key ?? null, maxAttempts: options.maxAttempts, runAt: options.runAt },
        });
        return { job: asRecord(job), created: true };
      }
      // One transaction: the graphile job and the Job row exist together or not at all (a
      // losing idempotency race or a rejected payload rolls the graphile job back too). The id
      // and runAt are chosen here so that add_job can go first and the row's insert decides.
      const id = randomUUID();
      const runAt = options.runAt ?? new Date();
      const [, job] = await this.db.$transaction([
        this.db.$executeRaw`
          SELECT graphile_worker.add_job(${task}, json_build_object('jobId', ${id}::text),
            run_at := ${runAt.toISOString()}::timestamptz, max_attempts := 1, job_key := ${id})`,
        this.db.job.create({
          data: { id, kind, payload: payload as object, idempotencyKey: key ?? null, maxAttempts: options.maxAttempts, runAt },
        }),
      ]);
      return { job: asRecord(job), created: true };
    } catch (error) {
      if (!key || !isUniqueViolation(error)) throw error;
      return { job: asRecord(await this.db.job.findUniqueOrThrow({ where: { idempotencyKey: key } })), created: false };
    }
  }

  async get(id: string): Promise<JobRecord> {
    const job = await this.db.job.findUnique({ where: { id } });
    if (!job) throw new NotFoundError('job', id);
    return asRecord(job);
  }

  /** Takes the oldest due job of the given kinds for `workerId`, or returns null. */
  async claim(kinds: string[], workerId: string, now = new Date()): Promise<JobRecord | null> {
    // A few candidates, in case another worker takes the first between our read and write.
    const candidates = await this.db.job.findMany({
      where: { status: 'queued', kind: { in: kinds }, runAt: { lte: now } },
      orderBy: [{ runAt: 'asc' }, { createdAt: 'asc' }],
      take: 5,
      select: { id: true },
    });
    for (const { id } of candidates) {
      const { count } = await this.db.job.updateMany({
        where: { id, status: 'queued' },
        data: { status: 'running', lockedBy: workerId, lockedAt: now, startedAt: now, attempts: { increment: 1 } },
      });
      if (count === 1) return this.get(id);
    }
    return null;
  }

  /**
   * Takes the job `id` for `workerId` if it is queued, due, and of one of `kinds` (the queue
   * delivered this id: graphile-worker on PostgreSQL); null when it is not (already taken,
   * cancelled, finished, not due yet, or a kind this process does not run).
   */
  async claimById(id: string, kinds: string[], workerId: string, now = new Date()): Promise<JobRecord | null> {
    const { count } = await this.db.job.updateMany({
      where: { id, status: 'queued', kind: { in: kinds }, runAt: { lte: now } },
      data: { status: 'running', lockedBy: workerId, lockedAt: now, startedAt: now, attempts: { increment: 1 } },
    });
    return count === 1 ? this.get(id) : null;
  }

  /**
   * Adds the graphile job again for each due queued row (idempotent by job_key), oldest first;
   * returns how many were due. The sweep's safety net; a no-op while dispatch is off.
   */
  async dispatchDue(now = new Date(), take = 1_000): Promise<number> {
    const task = this.dispatchTask;
    if (!task) return 0;
    const due = await this.db.job.findMany({
      where: { status: 'queued', runAt: { lte: now } },
      orderBy: [{ runAt: 'asc' }, { createdAt: 'asc' }],
      take,
      select: { id: true },
    });
    for (const { id } of due) await this.dispatchQueued(task, id);
    return due.length;
  }

  /**
   * For a delivery that claimById refused: when the row is queued but not due yet (a duplicate
   * delivery from before a retry was scheduled), adds its graphile job again at the row's runAt.
   * A due row is left alone (a kind this process does not run; re-adding would loop at once).
   */
  async redispatchIfEarly(id: string, now = new Date()): Promise<boolean> {
    if (!this.dispatchTask) return false;
    const job = await this.db.job.findUnique({ where: { id }, select: { status: true, runAt: true } });
    if (job?.status !== 'queued' || job.runAt <= now) return false;
    await this.dispatchQueued(this.dispatchTask, id);
    return true;
  }

  /**
   * Records progress and refreshes the lock (the heartbeat). With `workerId`, only while that
   * worker still holds the job; returns false when it no longer does (taken over after it
   * went silent), so the worker can stop writing.
   */
  async reportProgress(id: string, progress: JsonValue, workerId?: string): Promise<boolean> {
    const { count } = await this.db.job.updateMany({
      where: { id, status: 'running', ...(workerId ? { lockedBy: workerId } : {}) },
      data: { progress: progress as object, lockedAt: new Date() },
    });
    return count === 1;
  }

  /**
   * reportProgress and isCancelRequested in one round trip (a job's stages call both): records
   * progress and refreshes the lock while `workerId` holds the job, and says whether a cancel
   * was requested. Only a job no longer held costs a second query (its cancel flag).
   */
  async reportStage(id: string, progress: JsonValue, workerId?: string): Promise<{ held: boolean; cancelRequested: boolean }> {
    try {
      const { cancelRequested } = await this.db.job.update({
        where: { id, status: 'running', ...(workerId ? { lockedBy: workerId } : {}) },
        data: { progress: progress as object, lockedAt: new Date() },
        select: { cancelRequested: true },
      });
      return { held: true, cancelRequested };
    } catch (error) {
      if (!isRecordNotFound(error)) throw error;
      return { held: false, cancelRequested: await this.isCancelRequested(id) };
    }
  }

  /** Throws ConflictError when `workerId` no longer holds the running job. */
  private async assertHeld(id: string, workerId: string | undefined): Promise<void> {
    if (!workerId) return;
    const held = await this.db.job.count({ where: { id, status: 'running', lockedBy: workerId } });
    if (held === 0) throw new ConflictError(`job ${id} is no longer held by ${workerId}`);
  }

  /**
   * Ends a running job for good: succeeded, skipped (with a reason) or failed (with a reason).
   * With `workerId`, only if that worker still holds it (ConflictError otherwise).
   */
  async finish(id: string, status: 'succeeded' | 'skipped' | 'failed' | 'cancelled', outcome: { result?: JsonValue; error?: string } = {}, workerId?: string): Promise<JobRecord> {
    await this.assertHeld(id, workerId);
    await this.db.job.update({
      where: { id },
      data: {
        status,
        ...(outcome.result !== undefined ? { result: outcome.result as object } : {}),
        lastError: outcome.error ?? null,
        lockedBy: null,
        lockedAt: null,
        finishedAt: new Date(),
      },
    });
    return this.get(id);
  }

  /**
   * A retryable fault: the job goes back to the queue at `retryAt`, or becomes 'dead' (kept,
   * with its last error, for an operator) once it has used up its attempts.
   */
  async retryLater(id: string, error: string, retryAt: Date, workerId?: string): Promise<JobRecord> {
    await this.assertHeld(id, workerId);
    const job = await this.get(id);
    if (job.cancelRequested) return this.finish(id, 'cancelled', { error: `cancelled on request (last error: ${error})` }, workerId);
    const exhausted = job.attempts >= job.maxAttempts;
    const update = this.db.job.update({
      where: { id },
      data: exhausted
        ? { status: 'dead', lastError: error, lockedBy: null, lockedAt: null, finishedAt: new Date() }
        : { status: 'queued', lastError: error, lockedBy: null, lockedAt: null, runAt: retryAt },
    });
    await (this.dispatchTask && !exhausted ? this.db.$transaction([update, this.dispatchQueued(this.dispatchTask, id)]) : update);
    return this.get(id);
  }

  /**
   * Puts a running job back to wait without counting the attempt: the job could not start for
   * a reason of the installation, not of the job (no active model yet).
   */
  async postpone(id: string, reason: string, retryAt: Date, workerId?: string): Promise<JobRecord> {
    await this.assertHeld(id, workerId);
    if ((await this.get(id)).cancelRequested) return this.finish(id, 'cancelled', { error: 'cancelled on request' }, workerId);
    const update = this.db.job.update({
      where: { id },
      data: { status: 'queued', lastError: reason, lockedBy: null, lockedAt: null, runAt: retryAt, attempts: { decrement: 1 } },
    });
    await (this.dispatchTask ? this.db.$transaction([update, this.dispatchQueued(this.dispatchTask, id)]) : update);
    return this.get(id);
  }

  /** Whether someone asked a running job to stop (its handler checks at its checkpoints). */
  async isCancelRequested(id: string): Promise<boolean> {
    const job = await this.db.job.findUnique({ where: { id }, select: { cancelRequested: true } });
    return job?.cancelRequested ?? false;
  }

  /** Cancels a queued job at once; a running one is asked to stop at its next checkpoint. */
  async requestCancel(id: string): Promise<JobRecord> {
    const job = await this.get(id);
    if (job.status === 'queued') {
      await this.db.job.updateMany({ where: { id, status: 'queued' }, data: { status: 'cancelled', finishedAt: new Date() } });
    } else if (job.status === 'running') {
      await this.db.job.update({ where: { id }, data: { cancelRequested: true } });
    }
    return this.get(id);
  }

  /**
   * Running jobs whose worker has not reported since `staleBefore`, or whose holder
   * `holderGone` says has ended (a crashed worker on this host: worker-liveness.ts), go back to
   * the queue, or, when they have used up their attempts (a job that kills its worker every
   * time), become dead; those asked to stop end cancelled. Returns the jobs that died or were
   * cancelled, for the caller to record what they were about.
   */
  async requeueStale(staleBefore: Date, holderGone?: (holder: string) => boolean): Promise<{ requeued: number; dead: JobRecord[]; cancelled: JobRecord[]; holdersGone: number }> {
    // With a liveness test, every running row is looked at (a handful: one per job in flight).
    const running = await this.db.job.findMany({ where: holderGone ? { status: 'running' } : { status: 'running', lockedAt: { lt: staleBefore } } });
    // Each holder judged once (the test looks at the process table).
    const stale = running
      .map((job) => ({ job, gone: !!holderGone && job.lockedBy !== null && holderGone(job.lockedBy) }))
      .filter(({ job, gone }) => gone || (job.lockedAt !== null && job.lockedAt < staleBefore));
    const dead: JobRecord[] = [];
    const cancelled: JobRecord[] = [];
    let requeued = 0;
    let holdersGone = 0;
    for (const { job, gone } of stale) {
      const why = gone ? `${WORKER_ENDED} (${job.lockedBy})` : WORKER_SILENT;
      const exhausted = job.attempts >= job.maxAttempts;
      // Compare-and-set on the lock we saw, so a worker that just reported keeps its job.
      const where = { id: job.id, status: 'running', lockedAt: job.lockedAt };
      if (job.cancelRequested) {
        // Nobody runs it any more and nobody wants it run: it ends here.
        const { count } = await this.db.job.updateMany({ where, data: { status: 'cancelled', lockedBy: null, lockedAt: null, finishedAt: new Date(), lastError: `cancelled on request (${why})` } });
        if (count > 0) cancelled.push(await this.get(job.id));
        continue;
      }
      const update = this.db.job.updateMany({
        where,
        data: exhausted
          ? { status: 'dead', lockedBy: null, lockedAt: null, finishedAt: new Date(), lastError: `worker stopped responding on each of ${job.attempts} attempts (last: ${why})` }
          : { status: 'queued', lockedBy: null, lockedAt: null, lastError: why },
      });
      const { count } = this.dispatchTask && !exhausted ? (await this.db.$transaction([update, this.dispatchQueued(this.dispatchTask, job.id)]))[0] : await update;
      if (count === 0) continue;
      if (gone) holdersGone++;
      if (exhausted) dead.push(await this.get(job.id));
      else requeued++;
    }
    return { requeued, dead, cancelled, holdersGone };
  }

  async list(filter: JobFilter = {}): Promise<JobRecord[]> {
    if (filter.status) assertOneOf('status', filter.status, JOB_STATUSES);
    return (
      await this.db.job.findMany({
        where: { status: filter.status, kind: filter.kind },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: Math.min(Math.max(filter.take ?? 50, 1), 500),
        ...(filter.after ? { cursor: { id: filter.after }, skip: 1 } : {}),
      })
    ).map(asRecord);
  }

  /**
   * Jobs changed after `since`, the oldest change first, at most `take` (1..500): the API's
   * subscription feed, which passes the last updatedAt it saw. Rows changed in the same
   * millisecond as `since` are not returned again, so a feed that must not miss any should
   * pass a `since` slightly earlier and drop the ids it has already sent at that time.
   */
  async changedSince(since: Date, take: number): Promise<ChangedJobRecord[]> {
    const rows = await this.db.job.findMany({
      where: { updatedAt: { gt: since } },
      orderBy: [{ updatedAt: 'asc' }, { id: 'asc' }],
      take: Math.min(Math.max(Math.trunc(take) || 1, 1), 500),
    });
    return rows as unknown as ChangedJobRecord[];
  }

  /** Number of jobs in each state (every state present, zero when empty). */
  async countByStatus(): Promise<Record<JobStatus, number>> {
    const groups = await this.db.job.groupBy({ by: ['status'], _count: { _all: true } });
    const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const g of groups) counts[g.status as JobStatus] = g._count._all;
    return counts;
  }
}
