// Intensity normalisation: grey values from any source (8-bit film scans, 12-16-bit detectors,
// MONOCHROME1 images the decoder already inverted) become values on a comparable scale. The
// methods are documented on IntensitySpec in src/ml/model-manifest.ts; every one ends with
// `v * scale - mean`.
//
// Statistics are taken on the resampled image, not the full-resolution one: that is the image
// the model sees, and it has ~15x fewer pixels.

import { ModelInputError } from '../../domain/errors.js';
import type { IntensitySpec } from '../model-manifest.js';

/** Range of an image's grey values; the minimum is its background (the decoder's padding value). */
export interface GreyRange {
  min: number;
  max: number;
}

/** A display window as stated by the image, in the same units and sense as its pixels. */
export interface GreyWindow {
  center: number;
  width: number;
}

/**
 * Bins of the histogram that estimates the window percentiles: the estimate is within
 * (range / HISTOGRAM_BINS) of the exact percentile, well under one grey level of a 12-bit image.
 */
const HISTOGRAM_BINS = 4096;

/**
 * Normalises `plane` in place. `range` is the range of the original image (its minimum is the
 * background, also the value of the padding around the resampled image); `window` is the
 * image's own window, if any.
 */
export function normaliseIntensity(plane: Float32Array, spec: IntensitySpec, range: GreyRange, window: GreyWindow | null): void {
  switch (spec.method) {
    case 'paper-uint16':
      return affine(plane, spec.scale, -spec.mean);
    case 'minmax': {
      const span = range.max - range.min;
      if (span === 0) throw new ModelInputError(`the image is uniform (every pixel is ${range.min}): nothing to scale to [0, 1]`);
      return affine(plane, spec.scale / span, -(range.min * spec.scale) / span - spec.mean);
    }
    case 'window-then-breast-zscore':
      return windowThenBreastZscore(plane, spec, range, window);
  }
}

/** plane = plane * multiply + add. */
function affine(plane: Float32Array, multiply: number, add: number): void {
  const n = plane.length;
  for (let i = 0; i < n; i++) plane[i] = plane[i]! * multiply + add;
}

type ZscoreSpec = Extract<IntensitySpec, { method: 'window-then-breast-zscore' }>;

/**
 * Clips to the window, then z-scores with the mean and (population) standard deviation of the
 * clipped breast pixels. Background pixels are clipped and shifted like the rest, so they all
 * take the value of the window's low end, below the breast mean.
 */
function windowThenBreastZscore(plane: Float32Array, spec: ZscoreSpec, range: GreyRange, window: GreyWindow | null): void {
  const threshold = range.min + spec.breastThreshold * (range.max - range.min);
  const [low, high] =
    spec.useImageWindow && window !== null
      ? [window.center - window.width / 2, window.center + window.width / 2]
      : breastPercentiles(plane, threshold, range.max, spec.windowPercentiles);

  const n = plane.length;
  let count = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = plane[i]!;
    if (v > threshold) {
      count++;
      sum += v < low ? low : v > high ? high : v;
    }
  }
  if (count === 0) throw new ModelInputError(`no breast pixels: nothing lies above the background threshold ${threshold}`);
  const mean = sum / count;
  // Second pass for the deviation: sum(x^2) - n * mean^2 loses the digits that matter on 16-bit data.
  let squares = 0;
  for (let i = 0; i < n; i++) {
    const v = plane[i]!;
    if (v > threshold) {
      const d = (v < low ? low : v > high ? high : v) - mean;
      squares += d * d;
    }
  }
  const std = Math.sqrt(squares / count);
  if (!(std > 0)) throw new ModelInputError(`the breast region has no contrast within the window [${low}, ${high}]`);

  const multiply = spec.scale / std;
  const add = -mean * multiply - spec.mean;
  for (let i = 0; i < n; i++) {
    const v = plane[i]!;
    plane[i] = (v < low ? low : v > high ? high : v) * multiply + add;
  }
}

/**
 * The given percentiles of the pixels in (threshold, max], estimated from a histogram with
 * linear interpolation inside a bin.
 */
export function breastPercentiles(plane: Float32Array, threshold: number, max: number, percentiles: [number, number]): [number, number] {
  const counts = new Float64Array(HISTOGRAM_BINS);
  const binWidth = (max - threshold) / HISTOGRAM_BINS;
  const n = plane.length;
  let total = 0;
  if (binWidth > 0) {
    for (let i = 0; i < n; i++) {
      const v = plane[i]!;
      if (v > threshold) {
        counts[Math.min(HISTOGRAM_BINS - 1, Math.floor((v - threshold) / binWidth))]!++;
        total++;
      }
    }
  }
  // No breast pixels or none spread over a range: the caller's statistics report it.
  if (total === 0) return [threshold, max];
  const at = (percentile: number): number => {
    const rank = (percentile / 100) * total;
    let below = 0;
    for (let b = 0; b < HISTOGRAM_BINS; b++) {
      const c = counts[b]!;
      if (below + c >= rank && c > 0) return threshold + (b + (rank - below) / c) * binWidth;
      below += c;
    }
    return max;
  };
  return [at(percentiles[0]), at(percentiles[1])];
}
