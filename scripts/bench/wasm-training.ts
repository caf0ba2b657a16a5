// The training benchmark on tfjs-backend-wasm (`npx tsx scripts/bench/wasm-training.ts`): how fast
// the gradient kernels of src/ml/training/wasm-kernels.ts run, and what a training step costs.
//
//   Conv2DBackpropFilter   the kernel stock wasm lacks, for realistic layer shapes: YaroslavNet
//                          layers at patch size 256 and batch 8, and the 3x3 convolution of a
//                          ResNet top block on the 36x28 (and, after its stride, 18x14) feature
//                          map of a 1152x896 image, 512 channels. Median of 3 runs after a
//                          warm-up. Compared with the same shape's forward convolution on wasm
//                          (XNNPACK, the backend's fastest kernel), with the cpu backend's
//                          Conv2DBackpropFilter (run once on a cut-down problem of the same
//                          layer, batch 1 and a smaller map: it runs at ~0.01 GFLOP/s, a full
//                          layer would take minutes), and with the machine's peak.
//   replaced kernels       the project's Conv2DBackpropInput, MaxPoolGrad and Tile against
//                          wasm's own, same shapes.
//   training steps         one Adam step (trainOnBatch) of the YaroslavNet patch model at
//                          256x256, batch 8, and of the whole-image model's top blocks
//                          (ResNet [512-512-1024]x2 + pooling + softmax) on cached ResNet50
//                          features of 1152x896 images (36x28x2048), batch 8. Median of 3 after
//                          a warm-up. GFLOP/s counts a step as 3x the forward FLOPs.
//
// Peak: scripts/bench/ml.ts measures the machine's FP32 peak with a C FMA loop on 2 threads
// (231.5 GFLOP/s in docs/benchmarks.md) but does not export it; wasm runs on one thread in
// Node, so the table also gives the share of one core's peak (half of it). Override with
// MAMMOCAD_PEAK_GFLOPS. Prints markdown tables, the machine, and how much CPU other processes
// took during the run.

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DEFAULT_BN_EPSILON, applyLayer, bottleneckBlock } from '../../src/ml/architectures/building-blocks.js';
import { countFlops, createPatchModel } from '../../src/ml/architectures/index.js';
import { MAX_CHUNK_BYTES, TARGET_CHUNK_ROWS, trainingBackend } from '../../src/ml/training/index.js';
import { cpuTicks, machine, median, time } from './measure.js';

const PEAK_2_THREADS = Number(process.env.MAMMOCAD_PEAK_GFLOPS ?? 231.5);
const PEAK_1_THREAD = PEAK_2_THREADS / 2;
const RUNS = 3;
/** The cpu backend runs on a cut-down problem of about this many FLOPs (~2 s at its speed). */
const CPU_GFLOP = 0.02;

type Shape4 = [number, number, number, number];
interface Layer {
  what: string;
  x: Shape4;
  filter: Shape4;
}

const LAYERS: Layer[] = [
  { what: 'YaroslavNet block1 conv, 256x256x1 -> 16', x: [8, 256, 256, 1], filter: [3, 3, 1, 16] },
  { what: 'YaroslavNet block2 conv2, 128x128x32 -> 32', x: [8, 128, 128, 32], filter: [3, 3, 32, 32] },
  { what: 'YaroslavNet block4 conv2, 32x32x128 -> 128', x: [8, 32, 32, 128], filter: [3, 3, 128, 128] },
  { what: 'YaroslavNet block6 conv2, 8x8x256 -> 256', x: [8, 8, 8, 256], filter: [3, 3, 256, 256] },
  { what: 'ResNet top 3x3 conv, 36x28x512 -> 512, batch 1', x: [1, 36, 28, 512], filter: [3, 3, 512, 512] },
  { what: 'ResNet top 3x3 conv, 18x14x512 -> 512, batch 8', x: [8, 18, 14, 512], filter: [3, 3, 512, 512] },
];

const convGflop = (x: Shape4, filter: Shape4) => (2 * x[0] * x[1] * x[2] * filter[0] * filter[1] * filter[2] * filter[3]) / 1e9;
const rate = (gflop: number, ms: number) => gflop / (ms / 1e3);
const fmt = (value: number, digits = 1) => value.toFixed(digits);

function convAttrs(filter: Shape4) {
  return { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined, filterShape: filter };
}

/** Median ms of a kernel run through the engine (the result is read back, so the work is done). */
async function timeKernel(name: string, inputs: tf.NamedTensorMap, attrs: object): Promise<number> {
  const durations = await time(RUNS, 1, () => {
    const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
    out.dataSync();
    out.dispose();
  });
  return median(durations);
}

/** Median ms of a kernel function called directly on the wasm backend (wasm's own, replaced kernels). */
async function timeKernelFunc(kernel: tf.KernelConfig, inputs: tf.NamedTensorMap, attrs: object): Promise<number> {
  const backend = tf.backend() as BackendWasm;
  const durations = await time(RUNS, 1, () => {
    const out = kernel.kernelFunc({ inputs, backend, attrs } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    backend.readSync(out.dataId);
    backend.disposeData(out.dataId);
  });
  return median(durations);
}

/** The cpu backend's Conv2DBackpropFilter on batch 1 and a square map small enough for ~CPU_GFLOP. */
async function cpuRate(layer: Layer): Promise<{ gflops: number; shape: string }> {
  const perPixel = convGflop([1, 1, 1, layer.x[3]], layer.filter);
  const side = Math.max(3, Math.min(layer.x[1], Math.round(Math.sqrt(CPU_GFLOP / perPixel))));
  const x: Shape4 = [1, side, side, layer.x[3]];
  await tf.setBackend('cpu');
  const xs = tf.randomNormal(x) as tf.Tensor4D;
  const dy = tf.randomNormal([1, side, side, layer.filter[3]]) as tf.Tensor4D;
  const started = performance.now();
  const out = tf.engine().runKernel('Conv2DBackpropFilter', { x: xs, dy }, convAttrs(layer.filter) as unknown as tf.NamedAttrMap) as tf.Tensor;
  out.dataSync();
  const ms = performance.now() - started;
  tf.dispose([xs, dy, out]);
  await tf.setBackend('wasm');
  return { gflops: rate(convGflop(x, layer.filter), ms), shape: `1x${side}x${side}` };
}

/** Median ms of one Adam step of `model` on random data; the model is disposed. */
async function timeStep(model: tf.LayersModel, batch: number): Promise<{ ms: number; gflop: number }> {
  const [, height, width, channels] = model.inputs[0]!.shape as number[];
  const classes = (model.outputs[0]!.shape as number[])[1]!;
  model.compile({ optimizer: tf.train.adam(1e-4), loss: 'categoricalCrossentropy' });
  const x = tf.randomNormal([batch, height!, width!, channels!]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % classes), 'int32'), classes);
  const ms = median(await time(RUNS, 1, () => model.trainOnBatch(x, y)));
  const gflop = (3 * countFlops(model) * batch) / 1e9;
  tf.dispose([x, y]);
  model.dispose();
  return { ms, gflop };
}

/** The whole-image model's ResNet top on cached backbone features (phase-1 training). */
function topOnFeatures(height: number, width: number, channels: number): tf.LayersModel {
  const input = tf.input({ name: 'features', shape: [height, width, channels] });
  let x = input;
  for (const block of [1, 2]) {
    x = bottleneckBlock(x, {
      name: `top_block${block}`,
      filters: [512, 512, 1024],
      strides: 2,
      projection: true,
      bnEpsilon: DEFAULT_BN_EPSILON,
      kernelInitializer: 'heNormal',
    });
  }
  const pooled = applyLayer(tf.layers.globalAveragePooling2d({ name: 'top_avg_pool' }), x);
  const output = applyLayer(tf.layers.dense({ name: 'top_predictions', units: 2, activation: 'softmax' }), pooled);
  return tf.model({ inputs: input, outputs: output });
}

async function main(): Promise<void> {
  const ticksBefore = cpuTicks();
  const started = performance.now();
  // wasm's own kernels, before trainingBackend() replaces them (for the comparison below).
  await import('@tensorflow/tfjs-backend-wasm');
  const stock = Object.fromEntries(['Conv2DBackpropInput', 'MaxPoolGrad', 'Tile'].map((name) => [name, tf.getKernel(name, 'wasm')!]));
  const setup = await trainingBackend();
  for (const kernel of Object.values(stock)) kernel.setupFunc?.(tf.backend());
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');

  console.log('### Conv2DBackpropFilter (im2col + XNNPACK matrix multiply)\n');
  console.log('| layer (NHWC input, batch 8 unless said) | GFLOP | ms | GFLOP/s | forward conv on wasm, GFLOP/s | cpu backend, GFLOP/s (cut-down shape) | x cpu | % of peak (2 threads) | % of one core |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const layer of LAYERS) {
    const gflop = convGflop(layer.x, layer.filter);
    const x = tf.randomNormal(layer.x) as tf.Tensor4D;
    const filter = tf.randomNormal(layer.filter) as tf.Tensor4D;
    const dy = tf.randomNormal([layer.x[0], layer.x[1], layer.x[2], layer.filter[3]]) as tf.Tensor4D;
    const ms = await timeKernel('Conv2DBackpropFilter', { x, dy }, convAttrs(layer.filter));
    const forwardMs = await timeKernel('Conv2D', { x, filter }, convAttrs(layer.filter));
    tf.dispose([x, filter, dy]);
    const cpu = await cpuRate(layer);
    const ours = rate(gflop, ms);
    console.log(
      `| ${layer.what} | ${fmt(gflop, 2)} | ${fmt(ms, 0)} | ${fmt(ours)} | ${fmt(rate(gflop, forwardMs))} | ${fmt(cpu.gflops, 3)} (${cpu.shape}) | ${fmt(ours / cpu.gflops, 0)} | ${fmt((100 * ours) / PEAK_2_THREADS)}% | ${fmt((100 * ours) / PEAK_1_THREAD)}% |`,
    );
  }

  console.log('\n### Kernels replaced on wasm: the project\'s against wasm\'s own\n');
  console.log('| kernel | shape | wasm\'s own, ms | project\'s, ms | speed-up |');
  console.log('|---|---|---:|---:|---:|');
  const replaced: { kernel: string; shape: string; inputs: () => tf.NamedTensorMap; attrs: object }[] = [
    ...LAYERS.slice(1, 5).map((layer) => ({
      kernel: 'Conv2DBackpropInput',
      shape: `dy ${layer.x.slice(0, 3).join('x')}x${layer.filter[3]}, filter ${layer.filter.join('x')}`,
      inputs: () => ({ dy: tf.randomNormal([layer.x[0], layer.x[1], layer.x[2], layer.filter[3]]), filter: tf.randomNormal(layer.filter) }),
      attrs: { ...convAttrs(layer.filter), inputShape: layer.x },
    })),
    {
      kernel: 'Conv2DBackpropInput',
      shape: 'stride 2 1x1 (projection), dy 8x18x14x1024, filter 1x1x2048x1024',
      inputs: () => ({ dy: tf.randomNormal([8, 18, 14, 1024]), filter: tf.randomNormal([1, 1, 2048, 1024]) }),
      attrs: { strides: [2, 2], pad: 'valid', dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: [8, 36, 28, 2048] },
    },
    {
      kernel: 'MaxPoolGrad',
      shape: '2x2/2 pool of 8x256x256x16',
      inputs: () => {
        const input = tf.relu(tf.randomNormal([8, 256, 256, 16]));
        return { input, output: tf.maxPool(input as tf.Tensor4D, 2, 2, 'valid'), dy: tf.randomNormal([8, 128, 128, 16]) };
      },
      attrs: { filterSize: 2, strides: 2, pad: 'valid', dimRoundingMode: undefined },
    },
    {
      kernel: 'Tile',
      shape: '1x1x1x16 -> 8x256x256x16 (batch-norm gradient)',
      inputs: () => ({ x: tf.randomNormal([1, 1, 1, 16]) }),
      attrs: { reps: [8, 256, 256, 1] },
    },
  ];
  for (const row of replaced) {
    const inputs = row.inputs();
    const theirs = await timeKernelFunc(stock[row.kernel]!, inputs, row.attrs);
    const ours = await timeKernel(row.kernel, inputs, row.attrs);
    tf.dispose(Object.values(inputs));
    console.log(`| ${row.kernel} | ${row.shape} | ${fmt(theirs, 0)} | ${fmt(ours, 0)} | ${fmt(theirs / ours)}x |`);
  }

  console.log('\n### Training steps (Adam, trainOnBatch)\n');
  console.log('| model | input | batch | ms per step | GFLOP per step (3x forward) | GFLOP/s | % of one core |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  const steps = [
    { what: 'YaroslavNet patch model', input: '256x256x1', batch: 8, build: () => createPatchModel({ backbone: 'yaroslavnet', inputHeight: 256, inputWidth: 256, channels: 1 }) },
    { what: 'whole-image ResNet top [512-512-1024]x2 + softmax, on cached ResNet50 features', input: '36x28x2048', batch: 8, build: () => topOnFeatures(36, 28, 2048) },
  ];
  for (const step of steps) {
    const { ms, gflop } = await timeStep(step.build(), step.batch);
    console.log(`| ${step.what} | ${step.input} | ${step.batch} | ${fmt(ms, 0)} | ${fmt(gflop)} | ${fmt(rate(gflop, ms))} | ${fmt((100 * rate(gflop, ms)) / PEAK_1_THREAD)}% |`);
  }

  const ticksAfter = cpuTicks();
  const elapsedTicks = ((performance.now() - started) / 1e3) * Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  const others = ticksAfter.machine - ticksBefore.machine - (ticksAfter.own - ticksBefore.own);
  console.log(`\nwasm: SIMD ${String(simd)}, threads ${String(threads)} (single-threaded in Node); backend ${setup.name}.`);
  console.log(`Peak: ${PEAK_2_THREADS} GFLOP/s on 2 threads (scripts/bench/ml.ts), ${PEAK_1_THREAD} GFLOP/s per core.`);
  console.log(`Chunking: at most ${TARGET_CHUNK_ROWS} output positions and ${MAX_CHUNK_BYTES / 2 ** 20} MiB of temporaries per chunk.`);
  console.log(`Other processes used ${Math.max(0, (100 * others) / (elapsedTicks * os.availableParallelism())).toFixed(0)}% of the CPUs during the run.`);
  console.log(`Machine: ${machine()}`);
  console.log('Command: npx tsx scripts/bench/wasm-training.ts');
}

main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
