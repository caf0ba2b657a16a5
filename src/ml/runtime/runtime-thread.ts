// The worker-thread side of a threaded model runtime (threaded-runtime.ts): opens the packages
// it is given, checks they are the ones the caller read, and scores the images each message
// brings, one request at a time, on onnxruntime-node. Its run() blocks the thread it runs on
// (onnxruntime issue #19611): here that is this thread, not the service's event loop.

import { parentPort, workerData } from 'node:worker_threads';
import { MammocadError } from '../../domain/errors.js';
import { readPackage } from '../registry/index.js';
import { createModelRuntime, type ModelRuntime, type ModelRuntimeOptions, type RunTiming } from './model-runtime.js';
import { serialiseError, type RuntimeReply, type RuntimeRequest } from './runtime-messages.js';

interface ThreadData {
  packages: Array<{ path: string; packageHash: string }>;
  options: ModelRuntimeOptions;
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
  let runtime: ModelRuntime;
  try {
    runtime = await open(workerData as ThreadData);
  } catch (error) {
    port.postMessage({ type: 'ready', error: serialiseError(error) } satisfies RuntimeReply);
    return;
  }
  port.postMessage({ type: 'ready', heatMapProblem: runtime.heatMapProblem } satisfies RuntimeReply);
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
