import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import { kFoldsByWoman, seededRandom, shuffled, trainValidationByWoman, type SplitItem } from '../../src/training/datasets/splits.js';

interface Image extends SplitItem {
  id: string;
}

/** A data set shaped like mini-MIAS's development split: pairs of images, a few malignant. */
function dataset(women: number, seed: number): Image[] {
  const random = seededRandom(seed);
  return Array.from({ length: women }, (_, w) => {
    const womanId = `w${String(w).padStart(3, '0')}`;
    const malignantSide = random() < 0.25 ? (random() < 0.5 ? 0 : 1) : -1;
    // Some women have one image only (the other withheld), to check that nothing assumes pairs.
    const images = w % 17 === 0 ? 1 : 2;
    return Array.from({ length: images }, (_, side) => ({ id: `${womanId}-${side}`, womanId, malignant: side === malignantSide }));
  }).flat();
}

const positiveWomen = (items: SplitItem[]) => new Set(items.filter((i) => i.malignant).map((i) => i.womanId));
const womenOf = (items: SplitItem[]) => new Set(items.map((i) => i.womanId));

describe('kFoldsByWoman', () => {
  for (const [dataSeed, women, k, seed] of [
    [1, 112, 5, 7],
    [2, 112, 10, 1],
    [3, 40, 3, 99],
    [4, 13, 13, 5],
    [5, 200, 4, 123456],
  ] as const) {
    it(`${women} women, ${k} folds, seed ${seed}: folds by woman, stratified, covering every image once`, () => {
      const items = dataset(women, dataSeed);
      const folds = kFoldsByWoman(items, k, seed);
      expect(folds).toHaveLength(k);
      // Every image is validated exactly once, and trained on in the other k - 1 folds.
      expect(folds.flatMap((f) => f.validation.map((i) => i.id)).sort()).toEqual(items.map((i) => i.id).sort());
      for (const fold of folds) {
        expect(fold.train.length + fold.validation.length).toBe(items.length);
        // No woman on both sides: every image of a woman is in the same fold.
        const validationWomen = womenOf(fold.validation);
        expect(fold.train.filter((i) => validationWomen.has(i.womanId))).toEqual([]);
        expect([...validationWomen].sort()).toEqual(fold.validationWomen);
        for (const woman of validationWomen) expect(fold.validation.filter((i) => i.womanId === woman)).toEqual(items.filter((i) => i.womanId === woman));
      }
      // No woman in two folds.
      const all = folds.flatMap((f) => f.validationWomen);
      expect(new Set(all).size).toBe(all.length);
      expect(all.length).toBe(womenOf(items).size);
      // Positive women spread evenly, and so are all women.
      const positives = folds.map((f) => positiveWomen(f.validation).size);
      expect(Math.max(...positives) - Math.min(...positives)).toBeLessThanOrEqual(1);
      expect(positives.reduce((a, b) => a + b, 0)).toBe(positiveWomen(items).size);
      const sizes = folds.map((f) => f.validationWomen.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    });
  }

  it('same seed -> same folds, whatever the input order; another seed -> other folds', () => {
    const items = dataset(112, 1);
    const women = (seed: number, input = items) => kFoldsByWoman(input, 5, seed).map((f) => f.validationWomen);
    expect(women(42)).toEqual(women(42));
    expect(women(42, [...items].reverse())).toEqual(women(42));
    expect(women(43)).not.toEqual(women(42));
    const distinct = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => JSON.stringify(women(seed))));
    expect(distinct.size).toBe(8);
  });

  it('refuses k below 2, more folds than women and a non-integer seed', () => {
    const items = dataset(4, 1);
    expect(() => kFoldsByWoman(items, 1, 1)).toThrow(ValidationError);
    expect(() => kFoldsByWoman(items, 5, 1)).toThrow(/5 folds need at least 5 women; the data has 4/);
    expect(() => kFoldsByWoman(items, 2, 1.5)).toThrow(/seed: must be an integer/);
  });
});

describe('trainValidationByWoman', () => {
  it('keeps women whole, takes the fraction from each stratum and is reproducible', () => {
    const items = dataset(112, 3);
    const split = trainValidationByWoman(items, 0.2, 11);
    const validationWomen = womenOf(split.validation);
    expect(split.train.filter((i) => validationWomen.has(i.womanId))).toEqual([]);
    expect(split.train.length + split.validation.length).toBe(items.length);
    expect([...validationWomen].sort()).toEqual(split.validationWomen);
    const positives = positiveWomen(items).size;
    expect(positiveWomen(split.validation).size).toBe(Math.round(positives * 0.2));
    expect(validationWomen.size - positiveWomen(split.validation).size).toBe(Math.round((womenOf(items).size - positives) * 0.2));
    expect(trainValidationByWoman(items, 0.2, 11).validationWomen).toEqual(split.validationWomen);
    expect(trainValidationByWoman(items, 0.2, 12).validationWomen).not.toEqual(split.validationWomen);
  });

  it('refuses a fraction outside (0, 1)', () => {
    expect(() => trainValidationByWoman(dataset(10, 1), 1, 1)).toThrow(/validationFraction/);
    expect(() => trainValidationByWoman(dataset(10, 1), 0, 1)).toThrow(/validationFraction/);
  });
});

describe('seededRandom and shuffled', () => {
  it('is reproducible, in [0, 1), and shuffles into a permutation', () => {
    const a = seededRandom(9);
    const b = seededRandom(9);
    const values = Array.from({ length: 1000 }, () => a());
    expect(values).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    const items = Array.from({ length: 50 }, (_, i) => i);
    const out = shuffled(items, seededRandom(1));
    expect([...out].sort((x, y) => x - y)).toEqual(items);
    expect(out).not.toEqual(items);
  });
});
