// Training on several threads (`npx tsx scripts/bench/training-threads.ts`): one Adam step of the
// default model's phase 2 (MobileNet v1 0.75 + VGG top at 64 filters, 512x512, batch 4, BN
// frozen, every layer trained) on one thread, then with the batch shared out between the loop's
// thread and gradient threads (src/ml/training/gradient-threads.ts), for 2 .. MAX threads
// (default: the machine's cores). Median of STEPS steps after a warm-up; the other processes'
// CPU during the run is printed (a busy machine makes the ratios meaningless).

import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { createWholeImageModel } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { GradientThreads, trainingBackend } from '../../src/ml/training/index.js';
import { seededRandom } from '../../src/training/datasets/splits.js';
import { oneHot, trainEpoch, variablesOf } from '../../src/training/trainer/fit.js';
import { cpuTicks, machine, median } from './measure.js';

const SIZE = Number(process.env.SIZE ?? 512);
const BATCH = Number(process.env.BATCH ?? 4);
const STEPS = Number(process.env.STEPS ?? 3);
const MAX = Number(process.env.MAX ?? os.availableParallelism());

/** CPU seconds all processes but this one used (USER_HZ ticks: 100 per second on Linux). */
function otherCpuSeconds(): number {
  const { machine: busy, own } = cpuTicks();
  return (busy - own) / 100;
}

await trainingBackend();
const model = createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: SIZE, inputWidth: SIZE, channels: 3, filtersScale: 0.75, topFiltersScale: 0.125 });
randomizeWeights(model, 1);
const variables = variablesOf(model, () => true);
const images = tf.randomUniform([BATCH, SIZE, SIZE, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
const labels = Array.from({ length: BATCH }, (_, i) => i % 2);

async function seconds(threads?: GradientThreads): Promise<number> {
  const optimizer = tf.train.adam(1e-5);
  const times: number[] = [];
  try {
    for (let step = 0; step <= STEPS; step++) {
      const t0 = performance.now();
      await trainEpoch({
        model,
        optimizer,
        variables,
        count: BATCH,
        batchSize: BATCH,
        random: seededRandom(step),
        batch: (indices) => ({ x: tf.gather(images, indices) as tf.Tensor4D, y: oneHot(indices.map((i) => labels[i]!), 2) }),
        classWeights: [1, 1],
        batchNorm: 'frozen',
        ...(threads ? { threads } : {}),
      });
      if (step > 0) times.push((performance.now() - t0) / 1000);
    }
  } finally {
    optimizer.dispose();
  }
  return median(times);
}

const others0 = otherCpuSeconds();
const wall0 = performance.now();
const rows: string[] = [];
const one = await seconds();
rows.push(`| 1 | ${one.toFixed(2)} | ${(one / BATCH).toFixed(2)} | 1.00 |`);
for (let n = 2; n <= Math.min(MAX, BATCH); n++) {
  const threads = await GradientThreads.start(model, variables, { threads: n - 1, training: false, classWeights: [1, 1] });
  try {
    const s = await seconds(threads);
    rows.push(`| ${n} | ${s.toFixed(2)} | ${(s / BATCH).toFixed(2)} | ${(one / s).toFixed(2)} |`);
  } finally {
    await threads.close();
  }
}
const wall = (performance.now() - wall0) / 1000;
console.log(`MobileNet v1 0.75 + VGG top (64 filters), ${SIZE}x${SIZE}, batch ${BATCH}, every layer, BN frozen; median of ${STEPS} steps after one warm-up`);
console.log(`${machine()}`);
console.log('\n| threads | s per step | s per image | speed-up |\n|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`\nother processes used ${(otherCpuSeconds() - others0).toFixed(0)} CPU-s during the ${wall.toFixed(0)} s run`);
images.dispose();
