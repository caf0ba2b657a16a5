// Data-parallel gradients for the training loop: tfjs's wasm backend runs on one core in Node
// (backend.ts), so a batch is split into shards, the loop's thread computes the first and each
// gradient thread (a worker thread with its own copy of the model) one of the others; the loop
// adds the shards' gradients and takes one optimizer step, as it would on the whole batch.
//
//   const threads = await GradientThreads.start(model, variables, { threads: 1, training: false, classWeights });
//   const shards = await threads.send([{ x, y }], values, totalWeight);   // runs while the loop computes its own shard
//   await threads.close();
//
// Each shard's loss is its examples' weighted sum divided by the whole batch's weight sum, so the
// shards' losses and gradients add up to the batch's exactly (up to float rounding). That holds
// only when an example's loss does not depend on the others in its batch: BN in training mode
// normalises by the batch, so the loop uses threads only with BN frozen (fine-tuning from
// pretrained weights, the costly phase: docs/training.md).

import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs';
import { ownBuffer, type GradientReply, type GradientRequest, type GradientThreadInit } from './gradient-messages.js';

const THREAD_ENTRY = fileURLToPath(new URL('./gradient-thread-entry.mjs', import.meta.url));

export interface Shard {
  x: Float32Array;
  xShape: [number, number, number, number];
  y: Float32Array;
  yShape: [number, number];
}

export interface ShardGradients {
  loss: number;
  /** One per trained variable, in the loop's order. */
  gradients: Float32Array[];
}

export class GradientThreads {
  private nextId = 1;
  private death: Error | undefined;
  private readonly waiting = new Map<Worker, { id: number; resolve: (g: ShardGradients) => void; reject: (e: Error) => void }>();

  private readonly workers: Worker[] = [];

  private constructor() {}

  /** Starts `threads` gradient threads, each with a copy of the model as it stands. */
  static async start(model: tf.LayersModel, variables: readonly tf.Variable[], options: { threads: number; training: boolean; classWeights: readonly number[] }): Promise<GradientThreads> {
    const all = model.trainableWeights;
    const trained = variables.map((v) => {
      const index = all.findIndex((w) => w.read() === v);
      if (index < 0) throw new Error(`gradient threads: variable ${v.name} is not a trainable weight of the model`);
      return index;
    });
    const init: GradientThreadInit = {
      topology: model.toJSON(undefined, false),
      weights: model.getWeights().map((w) => ({ shape: w.shape, values: ownBuffer(w.dataSync() as Float32Array) })),
      trained,
      training: options.training,
      classWeights: [...options.classWeights],
    };
    const threads = new GradientThreads();
    try {
      for (let i = 0; i < options.threads; i++) await threads.add(new Worker(THREAD_ENTRY, { workerData: init, stdin: false }));
    } catch (error) {
      await threads.close();
      throw new Error(`a gradient thread did not start: ${(error as Error).message}`, { cause: error });
    }
    return threads;
  }

  /** Takes a new thread: its failures count from now on; resolves once it has its model. */
  private add(worker: Worker): Promise<void> {
    this.workers.push(worker);
    worker.on('message', (reply: GradientReply) => this.onReply(worker, reply));
    worker.on('error', (error) => this.die(new Error(`a gradient thread failed: ${error.message}`)));
    worker.on('exit', (code) => this.die(new Error(`a gradient thread exited with code ${code}`)));
    return new Promise<void>((resolve, reject) => {
      const gone = (error: Error) => reject(error);
      const exited = (code: number) => gone(new Error(`it exited with code ${code}`));
      worker.once('error', gone);
      worker.once('exit', exited);
      worker.once('message', (reply: GradientReply) => {
        worker.off('error', gone);
        worker.off('exit', exited);
        if (reply.type === 'ready' && !reply.error) resolve();
        else reject(new Error(reply.type === 'ready' ? reply.error : `unexpected first message ${reply.type}`));
      });
    });
  }

  /** How many shards besides the loop's own it can take at once. */
  get count(): number {
    return this.workers.length;
  }

  /**
   * Sends one shard to each of the first shards.length threads with the trained variables'
   * values; resolves with their gradients, in the shards' order. Call it before computing the
   * loop's own shard, so they run at the same time.
   */
  send(shards: readonly Shard[], values: readonly Float32Array[], totalWeight: number): Promise<ShardGradients[]> {
    if (shards.length > this.workers.length) throw new Error(`gradient threads: ${shards.length} shards for ${this.workers.length} threads`);
    return Promise.all(
      shards.map((shard, i) => {
        const worker = this.workers[i]!;
        return new Promise<ShardGradients>((resolve, reject) => {
          if (this.death) return reject(this.death);
          const id = this.nextId++;
          this.waiting.set(worker, { id, resolve, reject });
          const request: GradientRequest = { type: 'step', id, values: [...values], ...shard, totalWeight };
          worker.postMessage(request);
        });
      }),
    );
  }

  async close(): Promise<void> {
    this.die(new Error('gradient threads closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private onReply(worker: Worker, reply: GradientReply): void {
    const waiting = this.waiting.get(worker);
    if (!waiting || reply.type === 'ready' || reply.id !== waiting.id) return;
    this.waiting.delete(worker);
    if (reply.type === 'failed') waiting.reject(new Error(`a gradient thread failed: ${reply.error}`));
    else waiting.resolve({ loss: reply.loss, gradients: reply.gradients });
  }

  private die(error: Error): void {
    this.death ??= error;
    for (const [worker, waiting] of this.waiting) {
      this.waiting.delete(worker);
      waiting.reject(this.death);
    }
  }
}
