// A PNG reader for the grey images of image-folder data sets (image-folder.ts), on node:zlib so
// no image package is needed: 8- and 16-bit greyscale, grey + alpha, RGB and RGBA, not
// interlaced. Colour becomes one grey channel: a mammogram exported as RGB has three equal
// channels, taken as they are; true colour is turned into its luminance (ITU-R BT.601 weights,
// what most viewers show as grey). Alpha is dropped: a mammogram has no transparency to honour.
// Palette and interlaced (Adam7) files are refused by name rather than decoded wrongly: neither
// is how a medical image is exported, and a palette image's indices are not intensities.

import { inflateSync } from 'node:zlib';
import { DatasetError } from '../../domain/errors.js';
import { crc32 } from '../evaluation/png.js';

export interface PngGrey {
  width: number;
  height: number;
  bitDepth: 8 | 16;
  /** One grey sample per pixel, row-major, top row first. */
  pixels: Uint8Array | Uint16Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Colour type -> samples per pixel (PNG spec, table 11.1); 3 (palette) is refused. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };
const COLOUR_NAMES: Record<number, string> = { 0: 'greyscale', 2: 'RGB', 3: 'palette', 4: 'grey + alpha', 6: 'RGBA' };

export function isPng(bytes: Uint8Array): boolean {
  return SIGNATURE.every((b, i) => bytes[i] === b);
}

interface Header {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
  interlace: number;
}

/** Walks the chunks: the header, the concatenated image data; CRCs checked so a damaged file is named, not mis-decoded. */
function readChunks(bytes: Uint8Array, source: string): { header: Header; data: Buffer } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: Header | undefined;
  const idat: Uint8Array[] = [];
  let at = SIGNATURE.length;
  for (;;) {
    if (at + 12 > bytes.length) throw new DatasetError(source, 'the PNG file is truncated (no IEND chunk)');
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const end = at + 12 + length;
    if (end > bytes.length) throw new DatasetError(source, `the PNG file is truncated inside its ${type} chunk`);
    const stored = view.getUint32(at + 8 + length);
    if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== stored) throw new DatasetError(source, `the PNG ${type} chunk fails its CRC check: the file is damaged`);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      if (length !== 13) throw new DatasetError(source, `the PNG header chunk has ${length} bytes, not 13`);
      const h = new DataView(data.buffer, data.byteOffset, data.byteLength);
      header = { width: h.getUint32(0), height: h.getUint32(4), bitDepth: data[8]!, colourType: data[9]!, interlace: data[12]! };
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at = end;
  }
  if (!header) throw new DatasetError(source, 'the PNG file has no IHDR chunk');
  if (idat.length === 0) throw new DatasetError(source, 'the PNG file has no image data (IDAT)');
  return { header, data: Buffer.concat(idat) };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undoes the per-row filters in place (PNG spec 9.2); `bpp` is the bytes per complete pixel. */
function unfilter(raw: Buffer, height: number, stride: number, bpp: number, source: string): Uint8Array {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride;
    const prior = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp]! : 0;
      const b = y > 0 ? out[prior + x]! : 0;
      const c = x >= bpp && y > 0 ? out[prior + x - bpp]! : 0;
      let predicted: number;
      switch (filter) {
        case 0:
          predicted = 0;
          break;
        case 1:
          predicted = a;
          break;
        case 2:
          predicted = b;
          break;
        case 3:
          predicted = (a + b) >> 1;
          break;
        case 4:
          predicted = paeth(a, b, c);
          break;
        default:
          throw new DatasetError(source, `PNG row ${y} has filter type ${filter}; only 0-4 exist`);
      }
      out[row + x] = (line[x]! + predicted) & 0xff;
    }
  }
  return out;
}

/** Decodes a PNG into one grey channel. Throws DatasetError naming `source` for what it refuses. */
export function decodePngGrey(bytes: Uint8Array, source: string): PngGrey {
  if (!isPng(bytes)) throw new DatasetError(source, 'not a PNG file (no PNG signature)');
  const { header, data } = readChunks(bytes, source);
  const { width, height, bitDepth, colourType, interlace } = header;
  const channels = CHANNELS[colourType];
  const colour = COLOUR_NAMES[colourType] ?? `colour type ${colourType}`;
  if (colourType === 3) throw new DatasetError(source, 'palette PNG files are not supported: export the image as greyscale (8 or 16 bits)');
  if (channels === undefined) throw new DatasetError(source, `PNG colour type ${colourType} does not exist`);
  if (bitDepth !== 8 && bitDepth !== 16) throw new DatasetError(source, `${bitDepth}-bit ${colour} PNG files are not supported: only 8 and 16 bits per sample`);
  if (interlace !== 0) throw new DatasetError(source, 'interlaced (Adam7) PNG files are not supported: save the image without interlacing');
  if (width === 0 || height === 0) throw new DatasetError(source, `the PNG image is ${width}x${height}`);

  const bytesPerSample = bitDepth / 8;
  const bpp = channels * bytesPerSample;
  const stride = width * bpp;
  let raw: Buffer;
  try {
    raw = inflateSync(data);
  } catch (error) {
    throw new DatasetError(source, `the PNG image data cannot be inflated: ${(error as Error).message}`, { cause: error });
  }
  if (raw.length < height * (stride + 1)) throw new DatasetError(source, `the PNG image data holds ${raw.length} bytes, ${height * (stride + 1)} expected for ${width}x${height} ${bitDepth}-bit ${colour}`);
  const samples = unfilter(raw, height, stride, bpp, source);

  const count = width * height;
  const pixels = bitDepth === 8 ? new Uint8Array(count) : new Uint16Array(count);
  const sample = bitDepth === 8 ? (i: number) => samples[i]! : (i: number) => (samples[2 * i]! << 8) | samples[2 * i + 1]!;
  for (let p = 0; p < count; p++) {
    const first = p * channels;
    if (channels <= 2) {
      pixels[p] = sample(first);
      continue;
    }
    const r = sample(first);
    const g = sample(first + 1);
    const b = sample(first + 2);
    pixels[p] = r === g && g === b ? r : Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  return { width, height, bitDepth, pixels };
}
