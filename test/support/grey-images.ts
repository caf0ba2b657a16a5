// Test images for the image-folder reader: a PNG writer for every form the decoder reads (grey,
// grey + alpha, RGB, RGBA; 8 or 16 bits; each row with a chosen filter, so every unfilter path
// runs) and synthetic mammograms with a known background polarity.

import { deflateSync } from 'node:zlib';
import { pngChunk } from '../../src/training/evaluation/png.js';

export { pngChunk };

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function pngHeader(width: number, height: number, bitDepth: number, colourType: number, interlace = 0): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colourType;
  ihdr[12] = interlace;
  return pngChunk('IHDR', ihdr);
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * A PNG of `samples` (width x height x channels of the colour type, row-major, interleaved),
 * row y filtered with filters[y % filters.length]; the image data split over two IDAT chunks.
 */
export function encodePng(width: number, height: number, bitDepth: 8 | 16, colourType: 0 | 2 | 4 | 6, samples: ArrayLike<number>, filters: number[] = [0]): Buffer {
  const channels = CHANNELS[colourType]!;
  const bps = bitDepth / 8;
  const bpp = channels * bps;
  const stride = width * bpp;
  const bytes = new Uint8Array(height * stride);
  for (let i = 0; i < width * height * channels; i++) {
    if (bps === 1) bytes[i] = samples[i]!;
    else {
      bytes[2 * i] = samples[i]! >> 8;
      bytes[2 * i + 1] = samples[i]! & 0xff;
    }
  }
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const filter = filters[y % filters.length]!;
    raw[y * (stride + 1)] = filter;
    for (let x = 0; x < stride; x++) {
      const at = y * stride + x;
      const a = x >= bpp ? bytes[at - bpp]! : 0;
      const b = y > 0 ? bytes[at - stride]! : 0;
      const c = x >= bpp && y > 0 ? bytes[at - stride - bpp]! : 0;
      const predicted = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter]!;
      raw[y * (stride + 1) + 1 + x] = (bytes[at]! - predicted) & 0xff;
    }
  }
  const data = deflateSync(raw);
  const half = data.length >> 1;
  return Buffer.concat([SIGNATURE, pngHeader(width, height, bitDepth, colourType), pngChunk('IDAT', data.subarray(0, half)), pngChunk('IDAT', data.subarray(half)), pngChunk('IEND', new Uint8Array(0))]);
}

/** A small deterministic PRNG (LCG) for textures. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

export interface SyntheticBreast {
  width: number;
  height: number;
  /** Row-major grey levels. */
  pixels: Uint16Array;
}

/**
 * A mammogram-like image in MONOCHROME2 sense: a flat dark background (`background`, with a
 * little noise) and a textured breast, an ellipse centred at (`centreRow`, `centreColumn`) with
 * the given radii, tissue between `tissue[0]` and `tissue[1]`. `inverted` stores it the
 * MONOCHROME1 way (max - v): bright background, dark tissue.
 */
export function syntheticBreast(options: {
  width?: number;
  height?: number;
  centreRow: number;
  centreColumn: number;
  radiusRows: number;
  radiusColumns: number;
  background?: number;
  tissue?: [number, number];
  max?: number;
  inverted?: boolean;
  seed?: number;
}): SyntheticBreast {
  const { width = 120, height = 160, centreRow, centreColumn, radiusRows, radiusColumns, background = 8, tissue = [90, 220], max = 255, inverted = false } = options;
  const random = lcg(options.seed ?? 7);
  const pixels = new Uint16Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = ((y - centreRow) / radiusRows) ** 2 + ((x - centreColumn) / radiusColumns) ** 2 <= 1;
      const v = inside ? tissue[0] + random() * (tissue[1] - tissue[0]) : background + Math.floor(random() * 3);
      const level = Math.round(Math.min(max, v));
      pixels[y * width + x] = inverted ? max - level : level;
    }
  }
  return { width, height, pixels };
}
