// The inference benchmark (`npx tsx scripts/bench/ml.ts`): how fast the whole-image classifier
// scores one 1152 x 896 mammogram, and how close that comes to what the CPU can do, in one run
// on one machine.
//
//   ResNet50 + [512-512-1024]x2    exported to ONNX, onnxruntime-node with 2 intra-op threads;
//                                  median of MAMMOCAD_BENCH_RUNS (default 7) runs after 2 warm-ups
//   YaroslavNet + [512-512-1024]x2 the same, one grey channel
//   peak FMA                       a tight loop of independent vector FMAs on 2 threads, compiled
//                                  with the system's C compiler (skipped without one): the
//                                  machine's FP32 peak, which "% of peak" refers to
//   onnxruntime kernels            4 chained 2048 x 2048 MatMuls, and one 3x3 convolution with 512
//                                  channels on 64 x 64: the fastest rates onnxruntime itself
//                                  reaches here (its MatMul stays well below the FMA peak)
//   tfjs-backend-wasm              the same ResNet50 model in tfjs (single-threaded in Node): one
//                                  warm-up and one timed run (about 6 s each)
//
// FLOPs are counted from the model's layers (2 x the multiply-accumulates of convolutions and
// dense layers). Weights are the initialisers' (speed does not depend on them). Prints a
// markdown table, the machine, and how much CPU other processes took during the run (the
// figures are only as good as the machine was quiet).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-node';
import { PAPER_INPUT_HEIGHT, PAPER_INPUT_WIDTH, countFlops, createWholeImageModel, type BackboneName } from '../../src/ml/architectures/index.js';
import { ONNX_INPUT_NAME, exportToOnnx } from '../../src/ml/onnx/index.js';
import { encodeModel, floatTensor, floatValueInfo, intsAttribute, node } from '../../src/ml/onnx/onnx-graph.js';
import { machine, median, time } from './measure.js';

const RUNS = Number(process.env.MAMMOCAD_BENCH_RUNS ?? 7);
const WARM_UPS = 2;
const THREADS = 2;
const KERNEL_RUNS = 10;
/** Large enough for the GEMM kernel to reach its speed; chained so that input and output copies are noise. */
const MATMUL_SIZE = 2048;
const MATMUL_CHAIN = 4;
/** A ResNet-like 3x3 convolution, big enough to keep both threads in onnxruntime's best kernel. */
const CONV_CHANNELS = 512;
const CONV_SIZE = 64;

/**
 * Each thread runs FMA_CHAINS independent chains of 16-float vector FMAs (x = x * m + c), held in
 * registers: enough independent work to fill the FMA pipes despite their latency. -march=native
 * lets the compiler use the widest FMA the CPU has. The chains are written out one by one
 * because a loop over an array of them keeps them in memory.
 */
const FMA_CHAINS = 12;
const FMA_ITERATIONS = 100_000_000;
const FMA_CHAIN_IDS = Array.from({ length: FMA_CHAINS }, (_, k) => k);
const FMA_SOURCE = `
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef float v16 __attribute__((vector_size(64)));
float sink[64][16]; /* external, so the results (and the work) cannot be optimised away */
static void *work(void *arg) {
  long id = (long)arg;
  volatile float seed = 1.0f + (float)id; /* unknown to the compiler: no chain can be folded */
  v16 m, c, base;
  for (int j = 0; j < 16; j++) { m[j] = 0.9999999f; c[j] = 1e-7f; base[j] = seed; }
  ${FMA_CHAIN_IDS.map((k) => `v16 x${k} = base + ${k}.0f;`).join(' ')}
  for (long i = 0; i < ${FMA_ITERATIONS}L; i++) {
    ${FMA_CHAIN_IDS.map((k) => `x${k} = x${k} * m + c;`).join(' ')}
  }
  v16 sum = ${FMA_CHAIN_IDS.map((k) => `x${k}`).join(' + ')};
  for (int j = 0; j < 16; j++) sink[id][j] = sum[j];
  return 0;
}
int main(int argc, char **argv) {
  int threads = atoi(argv[1]);
  pthread_t t[64];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < threads; i++) pthread_create(&t[i], 0, work, (void *)i);
  for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%f\\n", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
  return 0;
}
`;

interface Row {
  what: string;
  runtime: string;
  input: string;
  runs: number;
  ms: number;
  gflop: number;
}

const gflopPerSecond = (row: { ms: number; gflop: number }) => row.gflop / (row.ms / 1e3);

function randomValues(length: number, scale = 1): Float32Array {
  return Float32Array.from({ length }, () => (Math.random() * 2 - 1) * scale);
}

function createSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

/** Median ms of `feeds` through the ONNX model `bytes`. */
async function timeSession(bytes: Uint8Array, feeds: Record<string, ort.Tensor>, runs: number): Promise<number> {
  const session = await createSession(bytes);
  try {
    return median(await time(runs, WARM_UPS, () => session.run(feeds)));
  } finally {
    await session.release();
  }
}

/** One image through the model's ONNX export in onnxruntime; also how long the export took. */
async function timeOnnx(model: tf.LayersModel): Promise<{ ms: number; exportMs: number; megabytes: number }> {
  const exportStarted = performance.now();
  const bytes = exportToOnnx(model);
  const exportMs = performance.now() - exportStarted;
  const [, height, width, channels] = model.inputs[0]!.shape as number[];
  const input = new ort.Tensor('float32', randomValues(channels! * height! * width!), [1, channels!, height!, width!]);
  return { ms: await timeSession(bytes, { [ONNX_INPUT_NAME]: input }, RUNS), exportMs, megabytes: bytes.length / 2 ** 20 };
}

async function timeMatMul(): Promise<Row> {
  const n = MATMUL_SIZE;
  // Entries of variance 1/n keep the products' magnitude steady along the chain (no overflow, no denormals).
  const weights = floatTensor('b', [n, n], randomValues(n * n, Math.sqrt(3 / n)));
  const nodes = Array.from({ length: MATMUL_CHAIN }, (_, i) => node('MatMul', `matmul${i}`, [i === 0 ? 'a' : `c${i - 1}`, 'b'], [i === MATMUL_CHAIN - 1 ? 'c' : `c${i}`]));
  const bytes = encodeModel({ name: 'matmul', nodes, initializers: [weights], inputs: [floatValueInfo('a', [n, n])], outputs: [floatValueInfo('c', [n, n])] });
  const ms = await timeSession(bytes, { a: new ort.Tensor('float32', randomValues(n * n), [n, n]) }, KERNEL_RUNS);
  return { what: `${MATMUL_CHAIN} chained ${n}x${n} MatMuls`, runtime: `onnxruntime, ${THREADS} threads`, input: '', runs: KERNEL_RUNS, ms, gflop: (MATMUL_CHAIN * 2 * n ** 3) / 1e9 };
}

async function timeConvolution(): Promise<Row> {
  const [c, size] = [CONV_CHANNELS, CONV_SIZE];
  const weights = floatTensor('w', [c, c, 3, 3], randomValues(c * c * 9, Math.sqrt(3 / (9 * c))));
  const conv = node('Conv', 'conv', ['x', 'w'], ['y'], [intsAttribute('kernel_shape', [3, 3]), intsAttribute('pads', [1, 1, 1, 1])]);
  const bytes = encodeModel({ name: 'conv', nodes: [conv], initializers: [weights], inputs: [floatValueInfo('x', [1, c, size, size])], outputs: [floatValueInfo('y', [1, c, size, size])] });
  const ms = await timeSession(bytes, { x: new ort.Tensor('float32', randomValues(c * size * size), [1, c, size, size]) }, KERNEL_RUNS);
  return { what: `3x3 convolution, ${c} -> ${c} channels`, runtime: `onnxruntime, ${THREADS} threads`, input: `${size}x${size}x${c}`, runs: KERNEL_RUNS, ms, gflop: (2 * 9 * c * c * size * size) / 1e9 };
}

/** The FMA loop's rate, or why it could not run (no C compiler, for instance). */
function measureFmaPeak(): Row | string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mammocad-fma-'));
  try {
    const source = path.join(dir, 'fma.c');
    const binary = path.join(dir, 'fma');
    writeFileSync(source, FMA_SOURCE);
    execFileSync('cc', ['-O2', '-march=native', '-ffp-contract=fast', '-pthread', source, '-o', binary], { stdio: 'pipe' });
    const ms = Math.min(...Array.from({ length: 3 }, () => Number(execFileSync(binary, [String(THREADS)], { encoding: 'utf8' }))));
    const gflop = (THREADS * FMA_ITERATIONS * FMA_CHAINS * 16 * 2) / 1e9;
    return { what: 'peak: vector FMA loop (C, -march=native)', runtime: `${THREADS} threads`, input: '', runs: 3, ms, gflop };
  } catch (error) {
    return `no FMA peak (${(error as Error).message.split('\n')[0]})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function wholeImageModel(backbone: BackboneName, channels: number): tf.LayersModel {
  return createWholeImageModel({ backbone, top: 'resnet', inputHeight: PAPER_INPUT_HEIGHT, inputWidth: PAPER_INPUT_WIDTH, channels });
}

/** Busy CPU ticks of the whole machine, and of this process and its finished children. */
function cpuTicks(): { machine: number; own: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  const idle = fields[3]! + fields[4]!;
  const machine = fields.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
  // Fields after the command name: utime, stime, cutime, cstime are the 12th to 15th.
  const self = readFileSync('/proc/self/stat', 'utf8');
  const own = self.slice(self.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number).reduce((a, b) => a + b, 0);
  return { machine, own };
}

async function main(): Promise<void> {
  const ticksBefore = cpuTicks();
  const started = performance.now();
  const packageDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  setWasmPaths(`${path.join(packageDir, 'dist')}${path.sep}`);
  await tf.setBackend('wasm');
  const ortRuntime = `onnxruntime-node ${ort.env.versions.node}, ${THREADS} threads`;
  const size = `${PAPER_INPUT_HEIGHT}x${PAPER_INPUT_WIDTH}`;

  const fma = measureFmaPeak();
  const kernels = [await timeMatMul(), await timeConvolution()];

  const resnet = wholeImageModel('resnet50', 3);
  const resnetGflop = countFlops(resnet) / 1e9;
  const resnetOnnx = await timeOnnx(resnet);
  const models: Row[] = [{ what: 'ResNet50 + [512-512-1024]x2', runtime: ortRuntime, input: `${size}x3`, runs: RUNS, ms: resnetOnnx.ms, gflop: resnetGflop }];

  const yaroslav = wholeImageModel('yaroslavnet', 1);
  const yaroslavOnnx = await timeOnnx(yaroslav);
  models.push({ what: 'YaroslavNet + [512-512-1024]x2', runtime: ortRuntime, input: `${size}x1`, runs: RUNS, ms: yaroslavOnnx.ms, gflop: countFlops(yaroslav) / 1e9 });
  yaroslav.dispose();

  const image = tf.randomNormal([1, PAPER_INPUT_HEIGHT, PAPER_INPUT_WIDTH, 3]);
  const [wasmMs] = await time(1, 1, async () => {
    const probabilities = resnet.predict(image) as tf.Tensor;
    await probabilities.data();
    probabilities.dispose();
  });
  models.push({ what: 'ResNet50 + [512-512-1024]x2', runtime: 'tfjs-backend-wasm 4.22 (1 thread in Node)', input: `${size}x3`, runs: 1, ms: wasmMs!, gflop: resnetGflop });
  tf.dispose(image);
  resnet.dispose();

  // Without a C compiler, the fastest onnxruntime kernel stands in for the peak (an underestimate).
  const peak = typeof fma === 'string' ? kernels.reduce((a, b) => (gflopPerSecond(a) > gflopPerSecond(b) ? a : b)) : fma;
  console.log('| what | runtime | input | runs | ms | GFLOP | GFLOP/s | % of peak |');
  console.log('|---|---|---|---:|---:|---:|---:|---:|');
  for (const row of [...models, ...kernels, ...(typeof fma === 'string' ? [] : [fma])]) {
    const share = (100 * gflopPerSecond(row)) / gflopPerSecond(peak);
    console.log(`| ${row.what} | ${row.runtime} | ${row.input} | ${row.runs} | ${row.ms.toFixed(0)} | ${row.gflop.toFixed(1)} | ${gflopPerSecond(row).toFixed(1)} | ${share.toFixed(0)}% |`);
  }
  console.log(`\nms: median per run (models: per 1152x896 image) after ${WARM_UPS} warm-ups; the wasm row is one run after one warm-up; the FMA row is the best of 3.`);
  if (typeof fma === 'string') console.log(`Peak: ${fma}; the fastest onnxruntime kernel stands in for it.`);
  console.log(`tfjs-backend-wasm / onnxruntime for ResNet50: ${(wasmMs! / resnetOnnx.ms).toFixed(1)}x`);
  console.log(`ONNX export of ResNet50 + top: ${resnetOnnx.exportMs.toFixed(0)} ms, ${resnetOnnx.megabytes.toFixed(0)} MiB`);

  const ticksAfter = cpuTicks();
  const elapsedTicks = ((performance.now() - started) / 1e3) * Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  const others = ticksAfter.machine - ticksBefore.machine - (ticksAfter.own - ticksBefore.own);
  console.log(`\nOther processes used ${Math.max(0, (100 * others) / (elapsedTicks * os.availableParallelism())).toFixed(0)}% of the CPUs during the run.`);
  console.log(`Machine: ${machine()}`);
  console.log(`Command: npx tsx scripts/bench/ml.ts (MAMMOCAD_BENCH_RUNS=${RUNS})`);
}

main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).message}`);
  process.exit(1);
});
