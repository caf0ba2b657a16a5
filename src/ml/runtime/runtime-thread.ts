// The worker-thread side of a threaded model runtime (threaded-runtime.ts): opens the packages
// it is given, checks they are the ones the caller read, and scores the images each message
// brings, one request at a time, on onnxruntime-node. Its run() blocks the thread it runs on
// (onnxruntime issue #19611): here that is this thread, not the service's event loop.

import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { MammocadError } from '../../domain/errors.js';
import { readPackage } from '../registry/index.js';
import { createModelRuntime, type ModelRuntime, type ModelRuntimeOptions, type RunTiming } from './model-runtime.js';
import { serialiseError, type RuntimeReply, type RuntimeRequest, type ThreadPriority } from './runtime-messages.js';

interface ThreadData {
  packages: Array<{ path: string; packageHash: string }>;
  options: ModelRuntimeOptions;
  /** Nice increment for this thread (0: none). */
  nice: number;
}

/**
 * Lowers this thread's scheduling priority by `increment` (Linux: nice is per thread, and the
 * threads onnxruntime starts for the sessions opened afterwards inherit it). Node has no gettid:
 * /proc/thread-self names this thread's id. Never throws: elsewhere, or when refused, it says why.
 */
function lowerPriority(increment: number): ThreadPriority {
  try {
    const tid = Number(/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'))?.[1]);
    if (!Number.isInteger(tid)) return { problem: 'no thread id in /proc/thread-self' };
    setPriority(tid, Math.min(19, getPriority(tid) + increment));
    return { nice: getPriority(tid) };
  } catch (error) {
    return { problem: `the inference thread's priority could not be lowered (${error instanceof Error ? error.message : String(error)})` };
  }
}

async function open(data: ThreadData): Promise<ModelRuntime> {
  const packages = [];
  for (const expected of data.packages) {
    const pkg = await readPackage(expected.path);
    if (pkg.packageHash !== expected.packageHash) {
      throw new MammocadError('MODEL_UNAVAILABLE', `model package ${expected.path} changed on disk while it was being loaded`, { retryable: true });
    }
    packages.push(pkg);
  }
  return createModelRuntime(packages, data.options);
}

async function serve(port: NonNullable<typeof parentPort>): Promise<void> {
  const data = workerData as ThreadData;
  // Before the sessions open: their threads are started with the priority this thread has then.
  const priority = data.nice > 0 ? lowerPriority(data.nice) : undefined;
  let runtime: ModelRuntime;
  try {
    runtime = await open(data);
  } catch (error) {
    port.postMessage({ type: 'ready', error: serialiseError(error) } satisfies RuntimeReply);
    return;
  }
  port.postMessage({ type: 'ready', heatMapProblem: runtime.heatMapProblem, ...(priority ? { priority } : {}) } satisfies RuntimeReply);
  // One request at a time, in arrival order: inference already uses the configured threads.
  let queue = Promise.resolve();
  port.on('message', (request: RuntimeRequest) => {
    queue = queue.then(async () => {
      if (request.type === 'dispose') {
        await runtime.dispose();
        port.postMessage({ type: 'disposed' } satisfies RuntimeReply);
        port.close();
        return;
      }
      try {
        const timing: RunTiming = {};
        const results = await runtime[request.method](request.images, timing);
        port.postMessage({ type: 'result', id: request.id, results, inferenceMs: timing.ranMs } satisfies RuntimeReply);
      } catch (error) {
        port.postMessage({ type: 'result', id: request.id, error: serialiseError(error) } satisfies RuntimeReply);
      }
    });
  });
}

if (parentPort) void serve(parentPort);
