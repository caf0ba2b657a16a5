// Reading the pixel attributes from a naturalised data set: defaults, spacing fallbacks, padding
// brought into the stored-value domain, and the errors for attributes the decoder cannot honour.

import { describe, expect, it } from 'vitest';
import { PixelDecodeError } from '../../src/domain/errors.js';
import { readPixelModule, storedValue } from '../../src/dicom/pixels/pixel-module.js';

const BASE = { Rows: 4, Columns: 6, BitsAllocated: 16, BitsStored: 12, HighBit: 11, PixelRepresentation: 0, PhotometricInterpretation: 'MONOCHROME2' };

describe('readPixelModule', () => {
  it('reads the attributes and fills the defaults', () => {
    const module = readPixelModule({ ...BASE }, 'a.dcm');
    expect(module).toMatchObject({ rows: 4, columns: 6, samplesPerPixel: 1, bitsStored: 12, highBit: 11, signed: false, rescaleSlope: 1, rescaleIntercept: 0, padding: null, pixelSpacingMm: null });
  });

  it('defaults BitsStored and HighBit from BitsAllocated and reads rescale values given as strings', () => {
    const module = readPixelModule({ Rows: 2, Columns: 2, BitsAllocated: 8, RescaleSlope: '0.5', RescaleIntercept: ['-3'] }, 'a.dcm');
    expect(module).toMatchObject({ bitsStored: 8, highBit: 7, photometricInterpretation: 'MONOCHROME2', rescaleSlope: 0.5, rescaleIntercept: -3 });
  });

  it('takes PixelSpacing first, then ImagerPixelSpacing, and ignores malformed values', () => {
    expect(readPixelModule({ ...BASE, PixelSpacing: [0.1, 0.12], ImagerPixelSpacing: [0.2, 0.2] }, 'a').pixelSpacingMm).toEqual([0.1, 0.12]);
    expect(readPixelModule({ ...BASE, ImagerPixelSpacing: '0.085\\0.085' }, 'a').pixelSpacingMm).toEqual([0.085, 0.085]);
    expect(readPixelModule({ ...BASE, PixelSpacing: [0.1], ImagerPixelSpacing: [0, 0.2] }, 'a').pixelSpacingMm).toBeNull();
  });

  it('brings the padding value and range limit into the stored-value domain', () => {
    // An SS value read as US (65535 = -1), and a range given high-to-low.
    expect(readPixelModule({ ...BASE, PixelRepresentation: 1, PixelPaddingValue: 65535 }, 'a').padding).toEqual({ low: -1, high: -1 });
    expect(readPixelModule({ ...BASE, PixelPaddingValue: 4095, PixelPaddingRangeLimit: 4000 }, 'a').padding).toEqual({ low: 4000, high: 4095 });
  });

  it.each([
    [{ ...BASE, Rows: 0 }, 'Rows (0) and Columns (6) must be positive integers'],
    [{ ...BASE, BitsAllocated: 12 }, 'BitsAllocated 12 is not supported'],
    [{ ...BASE, BitsStored: 17 }, 'BitsStored 17 does not fit BitsAllocated 16'],
    [{ ...BASE, HighBit: 16 }, 'HighBit 16 does not fit'],
    [{ ...BASE, PhotometricInterpretation: 'PALETTE COLOR' }, 'PhotometricInterpretation PALETTE COLOR with SamplesPerPixel 1 is not supported'],
  ])('rejects what it cannot decode: %#', (dataset, message) => {
    const read = () => readPixelModule(dataset, 'bad.dcm');
    expect(read).toThrow(PixelDecodeError);
    expect(read).toThrow(`bad.dcm: ${message}`);
  });
});

describe('storedValue', () => {
  it('masks to BitsStored and sign-extends', () => {
    expect(storedValue(0xffff, 12, false)).toBe(4095);
    expect(storedValue(0xffff, 12, true)).toBe(-1);
    expect(storedValue(-2000, 12, true)).toBe(-2000);
    expect(storedValue(2048, 12, true)).toBe(-2048);
  });
});
