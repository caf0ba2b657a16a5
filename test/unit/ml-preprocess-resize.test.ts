// Resampling golden values: hand-computed outputs for area averaging, bilinear and bicubic
// (Keys a = -0.75, OpenCV's), shrinking and enlarging, and writing into a padded canvas.

import { describe, expect, it } from 'vitest';
import type { ResizeMethod } from '../../src/ml/model-manifest.js';
import { axisWeights, resizePlane } from '../../src/ml/preprocess/resize.js';

function resize(values: number[], width: number, height: number, to: { width: number; height: number }, method: ResizeMethod): number[] {
  const out = new Float32Array(to.width * to.height);
  resizePlane(Float32Array.from(values), { width, height }, out, to, to.width, method);
  return [...out];
}

const FOUR_BY_FOUR = Array.from({ length: 16 }, (_, i) => i); // row-major 0..15

describe('area resampling', () => {
  it('shrinks 4x4 to 2x2 by averaging each 2x2 block', () => {
    expect(resize(FOUR_BY_FOUR, 4, 4, { width: 2, height: 2 }, 'area')).toEqual([2.5, 4.5, 10.5, 12.5]);
  });

  it('weights pixels by their overlap for non-integer factors (3 -> 2)', () => {
    // Output 0 covers [0, 1.5): (0 * 1 + 3 * 0.5) / 1.5; output 1 covers [1.5, 3): (3 * 0.5 + 6) / 1.5.
    expect(resize([0, 3, 6], 3, 1, { width: 2, height: 1 }, 'area')).toEqual([1, 5]);
  });

  it('keeps the mean of the image when shrinking by any factor', () => {
    const values = Array.from({ length: 7 * 5 }, (_, i) => (i * 37) % 11);
    const mean = values.reduce((a, b) => a + b) / values.length;
    const out = resize(values, 7, 5, { width: 7, height: 1 }, 'area');
    expect(out.reduce((a, b) => a + b) / out.length).toBeCloseTo(mean, 5);
  });

  it('repeats pixels when enlarging 2x', () => {
    expect(resize([1, 5], 2, 1, { width: 4, height: 1 }, 'area')).toEqual([1, 1, 5, 5]);
  });

  it('has weights that sum to 1 for every output pixel', () => {
    for (const [src, dst] of [[4096, 1152], [3328, 896], [10, 7], [3, 8]] as const) {
      const { taps, weight } = axisWeights(src, dst, 'area');
      for (let i = 0; i < dst; i++) {
        const sum = weight.subarray(i * taps, (i + 1) * taps).reduce((a, b) => a + b);
        expect(sum).toBeCloseTo(1, 12);
      }
    }
  });
});

describe('bilinear resampling', () => {
  it('averages the two pixels around each centre when halving', () => {
    expect(resize(FOUR_BY_FOUR, 4, 4, { width: 2, height: 2 }, 'bilinear')).toEqual([2.5, 4.5, 10.5, 12.5]);
  });

  it('interpolates at half-pixel centres and repeats the edge when enlarging', () => {
    // Centres at -0.25, 0.25, 0.75, 1.25 of the input: 0 (edge), 1, 3, 4 (edge).
    expect(resize([0, 4], 2, 1, { width: 4, height: 1 }, 'bilinear')).toEqual([0, 1, 3, 4]);
  });
});

describe('bicubic resampling', () => {
  it('matches Keys cubic convolution with a = -0.75 (OpenCV INTER_CUBIC)', () => {
    // Output 0, centre 0.5: taps -1 (edge, = 0), 0, 1, 2 with weights -0.09375, 0.59375, 0.59375, -0.09375.
    expect(resize([0, 1, 2, 3], 4, 1, { width: 2, height: 1 }, 'bicubic')).toEqual([0.40625, 2.59375]);
  });

  it('keeps a constant image constant and commutes with mirroring', () => {
    for (const v of resize([7, 7, 7, 7, 7], 5, 1, { width: 3, height: 1 }, 'bicubic')) expect(v).toBeCloseTo(7, 6);
    const row = [0, 9, 2, 8, 1, 5, 3];
    const forward = resize(row, 7, 1, { width: 12, height: 1 }, 'bicubic');
    const mirrored = resize([...row].reverse(), 7, 1, { width: 12, height: 1 }, 'bicubic');
    expect(mirrored.reverse().map((v, i) => v - forward[i]!).every((d) => Math.abs(d) < 1e-5)).toBe(true);
  });
});

describe('resizePlane', () => {
  it('writes into the top-left of a wider canvas and leaves the rest alone', () => {
    const canvas = new Float32Array(3 * 3).fill(-1);
    resizePlane(Float32Array.from(FOUR_BY_FOUR), { width: 4, height: 4 }, canvas, { width: 2, height: 2 }, 3, 'area');
    expect([...canvas]).toEqual([2.5, 4.5, -1, 10.5, 12.5, -1, -1, -1, -1]);
  });

  it('copies rows unchanged when the size does not change', () => {
    const canvas = new Float32Array(4 * 4);
    resizePlane(Float32Array.from(FOUR_BY_FOUR), { width: 4, height: 4 }, canvas, { width: 4, height: 4 }, 4, 'bicubic');
    expect([...canvas]).toEqual(FOUR_BY_FOUR);
  });
});
