// The heat map of a stored prediction as a PNG overlay (issue 16), for the API: the map alone,
// transparent below half the operating threshold, the marked regions outlined, in the image's
// aspect ratio, for a viewer to stretch over the image. It needs nothing from the PACS: the map
// and the regions are stored with the prediction, the image's size with the image.

import { ValidationError, dequantiseHeatMap, type MarkedRegion, type StoredHeatMap } from '../domain/index.js';
import { renderHeatMapLayer } from '../ml/heatmap/index.js';
import { encodePngRgba } from '../training/evaluation/png.js';

/** Longest side the API renders (a larger overlay says nothing a 16 x 16 map does not). */
export const MAX_OVERLAY_SIZE = 2048;

export interface HeatMapPngRequest {
  heatMap: StoredHeatMap;
  regions: readonly MarkedRegion[];
  /** The image's matrix; the map's grid when unknown (the overlay is then square per cell). */
  imageRows: number | null;
  imageColumns: number | null;
  /** The model version's operating threshold: colour starts at half of it. */
  threshold: number;
  /** Longest side in pixels, 16 to MAX_OVERLAY_SIZE. */
  maxSize: number;
}

/** The overlay as PNG bytes (RGBA). */
export function heatMapOverlayPng(request: HeatMapPngRequest): Buffer {
  const { heatMap, maxSize } = request;
  if (!(Number.isInteger(maxSize) && maxSize >= 16 && maxSize <= MAX_OVERLAY_SIZE)) {
    throw new ValidationError('maxSize', `must be an integer from 16 to ${MAX_OVERLAY_SIZE}; got ${maxSize}`);
  }
  const imageRows = request.imageRows ?? heatMap.rows;
  const imageColumns = request.imageColumns ?? heatMap.columns;
  const scale = maxSize / Math.max(imageRows, imageColumns);
  const layer = renderHeatMapLayer(
    { rows: heatMap.rows, columns: heatMap.columns, imageRows, imageColumns, values: dequantiseHeatMap(heatMap.bytes) },
    { floor: request.threshold / 2, width: Math.max(1, Math.round(imageColumns * scale)), height: Math.max(1, Math.round(imageRows * scale)), regions: request.regions },
  );
  return encodePngRgba(layer.width, layer.height, layer.rgba);
}
