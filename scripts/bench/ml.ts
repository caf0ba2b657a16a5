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
//   heat map output                the default model's architecture (MobileNet v1 x0.75 + VGG top,
//                                  512 x 512 x 3) exported without and with the "heatmap" output:
//                                  onnxruntime alone (one image, one run), and the runtime's score()
//                                  against scoreWithHeatMaps() (a 640 x 640 image, pre-processing and
//                                  the model's 2 test-time flips included); the two sides alternate
//                                  run by run, MAMMOCAD_BENCH_HEATMAP_RUNS (default 41) each
//
// FLOPs are counted from the model's layers (2 x the multiply-accumulates of convolutions and
// dense layers). Weights are the initialisers' (speed does not depend on them). Prints a
// markdown table, the machine, and how much CPU other processes took during the run (the
// figures are only as good as the machine was quiet).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-node';
import { PAPER_INPUT_HEIGHT, PAPER_INPUT_WIDTH, countFlops, createWholeImageModel, type BackboneName } from '../../src/ml/architectures/index.js';
import type { PreprocessingSpec } from '../../src/ml/model-manifest.js';
import { ONNX_HEAT_MAP_NAME, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, exportToOnnx } from '../../src/ml/onnx/index.js';
import { encodeModel, floatTensor, floatValueInfo, intsAttribute, node } from '../../src/ml/onnx/onnx-graph.js';
import type { GreyImage } from '../../src/ml/preprocess/index.js';
import { readPackage, writePackage } from '../../src/ml/registry/index.js';
import { createModelRuntime } from '../../src/ml/runtime/index.js';
import { cpuTicks, machine, median, time } from './measure.js';

const RUNS = Number(process.env.MAMMOCAD_BENCH_RUNS ?? 7);
const HEAT_MAP_RUNS = Number(process.env.MAMMOCAD_BENCH_HEATMAP_RUNS ?? 41);
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

/** The default model's pre-processing (models/default/manifest.json): 512 x 512 stretch, [-1, 1], 2 test-time flips. */
const DEFAULT_MODEL_SPEC: PreprocessingSpec = {
  inputHeight: 512,
  inputWidth: 512,
  targetPixelSpacingMm: null,
  fallbackPixelSpacingMm: 0.2,
  fit: 'stretch',
  resize: 'area',
  intensity: { method: 'minmax', mean: 1, scale: 2 },
  channels: 3,
  canonicalFlip: true,
  testTimeFlips: ['none', 'vertical'],
};

/** Medians of a comparison: `a` and `b` (ms), and of the ratios b / a of the runs made one after the other. */
interface Paired {
  a: number;
  b: number;
  ratio: number;
}

interface HeatMapTiming {
  what: string;
  /** Wall clock, without (a) and with (b) the heat map. */
  wall: Paired;
  /** CPU time of this process (every onnxruntime thread): less sensitive to other processes' load. */
  cpu: Paired;
}

function paired(a: number[], b: number[]): Paired {
  return { a: median(a), b: median(b), ratio: median(a.map((x, i) => b[i]! / x)) };
}

/**
 * Wall-clock and CPU-time medians (ms) of `a` and `b`, run alternately (a, b, b, a, ...) so that
 * a change in the machine's load hits both alike; each pair's ratio is taken within the pair.
 */
async function alternate(runs: number, a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<{ wall: Paired; cpu: Paired }> {
  for (let i = 0; i < WARM_UPS; i++) await Promise.resolve(a()).then(b);
  const wall: [number[], number[]] = [[], []];
  const cpu: [number[], number[]] = [[], []];
  for (let i = 0; i < runs; i++) {
    for (const side of i % 2 === 0 ? [0, 1] : [1, 0]) {
      const [startedCpu, started] = [process.cpuUsage(), performance.now()];
      await (side === 0 ? a() : b());
      const used = process.cpuUsage(startedCpu);
      wall[side]!.push(performance.now() - started);
      cpu[side]!.push((used.user + used.system) / 1e3);
    }
  }
  return { wall: paired(wall[0], wall[1]), cpu: paired(cpu[0], cpu[1]) };
}

/** The default model's architecture without and with the heat map output (see the header). */
async function timeHeatMapOutput(): Promise<{ rows: HeatMapTiming[]; head: string }> {
  const model = createWholeImageModel({ backbone: 'mobilenet', top: 'vgg', inputHeight: 512, inputWidth: 512, channels: 3, filtersScale: 0.75 });
  const [without, withMap] = [exportToOnnx(model, { heatMap: false }), exportToOnnx(model, { heatMap: true })];
  const modelFlop = countFlops(model);
  // The heat map's only extra work: the dense layer (C -> 2) at each cell of the pooled map.
  const [, gridRows, columns, channels] = model.getLayer('top_block1_pool').outputShape as number[];
  const headFlop = 2 * channels! * 2 * gridRows! * columns!;
  const head = `Heat map head: ${(headFlop / 1e3).toFixed(0)} kFLOP (${gridRows} x ${columns} cells x ${channels} channels -> 2), ${((100 * headFlop) / modelFlop).toExponential(1)}% of the model's ${(modelFlop / 1e9).toFixed(2)} GFLOP.`;
  model.dispose();
  const rows: HeatMapTiming[] = [];

  const [plain, mapped] = [await createSession(without), await createSession(withMap)];
  const feeds = { [ONNX_INPUT_NAME]: new ort.Tensor('float32', randomValues(3 * 512 * 512), [1, 3, 512, 512]) };
  try {
    const { wall, cpu } = await alternate(
      HEAT_MAP_RUNS,
      () => plain.run(feeds),
      () => mapped.run(feeds, [ONNX_OUTPUT_NAME, ONNX_HEAT_MAP_NAME]),
    );
    rows.push({ what: 'onnxruntime: one 512x512x3 input, one run', wall, cpu });
  } finally {
    await Promise.all([plain.release(), mapped.release()]);
  }

  const dir = await mkdtemp(path.join(os.tmpdir(), 'mammocad-bench-heatmap-'));
  try {
    const write = async (version: string, bytes: Uint8Array) => {
      await writePackage(
        path.join(dir, version),
        {
          format: 'mammocad-model/1',
          version,
          name: 'UNTRAINED (initialiser weights): the default model architecture, for the benchmark',
          architecture: 'mobilenet@0.75+vgg-top',
          classes: ['not_malignant', 'malignant'],
          positiveClass: 'malignant',
          preprocessing: DEFAULT_MODEL_SPEC,
          threshold: 0.5,
          provenance: { source: 'imported', createdAt: new Date().toISOString() },
        },
        { 'model.onnx': bytes },
      );
      return readPackage(path.join(dir, version));
    };
    const [oldRuntime, newRuntime] = [
      await createModelRuntime([await write('without-heat-map', without)], { intraOpThreads: THREADS }),
      await createModelRuntime([await write('with-heat-map', withMap)], { intraOpThreads: THREADS }),
    ];
    const image: GreyImage = { width: 640, height: 640, pixels: randomValues(640 * 640, 1000).map(Math.abs), pixelSpacingMm: null };
    try {
      const { wall, cpu } = await alternate(
        HEAT_MAP_RUNS,
        () => oldRuntime.score([image]),
        () => newRuntime.scoreWithHeatMaps([image]),
      );
      rows.push({ what: 'runtime: score() vs scoreWithHeatMaps(), one 640x640 image, 2 test-time flips', wall, cpu });
    } finally {
      await Promise.all([oldRuntime.dispose(), newRuntime.dispose()]);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { rows, head };
}

function wholeImageModel(backbone: BackboneName, channels: number): tf.LayersModel {
  return createWholeImageModel({ backbone, top: 'resnet', inputHeight: PAPER_INPUT_HEIGHT, inputWidth: PAPER_INPUT_WIDTH, channels });
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
  const heatMap = await timeHeatMapOutput();

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

  console.log(`\nHeat map output, the default model's architecture (MobileNet v1 x0.75 + VGG top, 512x512x3), ${THREADS} threads, median of ${HEAT_MAP_RUNS} alternating runs each:\n`);
  console.log('| what | without heat map, ms | with heat map, ms | with / without | CPU ms without | CPU ms with | CPU with / without |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const { what, wall, cpu } of heatMap.rows) {
    console.log(`| ${what} | ${wall.a.toFixed(1)} | ${wall.b.toFixed(1)} | ${wall.ratio.toFixed(3)} | ${cpu.a.toFixed(1)} | ${cpu.b.toFixed(1)} | ${cpu.ratio.toFixed(3)} |`);
  }
  console.log('Ratios: the median of the runs\' ratios, each run with the heat map against the run without it next to it.');
  console.log(heatMap.head);

  const ticksAfter = cpuTicks();
  const elapsedTicks = ((performance.now() - started) / 1e3) * Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  const others = ticksAfter.machine - ticksBefore.machine - (ticksAfter.own - ticksBefore.own);
  console.log(`\nOther processes used ${Math.max(0, (100 * others) / (elapsedTicks * os.availableParallelism())).toFixed(0)}% of the CPUs during the run.`);
  console.log(`Machine: ${machine()}`);
  console.log(`Command: npx tsx scripts/bench/ml.ts (MAMMOCAD_BENCH_RUNS=${RUNS}, MAMMOCAD_BENCH_HEATMAP_RUNS=${HEAT_MAP_RUNS})`);
}

main().catch((error: unknown) => {
  console.error(`bench: ${(error as Error).message}`);
  process.exit(1);
});
