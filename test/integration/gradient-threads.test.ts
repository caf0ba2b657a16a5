// Data-parallel gradients (src/ml/training/gradient-threads.ts): a batch shared out between the
// training loop's thread and gradient threads (each a worker thread with its own copy of the
// model on its own wasm backend) must train the model as the whole batch on one thread does.
// Checked on a small MobileNet with BN frozen and a weight penalty, over batches that split
// evenly, unevenly and not at all (a last batch of one); and a thread that fails fails the step.

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWholeImageModel } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { GradientThreads, trainingBackend } from '../../src/ml/training/index.js';
import { seededRandom } from '../../src/training/datasets/splits.js';
import { oneHot, trainEpoch, variablesOf } from '../../src/training/trainer/fit.js';

const SIZE = 64;
const COUNT = 7; // batches of 3: 3, 3, 1

function model(): tf.LayersModel {
  const m = createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: SIZE, inputWidth: SIZE, channels: 3, filtersScale: 0.25, topFiltersScale: 0.0625 });
  randomizeWeights(m, 5);
  return m;
}

let images: tf.Tensor4D;
let labels: number[];

beforeAll(async () => {
  await trainingBackend();
  images = tf.randomUniform([COUNT, SIZE, SIZE, 3], -1, 1, 'float32', 17) as tf.Tensor4D;
  labels = [0, 1, 1, 0, 1, 0, 1];
});

afterAll(() => images.dispose());

async function epoch(m: tf.LayersModel, threads?: GradientThreads, batchNorm: 'batch' | 'frozen' = 'frozen'): Promise<number> {
  const variables = variablesOf(m, () => true);
  const kernels = variables.filter((v) => /kernel/.test(v.name)).slice(0, 3);
  const optimizer = tf.train.adam(1e-3);
  try {
    return await trainEpoch({
      model: m,
      optimizer,
      variables,
      count: COUNT,
      batchSize: 3,
      random: seededRandom(9),
      batch: (indices) => ({ x: tf.gather(images, indices) as tf.Tensor4D, y: oneHot(indices.map((i) => labels[i]!), 2) }),
      classWeights: [0.8, 1.3],
      batchNorm,
      weightDecay: { rate: 1e-3, kernels },
      ...(threads ? { threads } : {}),
    });
  } finally {
    optimizer.dispose();
  }
}

describe('gradient threads', () => {
  it('train as one thread does: the same loss and weights after an epoch (to float rounding)', async () => {
    const single = model();
    const parallel = model();
    const before = single.getWeights().map((w) => w.dataSync().slice());
    const variables = variablesOf(parallel, () => true);
    const threads = await GradientThreads.start(parallel, variables, { threads: 2, training: false, classWeights: [0.8, 1.3] });
    try {
      const lossSingle = await epoch(single);
      const lossParallel = await epoch(parallel, threads);
      expect(lossParallel).toBeCloseTo(lossSingle, 5);
      const a = single.getWeights();
      const b = parallel.getWeights();
      let moved = 0;
      let largest = 0;
      a.forEach((w, i) => {
        const x = w.dataSync();
        const y = b[i]!.dataSync();
        for (let k = 0; k < x.length; k++) {
          moved = Math.max(moved, Math.abs(x[k]! - before[i]![k]!));
          largest = Math.max(largest, Math.abs(x[k]! - y[k]!));
        }
      });
      // The epoch moved the weights (by ~lr per step), and both ways moved them alike.
      expect(moved).toBeGreaterThan(1e-3);
      expect(largest).toBeLessThan(1e-5);
    } finally {
      await threads.close();
      single.dispose();
      parallel.dispose();
    }
  });

  it('fail the step, naming the thread, when one has gone', async () => {
    const m = model();
    const threads = await GradientThreads.start(m, variablesOf(m, () => true), { threads: 1, training: false, classWeights: [1, 1] });
    await threads.close();
    await expect(epoch(m, threads)).rejects.toThrow(/gradient threads closed/);
    m.dispose();
  });

  it('are refused with BN in training mode (the shards would not add up to the batch)', async () => {
    const m = model();
    const threads = await GradientThreads.start(m, variablesOf(m, () => true), { threads: 1, training: false, classWeights: [1, 1] });
    try {
      await expect(epoch(m, threads, 'batch')).rejects.toThrow(/need BN frozen/);
    } finally {
      await threads.close();
      m.dispose();
    }
  });

  it('refuse variables that are not the model’s', async () => {
    const m = model();
    const stranger = tf.variable(tf.zeros([2]));
    await expect(GradientThreads.start(m, [stranger], { threads: 1, training: false, classWeights: [1, 1] })).rejects.toThrow(/not a trainable weight of the model/);
    stranger.dispose();
    m.dispose();
  });
});
