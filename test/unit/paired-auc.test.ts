// pairedAucDifference: two models' AUCs on the same images, the interval by resampling women.

import { describe, expect, it } from 'vitest';
import { pairedAucDifference, seededRandom, type PairedImage } from '../../src/training/evaluation/index.js';

/** 60 women, 2 images each; score a is noise plus signal, b the same plus `extra` more signal. */
function images(extra: number): PairedImage[] {
  const random = seededRandom(3);
  const out: PairedImage[] = [];
  for (let w = 0; w < 60; w++) {
    for (let k = 0; k < 2; k++) {
      const label = (w + k) % 3 === 0 ? 1 : 0;
      const noise = random();
      out.push({ woman: `w${w}`, label, a: noise + 0.3 * label, b: noise + (0.3 + extra) * label });
    }
  }
  return out;
}

describe('pairedAucDifference', () => {
  it('gives zero, with a zero interval, for the same scores', () => {
    const same = images(0);
    const r = pairedAucDifference(same, { samples: 300 });
    expect(r.difference).toBe(0);
    expect(r.ci).toEqual([0, 0]);
    expect(r).toMatchObject({ images: 120, women: 60, shareAbove: 0 });
  });

  it('finds the better model, the interval above zero, and is repeatable with its seed', () => {
    const r = pairedAucDifference(images(0.4), { samples: 300, seed: 7 });
    expect(r.aucB).toBeGreaterThan(r.aucA);
    expect(r.difference).toBeCloseTo(r.aucB - r.aucA, 12);
    expect(r.ci[0]).toBeGreaterThan(0);
    expect(r.ci[0]).toBeLessThan(r.difference);
    expect(r.ci[1]).toBeGreaterThan(r.difference);
    expect(r.shareAbove).toBe(1);
    expect(pairedAucDifference(images(0.4), { samples: 300, seed: 7 })).toEqual(r);
    // A worse B: the same interval, mirrored.
    const swapped = pairedAucDifference(images(0.4).map((i) => ({ ...i, a: i.b, b: i.a })), { samples: 300, seed: 7 });
    expect(swapped.difference).toBeCloseTo(-r.difference, 12);
    expect(swapped.ci[1]).toBeLessThan(0);
  });

  it('refuses images of one class and a sample count or seed that is not a whole number; counts the resamples drawn again', () => {
    expect(() => pairedAucDifference(images(0).filter((i) => i.label === 0))).toThrow(/both classes/);
    expect(() => pairedAucDifference(images(0), { samples: 0 })).toThrow(/positive whole number/);
    expect(() => pairedAucDifference(images(0), { samples: Number.NaN })).toThrow(/positive whole number/);
    expect(() => pairedAucDifference(images(0), { seed: 1.5 })).toThrow(/seed/);
    // One woman with a cancer among 200: most resamples miss her, each one is drawn again, counted.
    const rare: PairedImage[] = Array.from({ length: 200 }, (_, w) => ({ woman: `w${w}`, label: w === 0 ? 1 : 0, a: w / 200, b: 1 - w / 200 }));
    const r = pairedAucDifference(rare, { samples: 50, seed: 1 });
    expect(r.redrawn).toBeGreaterThan(0);
    const two: PairedImage[] = [{ woman: 'x', label: 1, a: 1, b: 1 }, { woman: 'y', label: 0, a: 0, b: 0 }];
    expect(pairedAucDifference(two, { samples: 50, seed: 1 }).redrawn).toBeGreaterThan(0);
  });
});
