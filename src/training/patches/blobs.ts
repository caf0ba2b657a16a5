// The blob detector of stage 1's hard negatives (sample.ts): bright spots that are not lesions,
// found by a difference of box blurs, strongest first.

import type { Point } from './types.js';

export interface Blob extends Point {
  /** Smoothed minus surround: how much brighter the blob is than its neighbourhood. */
  response: number;
}

export interface BlobOptions {
  /** Box-blur radius of the blob scale (two passes, close to a Gaussian), input pixels. */
  innerRadius: number;
  /** Box-blur radius of the surround. */
  outerRadius: number;
  /** Local maxima are searched on a grid of this step (and are maxima over its 3x3 neighbours). */
  step: number;
}

/**
 * A simple blob detector for hard negatives, in the spirit of the authors' use of OpenCV's
 * SimpleBlobDetector: bright spots that are not lesions are what a patch classifier confuses
 * with masses and calcifications. Response = (image blurred at the blob scale) - (image blurred
 * at the surround scale), a difference-of-boxes band-pass; blobs are its local maxima on a
 * coarse grid with a positive response, strongest first. Breast and ROI checks are the caller's.
 */
export function detectBlobs(pixels: Float32Array, width: number, height: number, options: Partial<BlobOptions> = {}): Blob[] {
  const { innerRadius = 6, outerRadius = 24, step = 8 } = options;
  const inner = boxBlur(boxBlur(pixels, width, height, innerRadius), width, height, innerRadius);
  const outer = boxBlur(boxBlur(pixels, width, height, outerRadius), width, height, outerRadius);
  const gridRows = Math.floor((height - 1) / step) + 1;
  const gridColumns = Math.floor((width - 1) / step) + 1;
  const grid = new Float64Array(gridRows * gridColumns);
  for (let gy = 0; gy < gridRows; gy++) {
    for (let gx = 0; gx < gridColumns; gx++) {
      const i = gy * step * width + gx * step;
      grid[gy * gridColumns + gx] = inner[i]! - outer[i]!;
    }
  }
  const blobs: Blob[] = [];
  for (let gy = 0; gy < gridRows; gy++) {
    for (let gx = 0; gx < gridColumns; gx++) {
      const v = grid[gy * gridColumns + gx]!;
      if (!(v > 0)) continue;
      let peak = true;
      for (let dy = -1; dy <= 1 && peak; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const y = gy + dy;
          const x = gx + dx;
          if ((dy || dx) && y >= 0 && y < gridRows && x >= 0 && x < gridColumns && grid[y * gridColumns + x]! >= v) {
            // Ties go to the first in raster order, so a plateau gives one blob.
            if (grid[y * gridColumns + x]! > v || y * gridColumns + x < gy * gridColumns + gx) {
              peak = false;
              break;
            }
          }
        }
      }
      if (peak) blobs.push({ row: gy * step, column: gx * step, response: v });
    }
  }
  return blobs.sort((a, b) => b.response - a.response || a.row - b.row || a.column - b.column);
}

/** Mean over a (2r + 1)² box, edges repeated; separable with running sums. */
export function boxBlur(src: Float32Array, width: number, height: number, radius: number): Float32Array {
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  const n = 2 * radius + 1;
  const clampIndex = (i: number, size: number) => (i < 0 ? 0 : i >= size ? size - 1 : i);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let sum = 0;
    for (let k = -radius; k <= radius; k++) sum += src[row + clampIndex(k, width)]!;
    for (let x = 0; x < width; x++) {
      tmp[row + x] = sum / n;
      sum += src[row + clampIndex(x + radius + 1, width)]! - src[row + clampIndex(x - radius, width)]!;
    }
  }
  for (let x = 0; x < width; x++) {
    let sum = 0;
    for (let k = -radius; k <= radius; k++) sum += tmp[clampIndex(k, height) * width + x]!;
    for (let y = 0; y < height; y++) {
      out[y * width + x] = sum / n;
      sum += tmp[clampIndex(y + radius + 1, height) * width + x]! - tmp[clampIndex(y - radius, height) * width + x]!;
    }
  }
  return out;
}
