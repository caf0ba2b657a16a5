// The pixel post-processing steps on hand-made arrays: bit masking and sign extension, the
// modality rescale, MONOCHROME1 inversion, padding, colour to grey, and the flip decision.

import { describe, expect, it } from 'vitest';
import {
  breastOnRight,
  fillPadding,
  flipHorizontally,
  toLuminance,
  toModalityValues,
  type ModalityTransform,
  type SampleWords,
  type StoredValueCoding,
} from '../../src/dicom/pixels/postprocess.js';

const IDENTITY: ModalityTransform = { slope: 1, intercept: 0, invert: false };

function modality(words: SampleWords, coding: StoredValueCoding, transform = IDENTITY, padding: { low: number; high: number } | null = null) {
  const out = new Float32Array(words.length);
  const result = toModalityValues(words, coding, transform, padding, out);
  return { values: [...out], ...result };
}

describe('toModalityValues: stored values', () => {
  it('masks the bits above BitsStored (overlay bits, garbage)', () => {
    const words = new Uint16Array([0xf123, 0x1fff, 0x0000]);
    expect(modality(words, { bitsStored: 12, bitShift: 0, signed: false }).values).toEqual([0x123, 0xfff, 0]);
  });

  it('sign-extends from BitsStored for PixelRepresentation 1', () => {
    // 12-bit two's complement in 16-bit words, with and without the sign already extended.
    const words = new Uint16Array([0x0fff, 0x0800, 0x07ff, 0xf800, 0xffff]);
    expect(modality(words, { bitsStored: 12, bitShift: 0, signed: true }).values).toEqual([-1, -2048, 2047, -2048, -1]);
  });

  it('shifts down stored bits that HighBit places higher in the word', () => {
    // BitsStored 12, HighBit 15: the value lives in bits 4-15.
    const words = new Uint16Array([0xabc0, 0x0010]);
    expect(modality(words, { bitsStored: 12, bitShift: 4, signed: false }).values).toEqual([0xabc, 1]);
  });

  it('reads 32-bit words without overflowing', () => {
    const words = new Uint32Array([0xffffff00, 0x80000000]); // values Float32 holds exactly
    expect(modality(words, { bitsStored: 32, bitShift: 0, signed: false }).values).toEqual([4294967040, 2147483648]);
    expect(modality(words, { bitsStored: 32, bitShift: 0, signed: true }).values).toEqual([-256, -2147483648]);
  });
});

describe('toModalityValues: rescale and MONOCHROME1', () => {
  it('applies RescaleSlope and RescaleIntercept and reports the range', () => {
    const result = modality(new Uint16Array([0, 10, 100]), { bitsStored: 12, bitShift: 0, signed: false }, { slope: 2, intercept: -100, invert: false });
    expect(result.values).toEqual([-100, -80, 100]);
    expect([result.minValue, result.maxValue]).toEqual([-100, 100]);
  });

  it('inverts MONOCHROME1 over the full stored range, so higher is brighter', () => {
    const words = new Uint8Array([0, 1, 254, 255]);
    expect(modality(words, { bitsStored: 8, bitShift: 0, signed: false }, { slope: 1, intercept: 0, invert: true }).values).toEqual([255, 254, 1, 0]);
  });

  it('inverts MONOCHROME1 within the rescaled range', () => {
    // Stored 0..255 -> 10..520 after rescale; inversion maps v to 530 - v.
    const words = new Uint8Array([0, 5, 255]);
    const result = modality(words, { bitsStored: 8, bitShift: 0, signed: false }, { slope: 2, intercept: 10, invert: true });
    expect(result.values).toEqual([520, 510, 10]);
  });

  it('makes an image and its MONOCHROME1 twin (stored 2^bits - 1 - v) decode alike', () => {
    const plain = new Uint16Array([0, 7, 300, 4095]);
    const twin = plain.map((v) => 4095 - v);
    const coding = { bitsStored: 12, bitShift: 0, signed: false };
    expect(modality(twin, coding, { ...IDENTITY, invert: true }).values).toEqual(modality(plain, coding).values);
  });
});

describe('padding', () => {
  it('marks the PixelPaddingValue as NaN and leaves it out of the range', () => {
    const result = modality(new Uint16Array([4095, 10, 20, 4095]), { bitsStored: 12, bitShift: 0, signed: false }, IDENTITY, { low: 4095, high: 4095 });
    expect(result.paddingPixels).toBe(2);
    expect(result.values.map((v) => (Number.isNaN(v) ? 'pad' : v))).toEqual(['pad', 10, 20, 'pad']);
    expect([result.minValue, result.maxValue]).toEqual([10, 20]);
  });

  it('honours PixelPaddingRangeLimit on signed stored values, before the rescale', () => {
    const words = new Uint16Array([0xf830, 0xf800, 0x0005, 0xfff0]); // -2000, -2048, 5, -16
    const result = modality(words, { bitsStored: 12, bitShift: 0, signed: true }, { slope: 1, intercept: 1000, invert: false }, { low: -2048, high: -2000 });
    expect(result.paddingPixels).toBe(2);
    expect(result.values.slice(2)).toEqual([1005, 984]);
  });

  it('fillPadding sets padding pixels to the background value', () => {
    const pixels = new Float32Array([NaN, 3, NaN, 7]);
    fillPadding(pixels, 3);
    expect([...pixels]).toEqual([3, 3, 3, 7]);
  });

  it('gives the range {0, 0} when every pixel is padding', () => {
    const result = modality(new Uint8Array([9, 9]), { bitsStored: 8, bitShift: 0, signed: false }, IDENTITY, { low: 9, high: 9 });
    expect([result.paddingPixels, result.minValue, result.maxValue]).toEqual([2, 0, 0]);
  });
});

describe('toLuminance', () => {
  it('weights interleaved RGB by BT.601 luma', () => {
    const out = new Float32Array(2);
    const range = toLuminance(new Uint8Array([255, 0, 0, 100, 100, 100]), 'RGB', false, out);
    expect(out[0]).toBeCloseTo(76.245, 3);
    expect(out[1]).toBeCloseTo(100, 4);
    expect(range.minValue).toBeCloseTo(76.245, 3);
  });

  it('reads planar RGB', () => {
    const out = new Float32Array(2);
    toLuminance(new Uint8Array([0, 0, 255, 0, 0, 255]), 'RGB', true, out); // pixel 0 green, pixel 1 blue
    expect(out[0]).toBeCloseTo(0.587 * 255, 3);
    expect(out[1]).toBeCloseTo(0.114 * 255, 3);
  });

  it('takes Y from YCbCr', () => {
    const out = new Float32Array(2);
    toLuminance(new Uint8Array([40, 128, 128, 200, 90, 160]), 'YBR', false, out);
    expect([...out]).toEqual([40, 200]);
  });
});

describe('canonical orientation', () => {
  /** A width x height image of background 0 with a filled rectangle of value `v`. */
  function image(width: number, height: number, rects: Array<{ x0: number; x1: number; v: number }>): Float32Array {
    const pixels = new Float32Array(width * height);
    for (let y = 0; y < height; y++) for (const { x0, x1, v } of rects) for (let x = x0; x < x1; x++) pixels[y * width + x] = v;
    return pixels;
  }

  it('finds the breast on the right and on the left', () => {
    expect(breastOnRight(image(10, 4, [{ x0: 6, x1: 10, v: 500 }]), 10, 4, 0, 1000)).toBe(true);
    expect(breastOnRight(image(10, 4, [{ x0: 0, x1: 3, v: 500 }]), 10, 4, 0, 1000)).toBe(false);
  });

  it('is not fooled by a saturated film edge on the other side', () => {
    // Breast (mid grey) on the left; a wider, saturated strip on the right.
    const pixels = image(20, 4, [
      { x0: 0, x1: 6, v: 400 },
      { x0: 12, x1: 20, v: 1000 },
    ]);
    expect(breastOnRight(pixels, 20, 4, 0, 1000)).toBe(false);
  });

  it('ignores faint noise below the tissue threshold', () => {
    const pixels = image(10, 2, [
      { x0: 5, x1: 10, v: 50 }, // noise at 5% of the range over the right half
      { x0: 0, x1: 2, v: 600 },
    ]);
    expect(breastOnRight(pixels, 10, 2, 0, 1000)).toBe(false);
  });

  it('flips rows in place, odd widths included', () => {
    const pixels = new Float32Array([1, 2, 3, 4, 5, 6]);
    flipHorizontally(pixels, 3, 2);
    expect([...pixels]).toEqual([3, 2, 1, 6, 5, 4]);
  });
});
