// The heat-map overlay picture: encoded with the project's PNG writer it decodes at the image's
// size (or the requested smaller one); cold cells leave the grey image as it was, hot cells are
// coloured, region outlines are drawn, and the picture is in the stored matrix's orientation
// even when the decoder mirrored the image.

import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import type { HeatMap } from '../../src/domain/heatmap.js';
import { markedRegions, renderHeatMapOverlay, type RgbRaster } from '../../src/ml/heatmap/index.js';
import type { GreyImage } from '../../src/ml/preprocess/index.js';
import { decodePngGrey } from '../../src/training/datasets/png-decode.js';
import { encodePngRgb } from '../../src/training/evaluation/png.js';

const WIDTH = 120;
const HEIGHT = 80;

/** A grey ramp along the columns (0 at the left, 1190 at the right) of the stored matrix; `mirrored` as the decoder delivers it turned. */
function rampImage(mirrored = false): GreyImage {
  const pixels = new Float32Array(WIDTH * HEIGHT);
  for (let y = 0; y < HEIGHT; y++) for (let x = 0; x < WIDTH; x++) pixels[y * WIDTH + (mirrored ? WIDTH - 1 - x : x)] = x * 10;
  return { width: WIDTH, height: HEIGHT, pixels, pixelSpacingMm: null, ...(mirrored ? { flippedHorizontally: true } : {}) };
}

/** 4 rows x 6 columns of 20 x 20 pixels; one hot cell at row 1, column 4. */
function hotMap(): HeatMap {
  const values = new Float32Array(24).fill(0.05);
  values[1 * 6 + 4] = 0.95;
  return { rows: 4, columns: 6, imageRows: HEIGHT, imageColumns: WIDTH, values };
}

const pixel = (raster: RgbRaster, x: number, y: number) => [...raster.rgb.subarray((y * raster.width + x) * 3, (y * raster.width + x) * 3 + 3)];

describe('renderHeatMapOverlay', () => {
  it('gives a picture the PNG writer encodes and the reader decodes at the image size', () => {
    const map = hotMap();
    const raster = renderHeatMapOverlay(rampImage(), map, { floor: 0.3, regions: markedRegions(map, 0.5) });
    expect([raster.width, raster.height, raster.rgb.length]).toEqual([WIDTH, HEIGHT, WIDTH * HEIGHT * 3]);
    const decoded = decodePngGrey(encodePngRgb(raster.width, raster.height, raster.rgb), 'overlay.png');
    expect([decoded.width, decoded.height]).toEqual([WIDTH, HEIGHT]);
  });

  it('shrinks to maxSize, keeping the aspect ratio', () => {
    const raster = renderHeatMapOverlay(rampImage(), hotMap(), { floor: 0.3, maxSize: 60 });
    expect([raster.width, raster.height]).toEqual([60, 40]);
    const decoded = decodePngGrey(encodePngRgb(raster.width, raster.height, raster.rgb), 'small.png');
    expect([decoded.width, decoded.height]).toEqual([60, 40]);
  });

  it('leaves cold areas grey, colours the hot cell and draws the outline', () => {
    const map = hotMap();
    const regions = markedRegions(map, 0.5);
    expect(regions[0]!.outline[0]).toEqual([80, 20]);
    const raster = renderHeatMapOverlay(rampImage(), map, { floor: 0.3, regions });
    // Far from the hot cell: the grey ramp (x * 10 over 0..1190 -> 0..255).
    expect(pixel(raster, 10, 70)).toEqual([21, 21, 21]);
    // The hot cell's centre: mostly red, blended with grey.
    const [r, g, b] = pixel(raster, 90, 30);
    expect(r).toBeGreaterThan(g! + 60);
    expect(r).toBeGreaterThan(b! + 60);
    // On its outline (the cell's top edge, row 20): the outline colour.
    expect(pixel(raster, 90, 20)).toEqual([255, 0, 255]);
  });

  it("draws the stored matrix's orientation when the decoder had mirrored the image", () => {
    const plain = renderHeatMapOverlay(rampImage(), hotMap(), { floor: 0.3 });
    const mirrored = renderHeatMapOverlay(rampImage(true), hotMap(), { floor: 0.3 });
    expect(mirrored.rgb).toEqual(plain.rgb);
  });

  it("uses the image's display window when it has one", () => {
    const image = { ...rampImage(), windowCenter: 300, windowWidth: 200 };
    const raster = renderHeatMapOverlay(image, hotMap(), { floor: 0.99 });
    expect(pixel(raster, 10, 70)).toEqual([0, 0, 0]); // 100, below the window
    expect(pixel(raster, 30, 70)).toEqual([128, 128, 128]); // 300, its centre
    expect(pixel(raster, 60, 70)).toEqual([255, 255, 255]); // 600, above it
  });

  it('refuses a map of another image and bad options', () => {
    expect(() => renderHeatMapOverlay(rampImage(), { ...hotMap(), imageColumns: 100 }, { floor: 0.3 })).toThrow(/spans a 100 x 80 image; this image is 120 x 80/);
    expect(() => renderHeatMapOverlay(rampImage(), hotMap(), { floor: 1 })).toThrow(ValidationError);
    expect(() => renderHeatMapOverlay(rampImage(), hotMap(), { floor: 0.3, maxSize: 0 })).toThrow(/maxSize/);
  });
});
