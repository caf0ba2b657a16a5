// From the model's feature grid to a heat map over the source image (issue 16): where each cell
// of the network's last feature map lies in the image the pre-processing started from.
//
// The model sees the image resized into the top-left corner of its input (preprocess.ts), maybe
// mirrored with the whole input (canonicalFlip false on an image the decoder had mirrored), and
// each test-time flip mirrors the input again. A feature-map cell (i, j) of an h x w grid is
// taken to cover input rows [i * H / h, (i + 1) * H / h) and the columns likewise: exact for the
// project's inputs, which are multiples of the network's stride (512 / 64, 1152 x 896 / 64 or
// 128), where a test-time flip maps cell j to cell w - 1 - j. (Each cell's receptive field is
// centred up to half a cell off that, depending on the architecture's padding; the heat map does
// not try to model that.) Mapping back, in order:
//   1. undo each test-time flip on the grid (unflipGrid), before the flips are averaged;
//   2. undo the whole-input mirror, so the content lies at the left;
//   3. keep the cells over the content (the rest covers padding) and resample them to a grid
//      that spans the image evenly, each new cell the area-weighted mean of the cells it
//      overlaps (identity when the content spans whole cells, as with 'stretch');
//   4. mirror the columns back when the decoder mirrored the image, so the map is in the stored
//      pixel matrix's orientation, like the DICOM coordinates it is written in.

import type { TestTimeFlip } from '../model-manifest.js';
import type { PlaneSize } from '../preprocess/resize.js';

export interface GridSize {
  rows: number;
  columns: number;
}

/** Where a prepared image lies in its model input: what preprocessImage did to its geometry. */
export interface InputPlacement {
  /** The model input's size. */
  input: PlaneSize;
  /** The part of the input the image fills, from the top-left corner (PreparedImage.content). */
  content: PlaneSize;
  /** The whole input was mirrored after the image was placed (contentMirrored in src/ml/ood): the content lies at the right. */
  contentMirrored: boolean;
  /** The decoder had mirrored the image (GreyImage.flippedHorizontally): the map mirrors back to the stored matrix. */
  imageMirrored: boolean;
}

/** Undoes a test-time flip on a row-major grid (a flip is its own inverse). */
export function unflipGrid(values: ArrayLike<number>, grid: GridSize, flip: TestTimeFlip): Float64Array {
  const { rows, columns } = grid;
  const horizontal = flip === 'horizontal' || flip === 'both';
  const vertical = flip === 'vertical' || flip === 'both';
  const out = new Float64Array(rows * columns);
  for (let r = 0; r < rows; r++) {
    const from = (vertical ? rows - 1 - r : r) * columns;
    for (let c = 0; c < columns; c++) out[r * columns + c] = values[from + (horizontal ? columns - 1 - c : c)]!;
  }
  return out;
}

/** The heat map's natural grid over the image: as many cells as the model's grid has over the content, rounded (at least 1). */
export function imageGridSize(modelGrid: GridSize, placement: Pick<InputPlacement, 'input' | 'content'>): GridSize {
  const { input, content } = placement;
  return {
    rows: Math.max(1, Math.round((content.height * modelGrid.rows) / input.height)),
    columns: Math.max(1, Math.round((content.width * modelGrid.columns) / input.width)),
  };
}

/**
 * A map over the model's grid (flips already undone) as a `target` grid spanning the source
 * image evenly, in the stored matrix's orientation (steps 2-4 of the header).
 */
export function modelGridToImage(values: ArrayLike<number>, modelGrid: GridSize, placement: InputPlacement, target: GridSize): Float64Array {
  const { rows, columns } = modelGrid;
  if (values.length !== rows * columns) throw new RangeError(`a ${rows} x ${columns} grid needs ${rows * columns} values; got ${values.length}`);
  const { input, content } = placement;
  const grid = placement.contentMirrored ? unflipGrid(values, modelGrid, 'horizontal') : values;
  const rowWeights = spanWeights(rows, (content.height * rows) / input.height, target.rows);
  const columnWeights = spanWeights(columns, (content.width * columns) / input.width, target.columns);
  const out = new Float64Array(target.rows * target.columns);
  for (let r = 0; r < target.rows; r++) {
    for (let c = 0; c < target.columns; c++) {
      let sum = 0;
      for (const [i, wr] of rowWeights[r]!) for (const [j, wc] of columnWeights[c]!) sum += wr * wc * grid[i * columns + j]!;
      out[r * target.columns + (placement.imageMirrored ? target.columns - 1 - c : c)] = sum;
    }
  }
  return out;
}

/**
 * For each of `count` equal intervals of [0, extent) (in cells of a grid of `cells`, extent <=
 * cells), the cells it overlaps and their share of it: [cell, weight] pairs summing to 1.
 */
function spanWeights(cells: number, extent: number, count: number): Array<Array<[number, number]>> {
  const size = extent / count;
  return Array.from({ length: count }, (_, i) => {
    const lo = i * size;
    const hi = Math.min(cells, (i + 1) * size);
    const pairs: Array<[number, number]> = [];
    for (let k = Math.floor(lo); k < Math.min(cells, Math.ceil(hi)); k++) {
      const overlap = Math.min(k + 1, hi) - Math.max(k, lo);
      if (overlap > 0) pairs.push([k, overlap]);
    }
    const total = pairs.reduce((sum, [, w]) => sum + w, 0);
    return pairs.map(([k, w]) => [k, w / total] as [number, number]);
  });
}
