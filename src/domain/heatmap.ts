// Where the model looks (issue 16): the heat map of one scored image and the regions marked on
// it, in the image's own pixel geometry. The ML layer makes them (src/ml), the DICOM layer writes
// them into the SR and the presentation state (src/dicom), the pipeline stores and serves them.
//
// Coordinates follow DICOM's SCOORD convention for image pixels (PS3.3 C.18.6.1.2): (column,
// row), (0, 0) at the top-left corner of the top-left pixel, so the centre of the first pixel is
// (0.5, 0.5), in the stored pixel matrix as it is (before any flip the pre-processing makes).

/**
 * P(malignant) per cell of a grid that spans the whole source image evenly: cell (r, c) covers
 * columns [c * imageColumns / columns, (c + 1) * imageColumns / columns) and the rows likewise.
 */
export interface HeatMap {
  /** Grid size: the model's output resolution over the image (e.g. 16 x 16 for 512 x 512 at stride 32). */
  rows: number;
  columns: number;
  /** The source image's matrix (Rows, Columns) the grid spans. */
  imageRows: number;
  imageColumns: number;
  /**
   * Row-major, rows x columns values in [0, 1]: each cell's probability of malignancy on the same
   * (calibrated) scale as the image's probability, so the operating threshold applies to it.
   */
  values: Float32Array;
}

/** A region the model marks on one image: connected cells at or above the operating threshold. */
export interface MarkedRegion {
  /** The highest cell probability inside the region, in [0, 1]. */
  score: number;
  /** The region's centre (column, row), weighted by the cells' probabilities; inside the image. */
  center: [number, number];
  /**
   * A closed outline around the region (column, row) points, clockwise, the first point repeated
   * at the end (DICOM POLYLINE closed by repeating it); at least 4 points; inside the image.
   */
  outline: Array<[number, number]>;
}

/** A heat map as stored with an image's prediction: its grid and its quantised values (quantiseHeatMap). */
export interface StoredHeatMap {
  rows: number;
  columns: number;
  /** rows x columns bytes, row-major; 0..255 for 0..1. */
  bytes: Uint8Array;
}

/** The 1-byte storage form of a heat map's values (0..255 for 0..1, rounded): what is stored with a prediction. */
export function quantiseHeatMap(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, values[i]!)) * 255);
  return bytes;
}

/** The values of a stored heat map (within 1/510 of the original). */
export function dequantiseHeatMap(bytes: Uint8Array): Float32Array {
  const values = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) values[i] = bytes[i]! / 255;
  return values;
}
