// The JPEG marker checks that route a stream to the right decoder (by its frame header) and
// catch a truncated stream (no EOI marker) before a lenient decoder fills in grey.

import { describe, expect, it } from 'vitest';
import { checkEndOfImage, readJpegFrameHeader } from '../../src/dicom/pixels/codecs.js';

/** SOI, an APP0 segment, a frame header with the given marker and precision, then EOI. */
function jpeg(sofMarker: number, precision: number): Uint8Array {
  const app0 = [0xff, 0xe0, 0x00, 0x04, 0x4a, 0x46];
  const sof = [0xff, sofMarker, 0x00, 0x0b, precision, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00];
  return new Uint8Array([0xff, 0xd8, ...app0, ...sof, 0xff, 0xd9]);
}

describe('readJpegFrameHeader', () => {
  it.each([
    [0xc0, 8, 'baseline'],
    [0xc1, 12, 'extended 12-bit'],
    [0xc3, 16, 'lossless'],
  ])('reads marker %s with precision %s (%s)', (marker, precision) => {
    expect(readJpegFrameHeader(jpeg(marker, precision))).toEqual({ marker, precision });
  });

  it('rejects a stream without SOI, and one whose scan starts before any frame header', () => {
    expect(() => readJpegFrameHeader(new Uint8Array([0, 1, 2, 3]))).toThrow('does not start with an SOI marker');
    expect(() => readJpegFrameHeader(new Uint8Array([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02, 0xff, 0xd9]))).toThrow('no frame header');
  });
});

describe('checkEndOfImage', () => {
  it('accepts a stream ending in EOI, with or without a padding byte', () => {
    expect(() => checkEndOfImage(jpeg(0xc0, 8), 'JPEG')).not.toThrow();
    expect(() => checkEndOfImage(new Uint8Array([...jpeg(0xc0, 8), 0x00]), 'JPEG')).not.toThrow();
  });

  it('rejects a stream cut before its EOI marker', () => {
    const cut = jpeg(0xc0, 8).subarray(0, 12);
    expect(() => checkEndOfImage(cut, 'JPEG-LS')).toThrow('JPEG-LS: the stream does not end with an EOI marker; it is truncated');
  });
});
