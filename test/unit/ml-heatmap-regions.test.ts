// markedRegions on a hand-made heat map: which cells form a region (8-connectivity, "at or
// above" the threshold), each region's score, weighted centre and outline (cell edges, image
// pixels, clockwise, closed, holes ignored, diagonal touches kept in one outline), the order and
// the cap.

import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import type { HeatMap } from '../../src/domain/heatmap.js';
import { markedRegions } from '../../src/ml/heatmap/index.js';

const ROWS = 6;
const COLUMNS = 10;
/** Cells of 50 columns x 150 rows of the image: a scale per axis, so an axis swap shows. */
const IMAGE_COLUMNS = 500;
const IMAGE_ROWS = 900;

function mapOf(cells: Record<string, number>, background = 0.1): HeatMap {
  const values = new Float32Array(ROWS * COLUMNS).fill(background);
  for (const [key, value] of Object.entries(cells)) {
    const [r, c] = key.split(',').map(Number) as [number, number];
    values[r * COLUMNS + c] = value;
  }
  return { rows: ROWS, columns: COLUMNS, imageRows: IMAGE_ROWS, imageColumns: IMAGE_COLUMNS, values };
}

/** Grid corners (column, row) to image pixels. */
const px = (points: Array<[number, number]>) => points.map(([x, y]) => [(x * IMAGE_COLUMNS) / COLUMNS, (y * IMAGE_ROWS) / ROWS]);

/** How a value is stored in the map's Float32Array. */
const f32 = (value: number) => Math.fround(value);

/** Twice the signed area; positive when clockwise as displayed (rows downwards). */
function signedArea(outline: Array<[number, number]>): number {
  let sum = 0;
  for (let i = 1; i < outline.length; i++) sum += outline[i - 1]![0] * outline[i]![1] - outline[i]![0] * outline[i - 1]![1];
  return sum;
}

// An L of three cells; two cells touching at a corner only; a ring of eight around a cold
// centre; one cell exactly at the threshold, in the image's bottom-right corner.
const CELLS: Record<string, number> = {
  '0,0': 0.9,
  '0,1': 0.7,
  '1,0': 0.6,
  '3,3': 0.8,
  '4,4': 0.95,
  '0,6': 0.85,
  '0,7': 0.75,
  '0,8': 0.75,
  '1,6': 0.75,
  '1,7': 0.2,
  '1,8': 0.75,
  '2,6': 0.75,
  '2,7': 0.75,
  '2,8': 0.75,
  '5,9': 0.5,
};

describe('markedRegions', () => {
  const regions = markedRegions(mapOf(CELLS), 0.5);

  it('finds the 8-connected groups of cells at or above the threshold, highest score first', () => {
    expect(regions.map((r) => r.score)).toEqual([f32(0.95), f32(0.9), f32(0.85), 0.5]);
  });

  it("puts each region's centre at its cells' probability-weighted mean, in image pixels", () => {
    const [diagonal, l, ring, single] = regions;
    // The L: weights 0.9, 0.7, 0.6 at cell centres (0.5, 0.5), (1.5, 0.5), (0.5, 1.5).
    expect(l!.center[0]).toBeCloseTo((((0.9 * 0.5 + 0.7 * 1.5 + 0.6 * 0.5) / 2.2) * IMAGE_COLUMNS) / COLUMNS, 4);
    expect(l!.center[1]).toBeCloseTo((((0.9 * 0.5 + 0.7 * 0.5 + 0.6 * 1.5) / 2.2) * IMAGE_ROWS) / ROWS, 4);
    expect(diagonal!.center[0]).toBeCloseTo((((0.8 * 3.5 + 0.95 * 4.5) / 1.75) * IMAGE_COLUMNS) / COLUMNS, 4);
    expect(single!.center).toEqual([475, 825]);
    // The ring's centre lies in its (cold) hole: the weighted mean, not a cell of the region.
    const ringColumns = 0.85 * 6.5 + 0.75 * (7.5 + 8.5 + 6.5 + 8.5 + 6.5 + 7.5 + 8.5);
    expect(ring!.center[0]).toBeCloseTo(((ringColumns / 6.1) * IMAGE_COLUMNS) / COLUMNS, 4);
  });

  it('outlines each region along cell edges, clockwise, closed, corners only', () => {
    const [diagonal, l, ring, single] = regions;
    expect(l!.outline).toEqual(
      px([
        [0, 0],
        [2, 0],
        [2, 1],
        [1, 1],
        [1, 2],
        [0, 2],
        [0, 0],
      ]),
    );
    // Cells touching at a corner: one outline through that corner twice.
    expect(diagonal!.outline).toEqual(
      px([
        [3, 3],
        [4, 3],
        [4, 4],
        [5, 4],
        [5, 5],
        [4, 5],
        [4, 4],
        [3, 4],
        [3, 3],
      ]),
    );
    // The ring's outer boundary only: its hole is part of what is marked.
    expect(ring!.outline).toEqual(
      px([
        [6, 0],
        [9, 0],
        [9, 3],
        [6, 3],
        [6, 0],
      ]),
    );
    // On the image's edge: the last pixel's far corner is (Columns, Rows).
    expect(single!.outline).toEqual([
      [450, 750],
      [500, 750],
      [500, 900],
      [450, 900],
      [450, 750],
    ]);
    for (const region of regions) {
      expect(region.outline.length).toBeGreaterThanOrEqual(5);
      expect(region.outline.at(-1)).toEqual(region.outline[0]);
      expect(signedArea(region.outline)).toBeGreaterThan(0);
      for (const [x, y] of [...region.outline, region.center]) {
        expect(x >= 0 && x <= IMAGE_COLUMNS && y >= 0 && y <= IMAGE_ROWS).toBe(true);
      }
    }
  });

  it('traces a region whose cells wind around (a spiral) without losing any corner', () => {
    // A U shape open at the top, with a diagonal step: every turn direction occurs.
    const u = markedRegions(mapOf({ '1,1': 0.9, '2,1': 0.9, '3,1': 0.9, '3,2': 0.9, '3,3': 0.9, '2,3': 0.9, '1,3': 0.9, '0,4': 0.9 }), 0.5);
    expect(u).toHaveLength(1);
    expect(u[0]!.outline).toEqual(
      px([
        [4, 0],
        [5, 0],
        [5, 1],
        [4, 1],
        [4, 4],
        [1, 4],
        [1, 1],
        [2, 1],
        [2, 3],
        [3, 3],
        [3, 1],
        [4, 1],
        [4, 0],
      ]),
    );
    expect(signedArea(u[0]!.outline)).toBeGreaterThan(0);
  });

  it('keeps at most maxRegions (5 by default), the highest scores', () => {
    expect(markedRegions(mapOf(CELLS), 0.5, { maxRegions: 2 }).map((r) => r.score)).toEqual([f32(0.95), f32(0.9)]);
    const many = mapOf(Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`${(i % 3) * 2},${Math.floor(i / 3) * 3}`, 0.6 + i * 0.01])));
    expect(markedRegions(many, 0.5)).toHaveLength(5);
    expect(markedRegions(many, 0.5)[0]!.score).toBeCloseTo(0.67, 6);
    expect(markedRegions(mapOf(CELLS), 0.96)).toEqual([]);
  });

  it('makes the whole grid one region at threshold 0, outlined by the image border', () => {
    const [all] = markedRegions(mapOf({}, 0), 0);
    expect(all!.outline).toEqual([
      [0, 0],
      [500, 0],
      [500, 900],
      [0, 900],
      [0, 0],
    ]);
    expect(all!.center).toEqual([250, 450]);
  });

  it('refuses a threshold outside [0, 1] and a map whose values do not fill its grid', () => {
    expect(() => markedRegions(mapOf(CELLS), 1.5)).toThrow(ValidationError);
    expect(() => markedRegions(mapOf(CELLS), Number.NaN)).toThrow(/threshold/);
    expect(() => markedRegions({ ...mapOf(CELLS), rows: 5 }, 0.5)).toThrow(/5 x 10 grid needs 50 values; got 60/);
  });
});
