// Resampling of a grey plane to another size: area averaging, bilinear and bicubic.
//
// The resize is separable: each output coordinate along an axis gets a fixed number of input
// indices and weights ("taps"), computed once per axis, and the plane is filtered along rows,
// then along columns. The inner loops read typed arrays only (no closures or allocations per
// pixel), so a 14-Mpixel detector image shrinks to the model's input in tens of milliseconds.
//
// Semantics (pixel centres at i + 0.5, as in OpenCV and tf.image.resize with half-pixel centres):
//  - 'area': output pixel i covers input interval [i * src/dst, (i + 1) * src/dst) and is the
//    mean of the input over it, each input pixel weighted by its overlap. This is the only
//    method here that low-pass filters when shrinking; use it for the 2-4x reductions from a
//    detector to the model's scale, where bilinear and bicubic would alias (fine calcifications
//    turning into noise or vanishing depending on where the sampling grid falls).
//  - 'bilinear': interpolation between the two nearest input pixels (OpenCV INTER_LINEAR).
//  - 'bicubic': Keys cubic convolution with a = -0.75 over 4 pixels (OpenCV INTER_CUBIC, which
//    the paper's code used), so models imported from it see the same interpolation.
// Beyond the edges the nearest edge pixel is repeated.

import type { ResizeMethod } from '../model-manifest.js';

/** OpenCV's INTER_CUBIC coefficient (PIL uses -0.5); see the header for why OpenCV's. */
const BICUBIC_A = -0.75;

/** For each output coordinate along one axis: `taps` input indices and their weights (summing to 1). */
export interface AxisWeights {
  taps: number;
  index: Int32Array;
  weight: Float64Array;
}

/** The taps that map `srcSize` input samples to `dstSize` output samples along one axis. */
export function axisWeights(srcSize: number, dstSize: number, method: ResizeMethod): AxisWeights {
  switch (method) {
    case 'area':
      return areaWeights(srcSize, dstSize);
    case 'bilinear':
      return interpolationWeights(srcSize, dstSize, 2, linearKernel);
    case 'bicubic':
      return interpolationWeights(srcSize, dstSize, 4, cubicKernel);
  }
}

function areaWeights(srcSize: number, dstSize: number): AxisWeights {
  const ratio = srcSize / dstSize;
  // An interval of length `ratio` overlaps at most ceil(ratio) + 1 input pixels.
  const taps = Math.ceil(ratio) + 1;
  const index = new Int32Array(dstSize * taps);
  const weight = new Float64Array(dstSize * taps);
  for (let i = 0; i < dstSize; i++) {
    const lo = (i * srcSize) / dstSize;
    const hi = ((i + 1) * srcSize) / dstSize;
    const first = Math.floor(lo);
    for (let t = 0; t < taps; t++) {
      const j = Math.min(first + t, srcSize - 1);
      const overlap = Math.min(j + 1, hi) - Math.max(j, lo);
      index[i * taps + t] = j;
      // Taps past the interval (or past the last pixel) keep weight 0.
      weight[i * taps + t] = first + t < srcSize && overlap > 0 ? overlap / ratio : 0;
    }
  }
  return { taps, index, weight };
}

/** Weight of the input sample at signed distance `d` from the sampling position. */
type Kernel = (d: number) => number;

function linearKernel(d: number): number {
  const x = Math.abs(d);
  return x < 1 ? 1 - x : 0;
}

function cubicKernel(d: number): number {
  const x = Math.abs(d);
  const a = BICUBIC_A;
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

function interpolationWeights(srcSize: number, dstSize: number, taps: number, kernel: Kernel): AxisWeights {
  const index = new Int32Array(dstSize * taps);
  const weight = new Float64Array(dstSize * taps);
  const firstOffset = 1 - taps / 2; // 0 for 2 taps, -1 for 4
  for (let i = 0; i < dstSize; i++) {
    const centre = ((i + 0.5) * srcSize) / dstSize - 0.5;
    const base = Math.floor(centre);
    let sum = 0;
    for (let t = 0; t < taps; t++) {
      const j = base + firstOffset + t;
      const w = kernel(centre - j);
      index[i * taps + t] = Math.min(Math.max(j, 0), srcSize - 1);
      weight[i * taps + t] = w;
      sum += w;
    }
    for (let t = 0; t < taps; t++) weight[i * taps + t]! /= sum;
  }
  return { taps, index, weight };
}

export interface PlaneSize {
  width: number;
  height: number;
}

/**
 * Resamples `src` (srcSize, row-major) to `dstSize` and writes it into the top-left corner of
 * `dst`, whose rows are `dstStride` values apart (so it can land directly in a padded canvas).
 */
export function resizePlane(
  src: Float32Array,
  srcSize: PlaneSize,
  dst: Float32Array,
  dstSize: PlaneSize,
  dstStride: number,
  method: ResizeMethod,
): void {
  const rows = srcSize.width === dstSize.width ? src : resizeRows(src, srcSize, dstSize.width, axisWeights(srcSize.width, dstSize.width, method));
  if (srcSize.height === dstSize.height) {
    for (let y = 0; y < dstSize.height; y++) dst.set(rows.subarray(y * dstSize.width, (y + 1) * dstSize.width), y * dstStride);
    return;
  }
  resizeColumns(rows, dstSize, dst, dstStride, axisWeights(srcSize.height, dstSize.height, method));
}

/** Filters every input row to `dstWidth` columns. */
function resizeRows(src: Float32Array, srcSize: PlaneSize, dstWidth: number, w: AxisWeights): Float32Array {
  const { taps, index, weight } = w;
  const out = new Float32Array(srcSize.height * dstWidth);
  for (let y = 0; y < srcSize.height; y++) {
    const row = y * srcSize.width;
    const outRow = y * dstWidth;
    for (let x = 0, k = 0; x < dstWidth; x++) {
      let sum = 0;
      for (let t = 0; t < taps; t++, k++) sum += weight[k]! * src[row + index[k]!]!;
      out[outRow + x] = sum;
    }
  }
  return out;
}

/** Filters along columns, a whole output row at a time (row-wise reads stay cache-friendly). */
function resizeColumns(rows: Float32Array, dstSize: PlaneSize, dst: Float32Array, dstStride: number, w: AxisWeights): void {
  const { taps, index, weight } = w;
  const width = dstSize.width;
  const sums = new Float64Array(width);
  for (let y = 0; y < dstSize.height; y++) {
    sums.fill(0);
    for (let t = 0; t < taps; t++) {
      const k = y * taps + t;
      const wt = weight[k]!;
      if (wt === 0) continue;
      const row = index[k]! * width;
      for (let x = 0; x < width; x++) sums[x]! += wt * rows[row + x]!;
    }
    dst.set(sums, y * dstStride);
  }
}
