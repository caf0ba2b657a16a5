// RLE Lossless decoding (PS3.5 Annex G) on hand-made frames: PackBits runs, byte planes most
// significant first, several samples, and the faults a damaged frame shows.

import { describe, expect, it } from 'vitest';
import { decodeRleFrame, unpackBits } from '../../src/dicom/pixels/rle-decode.js';

/** An RLE frame: the 64-byte header (segment count and offsets) followed by the segments. */
function rleFrame(segments: number[][]): Uint8Array {
  const header = new DataView(new ArrayBuffer(64));
  header.setUint32(0, segments.length, true);
  let offset = 64;
  segments.forEach((segment, k) => {
    header.setUint32(4 + 4 * k, offset, true);
    offset += segment.length;
  });
  return new Uint8Array([...new Uint8Array(header.buffer), ...segments.flat()]);
}

describe('unpackBits', () => {
  it('copies literal runs, repeats replicate runs and skips the 128 no-op', () => {
    // 2 -> copy 3 bytes; 253 (-3) -> repeat the next byte 4 times; 128 -> nothing; 0 -> copy 1.
    const src = new Uint8Array([2, 10, 11, 12, 253, 7, 128, 0, 99]);
    const out = new Uint8Array(8);
    expect(unpackBits(src, 0, src.length, out, 0, 1, 8)).toBe(8);
    expect([...out]).toEqual([10, 11, 12, 7, 7, 7, 7, 99]);
  });

  it('writes with a stride and stops at the requested count (padding is ignored)', () => {
    const src = new Uint8Array([254, 5, 0]); // 3 x 5, then a stray pad byte
    const out = new Uint8Array(6);
    expect(unpackBits(src, 0, src.length, out, 1, 2, 2)).toBe(2);
    expect([...out]).toEqual([0, 5, 0, 5, 0, 0]);
  });

  it('reports how much it produced when the segment runs out', () => {
    const src = new Uint8Array([4, 1, 2]); // promises 5 literal bytes, has 2
    expect(unpackBits(src, 0, src.length, new Uint8Array(5), 0, 1, 5)).toBe(2);
  });
});

describe('decodeRleFrame', () => {
  it('puts the first segment in the high byte of 16-bit samples (little-endian output)', () => {
    const high = [3, 0x01, 0x03, 0x05, 0x07]; // literal: 01 03 05 07
    const low = [253, 0x08]; // replicate 08 four times
    const bytes = decodeRleFrame(rleFrame([high, low]), { pixels: 4, samplesPerPixel: 1, bytesPerSample: 2 });
    expect([...new Uint16Array(bytes.buffer)]).toEqual([0x0108, 0x0308, 0x0508, 0x0708]);
  });

  it('decodes three 8-bit samples into planes (PlanarConfiguration 1 layout)', () => {
    const frame = rleFrame([
      [255, 10], // R: 10 10
      [1, 20, 21], // G: 20 21
      [255, 30], // B: 30 30
    ]);
    const bytes = decodeRleFrame(frame, { pixels: 2, samplesPerPixel: 3, bytesPerSample: 1 });
    expect([...bytes]).toEqual([10, 10, 20, 21, 30, 30]);
  });

  it('rejects a frame whose segment count does not match the pixel format', () => {
    const frame = rleFrame([[255, 1]]);
    expect(() => decodeRleFrame(frame, { pixels: 2, samplesPerPixel: 1, bytesPerSample: 2 })).toThrow('RLE frame has 1 segments; 1 sample(s) of 2 byte(s) need 2');
  });

  it('rejects a segment that decodes to too few bytes', () => {
    const frame = rleFrame([[1, 1, 2]]);
    expect(() => decodeRleFrame(frame, { pixels: 4, samplesPerPixel: 1, bytesPerSample: 1 })).toThrow('RLE segment 0 decodes to 2 bytes; 4 expected');
  });

  it('rejects a frame shorter than its header and offsets outside the frame', () => {
    expect(() => decodeRleFrame(new Uint8Array(10), { pixels: 1, samplesPerPixel: 1, bytesPerSample: 1 })).toThrow('shorter than its 64-byte header');
    const frame = rleFrame([[255, 1]]);
    new DataView(frame.buffer).setUint32(4, 5000, true);
    expect(() => decodeRleFrame(frame, { pixels: 2, samplesPerPixel: 1, bytesPerSample: 1 })).toThrow('RLE segment 0 has offset 5000');
  });
});
