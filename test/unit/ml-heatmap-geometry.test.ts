// The heat map's geometry on hand-made grids (src/ml/heatmap/heat-map-geometry.ts): undoing
// test-time flips, the grid over the image's content, resampling to a grid that spans the image
// evenly, the input mirror and the decoder's mirror. The runtime test (test/integration/
// ml-heatmap-runtime.test.ts) checks the same path end to end on a model.

import { describe, expect, it } from 'vitest';
import { positiveLogit } from '../../src/ml/heatmap/cell-logits.js';
import { imageGridSize, modelGridToImage, unflipGrid, type InputPlacement } from '../../src/ml/heatmap/index.js';

const GRID = { rows: 2, columns: 4 };
const VALUES = [0, 1, 2, 3, 4, 5, 6, 7];

function placement(overrides: Partial<InputPlacement> = {}): InputPlacement {
  return { input: { width: 40, height: 20 }, content: { width: 40, height: 20 }, contentMirrored: false, imageMirrored: false, ...overrides };
}

describe('unflipGrid', () => {
  it('mirrors the columns, the rows or both, and undoes itself', () => {
    expect([...unflipGrid(VALUES, GRID, 'none')]).toEqual(VALUES);
    expect([...unflipGrid(VALUES, GRID, 'horizontal')]).toEqual([3, 2, 1, 0, 7, 6, 5, 4]);
    expect([...unflipGrid(VALUES, GRID, 'vertical')]).toEqual([4, 5, 6, 7, 0, 1, 2, 3]);
    expect([...unflipGrid(VALUES, GRID, 'both')]).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
    for (const flip of ['horizontal', 'vertical', 'both'] as const) expect([...unflipGrid(unflipGrid(VALUES, GRID, flip), GRID, flip)]).toEqual(VALUES);
  });
});

describe('imageGridSize', () => {
  it("counts the model's cells over the content, rounded, at least one", () => {
    expect(imageGridSize(GRID, placement())).toEqual({ rows: 2, columns: 4 });
    expect(imageGridSize(GRID, placement({ content: { width: 30, height: 20 } }))).toEqual({ rows: 2, columns: 3 });
    expect(imageGridSize(GRID, placement({ content: { width: 24, height: 6 } }))).toEqual({ rows: 1, columns: 2 });
    expect(imageGridSize(GRID, placement({ content: { width: 1, height: 1 } }))).toEqual({ rows: 1, columns: 1 });
  });
});

describe('modelGridToImage', () => {
  it("is the identity when the image fills the input ('stretch') and nothing was mirrored", () => {
    expect([...modelGridToImage(VALUES, GRID, placement(), GRID)]).toEqual(VALUES);
  });

  it("drops the cells over the padding ('pad': content top-left)", () => {
    expect([...modelGridToImage(VALUES, GRID, placement({ content: { width: 30, height: 20 } }), { rows: 2, columns: 3 })]).toEqual([0, 1, 2, 4, 5, 6]);
    expect([...modelGridToImage(VALUES, GRID, placement({ content: { width: 40, height: 10 } }), { rows: 1, columns: 4 })]).toEqual([0, 1, 2, 3]);
  });

  it('takes the content from the right when the whole input was mirrored, and mirrors back to the stored matrix', () => {
    const content = { width: 30, height: 20 };
    // Mirrored input: the content is model columns 1-3, seen mirrored.
    expect([...modelGridToImage(VALUES, GRID, placement({ content, contentMirrored: true }), { rows: 2, columns: 3 })]).toEqual([3, 2, 1, 7, 6, 5]);
    // ...which is the stored matrix's own orientation when the decoder had mirrored it (canonicalFlip false).
    expect([...modelGridToImage(VALUES, GRID, placement({ content, contentMirrored: true, imageMirrored: true }), { rows: 2, columns: 3 })]).toEqual([1, 2, 3, 5, 6, 7]);
    // Decoder mirror only (canonicalFlip true): content at the left, mirrored back.
    expect([...modelGridToImage(VALUES, GRID, placement({ content, imageMirrored: true }), { rows: 2, columns: 3 })]).toEqual([2, 1, 0, 6, 5, 4]);
  });

  it('resamples the content to any grid, each cell the area-weighted mean of the cells it overlaps', () => {
    // 2.5 cells of content to 2: [0, 1.25) -> 0.8 x c0 + 0.2 x c1, [1.25, 2.5) -> 0.6 x c1 + 0.4 x c2.
    const out = modelGridToImage(VALUES, GRID, placement({ content: { width: 25, height: 20 } }), { rows: 2, columns: 2 });
    [0.2, 1.4, 4.2, 5.4].forEach((expected, i) => expect(out[i]).toBeCloseTo(expected, 12));
    // Finer than the model: 1.5 cells to 3 columns, one row to 4.
    const fine = modelGridToImage(VALUES, GRID, placement({ content: { width: 15, height: 20 } }), { rows: 4, columns: 3 });
    expect([...fine]).toEqual([0, 0, 1, 0, 0, 1, 4, 4, 5, 4, 4, 5]);
  });

  it('refuses values that do not fill the grid', () => {
    expect(() => modelGridToImage([1, 2, 3], GRID, placement(), GRID)).toThrow(/2 x 4 grid needs 8 values; got 3/);
  });
});

describe('positiveLogit', () => {
  it("is the logit difference for two classes and log(p / (1 - p)) of the cell's softmax for more", () => {
    expect(positiveLogit([0.5, 2], 1)).toBe(1.5);
    expect(positiveLogit([0.5, 2], 0)).toBe(-1.5);
    const logits = [1, -2, 0.5];
    const exp = logits.map(Math.exp);
    const p = exp[2]! / (exp[0]! + exp[1]! + exp[2]!);
    expect(positiveLogit(logits, 2)).toBeCloseTo(Math.log(p / (1 - p)), 12);
    // Large logits do not overflow: 1001 - log(e^1000 + e^0) = 1.
    expect(positiveLogit([1000, 0, 1001], 2)).toBeCloseTo(1, 9);
  });
});
