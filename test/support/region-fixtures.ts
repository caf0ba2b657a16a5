// Marked regions (src/domain/heatmap.ts) for the SR and presentation-state tests: closed,
// clockwise outlines inside a 256 x 256 test mammogram, one with coordinates that are not
// exact 32-bit floats (the reports hold Graphic Data as FL).

import type { MarkedRegion } from '../../src/domain/heatmap.js';

/** A square region with its top-left corner at (column, row). */
export function squareRegion(score: number, column: number, row: number, side = 40): MarkedRegion {
  const [left, top, right, bottom] = [column, row, column + side, row + side];
  return {
    score,
    center: [left + side / 2, top + side / 2],
    outline: [
      [left, top],
      [right, top],
      [right, bottom],
      [left, bottom],
      [left, top],
    ],
  };
}

/** An irregular region whose coordinates a 32-bit float cannot hold exactly. */
export const IRREGULAR_REGION: MarkedRegion = {
  score: 0.7312345678901234,
  center: [150.1, 60.3],
  outline: [
    [140.2, 50.1],
    [161.7, 52.9],
    [158.35, 71.05],
    [139.9, 68.4],
    [140.2, 50.1],
  ],
};

/** A region as a report holds it: every coordinate rounded to the nearest 32-bit float. */
export function asStored(region: MarkedRegion): MarkedRegion {
  return {
    score: region.score,
    center: [Math.fround(region.center[0]), Math.fround(region.center[1])],
    outline: region.outline.map(([column, row]) => [Math.fround(column), Math.fround(row)]),
  };
}
