import { describe, expect, it } from 'vitest';
import { buildFilmMammogram } from '../../src/dicom/convert/mias-to-dicom.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { decodeImage } from '../../src/dicom/pixels/decode-image.js';
import type { PreprocessingSpec } from '../../src/ml/model-manifest.js';
import { DEFAULT_PREPROCESSING, paperPreprocessing, preprocessImage } from '../../src/ml/preprocess/index.js';
import {
  breastMaskInInput,
  canonicalGreyImage,
  inputGeometry,
  inputToStored,
  storedRegionToInput,
  storedToInput,
} from '../../src/training/patches/geometry.js';
import type { Point } from '../../src/training/patches/types.js';

/**
 * A synthetic film: background 10, a breast (value 100) filling one side, one bright dot (250):
 * a single pixel, or a disc of `dotRadius` pixels for resizes that point-sample (bilinear and
 * bicubic shrinking 2-4x skip single pixels; a symmetric disc keeps its centre).
 */
function film(height: number, width: number, side: 'left' | 'right', dot: Point, dotRadius = 0): Uint8Array {
  const pixels = new Uint8Array(height * width).fill(10);
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const fromWall = side === 'left' ? c : width - 1 - c;
      // A half-ellipse against the chest wall, 70% of the width deep.
      const dy = (r - height / 2) / (height * 0.48);
      const dx = fromWall / (width * 0.7);
      if (dy * dy + dx * dx <= 1) pixels[r * width + c] = 100;
    }
  }
  for (let r = dot.row - dotRadius; r <= dot.row + dotRadius; r++) {
    for (let c = dot.column - dotRadius; c <= dot.column + dotRadius; c++) {
      if ((r - dot.row) ** 2 + (c - dot.column) ** 2 <= dotRadius * dotRadius) pixels[r * width + c] = 250;
    }
  }
  return pixels;
}

/** Intensity-weighted centre of (value - breast level) in a window around `near`, plus the argmax. */
function locate(plane: Float32Array, width: number, height: number, near: Point, level: number, radius = 4): { centroid: Point; argmax: Point } {
  let sum = 0;
  let sr = 0;
  let sc = 0;
  let best = -Infinity;
  let argmax = { row: -1, column: -1 };
  const r0 = Math.round(near.row);
  const c0 = Math.round(near.column);
  for (let r = Math.max(0, r0 - radius); r <= Math.min(height - 1, r0 + radius); r++) {
    for (let c = Math.max(0, c0 - radius); c <= Math.min(width - 1, c0 + radius); c++) {
      const v = plane[r * width + c]! - level;
      sum += v;
      sr += v * r;
      sc += v * c;
      if (v > best) [best, argmax] = [v, { row: r, column: c }];
    }
  }
  return { centroid: { row: sr / sum, column: sc / sum }, argmax };
}

const oneChannel = (spec: PreprocessingSpec): PreprocessingSpec => ({ ...spec, channels: 1 });
// 'window-then-breast-zscore' with the image's own wide window: affine, so the dot is not clipped.
const WIDE_WINDOW = { windowCenter: 128, windowWidth: 512 };

interface Case {
  name: string;
  height: number;
  width: number;
  spacing: number;
  side: 'left' | 'right';
  dots: Point[];
  spec: PreprocessingSpec;
  tolerance: number;
  dotRadius?: number;
}

const CASES: Case[] = [
  {
    name: 'default spec, mini-MIAS size, breast on the right (canonical flip)',
    height: 1024,
    width: 1024,
    spacing: 0.2,
    side: 'right',
    dots: [{ row: 300, column: 800 }, { row: 700, column: 620 }],
    spec: oneChannel(DEFAULT_PREPROCESSING),
    tolerance: 0.25,
  },
  {
    name: 'default spec, breast on the left (no flip)',
    height: 1024,
    width: 1024,
    spacing: 0.2,
    side: 'left',
    dots: [{ row: 511, column: 101 }],
    spec: oneChannel(DEFAULT_PREPROCESSING),
    tolerance: 0.25,
  },
  {
    name: 'canonicalFlip false: a flipped image is mirrored back over the whole input width',
    height: 1024,
    width: 1024,
    spacing: 0.2,
    side: 'right',
    dots: [{ row: 400, column: 900 }],
    spec: oneChannel({ ...DEFAULT_PREPROCESSING, canonicalFlip: false }),
    tolerance: 0.25,
  },
  {
    name: '0.1 mm detector, bilinear, shrunk further to fit a 256x192 input',
    height: 600,
    width: 400,
    spacing: 0.1,
    side: 'right',
    dots: [{ row: 250, column: 330 }],
    spec: oneChannel({ ...DEFAULT_PREPROCESSING, inputHeight: 256, inputWidth: 192, resize: 'bilinear', intensity: { method: 'minmax', mean: 0, scale: 1 } }),
    tolerance: 0.25,
    dotRadius: 3,
  },
  {
    name: '0.4 mm pixels enlarged to 0.2 mm (area)',
    height: 100,
    width: 80,
    spacing: 0.4,
    side: 'left',
    dots: [{ row: 40, column: 20 }],
    spec: oneChannel({ ...DEFAULT_PREPROCESSING, inputHeight: 256, inputWidth: 192, intensity: { method: 'minmax', mean: 0, scale: 1 } }),
    tolerance: 0.35,
  },
  {
    name: "the paper's spec: stretch, bicubic, anisotropic",
    height: 500,
    width: 300,
    spacing: 0.2,
    side: 'right',
    dots: [{ row: 123, column: 250 }],
    spec: oneChannel({ ...paperPreprocessing(0), inputHeight: 128, inputWidth: 96 }),
    tolerance: 0.25,
    dotRadius: 5,
  },
];

describe('storedToInput is the geometry of preprocessImage', () => {
  it.each(CASES)('$name', ({ height, width, spacing, side, dots, spec, tolerance, dotRadius }) => {
    for (const dot of dots) {
      const canonical = canonicalGreyImage({ width, height, pixels: film(height, width, side, dot, dotRadius), pixelSpacingMm: [spacing, spacing] });
      expect(canonical.flippedHorizontally).toBe(side === 'right');
      const prepared = preprocessImage({ ...canonical, ...WIDE_WINDOW }, spec);
      const g = inputGeometry(canonical, spec, canonical.flippedHorizontally);
      const [, h, w] = prepared.shape;
      expect(g.content).toEqual(prepared.content);
      const expected = storedToInput(g, dot);
      // The breast level near the dot: the value a few pixels away.
      const level = prepared.data[Math.round(expected.row) * w + Math.round(expected.column) + 6]!;
      const { centroid, argmax } = locate(prepared.data, w, h, expected, level);
      expect(Math.abs(centroid.row - expected.row)).toBeLessThan(tolerance);
      expect(Math.abs(centroid.column - expected.column)).toBeLessThan(tolerance);
      expect(Math.abs(argmax.row - expected.row)).toBeLessThanOrEqual(1);
      expect(Math.abs(argmax.column - expected.column)).toBeLessThanOrEqual(1);
      // And back.
      const back = inputToStored(g, expected);
      expect(back.row).toBeCloseTo(dot.row, 9);
      expect(back.column).toBeCloseTo(dot.column, 9);
    }
  });

  it('on the default spec a mini-MIAS film fills the top-left 896x896 of 1152x896', () => {
    const g = inputGeometry({ width: 1024, height: 1024, pixelSpacingMm: [0.2, 0.2] }, DEFAULT_PREPROCESSING, true);
    expect(g.content).toEqual({ width: 896, height: 896 });
    // Stored column 1023 (right edge of a right breast's film) -> input column 0 after the flip.
    expect(storedToInput(g, { row: 0, column: 1023 })).toEqual({ row: -0.0625, column: -0.0625 });
    expect(storedToInput(g, { row: 511.5, column: 511.5 })).toEqual({ row: 447.5, column: 447.5 });
  });

  it('maps boxes (a mirror swaps their sides) and circle radii', () => {
    const g = inputGeometry({ width: 1024, height: 1024, pixelSpacingMm: [0.2, 0.2] }, DEFAULT_PREPROCESSING, true);
    const box = storedRegionToInput(g, { shape: 'box', top: 99.5, bottom: 199.5, left: 799.5, right: 899.5 });
    expect(box).toEqual({ shape: 'box', top: 87, bottom: 174.5, left: 108, right: 195.5 });
    const circle = storedRegionToInput(g, { shape: 'ellipse', centre: { row: 100, column: 100 }, radiusRows: 40, radiusColumns: 40 });
    expect(circle).toMatchObject({ radiusRows: 35, radiusColumns: 35 });
  });
});

describe('canonicalGreyImage', () => {
  it.each(['left', 'right'] as const)('gives the pixels and flip of the DICOM decoder (breast on the %s)', async (side) => {
    const [height, width] = [96, 80];
    const pixels = film(height, width, side, { row: 40, column: side === 'left' ? 10 : 70 });
    const built = buildFilmMammogram({ imageId: 'syn001', patientId: 'P', patientName: 'P^Q', laterality: side === 'left' ? 'L' : 'R', view: 'MLO', instanceNumber: 1, rows: height, columns: width, pixels, pixelSpacingMm: 0.2, collection: 'test' });
    const decoded = await decodeImage(readPart10(built.bytes, 'syn001'));
    const canonical = canonicalGreyImage({ width, height, pixels, pixelSpacingMm: [0.2, 0.2] });
    expect(canonical.flippedHorizontally).toBe(decoded.flippedHorizontally);
    expect(canonical.flippedHorizontally).toBe(side === 'right');
    expect(Buffer.from(canonical.pixels.buffer).equals(Buffer.from(decoded.pixels.buffer))).toBe(true);
  });
});

describe('breastMaskInInput', () => {
  it('marks the pixels that the default pre-processing lifts above its background level', () => {
    const canonical = canonicalGreyImage({ width: 1024, height: 1024, pixels: film(1024, 1024, 'right', { row: 500, column: 900 }), pixelSpacingMm: [0.2, 0.2] });
    const spec = oneChannel(DEFAULT_PREPROCESSING);
    const prepared = preprocessImage(canonical, spec);
    const g = inputGeometry(canonical, spec, true);
    const mask = breastMaskInInput(g, canonical, 0.1);
    const min = prepared.data.reduce((a, b) => Math.min(a, b), Infinity);
    let disagree = 0;
    let breast = 0;
    for (let i = 0; i < mask.length; i++) {
      breast += mask[i]!;
      if ((prepared.data[i]! > min + 1e-3 ? 1 : 0) !== mask[i]) disagree++;
    }
    expect(breast).toBeGreaterThan(0.3 * 896 * 896);
    // Only edge pixels, where area resampling mixes breast and background, may disagree.
    expect(disagree / breast).toBeLessThan(0.01);
    // Padding (rows 896 and below) is never breast.
    expect(mask.subarray(896 * 896).every((v) => v === 0)).toBe(true);
  });
});
