import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/domain/errors.js';
import { decodePngGrey, isPng } from '../../src/training/datasets/png-decode.js';
import { encodePngRgb } from '../../src/training/evaluation/png.js';
import { encodePng, pngChunk, pngHeader } from '../support/grey-images.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A 7x5 ramp with some structure, so every filter predicts something different. */
function ramp(width: number, height: number, max: number): number[] {
  return Array.from({ length: width * height }, (_, i) => ((i % width) * 37 + Math.floor(i / width) * 101 + ((i * i) % 13)) % (max + 1));
}

describe('decodePngGrey', () => {
  it('reads 8-bit greyscale through every row filter (none, sub, up, average, paeth)', () => {
    const grey = ramp(7, 5, 255);
    const png = decodePngGrey(encodePng(7, 5, 8, 0, grey, [0, 1, 2, 3, 4]), 'g8.png');
    expect(png).toMatchObject({ width: 7, height: 5, bitDepth: 8 });
    expect(png.pixels).toBeInstanceOf(Uint8Array);
    expect([...png.pixels]).toEqual(grey);
  });

  it('reads 16-bit greyscale big-endian, values above 255 kept', () => {
    const grey = ramp(7, 5, 65535).map((v, i) => (v * 211 + i) % 65536);
    const png = decodePngGrey(encodePng(7, 5, 16, 0, grey, [4, 3, 2, 1, 0]), 'g16.png');
    expect(png.pixels).toBeInstanceOf(Uint16Array);
    expect(png.bitDepth).toBe(16);
    expect([...png.pixels]).toEqual(grey);
    expect(Math.max(...png.pixels)).toBeGreaterThan(255);
  });

  it('drops the alpha of grey + alpha (8 and 16 bits)', () => {
    const grey = ramp(4, 3, 255);
    const withAlpha = grey.flatMap((v, i) => [v, (i * 50) % 256]);
    expect([...decodePngGrey(encodePng(4, 3, 8, 4, withAlpha, [1, 4]), 'ga.png').pixels]).toEqual(grey);
    const grey16 = grey.map((v) => v * 257);
    expect([...decodePngGrey(encodePng(4, 3, 16, 4, grey16.flatMap((v) => [v, 65535]), [2]), 'ga16.png').pixels]).toEqual(grey16);
  });

  it('takes RGB and RGBA with equal channels as they are, and the luminance of true colour', () => {
    const grey = ramp(4, 3, 255);
    expect([...decodePngGrey(encodePng(4, 3, 8, 2, grey.flatMap((v) => [v, v, v]), [3]), 'rgb.png').pixels]).toEqual(grey);
    expect([...decodePngGrey(encodePng(4, 3, 8, 6, grey.flatMap((v) => [v, v, v, 128]), [4]), 'rgba.png').pixels]).toEqual(grey);
    // Pure red, green, blue and a mixed pixel: BT.601 weights.
    const colour = decodePngGrey(encodePng(4, 1, 8, 2, [255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 50, 200]), 'colour.png');
    expect([...colour.pixels]).toEqual([76, 150, 29, Math.round(0.299 * 100 + 0.587 * 50 + 0.114 * 200)]);
    const colour16 = decodePngGrey(encodePng(1, 1, 16, 2, [65535, 0, 0]), 'colour16.png');
    expect([...colour16.pixels]).toEqual([Math.round(0.299 * 65535)]);
  });

  it("reads the project's own PNG writer (evaluation/png.ts)", () => {
    const rgb = new Uint8Array([0, 0, 0, 9, 9, 9, 200, 200, 200, 255, 255, 255]);
    const png = decodePngGrey(encodePngRgb(2, 2, rgb), 'roc.png');
    expect([...png.pixels]).toEqual([0, 9, 200, 255]);
  });

  const ihdrOnly = (bitDepth: number, colourType: number, interlace = 0) =>
    Buffer.concat([SIGNATURE, pngHeader(2, 2, bitDepth, colourType, interlace), pngChunk('IDAT', new Uint8Array([0])), pngChunk('IEND', new Uint8Array(0))]);

  it.each([
    ['palette', ihdrOnly(8, 3), /palette PNG files are not supported/],
    ['interlaced', ihdrOnly(8, 0, 1), /interlaced \(Adam7\) PNG files are not supported/],
    ['1-bit', ihdrOnly(1, 0), /1-bit greyscale PNG files are not supported: only 8 and 16 bits/],
    ['a colour type that does not exist', ihdrOnly(8, 5), /PNG colour type 5 does not exist/],
    ['not a PNG', Buffer.from('GIF89a....'), /not a PNG file/],
    ['a truncated file', encodePng(4, 3, 8, 0, ramp(4, 3, 255)).subarray(0, 40), /truncated/],
    ['short image data', Buffer.concat([SIGNATURE, pngHeader(50, 50, 8, 0), pngChunk('IDAT', new Uint8Array([120, 156, 3, 0, 0, 0, 0, 1])), pngChunk('IEND', new Uint8Array(0))]), /holds 0 bytes, 2550 expected/],
  ])('refuses %s with a clear error naming the file', (_what, bytes, message) => {
    expect(() => decodePngGrey(bytes, 'x.png')).toThrow(DatasetError);
    expect(() => decodePngGrey(bytes, 'x.png')).toThrow(message);
    expect(() => decodePngGrey(bytes, 'x.png')).toThrow(/^x\.png: /);
  });

  it('names a damaged chunk (CRC) and a row filter that does not exist', () => {
    const good = encodePng(4, 3, 8, 0, ramp(4, 3, 255));
    const damaged = Buffer.from(good);
    damaged[SIGNATURE.length + 8 + 2]! ^= 0xff; // a byte of the IHDR data
    expect(() => decodePngGrey(damaged, 'd.png')).toThrow(/IHDR chunk fails its CRC check/);
    const raw = Buffer.from([0, 1, 2, 9, 1, 2]); // row 1 has filter 9
    const bad = Buffer.concat([SIGNATURE, pngHeader(2, 2, 8, 0), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))]);
    expect(() => decodePngGrey(bad, 'f.png')).toThrow(/row 1 has filter type 9/);
  });

  it('tells a PNG by its signature', () => {
    expect(isPng(encodePng(1, 1, 8, 0, [0]))).toBe(true);
    expect(isPng(new Uint8Array([0xff, 0xd8, 0xff]))).toBe(false);
  });
});
