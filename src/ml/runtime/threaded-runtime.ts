// A model runtime whose inference runs on a worker thread. onnxruntime-node's run() blocks the
// thread that calls it for the whole inference (onnxruntime issue #19611): on the service's
// event loop that stalls every other job of the process (PACS replies, heartbeats, the API).
// With the sessions on their own thread, a worker can fetch and report one study while another
// is being scored, and inference still uses only its configured threads: requests queue on the
// thread, one at a time.
//
//   const runtime = await createThreadedModelRuntime([pkg], { intraOpThreads: 2 });
//   const timing = {};
//   const [{ probability, heatMap }] = await runtime.scoreWithHeatMaps([image], timing);
//   // timing.waitedMs: queued behind other requests; timing.ranMs: the thread's own work
//
// The interface is ModelRuntime's; minimumSize() and the members are answered here from the
// packages. If the thread dies (a native crash, out of memory) or hangs (requestTimeoutMs), every
// pending and later call fails with a retryable MODEL_RUNTIME_FAILED, and `failed` says so: the
// owner loads a new one.

import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { MammocadError, ValidationError } from '../../domain/errors.js';
import type { GreyImage } from '../preprocess/preprocess.js';
import type { ModelPackage } from '../registry/model-package.js';
import { describeMembers, minimumSizeFor, type DetailedScore, type HeatMapScore, type ModelRuntime, type ModelRuntimeOptions, type RunTiming, type RuntimeMember } from './model-runtime.js';
import { rebuildError, type RuntimeMethod, type RuntimeReply, type RuntimeRequest, type ThreadPriority } from './runtime-messages.js';

/** The thread's entry: a plain module that loads the TypeScript sources as the CLI does (bin/mammocad.mjs). */
const THREAD_ENTRY = fileURLToPath(new URL('./runtime-thread-entry.mjs', import.meta.url));

export interface ThreadedModelRuntime extends ModelRuntime {
  /** True once the thread has died: every call fails; load a new runtime. */
  readonly failed: boolean;
  /** With options.nice: the thread's nice value, or why it could not be lowered; otherwise null. */
  readonly priority: ThreadPriority | null;
}

export interface ThreadedRuntimeOptions extends ModelRuntimeOptions {
  /**
   * Hand each image's pixel buffer to the thread instead of copying it (no copy of 8-30 MB per
   * study): the caller's pixel arrays are left empty (detached) after the call. For callers that
   * do not read the pixels again (the scoring job). A buffer shared with other arrays is copied.
   */
  movePixels?: boolean;
  /**
   * A request not answered in this time (queue included; default 10 min) means a hung thread:
   * it is ended, and every call fails retryably (the owner loads a new runtime). With
   * inference on its own thread the job's heartbeat goes on, so nothing else would notice.
   */
  requestTimeoutMs?: number;
  /**
   * Run inference this much below the caller's priority (a nice increment, Linux; default 0):
   * the caller's event loop and the machine's other programs get the CPU first, inference
   * takes the rest. Where it cannot be lowered the runtime works as before and `priority` says why.
   */
  nice?: number;
}

export async function createThreadedModelRuntime(packages: readonly ModelPackage[], options: ThreadedRuntimeOptions = {}): Promise<ThreadedModelRuntime> {
  if (packages.length === 0) throw new ValidationError('packages', 'a model runtime needs at least one model package');
  const { movePixels = false, requestTimeoutMs = 600_000, nice = 0, ...runtimeOptions } = options;
  const worker = new Worker(THREAD_ENTRY, {
    workerData: { packages: packages.map((p) => ({ path: p.path, packageHash: p.packageHash })), options: runtimeOptions, nice },
    // The thread's console goes to the process's stderr (onnxruntime warnings); no stdin.
    stdin: false,
  });
  const ready = await new Promise<Extract<RuntimeReply, { type: 'ready' }>>((resolve, reject) => {
    const failedEarly = (error: Error) => reject(new MammocadError('MODEL_RUNTIME_FAILED', `the inference thread did not start: ${error.message}`, { retryable: true, cause: error }));
    worker.once('error', failedEarly);
    worker.once('exit', (code) => failedEarly(new Error(`it exited with code ${code}`)));
    worker.once('message', (reply: RuntimeReply) => {
      worker.removeAllListeners('error');
      worker.removeAllListeners('exit');
      if (reply.type === 'ready') resolve(reply);
      else reject(new Error(`inference thread: unexpected first message ${reply.type}`));
    });
  });
  if (ready.error) {
    await worker.terminate();
    throw rebuildError(ready.error);
  }
  return new ThreadRuntime(worker, packages, ready.heatMapProblem ?? null, ready.priority ?? null, movePixels, requestTimeoutMs);
}

interface Pending {
  resolve: (results: Array<number | DetailedScore | HeatMapScore>) => void;
  reject: (error: Error) => void;
  timing: RunTiming | undefined;
  sent: number;
  timer: NodeJS.Timeout;
}

class ThreadRuntime implements ThreadedModelRuntime {
  readonly members: readonly RuntimeMember[];
  readonly outOfDistributionThresholds: readonly (number | null)[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private death: Error | undefined;
  private disposing: Promise<void> | undefined;

  constructor(
    private readonly worker: Worker,
    private readonly packages: readonly ModelPackage[],
    readonly heatMapProblem: string | null,
    readonly priority: ThreadPriority | null,
    private readonly movePixels: boolean,
    private readonly requestTimeoutMs: number,
  ) {
    ({ members: this.members, outOfDistributionThresholds: this.outOfDistributionThresholds } = describeMembers(packages));
    worker.on('message', (reply: RuntimeReply) => this.onReply(reply));
    worker.on('error', (error) => this.die(error));
    worker.on('exit', (code) => this.die(new Error(`it exited with code ${code}`)));
  }

  get failed(): boolean {
    return this.death !== undefined;
  }

  score(images: readonly GreyImage[], timing?: RunTiming): Promise<number[]> {
    return this.call('score', images, timing) as Promise<number[]>;
  }

  scoreDetailed(images: readonly GreyImage[], timing?: RunTiming): Promise<DetailedScore[]> {
    return this.call('scoreDetailed', images, timing) as Promise<DetailedScore[]>;
  }

  scoreWithHeatMaps(images: readonly GreyImage[], timing?: RunTiming): Promise<HeatMapScore[]> {
    return this.call('scoreWithHeatMaps', images, timing) as Promise<HeatMapScore[]>;
  }

  minimumSize(stored: Pick<GreyImage, 'width' | 'height' | 'pixelSpacingMm'>): { width: number; height: number } {
    return minimumSizeFor(this.packages, stored);
  }

  /** Closes the sessions after the requests already sent, then ends the thread. Idempotent. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      if (this.death) return;
      const closed = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      this.worker.postMessage({ type: 'dispose' } satisfies RuntimeRequest);
      await closed;
    })();
    return this.disposing;
  }

  private call(method: RuntimeMethod, images: readonly GreyImage[], timing: RunTiming | undefined): Promise<Array<number | DetailedScore | HeatMapScore>> {
    // Retryable: a job that meets a runtime replaced under it scores again with the new one.
    if (this.disposing) return Promise.reject(new MammocadError('MODEL_RUNTIME_DISPOSED', 'the model runtime was disposed', { retryable: true }));
    if (this.death) return Promise.reject(this.failure());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.die(new Error(`a request was not answered within ${Math.round(this.requestTimeoutMs / 1000)} s (hung)`));
        void this.worker.terminate();
      }, this.requestTimeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timing, sent: performance.now(), timer });
      // The pixels are copied (structured clone), or with movePixels handed over where they own their buffer.
      const transfer = this.movePixels ? images.filter((image) => ownsBuffer(image.pixels)).map((image) => image.pixels.buffer as ArrayBuffer) : [];
      try {
        this.worker.postMessage({ type: 'run', id, method, images } satisfies RuntimeRequest, [...new Set(transfer)]);
      } catch (error) {
        // Not sendable (a detached buffer, an uncloneable value): nothing reached the thread.
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  private onReply(reply: RuntimeReply): void {
    if (reply.type !== 'result') return;
    const call = this.pending.get(reply.id);
    if (!call) return;
    clearTimeout(call.timer);
    this.pending.delete(reply.id);
    if (reply.error) {
      call.reject(rebuildError(reply.error));
      return;
    }
    if (call.timing) {
      const total = performance.now() - call.sent;
      call.timing.ranMs = reply.inferenceMs ?? total;
      call.timing.waitedMs = Math.max(0, total - call.timing.ranMs);
    }
    call.resolve(reply.results ?? []);
  }

  private failure(): MammocadError {
    return new MammocadError('MODEL_RUNTIME_FAILED', `the inference thread stopped: ${this.death?.message ?? 'unknown'}`, { retryable: true, cause: this.death });
  }

  private die(error: Error): void {
    if (this.death) return;
    this.death = error;
    if (this.disposing && this.pending.size === 0) return; // a clean exit after dispose()
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(this.failure());
    }
    this.pending.clear();
  }
}

/** An array that is the whole of an ordinary ArrayBuffer: moving that buffer takes nothing else with it. */
function ownsBuffer(pixels: ArrayLike<number> & { buffer?: ArrayBufferLike; byteOffset?: number; byteLength?: number }): boolean {
  const { buffer } = pixels;
  return buffer instanceof ArrayBuffer && pixels.byteOffset === 0 && pixels.byteLength === buffer.byteLength;
}
