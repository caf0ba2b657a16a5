import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/training/datasets/splits.js';
import { augmentPatch, drawAugmentation, IDENTITY_AUGMENTATION, PAPER_AUGMENTATION, randomAugment, type AugmentParams } from '../../src/training/patches/augment.js';

const N = 9;
/** A pattern with no symmetry: distinct values. */
const pattern = Float32Array.from({ length: N * N }, (_, i) => ((i * 37) % 101) / 7);
const at = (a: Float32Array, r: number, c: number, n = N) => a[r * n + c]!;
const params = (p: Partial<AugmentParams>): AugmentParams => ({ ...IDENTITY_AUGMENTATION, ...p });

describe('augmentPatch', () => {
  it('is the identity for zoom 1, no rotation, no shear, no flip, no shift', () => {
    expect([...augmentPatch(pattern, N, N, IDENTITY_AUGMENTATION)]).toEqual([...pattern]);
    // Also on a non-square patch.
    const wide = Float32Array.from({ length: 4 * 7 }, (_, i) => i * 1.5);
    expect([...augmentPatch(wide, 4, 7, IDENTITY_AUGMENTATION)]).toEqual([...wide]);
  });

  it('rotates 90 degrees counter-clockwise (as numpy.rot90): out[i][j] = in[j][n-1-i]', () => {
    const out = augmentPatch(pattern, N, N, params({ rotationDeg: 90 }));
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) expect(at(out, i, j)).toBeCloseTo(at(pattern, j, N - 1 - i), 5);
    // Four quarter turns come back; 180 degrees is both flips.
    let turned: Float32Array = pattern;
    for (let k = 0; k < 4; k++) turned = augmentPatch(turned, N, N, params({ rotationDeg: 90 }));
    for (let i = 0; i < N * N; i++) expect(turned[i]).toBeCloseTo(pattern[i]!, 4);
    const half = augmentPatch(pattern, N, N, params({ rotationDeg: 180 }));
    const flips = augmentPatch(pattern, N, N, params({ flipHorizontal: true, flipVertical: true }));
    for (let i = 0; i < N * N; i++) expect(half[i]).toBeCloseTo(flips[i]!, 4);
  });

  it('flips, and a flip twice is the identity', () => {
    const h = augmentPatch(pattern, N, N, params({ flipHorizontal: true }));
    const v = augmentPatch(pattern, N, N, params({ flipVertical: true }));
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        expect(at(h, i, j)).toBe(at(pattern, i, N - 1 - j));
        expect(at(v, i, j)).toBe(at(pattern, N - 1 - i, j));
      }
    }
    expect([...augmentPatch(h, N, N, params({ flipHorizontal: true }))]).toEqual([...pattern]);
    expect([...augmentPatch(v, N, N, params({ flipVertical: true }))]).toEqual([...pattern]);
  });

  it('zooms about the centre: zoom 2 halves the slope of a ramp, zoom 0.5 doubles it', () => {
    const n = 21;
    const ramp = Float32Array.from({ length: n * n }, (_, i) => i % n); // value = column
    const zoomIn = augmentPatch(ramp, n, n, params({ zoomRows: 2, zoomColumns: 2 }));
    expect(at(zoomIn, 10, 10, n)).toBeCloseTo(10, 5);
    expect(at(zoomIn, 10, 14, n)).toBeCloseTo(12, 5);
    const zoomOut = augmentPatch(ramp, n, n, params({ zoomRows: 0.5, zoomColumns: 0.5 }));
    expect(at(zoomOut, 3, 12, n)).toBeCloseTo(14, 5);
    // Beyond the patch: the nearest edge value.
    expect(at(zoomOut, 3, 20, n)).toBeCloseTo(20, 5);
  });

  it('shears: columns move by -sin(shear) per row from the centre', () => {
    const n = 21;
    const ramp = Float32Array.from({ length: n * n }, (_, i) => i % n);
    const s = 0.2;
    const out = augmentPatch(ramp, n, n, params({ shear: s }));
    // Forward: dc' = dc - sin(s) dr, dr' = cos(s) dr -> the source of output (r, c) has
    // dr = dr'/cos(s), dc = dc' + sin(s) dr.
    const dr = 15 - 10;
    expect(at(out, 15, 10, n)).toBeCloseTo(10 + Math.sin(s) * (dr / Math.cos(s)), 4);
  });

  it('shifts intensity by a constant', () => {
    const out = augmentPatch(pattern, N, N, params({ intensityShift: 0.5 }));
    for (let i = 0; i < N * N; i++) expect(out[i]).toBeCloseTo(pattern[i]! + 0.5, 5);
  });
});

describe('drawAugmentation', () => {
  it('draws within the paper ranges and is deterministic for a seed', () => {
    const random = seededRandom(42);
    const draws = Array.from({ length: 200 }, () => drawAugmentation(random));
    for (const d of draws) {
      expect(Math.abs(d.rotationDeg)).toBeLessThanOrEqual(25);
      expect(Math.abs(d.shear)).toBeLessThanOrEqual(0.2);
      for (const z of [d.zoomRows, d.zoomColumns]) expect(z >= 0.8 && z <= 1.2).toBe(true);
      expect(Math.abs(d.intensityShift)).toBeLessThanOrEqual(PAPER_AUGMENTATION.intensityShiftRange);
    }
    expect(draws.some((d) => d.flipHorizontal) && draws.some((d) => !d.flipHorizontal)).toBe(true);
    const again = seededRandom(42);
    expect(Array.from({ length: 200 }, () => drawAugmentation(again))).toEqual(draws);
    const a = randomAugment(pattern, N, seededRandom(1));
    const b = randomAugment(pattern, N, seededRandom(1));
    expect([...a.pixels]).toEqual([...b.pixels]);
    expect(drawAugmentation(seededRandom(1), { horizontalFlip: false, verticalFlip: false, rotationRangeDeg: 0, shearRange: 0, zoomRange: [1, 1], intensityShiftRange: 0 })).toEqual(IDENTITY_AUGMENTATION);
  });
});
