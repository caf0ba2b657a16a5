// Live updates for subscriptions: job progress and new exam results. Workers may run in other
// processes or on other machines, so the feed reads the shared database (every feedIntervalMs,
// only while someone listens) instead of an in-process event bus.

import type { Logger } from 'pino';
import type { JobRecord } from '../domain/index.js';
import type { Store } from '../store/index.js';

/** How far back each read reaches before the newest stamp seen (see readSince). */
const OVERLAP_MS = 5_000;
const PAGE = 500;
const MAX_PAGES_PER_POLL = 20;

export interface ExamResultEvent {
  studyUid: string;
  modelVersion: string;
  probability: number;
  positive: boolean;
  createdAt: Date;
}

/** An async iterator fed by pushes; return() (a client unsubscribing) detaches it. */
class Channel<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private closed = false;

  constructor(
    private readonly onClose: () => void,
    private readonly maxBuffered = 1000,
  ) {}

  push(value: T): void {
    if (this.closed) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value, done: false });
      return;
    }
    // A client that stops reading must not grow memory without bound: keep the newest.
    if (this.buffer.length >= this.maxBuffered) this.buffer.shift();
    this.buffer.push(value);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift()!, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.closed) {
      this.closed = true;
      this.onClose();
      this.waiting?.({ value: undefined, done: true });
      this.waiting = undefined;
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

export class ChangeFeed {
  /** Each listener gets rows stamped from its subscription on (`from`, ms). */
  private readonly jobListeners = new Set<{ channel: Channel<JobRecord>; accept: (job: JobRecord) => boolean; from: number }>();
  private readonly resultListeners = new Set<{ channel: Channel<ExamResultEvent>; from: number }>();
  private timer: NodeJS.Timeout | undefined;
  private jobsSince = new Date();
  private resultsSince = new Date();
  private readonly sentJobs = new Map<string, number>();
  private readonly sentResults = new Map<string, number>();
  private polling = false;

  constructor(
    private readonly store: Store,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** Updates of jobs that `accept` selects, from now on. */
  jobs(accept: (job: JobRecord) => boolean): AsyncIterableIterator<JobRecord> {
    // A job's recent state is welcome even if stamped a little before subscribing (a worker's
    // clock may lag this one's): the overlap's worth of history is passed on.
    const listener = { channel: new Channel<JobRecord>(() => this.detach(() => this.jobListeners.delete(listener))), accept, from: Date.now() - OVERLAP_MS };
    if (this.jobListeners.size === 0) this.jobsSince = new Date();
    this.jobListeners.add(listener);
    this.ensureTimer();
    return listener.channel;
  }

  /** Exam results stored from now on. */
  results(): AsyncIterableIterator<ExamResultEvent> {
    const listener = { channel: new Channel<ExamResultEvent>(() => this.detach(() => this.resultListeners.delete(listener))), from: Date.now() };
    if (this.resultListeners.size === 0) this.resultsSince = new Date();
    this.resultListeners.add(listener);
    this.ensureTimer();
    return listener.channel;
  }

  private detach(remove: () => void): void {
    remove();
    if (this.jobListeners.size === 0 && this.resultListeners.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private ensureTimer(): void {
    this.timer ??= setInterval(() => void this.poll(), this.intervalMs);
  }

  /** One look at the database; public so tests can drive it without waiting. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      if (this.jobListeners.size > 0) {
        this.jobsSince = await this.readSince(this.jobsSince, this.sentJobs, (from) => this.store.jobs.changedSince(from, PAGE), (job) => job.updatedAt, (job) => {
          for (const listener of this.jobListeners) if (job.updatedAt.getTime() >= listener.from && listener.accept(job)) listener.channel.push(job);
        });
      }
      if (this.resultListeners.size > 0) {
        this.resultsSince = await this.readSince(this.resultsSince, this.sentResults, (from) => this.store.predictions.examsCreatedSince(from, PAGE), (r) => r.createdAt, (result) => {
          for (const listener of this.resultListeners) if (result.createdAt.getTime() >= listener.from) listener.channel.push(result);
        });
      }
    } catch (error) {
      this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'change feed could not read the database; will retry');
    } finally {
      this.polling = false;
    }
  }

  /**
   * Reads rows stamped after `since`, less an overlap: a row's stamp is set when its transaction
   * starts (PostgreSQL's now()), so a transaction that commits late shows up with a stamp older
   * than rows already read. The overlap re-reads those few seconds; `sent` (row + stamp) drops
   * what was already passed on. Returns the new `since`.
   */
  private async readSince<T extends { id: string }>(
    since: Date,
    sent: Map<string, number>,
    read: (from: Date) => Promise<T[]>,
    stampOf: (row: T) => Date,
    deliver: (row: T) => void,
  ): Promise<Date> {
    let from = new Date(since.getTime() - OVERLAP_MS);
    let latest = since.getTime();
    for (let page = 0; page < MAX_PAGES_PER_POLL; page++) {
      const rows = await read(from);
      for (const row of rows) {
        const stamp = stampOf(row).getTime();
        const key = `${row.id}@${stamp}`;
        if (sent.has(key)) continue;
        sent.set(key, stamp);
        latest = Math.max(latest, stamp);
        deliver(row);
      }
      if (rows.length < PAGE) break;
      from = stampOf(rows[rows.length - 1]!);
    }
    for (const [key, stamp] of sent) if (stamp < latest - 2 * OVERLAP_MS) sent.delete(key);
    return new Date(latest);
  }

  close(): void {
    for (const { channel } of [...this.jobListeners]) void channel.return();
    for (const { channel } of [...this.resultListeners]) void channel.return();
  }
}
