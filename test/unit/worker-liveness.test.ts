// Taking over the job of a worker process that ended (issue 20): the holder name carries host,
// pid, pid namespace and boot id, and only a holder of this host and namespace whose process is gone is
// called gone. Everything else (other hosts, other namespaces, names of another form, a live
// process, this process) is left to the stale limit. Also the retry schedule: the first retry
// soon, then 30 s doubling.

import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { JobRunner } from '../../src/pipeline/job-runner.js';
import { holderIdOf, holderIsGone, parseHolderId, processHolderId } from '../../src/pipeline/worker-liveness.js';
import { MammocadError, type JobRecord } from '../../src/domain/index.js';
import type { Store } from '../../src/store/index.js';
import { WORKER_SILENT } from '../../src/store/job.repository.js';

const onLinux = process.platform === 'linux';

describe('worker liveness', () => {
  it('names this process by host, pid and pid namespace, and parses such names with or without a delivery', () => {
    const own = processHolderId();
    expect(own.startsWith(`${hostname()}:${process.pid}`)).toBe(true);
    if (onLinux) expect(own).toMatch(/@\d+-[0-9a-f]{32}$/);
    const boot = '0123456789abcdef0123456789abcdef';
    expect(parseHolderId(`ward-3.example:4242@4026531836-${boot}#17`)).toEqual({ host: 'ward-3.example', pid: 4242, namespace: `4026531836-${boot}` });
    expect(parseHolderId(`host:with:colons:12@7-${boot}`)).toEqual({ host: 'host:with:colons', pid: 12, namespace: `7-${boot}` });
    for (const other of ['worker-1', 'vanished-host:4242', 'cli:host:12', `h:0@1-${boot}`, `h:x@1-${boot}`, 'h:12@4026531836']) expect(parseHolderId(other)).toBeNull();
  });

  it.runIf(onLinux)('calls a holder gone only when its process on this host and namespace has ended', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    const holder = `${holderIdOf(child.pid!)}#3`;
    expect(holderIsGone(holder)).toBe(false);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(holderIsGone(holder)).toBe(true);
    expect(holderIsGone(holderIdOf(child.pid!))).toBe(true);
    // The same pid named from another host or pid namespace, or in another form: not ours to judge.
    const [ns, boot] = parseHolderId(holder)!.namespace.split('-') as [string, string];
    expect(holderIsGone(`other-${hostname()}:${child.pid}@${ns}-${boot}`)).toBe(false);
    expect(holderIsGone(`${hostname()}:${child.pid}@${Number(ns) + 1}-${boot}`)).toBe(false);
    // Another machine of the same host name and root namespace: its boot id differs.
    const otherBoot = boot.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    expect(holderIsGone(`${hostname()}:${child.pid}@${ns}-${otherBoot}`)).toBe(false);
    expect(holderIsGone(`${hostname()}:${child.pid}@${ns}`)).toBe(false);
    expect(holderIsGone(`${hostname()}:${child.pid}`)).toBe(false);
    // This process, and a live one (pid 1 exists in every namespace), are not gone.
    expect(holderIsGone(processHolderId())).toBe(false);
    expect(holderIsGone(holderIdOf(1))).toBe(false);
  });
});

describe('retry schedule', () => {
  const runner = (options: { firstRetryMs?: number; backoffMs?: number; maxBackoffMs?: number } = {}) =>
    new JobRunner({ store: {} as Store, logger: pino({ level: 'silent' }), handlers: {}, ...options }, pino({ level: 'silent' }));

  it('retries first after 5 s, then after 30, 60, 120 s... up to 15 min', () => {
    expect([1, 2, 3, 4, 6, 8, 10].map((n) => runner().backoff(n))).toEqual([5_000, 30_000, 60_000, 120_000, 480_000, 900_000, 900_000]);
  });

  it('never retries sooner than the base allows, and follows the configured delays', () => {
    expect([1, 2, 3].map((n) => runner({ backoffMs: 300 }).backoff(n))).toEqual([300, 300, 600]);
    expect([1, 2, 3, 4].map((n) => runner({ firstRetryMs: 1_000, backoffMs: 10_000, maxBackoffMs: 25_000 }).backoff(n))).toEqual([1_000, 10_000, 20_000, 25_000]);
  });

  it('does not move the schedule on for an attempt whose worker died: the failure after a takeover is the first', async () => {
    const retryAt: number[] = [];
    const store = {
      jobs: {
        reportProgress: async () => true,
        isCancelRequested: async () => false,
        retryLater: async (_id: string, _message: string, runAt: Date) => {
          retryAt.push(runAt.getTime() - Date.now());
          return { status: 'queued' } as JobRecord;
        },
      },
    } as unknown as Store;
    const failing = new JobRunner(
      { store, logger: pino({ level: 'silent' }), handlers: { pacs: async () => Promise.reject(new MammocadError('PACS_UNAVAILABLE', 'PACS down', { retryable: true })) } },
      pino({ level: 'silent' }),
    );
    const job = (attempts: number, lastError: string | null) => ({ id: 'j', kind: 'pacs', attempts, lastError, payload: {}, progress: null }) as unknown as JobRecord;
    await failing.run(job(2, 'its worker process ended (host:1@2#3)'), 'h');
    await failing.run(job(2, WORKER_SILENT), 'h');
    await failing.run(job(2, 'PACS down'), 'h');
    expect(retryAt.map((ms) => Math.round(ms / 1000))).toEqual([5, 5, 30]);
  });
});
