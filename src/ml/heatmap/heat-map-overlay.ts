// A picture of where the model looks (issue 16): the grey image with its heat map blended in a
// colour scale where the probability is above a floor, and the marked regions' outlines on top,
// in the stored pixel matrix's orientation (the orientation of the map and of the regions'
// DICOM coordinates). The map is interpolated between cell centres, so it reads as a smooth
// field rather than as blocks. renderHeatMapLayer gives the same colours without the image: a
// transparent layer (RGBA) for a viewer to stretch over the image, which the API serves without
// fetching the image from the PACS.
//
// src/ml may not import the PNG writer (it lives in src/training/evaluation/png.ts, and ml
// imports only domain and config), so this returns the RGB raster and the caller encodes it:
//   const { width, height, rgb } = renderHeatMapOverlay(image, heatMap, { floor, regions });
//   const png = encodePngRgb(width, height, rgb);

import { ValidationError } from '../../domain/errors.js';
import type { HeatMap, MarkedRegion } from '../../domain/heatmap.js';
import { checkGreyImage, type GreyImage } from '../preprocess/preprocess.js';
import { resizePlane } from '../preprocess/resize.js';

export interface HeatMapOverlayOptions {
  /** Probabilities below this are not coloured (e.g. half the operating threshold); in [0, 1). */
  floor: number;
  /** Outlines to draw (markedRegions of the same map). */
  regions?: readonly MarkedRegion[];
  /** Longest side of the picture in pixels; a larger image is shrunk (area averaging). Default: the image's own size. */
  maxSize?: number;
  /** Opacity of the colour at probability 1 (default 0.6); it fades to 0 at the floor. */
  opacity?: number;
}

/** An 8-bit RGB picture, row-major (what encodePngRgb takes). */
export interface RgbRaster {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** An 8-bit RGBA picture, row-major, alpha not premultiplied (what encodePngRgba takes). */
export interface RgbaRaster {
  width: number;
  height: number;
  rgba: Uint8Array;
}

export interface HeatMapLayerOptions {
  /** Probabilities below this are transparent; in [0, 1). */
  floor: number;
  /** The layer's size in pixels; it spans the image whole, so give it the image's aspect ratio. */
  width: number;
  height: number;
  /** Outlines to draw, in the image's pixel coordinates (markedRegions of the same map). */
  regions?: readonly MarkedRegion[];
  /** Opacity at probability 1 (default 0.6); it fades to 0 at the floor. */
  opacity?: number;
}

/** Blue, cyan, green, yellow, red from the floor to 1 (a coarse "jet": readable over grey). */
const COLOUR_STOPS: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0, 255],
  [0, 255, 255],
  [0, 255, 0],
  [255, 255, 0],
  [255, 0, 0],
];
const OUTLINE_COLOUR = [255, 0, 255] as const;
const DEFAULT_OPACITY = 0.6;

/** The overlay picture of `image` (as decoded) with `map` (see the header). */
export function renderHeatMapOverlay(image: GreyImage, map: HeatMap, options: HeatMapOverlayOptions): RgbRaster {
  const range = checkGreyImage(image);
  // A map spans the stored image; these pixels may be a reduced resolution of it.
  const [columns, rows] = [image.sourceWidth ?? image.width, image.sourceHeight ?? image.height];
  if (map.imageColumns !== columns || map.imageRows !== rows) {
    throw new ValidationError('heatMap', `spans a ${map.imageColumns} x ${map.imageRows} image; this image is ${columns} x ${rows}`);
  }
  if (map.values.length !== map.rows * map.columns) throw new ValidationError('heatMap', `a ${map.rows} x ${map.columns} grid needs ${map.rows * map.columns} values`);
  const { floor } = options;
  if (!(floor >= 0 && floor < 1)) throw new ValidationError('floor', `must be in [0, 1); got ${floor}`);
  const opacity = options.opacity ?? DEFAULT_OPACITY;
  if (!(opacity >= 0 && opacity <= 1)) throw new ValidationError('opacity', `must be in [0, 1]; got ${opacity}`);
  const maxSize = options.maxSize ?? Math.max(image.width, image.height);
  if (!(Number.isInteger(maxSize) && maxSize > 0)) throw new ValidationError('maxSize', `must be a positive integer; got ${maxSize}`);

  const scale = Math.min(1, maxSize / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const grey = storedOrientation(image);
  const plane = width === image.width && height === image.height ? grey : new Float32Array(width * height);
  if (plane !== grey) resizePlane(grey, image, plane, { width, height }, width, 'area');

  // The image's display window when it has one, else its whole grey range.
  const low = image.windowCenter !== undefined && image.windowWidth !== undefined ? image.windowCenter - image.windowWidth / 2 : range.min;
  const high = image.windowCenter !== undefined && image.windowWidth !== undefined ? image.windowCenter + image.windowWidth / 2 : range.max;
  const span = high > low ? high - low : 1;

  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    // Position in cells of the map, relative to the cell centres.
    const v = ((y + 0.5) / height) * map.rows - 0.5;
    for (let x = 0; x < width; x++) {
      const g = Math.min(255, Math.max(0, ((plane[y * width + x]! - low) / span) * 255));
      const p = bilinear(map, ((x + 0.5) / width) * map.columns - 0.5, v);
      const at = (y * width + x) * 3;
      if (p >= floor) {
        const t = (p - floor) / (1 - floor);
        const alpha = opacity * t;
        const colour = colourAt(t);
        for (let k = 0; k < 3; k++) rgb[at + k] = Math.round(g * (1 - alpha) + colour[k]! * alpha);
      } else {
        rgb[at] = rgb[at + 1] = rgb[at + 2] = Math.round(g);
      }
    }
  }
  const thickness = Math.max(1, Math.round(Math.max(width, height) / 400));
  for (const region of options.regions ?? []) {
    const points = region.outline.map(([column, row]) => [(column * width) / image.width, (row * height) / image.height] as const);
    for (let i = 1; i < points.length; i++) drawLine(rgb, 3, width, height, points[i - 1]!, points[i]!, thickness);
  }
  return { width, height, rgb };
}

/** The heat map alone as a transparent colour layer over the image (see the header). */
export function renderHeatMapLayer(map: HeatMap, options: HeatMapLayerOptions): RgbaRaster {
  const { floor, width, height } = options;
  if (map.values.length !== map.rows * map.columns) throw new ValidationError('heatMap', `a ${map.rows} x ${map.columns} grid needs ${map.rows * map.columns} values`);
  if (!(floor >= 0 && floor < 1)) throw new ValidationError('floor', `must be in [0, 1); got ${floor}`);
  const opacity = options.opacity ?? DEFAULT_OPACITY;
  if (!(opacity >= 0 && opacity <= 1)) throw new ValidationError('opacity', `must be in [0, 1]; got ${opacity}`);
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!(Number.isInteger(value) && value > 0 && value <= 8192)) throw new ValidationError(name, `must be an integer from 1 to 8192; got ${value}`);
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const v = ((y + 0.5) / height) * map.rows - 0.5;
    for (let x = 0; x < width; x++) {
      const p = bilinear(map, ((x + 0.5) / width) * map.columns - 0.5, v);
      if (p < floor) continue; // transparent
      const t = (p - floor) / (1 - floor);
      const colour = colourAt(t);
      const at = (y * width + x) * 4;
      for (let k = 0; k < 3; k++) rgba[at + k] = Math.round(colour[k]!);
      rgba[at + 3] = Math.round(255 * opacity * t);
    }
  }
  const thickness = Math.max(1, Math.round(Math.max(width, height) / 400));
  for (const region of options.regions ?? []) {
    const points = region.outline.map(([column, row]) => [(column * width) / map.imageColumns, (row * height) / map.imageRows] as const);
    for (let i = 1; i < points.length; i++) drawLine(rgba, 4, width, height, points[i - 1]!, points[i]!, thickness);
  }
  return { width, height, rgba };
}

/** The grey pixels in the stored matrix's orientation (the decoder may have mirrored them). */
function storedOrientation(image: GreyImage): Float32Array {
  if (image.flippedHorizontally !== true) return image.pixels;
  const out = new Float32Array(image.pixels.length);
  for (let y = 0; y < image.height; y++) {
    const row = y * image.width;
    for (let x = 0; x < image.width; x++) out[row + x] = image.pixels[row + image.width - 1 - x]!;
  }
  return out;
}

/** The map at (u, v) in cell units from the first cell's centre, linear between centres, flat beyond the outer ones. */
function bilinear(map: HeatMap, u: number, v: number): number {
  const { rows, columns, values } = map;
  const cu = Math.min(columns - 1, Math.max(0, u));
  const cv = Math.min(rows - 1, Math.max(0, v));
  const c0 = Math.floor(cu);
  const r0 = Math.floor(cv);
  const c1 = Math.min(columns - 1, c0 + 1);
  const r1 = Math.min(rows - 1, r0 + 1);
  const fu = cu - c0;
  const fv = cv - r0;
  const top = values[r0 * columns + c0]! * (1 - fu) + values[r0 * columns + c1]! * fu;
  const bottom = values[r1 * columns + c0]! * (1 - fu) + values[r1 * columns + c1]! * fu;
  return top * (1 - fv) + bottom * fv;
}

function colourAt(t: number): [number, number, number] {
  const position = Math.min(1, Math.max(0, t)) * (COLOUR_STOPS.length - 1);
  const i = Math.min(COLOUR_STOPS.length - 2, Math.floor(position));
  const f = position - i;
  const [a, b] = [COLOUR_STOPS[i]!, COLOUR_STOPS[i + 1]!];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** A line between two points in pixel-edge coordinates, `thickness` pixels wide, clipped to the picture (opaque where it has alpha). */
function drawLine(pixels: Uint8Array, channels: 3 | 4, width: number, height: number, from: readonly [number, number], to: readonly [number, number], thickness: number): void {
  const steps = Math.max(1, Math.ceil(Math.max(Math.abs(to[0] - from[0]), Math.abs(to[1] - from[1]))));
  const before = Math.floor((thickness - 1) / 2);
  for (let i = 0; i <= steps; i++) {
    // A pixel edge at coordinate k lies between pixels k - 1 and k: draw on the pixel inside the picture.
    const px = Math.min(width - 1, Math.floor(from[0] + ((to[0] - from[0]) * i) / steps));
    const py = Math.min(height - 1, Math.floor(from[1] + ((to[1] - from[1]) * i) / steps));
    for (let dy = -before; dy < thickness - before; dy++) {
      for (let dx = -before; dx < thickness - before; dx++) {
        const x = px + dx;
        const y = py + dy;
        if (x < 0 || y < 0 || x >= width || y >= height) continue;
        pixels.set(channels === 3 ? OUTLINE_COLOUR : [...OUTLINE_COLOUR, 255], (y * width + x) * channels);
      }
    }
  }
}
