// The regions a heat map marks (issue 16): connected cells at or above a threshold (the
// operating threshold, on the same calibrated scale as the map), each reduced to what a reader
// needs and DICOM can carry: its highest probability, a centre, and an outline, in the image's
// pixel coordinates (src/domain/heatmap.ts). Pure: a HeatMap and numbers in, regions out.
//
// Cells touching at a corner belong to one region (8-connectivity). The outline is the region's
// outer boundary traced along cell edges (holes are ignored: the region is what is marked), so
// it may pass twice through a corner where two cells touch diagonally; it runs clockwise as the
// image is displayed (rows downwards), with the first point repeated at the end.

import { ValidationError } from '../../domain/errors.js';
import type { HeatMap, MarkedRegion } from '../../domain/heatmap.js';

/** How many regions are kept when the caller does not say (the highest-scoring ones). */
export const DEFAULT_MAX_REGIONS = 5;

export interface MarkedRegionOptions {
  /** Keep at most this many regions, the highest scores first (default 5). */
  maxRegions?: number;
}

/** Direction of travel along a cell edge, on the corner lattice: right, down, left, up. */
const STEP: ReadonlyArray<readonly [number, number]> = [
  [1, 0],
  [0, 1],
  [-1, 0],
  [0, -1],
];

/** The regions of `map` at or above `threshold`, highest score first (ties: larger region first). */
export function markedRegions(map: HeatMap, threshold: number, options: MarkedRegionOptions = {}): MarkedRegion[] {
  const { rows, columns, values } = map;
  if (!(threshold >= 0 && threshold <= 1)) throw new ValidationError('threshold', `must be in [0, 1]; got ${threshold}`);
  const maxRegions = options.maxRegions ?? DEFAULT_MAX_REGIONS;
  if (!Number.isInteger(maxRegions) || maxRegions < 0) throw new ValidationError('maxRegions', `must be a non-negative integer; got ${maxRegions}`);
  if (!(Number.isInteger(rows) && Number.isInteger(columns) && rows > 0 && columns > 0) || values.length !== rows * columns) {
    throw new ValidationError('heatMap', `a ${rows} x ${columns} grid needs ${rows * columns} values; got ${values.length}`);
  }
  if (!(map.imageRows > 0 && map.imageColumns > 0)) throw new ValidationError('heatMap', `image size ${map.imageColumns} x ${map.imageRows} must be positive`);

  const labels = labelComponents(map, threshold);
  const regions: Array<MarkedRegion & { cells: number; first: number }> = [];
  for (const cells of labels.components) {
    let score = 0;
    let weight = 0;
    let sumColumn = 0;
    let sumRow = 0;
    for (const cell of cells) {
      const p = values[cell]!;
      score = Math.max(score, p);
      weight += p;
      sumColumn += p * ((cell % columns) + 0.5);
      sumRow += p * (Math.floor(cell / columns) + 0.5);
    }
    // All-zero cells (threshold 0) have no weight: their plain mean is the centre.
    if (weight === 0) {
      weight = cells.length;
      sumColumn = cells.reduce((sum, cell) => sum + (cell % columns) + 0.5, 0);
      sumRow = cells.reduce((sum, cell) => sum + Math.floor(cell / columns) + 0.5, 0);
    }
    const toImage = ([x, y]: readonly [number, number]): [number, number] => [(x * map.imageColumns) / columns, (y * map.imageRows) / rows];
    regions.push({
      score,
      center: toImage([sumColumn / weight, sumRow / weight]),
      outline: traceOutline(labels.label, rows, columns, labels.label[cells[0]!]!, cells[0]!).map(toImage),
      cells: cells.length,
      first: cells[0]!,
    });
  }
  regions.sort((a, b) => b.score - a.score || b.cells - a.cells || a.first - b.first);
  return regions.slice(0, maxRegions).map(({ score, center, outline }) => ({ score, center, outline }));
}

/** Connected components (8-connectivity) of the cells >= threshold; each component's cells in row-major order. */
function labelComponents(map: HeatMap, threshold: number): { label: Int32Array; components: number[][] } {
  const { rows, columns, values } = map;
  const label = new Int32Array(rows * columns); // 0: below the threshold or not yet visited
  const components: number[][] = [];
  for (let start = 0; start < values.length; start++) {
    if (label[start] !== 0 || !(values[start]! >= threshold)) continue;
    const id = components.length + 1;
    const cells: number[] = [];
    const stack = [start];
    label[start] = id;
    while (stack.length > 0) {
      const cell = stack.pop()!;
      cells.push(cell);
      const r = Math.floor(cell / columns);
      const c = cell % columns;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const nr = r + dr;
          const nc = c + dc;
          if (nr < 0 || nc < 0 || nr >= rows || nc >= columns) continue;
          const next = nr * columns + nc;
          if (label[next] === 0 && values[next]! >= threshold) {
            label[next] = id;
            stack.push(next);
          }
        }
      }
    }
    components.push(cells.sort((a, b) => a - b));
  }
  return { label, components };
}

/**
 * The outer boundary of component `id`, in corner coordinates (column, row) of the grid: closed,
 * clockwise, corners only. Every boundary edge is directed with the region on its right; the walk
 * starts on the top edge of the component's first cell (topmost, then leftmost: certainly on the
 * outer boundary) and, where two cells meet only at a corner, turns left, which keeps
 * diagonal neighbours inside one outline.
 */
function traceOutline(label: Int32Array, rows: number, columns: number, id: number, first: number): Array<[number, number]> {
  const inside = (r: number, c: number) => r >= 0 && c >= 0 && r < rows && c < columns && label[r * columns + c] === id;
  // Outgoing boundary edges at a corner (x, y): the bit for direction d is set when the edge exists.
  const edgeBits = (x: number, y: number): number => {
    let bits = 0;
    // Right along the top of cell (y, x); down the right of cell (y, x - 1); left along the bottom
    // of cell (y - 1, x - 1); up the left of cell (y - 1, x).
    if (inside(y, x) && !inside(y - 1, x)) bits |= 1;
    if (inside(y, x - 1) && !inside(y, x)) bits |= 2;
    if (inside(y - 1, x - 1) && !inside(y, x - 1)) bits |= 4;
    if (inside(y - 1, x) && !inside(y - 1, x - 1)) bits |= 8;
    return bits;
  };
  const startX = first % columns;
  const startY = Math.floor(first / columns);
  const points: Array<[number, number]> = [[startX, startY]];
  let [x, y, direction] = [startX, startY, 0];
  // A boundary of a rows x columns grid has fewer than 4 (rows + 1) (columns + 1) edges.
  for (let guard = 4 * (rows + 1) * (columns + 1); guard > 0; guard--) {
    x += STEP[direction]![0];
    y += STEP[direction]![1];
    if (x === startX && y === startY) {
      points.push([startX, startY]);
      return points;
    }
    const bits = edgeBits(x, y);
    const next = [(direction + 3) % 4, direction, (direction + 1) % 4].find((d) => bits & (1 << d));
    if (next === undefined) break;
    if (next !== direction) points.push([x, y]);
    direction = next;
  }
  throw new Error(`internal error: the outline of a heat-map region at cell ${first} did not close`);
}
