// Binary PGM (P5) images, the format of mini-MIAS: a short text header (magic, width, height,
// maxval, with '#' comments anywhere before the raster) followed by the raster, one byte per
// sample when maxval < 256, else two bytes big-endian (netpbm's definition).

import { readFile } from 'node:fs/promises';
import { DatasetError } from '../../domain/errors.js';

export interface PgmImage {
  width: number;
  height: number;
  maxValue: number;
  /** Row-major samples, top row first: 8-bit when maxValue < 256, else 16-bit. */
  pixels: Uint8Array | Uint16Array;
}

const isSpace = (byte: number) => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c;

/** Parses P5 bytes. Throws DatasetError naming `source` for anything else or a short raster. */
export function parsePgm(bytes: Uint8Array, source: string): PgmImage {
  let at = 0;
  const token = (what: string): string => {
    for (;;) {
      while (at < bytes.length && isSpace(bytes[at]!)) at++;
      if (bytes[at] !== 0x23) break; // '#': a comment runs to the end of the line
      while (at < bytes.length && bytes[at] !== 0x0a && bytes[at] !== 0x0d) at++;
    }
    const start = at;
    while (at < bytes.length && !isSpace(bytes[at]!) && bytes[at] !== 0x23) at++;
    if (at === start) throw new DatasetError(source, `not a binary PGM: the header ends before the ${what}`);
    return String.fromCharCode(...bytes.subarray(start, at));
  };
  const magic = token('magic number');
  if (magic !== 'P5') throw new DatasetError(source, `not a binary PGM (P5): the file starts with '${magic.slice(0, 8)}'`);
  const number = (what: string, max: number): number => {
    const text = token(what);
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < 1 || value > max) throw new DatasetError(source, `bad PGM ${what} '${text.slice(0, 12)}'`);
    return value;
  };
  const width = number('width', 65535);
  const height = number('height', 65535);
  const maxValue = number('maxval', 65535);
  // Exactly one whitespace byte separates maxval from the raster (whose first byte may itself look like whitespace).
  if (!isSpace(bytes[at] ?? 0)) throw new DatasetError(source, 'bad PGM header: no whitespace after maxval');
  at++;
  const bytesPerSample = maxValue < 256 ? 1 : 2;
  const expected = width * height * bytesPerSample;
  if (bytes.length - at < expected) throw new DatasetError(source, `truncated PGM: ${bytes.length - at} raster bytes, ${expected} expected for ${width}x${height}`);
  if (bytesPerSample === 1) return { width, height, maxValue, pixels: new Uint8Array(bytes.subarray(at, at + expected)) }; // a copy: Buffer.slice would share the file's memory
  const pixels = new Uint16Array(width * height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!;
  return { width, height, maxValue, pixels };
}

/** Reads and parses a PGM file; a missing or unreadable file is a DatasetError naming it. */
export async function readPgm(file: string): Promise<PgmImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new DatasetError(file, `cannot read the image (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  return parsePgm(bytes, file);
}
