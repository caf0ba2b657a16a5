// Kernels registered for @tensorflow/tfjs-backend-wasm 4.22 so that model.fit and
// optimizer.minimize of the project's networks work on it, and at a usable speed.
//
// Which kernels training needs was found by training the project's architectures (ResNet50,
// VGG16 and YaroslavNet patch models, whole-image models with both tops: conv + BN + ReLU + max
// pool + global average pool + dense + softmax, Adam) on stock wasm while recording every kernel
// the engine ran, then comparing each gradient kernel with the cpu backend's. Registered here:
//
//   Conv2DBackpropFilter  missing ("Kernel 'Conv2DBackpropFilter' not registered"), the only
//                         kernel these networks need that wasm lacks.
//   Conv2DBackpropInput   replaced: wasm's is a scalar C++ loop at 0.9-2.3 GFLOP/s here (10x
//                         below its forward convolution) and ran most of a training step.
//   MaxPoolGrad           replaced: wasm's starts each window's maximum at
//                         std::numeric_limits<float>::min() (the smallest positive float, not
//                         the lowest), so a window whose values are all <= 1.2e-38 gets no
//                         gradient, and ties go to the last maximum. After a ReLU (where the
//                         project's networks pool) that loses nothing, since such windows are
//                         all zeros with a zero ReLU gradient, but a max pool of anything
//                         that can be negative trains wrong. The replacement has the cpu
//                         backend's semantics (first maximum wins), in JavaScript: one pass.
//   Tile                  replaced (numbers and booleans, as wasm's own): tfjs-core's
//                         batch-norm gradient tiles [C] to the whole activation, once per BN
//                         layer and step, and wasm's Tile takes ~50 ns per element (a quarter
//                         of a YaroslavNet step); the replacement copies blocks (memcpy).
//
// AvgPoolGrad is wasm's own (it agrees with cpu); the gradients of FusedBatchNorm, Relu
// (Step x dy), Mean, Softmax and dense layers are composed in tfjs-core from forward kernels.
// The depthwise convolution's two gradients (MobileNet) are in wasm-depthwise-kernels.ts.
// Kernels wasm still lacks (UnsortedSegmentSum for gather gradients, FFT, complex numbers) are used by none of the
// project's models. The dense layers' gradients use BatchMatMul with a transposed operand,
// which wasm runs in a plain loop rather than XNNPACK: fine for the 2-5 unit heads here.
//
// Conv2DBackpropFilter (NHWC, dilation 1, any strides, 'same' / 'valid' / numeric / explicit
// pads) runs as im2col + matrix multiply, with the heavy work in the backend's own wasm
// kernels: rows are copied out with one memcpy per chunk, padded, sliced and transposed by its
// PadV2 / StridedSlice / Transpose kernels (C++), and multiplied by its BatchMatMul kernel,
// which for untransposed 2-D operands is XNNPACK's fully connected operator (wasm SIMD). With
// R = batch x output rows x output columns, M = filterHeight x filterWidth x inChannels and
// C = outChannels:
//
//   dW[M, C] = P[R, M]^T dY[R, C]   computed as   dW^T[C, M] = dY^T[C, R] P[R, M]
//
// (XNNPACK multiplies untransposed operands only, so dY is transposed, not P). P, the im2col
// matrix, is never built whole: for each filter tap (kh, kw) the strided slice of the padded
// input that meets it is the [R, inChannels] block of P, multiplied on its own into its own
// [C, inChannels] result. With fewer than MIN_SLICED_CHANNELS input channels those blocks are
// too thin for a matrix multiply, so P is written in JavaScript straight into the wasm heap and
// multiplied in one go (the first layer of a grey or RGB network).
//
// Memory: wasm32 linear memory is capped at 4 GiB (tfjs-backend-wasm's module is built with
// maximum = 4 GiB, and the heap cannot grow past it), and the model's weights, Adam moments and
// the activations kept for the backward pass all live in it, so about 2 GiB is practical for
// everything else. The reduction over R is therefore chunked, over whole images or over output
// rows of one image (planChunks): a chunk's temporaries (the input rows it reads, raw and
// padded; one tap slice of P, or the whole [rows, M] P in the JavaScript path; XNNPACK's packed
// copy of it; dY rows and their transpose) are estimated per output position and kept under
// MAX_CHUNK_BYTES (64 MiB), whatever the batch and image size; partial products are summed in
// [C, inChannels] accumulators the size of the gradient itself. A chunk is at least one output
// row, which in the project's networks is at most a few MB (VGG16's 64-channel convolutions at
// 1152 x 896: 896 positions x ~3 KB). Chunks are also at most TARGET_CHUNK_ROWS positions long,
// which keeps the multiply's operands cache-sized. Conv2DBackpropInput's strided path is chunked
// the same way; its stride-1 path is XNNPACK's convolution, which needs no im2col buffer.
// Kept whole: the kernels share the chunking and the wasm helpers, and are registered as one set.

import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { depthwiseConv2dBackpropFilter, depthwiseConv2dBackpropInput } from './wasm-depthwise-kernels.js';

type TensorInfo = tf.TensorInfo;
type Attrs = Record<string, unknown>;

const BACKEND = 'wasm';

/** Upper bound of one chunk's temporaries, in bytes (see the memory note above). */
export const MAX_CHUNK_BYTES = 64 * 2 ** 20;
/** Output positions per chunk at most: operands stay cache-sized (tuned on this machine). */
export const TARGET_CHUNK_ROWS = 4096;
/** Below this many input channels the im2col matrix is written in JavaScript and multiplied whole. */
export const MIN_SLICED_CHANNELS = 8;

export interface Chunking {
  maxChunkBytes: number;
  targetChunkRows: number;
  minSlicedChannels: number;
}
const chunking: Chunking = { maxChunkBytes: MAX_CHUNK_BYTES, targetChunkRows: TARGET_CHUNK_ROWS, minSlicedChannels: MIN_SLICED_CHANNELS };

/** Changes the chunking and the path choice (benchmarks and tests); returns the previous setting. */
export function setChunking(change: Partial<Chunking>): Chunking {
  const previous = { ...chunking };
  Object.assign(chunking, change);
  return previous;
}

/** The kernels this module registers for the wasm backend (all but the first replace wasm's own). */
export const WASM_TRAINING_KERNELS = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'Conv2DBackpropInput',
  'MaxPoolGrad',
  'Tile',
] as const;

/** Runs another wasm kernel directly, as the backend's own kernels compose (no engine, no tape). */
function run(backend: BackendWasm, name: string, inputs: Record<string, TensorInfo>, attrs: Attrs = {}): TensorInfo {
  const kernel = tf.getKernel(name, BACKEND);
  if (!kernel) throw new Error(`wasm training kernels: the wasm backend has no '${name}' kernel`);
  return kernel.kernelFunc({ inputs, backend, attrs } as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
}

function runList(backend: BackendWasm, name: string, inputs: TensorInfo[], attrs: Attrs): TensorInfo {
  const kernel = tf.getKernel(name, BACKEND)!;
  return kernel.kernelFunc({ inputs, backend, attrs } as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
}

/**
 * Rows [row, row + rows) of images [batch, batch + images) of an NHWC tensor: a contiguous
 * block (a chunk is whole images, or rows of one image), copied with one memcpy. The backend's
 * Slice kernel would first copy the whole tensor out of the heap (readSync), once per chunk.
 */
function sliceRows(backend: BackendWasm, t: TensorInfo, batch: number, images: number, row: number, rows: number): TensorInfo {
  const [, height, width, channels] = t.shape as [number, number, number, number];
  const out = backend.makeOutput([images, rows, width, channels], 'float32');
  const from = (batch * height + row) * width * channels;
  const size = images * rows * width * channels;
  // Views after makeOutput: it may grow the heap, which detaches older views.
  (backend.typedArrayFromHeap(out) as Float32Array).set((backend.typedArrayFromHeap(t) as Float32Array).subarray(from, from + size));
  return out;
}

function dispose(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** out = a [m, k] x b [k, n] on XNNPACK (BatchMatMul without transposes). */
function matMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo {
  return run(backend, 'BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
}

/** acc + part, disposing both operands (acc may be undefined for the first part). */
function accumulate(backend: BackendWasm, acc: TensorInfo | undefined, part: TensorInfo): TensorInfo {
  if (!acc) return part;
  const sum = run(backend, 'Add', { a: acc, b: part });
  dispose(backend, acc, part);
  return sum;
}

interface Chunk {
  batch: number;
  images: number;
  row: number;
  rows: number;
}

/** Splits batch x output rows into chunks of at most `maxPositions` output positions (one output row at least). */
export function planChunks(batchSize: number, outHeight: number, outWidth: number, maxPositions: number): Chunk[] {
  const chunks: Chunk[] = [];
  const perImage = outHeight * outWidth;
  if (perImage <= maxPositions) {
    const images = Math.max(1, Math.floor(maxPositions / perImage));
    for (let b = 0; b < batchSize; b += images) chunks.push({ batch: b, images: Math.min(images, batchSize - b), row: 0, rows: outHeight });
    return chunks;
  }
  const rows = Math.max(1, Math.floor(maxPositions / outWidth));
  for (let b = 0; b < batchSize; b++) {
    for (let r = 0; r < outHeight; r += rows) chunks.push({ batch: b, images: 1, row: r, rows: Math.min(rows, outHeight - r) });
  }
  return chunks;
}

function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropFilterAttrs;
  if (attrs.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter on wasm: only NHWC is supported');
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error('Conv2DBackpropFilter on wasm: float32 only');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  const taps = filterHeight * filterWidth;
  const im2colColumns = taps * inChannels;
  const sliced = inChannels >= chunking.minSlicedChannels;

  // Bytes of temporaries per output position (see the memory note): input rows (raw and
  // padded), the im2col block (and XNNPACK's packed copy), dY and its transpose.
  const inputPerPosition = 2 * inChannels * strideHeight * strideWidth + 2 * inChannels * filterWidth;
  const im2colPerPosition = 2 * (sliced ? inChannels : im2colColumns);
  const perPositionBytes = 4 * (inputPerPosition + im2colPerPosition + 2 * outChannels);
  const maxPositions = Math.max(1, Math.min(chunking.targetChunkRows, Math.floor(chunking.maxChunkBytes / perPositionBytes)));

  // sliced: one [C, inChannels] accumulator per filter tap; otherwise one [C, M].
  const acc: (TensorInfo | undefined)[] = new Array<TensorInfo | undefined>(sliced ? taps : 1);
  for (const chunk of planChunks(batchSize, outHeight, outWidth, maxPositions)) {
    const positions = chunk.images * chunk.rows * outWidth;
    const dyChunk = sliceRows(backend, dy, chunk.batch, chunk.images, chunk.row, chunk.rows);
    const dy2d = run(backend, 'Reshape', { x: dyChunk }, { shape: [positions, outChannels] });
    const dyT = run(backend, 'Transpose', { x: dy2d }, { perm: [1, 0] });
    dispose(backend, dyChunk, dy2d);
    if (sliced) {
      const padded = paddedInputRows(backend, x, chunk, info);
      for (let kh = 0; kh < filterHeight; kh++) {
        for (let kw = 0; kw < filterWidth; kw++) {
          const tap = run(
            backend,
            'StridedSlice',
            { x: padded },
            {
              begin: [0, kh, kw, 0],
              end: [chunk.images, kh + (chunk.rows - 1) * strideHeight + 1, kw + (outWidth - 1) * strideWidth + 1, inChannels],
              strides: [1, strideHeight, strideWidth, 1],
              beginMask: 0,
              endMask: 0,
              ellipsisMask: 0,
              newAxisMask: 0,
              shrinkAxisMask: 0,
            },
          );
          const tap2d = run(backend, 'Reshape', { x: tap }, { shape: [positions, inChannels] });
          const part = matMul(backend, dyT, tap2d);
          dispose(backend, tap, tap2d);
          const k = kh * filterWidth + kw;
          acc[k] = accumulate(backend, acc[k], part);
        }
      }
      dispose(backend, padded);
    } else {
      const patches = im2colInJs(backend, x, chunk, info, top, left, inHeight, inWidth);
      const part = matMul(backend, dyT, patches);
      dispose(backend, patches);
      acc[0] = accumulate(backend, acc[0], part);
    }
    dispose(backend, dyT);
  }

  // [C, M] (taps side by side when sliced) -> [M, C] -> [kh, kw, inChannels, C].
  const parts = acc.map((a) => a!);
  const byColumns = parts.length === 1 ? parts[0]! : runList(backend, 'Concat', parts, { axis: 1 });
  if (parts.length > 1) dispose(backend, ...parts);
  const transposed = run(backend, 'Transpose', { x: byColumns }, { perm: [1, 0] });
  dispose(backend, byColumns);
  const result = run(backend, 'Reshape', { x: transposed }, { shape: [filterHeight, filterWidth, inChannels, outChannels] });
  dispose(backend, transposed);
  return result;
}

/**
 * The input rows that `chunk`'s output rows read, zero-padded as the convolution pads them:
 * [images, (rows - 1) * strideHeight + filterHeight, padded width, inChannels].
 */
function paddedInputRows(backend: BackendWasm, x: TensorInfo, chunk: Chunk, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { inHeight, inWidth, strideHeight, strideWidth, filterHeight, filterWidth, outWidth } = info;
  const { top, left } = info.padInfo;
  const firstRow = chunk.row * strideHeight - top; // may be negative: padding above
  const lastRow = firstRow + (chunk.rows - 1) * strideHeight + filterHeight; // exclusive
  const from = Math.max(0, firstRow);
  const to = Math.min(inHeight, lastRow);
  const neededWidth = (outWidth - 1) * strideWidth + filterWidth;
  const padRight = Math.max(0, neededWidth - left - inWidth);
  const rows = sliceRows(backend, x, chunk.batch, chunk.images, from, Math.max(0, to - from));
  const paddings = [
    [0, 0],
    [from - firstRow, lastRow - to],
    [left, padRight],
    [0, 0],
  ];
  if (paddings.every(([a, b]) => a === 0 && b === 0)) return rows;
  const padded = run(backend, 'PadV2', { x: rows }, { paddings, constantValue: 0 });
  dispose(backend, rows);
  return padded;
}

/** P [positions, kh x kw x inChannels] of `chunk`, written in JavaScript into the wasm heap (few input channels). */
function im2colInJs(
  backend: BackendWasm,
  x: TensorInfo,
  chunk: Chunk,
  info: tf.backend_util.Conv2DInfo,
  top: number,
  left: number,
  inHeight: number,
  inWidth: number,
): TensorInfo {
  const { inChannels: channels, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const columns = filterHeight * filterWidth * channels;
  const positions = chunk.images * chunk.rows * outWidth;
  const out = backend.makeOutput([positions, columns], 'float32');
  // Views after makeOutput: it may grow the heap, which detaches older views.
  const target = backend.typedArrayFromHeap(out) as Float32Array;
  const source = backend.typedArrayFromHeap(x) as Float32Array;
  const rowStride = inWidth * channels;
  let o = 0;
  for (let b = chunk.batch; b < chunk.batch + chunk.images; b++) {
    const imageBase = b * inHeight * rowStride;
    for (let oh = chunk.row; oh < chunk.row + chunk.rows; oh++) {
      const ihBase = oh * strideHeight - top;
      for (let ow = 0; ow < outWidth; ow++) {
        const iwBase = ow * strideWidth - left;
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = ihBase + kh;
          if (ih < 0 || ih >= inHeight) {
            target.fill(0, o, o + filterWidth * channels);
            o += filterWidth * channels;
            continue;
          }
          const rowBase = imageBase + ih * rowStride;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = iwBase + kw;
            if (iw < 0 || iw >= inWidth) {
              for (let c = 0; c < channels; c++) target[o++] = 0;
            } else {
              const at = rowBase + iw * channels;
              for (let c = 0; c < channels; c++) target[o++] = source[at + c]!;
            }
          }
        }
      }
    }
  }
  return out;
}

/**
 * dx of a convolution (Conv2DBackpropInput). wasm's own kernel is a scalar C++ loop (0.9-2.3
 * GFLOP/s here, 10x slower than the forward convolution), and it ran most of a training
 * step's time, so it is replaced:
 * - stride 1 (all 3x3 convolutions of the project's networks): dx is the forward convolution
 *   of dy with the filter rotated by 180 degrees and its channel axes swapped, padded by
 *   filterSize - 1 - pad: the backend's XNNPACK Conv2D kernel, its fastest;
 * - other strides: cols[R, M] = dY[R, C] W^T[C, M] on XNNPACK, chunked over output rows as
 *   Conv2DBackpropFilter is, each chunk's cols added into dx in JavaScript (col2im).
 */
function conv2DBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropInputAttrs;
  if (attrs.dataFormat === 'NCHW') throw new Error('Conv2DBackpropInput on wasm: only NHWC is supported');
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  const padTop = filterHeight - 1 - top;
  const padLeft = filterWidth - 1 - left;
  const padBottom = inHeight - outHeight + filterHeight - 1 - padTop;
  const padRight = inWidth - outWidth + filterWidth - 1 - padLeft;
  if (strideHeight === 1 && strideWidth === 1 && Math.min(padTop, padLeft, padBottom, padRight) >= 0) {
    const reversed = run(backend, 'Reverse', { x: filter }, { dims: [0, 1] });
    const swapped = run(backend, 'Transpose', { x: reversed }, { perm: [0, 1, 3, 2] });
    dispose(backend, reversed);
    const dx = run(
      backend,
      'Conv2D',
      { x: dy, filter: swapped },
      {
        strides: [1, 1],
        pad: [
          [0, 0],
          [padTop, padBottom],
          [padLeft, padRight],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [1, 1],
      },
    );
    dispose(backend, swapped);
    return dx;
  }
  return conv2DBackpropInputByCols(backend, dy, filter, info);
}

function conv2DBackpropInputByCols(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, outChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  const columns = filterHeight * filterWidth * channels;
  const filter2d = run(backend, 'Reshape', { x: filter }, { shape: [columns, outChannels] });
  const filterT = run(backend, 'Transpose', { x: filter2d }, { perm: [1, 0] });
  dispose(backend, filter2d);
  const dx = backend.makeOutput([batchSize, inHeight, inWidth, channels], 'float32');
  (backend.typedArrayFromHeap(dx) as Float32Array).fill(0);
  // cols and XNNPACK's output, dY rows: bytes per output position.
  const perPositionBytes = 4 * (2 * columns + outChannels);
  const maxPositions = Math.max(1, Math.min(chunking.targetChunkRows, Math.floor(chunking.maxChunkBytes / perPositionBytes)));
  const rowStride = inWidth * channels;
  for (const chunk of planChunks(batchSize, outHeight, outWidth, maxPositions)) {
    const positions = chunk.images * chunk.rows * outWidth;
    const dyChunk = sliceRows(backend, dy, chunk.batch, chunk.images, chunk.row, chunk.rows);
    const dy2d = run(backend, 'Reshape', { x: dyChunk }, { shape: [positions, outChannels] });
    const cols = matMul(backend, dy2d, filterT);
    // Views after the allocations above: heap growth detaches older views.
    const source = backend.typedArrayFromHeap(cols) as Float32Array;
    const target = backend.typedArrayFromHeap(dx) as Float32Array;
    let o = 0;
    for (let b = chunk.batch; b < chunk.batch + chunk.images; b++) {
      const imageBase = b * inHeight * rowStride;
      for (let oh = chunk.row; oh < chunk.row + chunk.rows; oh++) {
        for (let ow = 0; ow < outWidth; ow++) {
          for (let kh = 0; kh < filterHeight; kh++) {
            const ih = oh * strideHeight - top + kh;
            if (ih < 0 || ih >= inHeight) {
              o += filterWidth * channels;
              continue;
            }
            for (let kw = 0; kw < filterWidth; kw++) {
              const iw = ow * strideWidth - left + kw;
              if (iw < 0 || iw >= inWidth) {
                o += channels;
                continue;
              }
              const at = imageBase + ih * rowStride + iw * channels;
              for (let c = 0; c < channels; c++) target[at + c] = target[at + c]! + source[o++]!;
            }
          }
        }
      }
    }
    dispose(backend, dyChunk, dy2d, cols);
  }
  dispose(backend, filterT);
  return dx;
}

/** dx of a 2-D max pool: each window's dy goes to its first maximum (as on the cpu backend). */
function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const attrs = (args.attrs ?? {}) as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  const dx = backend.makeOutput(input.shape, 'float32');
  // Views after makeOutput: it may grow the heap, which detaches older views.
  const dxValues = backend.typedArrayFromHeap(dx) as Float32Array;
  const xValues = backend.typedArrayFromHeap(input) as Float32Array;
  const dyValues = backend.typedArrayFromHeap(dy) as Float32Array;
  dxValues.fill(0);
  const best = new Float32Array(channels);
  const where = new Int32Array(channels);
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    const imageBase = b * inHeight * inWidth * channels;
    for (let oh = 0; oh < outHeight; oh++) {
      const h0 = oh * strideHeight - top;
      const hFrom = Math.max(0, h0);
      const hTo = Math.min(inHeight, h0 + filterHeight);
      for (let ow = 0; ow < outWidth; ow++, o += channels) {
        const w0 = ow * strideWidth - left;
        const wFrom = Math.max(0, w0);
        const wTo = Math.min(inWidth, w0 + filterWidth);
        best.fill(-Infinity);
        where.fill(-1);
        for (let ih = hFrom; ih < hTo; ih++) {
          for (let iw = wFrom; iw < wTo; iw++) {
            const base = imageBase + (ih * inWidth + iw) * channels;
            for (let c = 0; c < channels; c++) {
              const v = xValues[base + c]!;
              if (v > best[c]!) {
                best[c] = v;
                where[c] = base + c;
              }
            }
          }
        }
        for (let c = 0; c < channels; c++) {
          const at = where[c]!;
          if (at >= 0) dxValues[at] = dxValues[at]! + dyValues[o + c]!;
        }
      }
    }
  }
  return dx;
}

/**
 * Tile: tfjs-core's batch-norm gradient tiles the [C] inverse standard deviation to the full
 * [N, H, W, C] activation, once per BN layer and step. wasm's Tile kernel takes about 50 ns per
 * output element (a quarter of a YaroslavNet training step); this one writes x once and then
 * copies blocks inside the output (memcpy speed): for each axis from the innermost out, every
 * filled block is repeated reps[axis] - 1 times by doubling copies.
 */
function tile(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x } = args.inputs as { x: TensorInfo };
  if (x.dtype === 'string' || x.dtype === 'complex64') throw new Error(`Tile on wasm: ${x.dtype} tensors are not supported (nor by wasm's own Tile)`);
  const reps = (args.attrs as unknown as tf.TileAttrs).reps;
  const shape = x.shape;
  const rank = shape.length;
  const outShape = shape.map((d, i) => d * reps[i]!);
  const out = backend.makeOutput(outShape, x.dtype);
  if (outShape.some((d) => d === 0)) return out;
  if (rank === 0) {
    backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(x));
    return out;
  }
  // Views after makeOutput: it may grow the heap, which detaches older views.
  const target = backend.typedArrayFromHeap(out);
  const source = backend.typedArrayFromHeap(x);
  const outStrides = outShape.map((_, i) => outShape.slice(i + 1).reduce((a, b) => a * b, 1));
  const row = shape[rank - 1]!;
  // x's rows (last axis) go to the first tile of every axis.
  const rows = source.length / row;
  for (let r = 0; r < rows; r++) {
    let rest = r;
    let offset = 0;
    for (let i = rank - 2; i >= 0; i--) {
      offset += (rest % shape[i]!) * outStrides[i]!;
      rest = Math.floor(rest / shape[i]!);
    }
    target.set(source.subarray(r * row, (r + 1) * row), offset);
  }
  for (let axis = rank - 1; axis >= 0; axis--) {
    const rep = reps[axis]!;
    if (rep === 1) continue;
    const block = shape[axis]! * outStrides[axis]!;
    const total = block * rep;
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
    for (let o = 0; o < outer; o++) {
      let rest = o;
      let base = 0;
      for (let i = axis - 1; i >= 0; i--) {
        base += (rest % shape[i]!) * outStrides[i]!;
        rest = Math.floor(rest / shape[i]!);
      }
      for (let filled = block; filled < total; ) {
        const n = Math.min(filled, total - filled);
        target.copyWithin(base + filled, base, base + n);
        filled += n;
      }
    }
  }
  return out;
}

/** Marks the kernels this module installed, so that a second call leaves them alone. */
const OURS = Symbol.for('mammocad.wasmTrainingKernel');

/**
 * Registers the missing training kernels for the 'wasm' backend, and replaces its MaxPoolGrad.
 * Idempotent: a kernel this module registered before is left alone, and so is a
 * Conv2DBackpropFilter that a future tfjs-backend-wasm brings. Works before or after the
 * backend is initialised. Returns the names of the kernels this call registered.
 */
export function registerWasmTrainingKernels(): string[] {
  const registered: string[] = [];
  const install = (kernelName: string, kernelFunc: unknown, replace: boolean) => {
    const existing = tf.getKernel(kernelName, BACKEND) as (tf.KernelConfig & { [OURS]?: true }) | undefined;
    if (existing?.[OURS] || (existing && !replace)) return;
    if (existing) tf.unregisterKernel(kernelName, BACKEND);
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc: kernelFunc as tf.KernelFunc, [OURS]: true } as tf.KernelConfig);
    registered.push(kernelName);
  };
  install('Conv2DBackpropFilter', conv2DBackpropFilter, false);
  install('DepthwiseConv2dNativeBackpropFilter', depthwiseConv2dBackpropFilter, false);
  install('DepthwiseConv2dNativeBackpropInput', depthwiseConv2dBackpropInput, false);
  install('Conv2DBackpropInput', conv2DBackpropInput, true);
  install('MaxPoolGrad', maxPoolGrad, true);
  install('Tile', tile, true);
  return registered;
}
