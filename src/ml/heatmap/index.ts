// Heat maps (issue 16): where the model looks, from its feature grid to the source image, the
// regions it marks, and a picture of both. The runtime computes the maps (scoreWithHeatMaps).
export { positiveLogit } from './cell-logits.js';
export { imageGridSize, modelGridToImage, unflipGrid, type GridSize, type InputPlacement } from './heat-map-geometry.js';
export { renderHeatMapLayer, renderHeatMapOverlay, type HeatMapLayerOptions, type HeatMapOverlayOptions, type RgbRaster, type RgbaRaster } from './heat-map-overlay.js';
export { DEFAULT_MAX_REGIONS, markedRegions, type MarkedRegionOptions } from './marked-regions.js';
