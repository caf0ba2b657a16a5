// Pre-processing on small hand-made images with exact expected outputs: placement and padding,
// resampling by pixel spacing, intensity normalisation, channels, flips, the spec hash, and the
// refusal of unusable images and specs.

import { describe, expect, it } from 'vitest';
import type { DecodedImage } from '../../src/dicom/pixels/decode-image.js';
import { ModelInputError, ValidationError } from '../../src/domain/errors.js';
import type { PreprocessingSpec } from '../../src/ml/model-manifest.js';
import {
  DEFAULT_PREPROCESSING,
  PAPER_DATASET_MEANS,
  PREPROCESSING_IMPLEMENTATION,
  canonicalJson,
  checkPreprocessingSpec,
  fitImage,
  paperPreprocessing,
  preprocessImage,
  preprocessingHash,
  toBatch,
  type GreyImage,
} from '../../src/ml/preprocess/index.js';
import { breastPercentiles } from '../../src/ml/preprocess/intensity.js';

/** Leaves grey values as they are (v * 1 - 0), so geometry tests read raw values. */
const IDENTITY_INTENSITY = { method: 'paper-uint16', mean: 0, scale: 1 } as const;

function spec(overrides: Partial<PreprocessingSpec> = {}): PreprocessingSpec {
  return {
    inputHeight: 4,
    inputWidth: 4,
    targetPixelSpacingMm: null,
    fallbackPixelSpacingMm: 0.2,
    fit: 'pad',
    resize: 'area',
    intensity: IDENTITY_INTENSITY,
    channels: 1,
    canonicalFlip: true,
    testTimeFlips: ['none'],
    ...overrides,
  };
}

function image(width: number, height: number, values: ArrayLike<number>, extra: Partial<GreyImage> = {}): GreyImage {
  return { width, height, pixels: Float32Array.from(values), pixelSpacingMm: null, ...extra };
}

/** Rows of a prepared single-channel image, for readable expectations. */
function rows(data: Float32Array, width: number): number[][] {
  return Array.from({ length: data.length / width }, (_, y) => [...data.subarray(y * width, (y + 1) * width)]);
}

const ramp = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('geometry: resampling by pixel spacing and fitting', () => {
  it('halves each side of a 0.1 mm image resampled to 0.2 mm, padding right and bottom with the background', () => {
    // 8x8 values 0..63 -> 4x4 block means 16y + 2x + 4.5, in a 6x6 input; background = min = 0.
    const prepared = preprocessImage(image(8, 8, ramp(64), { pixelSpacingMm: [0.1, 0.1] }), spec({ inputHeight: 6, inputWidth: 6, targetPixelSpacingMm: 0.2 }));
    expect(prepared.content).toEqual({ height: 4, width: 4 });
    expect(rows(prepared.data, 6)).toEqual([
      [4.5, 6.5, 8.5, 10.5, 0, 0],
      [20.5, 22.5, 24.5, 26.5, 0, 0],
      [36.5, 38.5, 40.5, 42.5, 0, 0],
      [52.5, 54.5, 56.5, 58.5, 0, 0],
      [0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0],
    ]);
  });

  it('resamples rows and columns by their own spacing', () => {
    expect(fitImage({ width: 8, height: 8, pixelSpacingMm: [0.1, 0.2] }, spec({ inputHeight: 8, inputWidth: 8, targetPixelSpacingMm: 0.2 }))).toEqual({ height: 4, width: 8 });
  });

  it('uses the fallback spacing when the image states none', () => {
    const withFallback = spec({ inputHeight: 8, inputWidth: 8, targetPixelSpacingMm: 0.2, fallbackPixelSpacingMm: 0.1 });
    expect(fitImage({ width: 8, height: 8, pixelSpacingMm: null }, withFallback)).toEqual({ height: 4, width: 4 });
  });

  it('never enlarges at a target spacing, and shrinks a field larger than the input to fit, keeping the aspect ratio', () => {
    const at02 = spec({ inputHeight: 8, inputWidth: 8, targetPixelSpacingMm: 0.2 });
    expect(fitImage({ width: 2, height: 2, pixelSpacingMm: [0.2, 0.2] }, at02)).toEqual({ height: 2, width: 2 });
    expect(fitImage({ width: 10, height: 20, pixelSpacingMm: [0.2, 0.2] }, at02)).toEqual({ height: 8, width: 4 });
  });

  it('scales to fit the input (up or down) without a target spacing', () => {
    expect(fitImage({ width: 2, height: 2, pixelSpacingMm: [0.05, 0.05] }, spec({ inputHeight: 4, inputWidth: 6 }))).toEqual({ height: 4, width: 4 });
    expect(fitImage({ width: 4, height: 2, pixelSpacingMm: null }, spec())).toEqual({ height: 2, width: 4 });
  });

  it("'stretch' fills the whole input, as the paper's code did", () => {
    const prepared = preprocessImage(image(4, 4, ramp(16)), spec({ inputHeight: 2, inputWidth: 2, fit: 'stretch' }));
    expect(rows(prepared.data, 2)).toEqual([
      [2.5, 4.5],
      [10.5, 12.5],
    ]);
  });

  it("takes the decoder's output as it is (src/ml never imports src/dicom; the types agree structurally)", () => {
    const decoded: DecodedImage = {
      width: 2,
      height: 2,
      sourceWidth: 2,
      sourceHeight: 2,
      resolutionLevel: 0,
      pixels: Float32Array.from([0, 10, 20, 30]),
      minValue: 0,
      maxValue: 30,
      bitsStored: 12,
      photometricInterpretation: 'MONOCHROME1',
      pixelSpacingMm: [0.1, 0.1],
      flippedHorizontally: true,
      paddingPixels: 0,
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      decodeMs: 1,
    };
    expect([...preprocessImage(decoded, spec({ inputHeight: 1, inputWidth: 1, targetPixelSpacingMm: 0.2 })).data]).toEqual([15]);
  });

  it('mirrors back images the decoder flipped when the model wants the original orientation', () => {
    const flipped = image(2, 1, [5, 9], { flippedHorizontally: true });
    expect([...preprocessImage(flipped, spec({ inputHeight: 1, inputWidth: 3, canonicalFlip: true })).data]).toEqual([5, 9, 5]);
    expect([...preprocessImage(flipped, spec({ inputHeight: 1, inputWidth: 3, canonicalFlip: false })).data]).toEqual([5, 9, 5].reverse());
  });
});

describe('intensity', () => {
  // 2x4: background 0 on the left, breast values 10..40 on the right.
  const breast = (extra: Partial<GreyImage> = {}) => image(4, 2, [0, 0, 10, 20, 0, 0, 30, 40], extra);
  const zscore = (useImageWindow: boolean, windowPercentiles: [number, number] = [0, 100]): PreprocessingSpec =>
    spec({
      inputHeight: 2,
      inputWidth: 4,
      intensity: { method: 'window-then-breast-zscore', useImageWindow, windowPercentiles, breastThreshold: 0.1, mean: 0, scale: 1 },
    });

  it('window-then-breast-zscore: clips to the image window, then z-scores over the breast pixels', () => {
    // Window 25 +- 10 -> breast 15, 20, 30, 35: mean 25, population std sqrt(62.5); the background clips to 15.
    const out = [...preprocessImage(breast({ windowCenter: 25, windowWidth: 20 }), zscore(true)).data];
    const std = Math.sqrt(62.5);
    const expected = [-10, -10, -10, -5, -10, -10, 5, 10].map((d) => d / std);
    out.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
  });

  it('window-then-breast-zscore: uses breast percentiles when the image has no window (or the spec ignores it)', () => {
    // Percentiles 0 and 100 span the breast values 10..40: no clipping; mean 25, std sqrt(125).
    const std = Math.sqrt(125);
    const expected = [-15, -15, -15, -5, -15, -15, 5, 15].map((d) => d / std);
    for (const prepared of [preprocessImage(breast(), zscore(true)), preprocessImage(breast({ windowCenter: 25, windowWidth: 20 }), zscore(false))]) {
      [...prepared.data].forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 2));
    }
  });

  it('window-then-breast-zscore: puts 8-bit and 12-bit sources (another gain and offset) on the same scale', () => {
    const values = [0, 3, 40, 90, 0, 0, 120, 255, 0, 7, 200, 60];
    const eightBit = image(4, 3, values);
    const twelveBit = image(4, 3, values.map((v) => v * 16 + 100)); // another gain and offset
    const z = spec({ inputHeight: 3, inputWidth: 4, intensity: { ...DEFAULT_PREPROCESSING.intensity, useImageWindow: false } as PreprocessingSpec['intensity'] });
    const a = preprocessImage(eightBit, z).data;
    const b = preprocessImage(twelveBit, z).data;
    a.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 4));
  });

  it('estimates percentiles of the breast pixels from a histogram to within a bin', () => {
    const plane = Float32Array.from({ length: 1000 }, (_, i) => i + 1); // 1..1000, all above threshold 0
    const [p10, p90] = breastPercentiles(plane, 0, 1000, [10, 90]);
    expect(p10).toBeCloseTo(100, 0);
    expect(p90).toBeCloseTo(900, 0);
  });

  it('minmax: maps the image range to [0, 1], then scale and mean', () => {
    const out = preprocessImage(image(4, 1, [0, 10, 20, 40]), spec({ inputHeight: 1, intensity: { method: 'minmax', mean: 1, scale: 2 } })).data;
    expect([...out]).toEqual([-1, -0.5, 0, 1]);
  });

  it("paper-uint16: the paper's x * 255/65535 - dataset mean", () => {
    const paper = { ...paperPreprocessing(PAPER_DATASET_MEANS.ddsm), inputHeight: 1, inputWidth: 2, channels: 1 as const };
    const out = preprocessImage(image(2, 1, [0, 65535]), paper).data;
    expect(out[0]).toBeCloseTo(-52.18, 4);
    expect(out[1]).toBeCloseTo(255 - 52.18, 4);
  });

  it('refuses an image with no breast above the background, or no contrast', () => {
    expect(() => preprocessImage(image(4, 2, new Array(8).fill(100)), zscore(false))).toThrow(/no breast pixels/);
    expect(() => preprocessImage(image(4, 2, new Array(8).fill(100)), spec({ inputHeight: 2, intensity: { method: 'minmax', mean: 0, scale: 1 } }))).toThrow(/uniform/);
    expect(() => preprocessImage(breast({ windowCenter: 100, windowWidth: 10 }), zscore(true))).toThrow(/no contrast/);
  });
});

describe('channels and batches', () => {
  it('replicates grey into 3 channels (CHW)', () => {
    const prepared = preprocessImage(image(2, 1, [1, 2]), spec({ inputHeight: 1, inputWidth: 2, channels: 3 }));
    expect(prepared.shape).toEqual([3, 1, 2]);
    expect([...prepared.data]).toEqual([1, 2, 1, 2, 1, 2]);
  });

  it('stacks images into NCHW and applies test-time flips', () => {
    const a = preprocessImage(image(3, 2, [1, 2, 3, 4, 5, 6]), spec({ inputHeight: 2, inputWidth: 3 }));
    const b = preprocessImage(image(3, 2, [7, 8, 9, 10, 11, 12]), spec({ inputHeight: 2, inputWidth: 3 }));
    expect(toBatch([a, b]).shape).toEqual([2, 1, 2, 3]);
    expect([...toBatch([a, b]).data]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect([...toBatch([a], 'horizontal').data]).toEqual([3, 2, 1, 6, 5, 4]);
    expect([...toBatch([a], 'vertical').data]).toEqual([4, 5, 6, 1, 2, 3]);
    expect([...toBatch([a], 'both').data]).toEqual([6, 5, 4, 3, 2, 1]);
  });

  it('refuses to stack images of different shapes', () => {
    const small = preprocessImage(image(2, 1, [1, 2]), spec({ inputHeight: 1, inputWidth: 2 }));
    const large = preprocessImage(image(2, 1, [1, 2]), spec({ inputHeight: 1, inputWidth: 3 }));
    expect(() => toBatch([small, large])).toThrow(ModelInputError);
  });
});

describe('refused inputs', () => {
  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
  ])('refuses a %s pixel, naming where it is', (_name, bad) => {
    const values = ramp(16);
    values[6] = bad;
    const error = (() => {
      try {
        preprocessImage(image(4, 4, values), spec());
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ModelInputError);
    expect((error as ModelInputError).code).toBe('MODEL_INPUT_INVALID');
    expect((error as Error).message).toBe(`pixel (row 1, column 2) is ${bad}: pixels must be finite`);
  });

  it('refuses zero-size images and a pixel count that does not match the size', () => {
    expect(() => preprocessImage(image(0, 0, []), spec())).toThrow(/image size 0x0: width and height must be positive integers/);
    expect(() => preprocessImage(image(4, 0, []), spec())).toThrow(ModelInputError);
    expect(() => preprocessImage(image(4, 4, ramp(15)), spec())).toThrow(/needs 16 pixels; got 15/);
  });

  it('refuses a stated spacing that is not positive', () => {
    expect(() => preprocessImage(image(4, 4, ramp(16), { pixelSpacingMm: [0, 0.1] }), spec())).toThrow(/pixel spacing \[0, 0.1\] mm/);
  });

  it('refuses an invalid spec, naming the field', () => {
    expect(() => preprocessImage(image(4, 4, ramp(16)), spec({ inputHeight: 0 }))).toThrow(ValidationError);
    expect(() => checkPreprocessingSpec(spec({ inputHeight: 0 }))).toThrow(/^preprocessing\.inputHeight: /);
    expect(() => checkPreprocessingSpec(spec({ fit: 'stretch', targetPixelSpacingMm: 0.2 }))).toThrow(/preprocessing\.fit: 'stretch' ignores the pixel spacing/);
    expect(() => checkPreprocessingSpec({ ...spec(), inputHieght: 4 } as PreprocessingSpec)).toThrow(/preprocessing\.inputHieght: not a known field/);
    expect(() => checkPreprocessingSpec(spec({ testTimeFlips: ['none', 'none'] }))).toThrow(/testTimeFlips: lists a flip twice/);
  });

  it('accepts the presets', () => {
    expect(checkPreprocessingSpec(DEFAULT_PREPROCESSING)).toEqual(DEFAULT_PREPROCESSING);
    expect(checkPreprocessingSpec(paperPreprocessing(PAPER_DATASET_MEANS.inbreast)).intensity.mean).toBe(44.33);
  });
});

describe('preprocessingHash', () => {
  it('is a sha256 that ignores key order and changes with any value', () => {
    const reordered = Object.fromEntries(Object.entries(DEFAULT_PREPROCESSING).reverse()) as unknown as PreprocessingSpec;
    expect(preprocessingHash(DEFAULT_PREPROCESSING)).toMatch(/^[0-9a-f]{64}$/);
    expect(preprocessingHash(reordered)).toBe(preprocessingHash(DEFAULT_PREPROCESSING));
    expect(preprocessingHash({ ...DEFAULT_PREPROCESSING, resize: 'bilinear' })).not.toBe(preprocessingHash(DEFAULT_PREPROCESSING));
    expect(preprocessingHash({ ...DEFAULT_PREPROCESSING, testTimeFlips: ['none'] })).not.toBe(preprocessingHash(DEFAULT_PREPROCESSING));
  });

  it('is stable across releases (predictions store it): the canonical text and its digest are pinned', () => {
    const tiny = spec();
    expect(canonicalJson({ implementation: PREPROCESSING_IMPLEMENTATION, spec: tiny })).toBe(
      '{"implementation":1,"spec":{"canonicalFlip":true,"channels":1,"fallbackPixelSpacingMm":0.2,"fit":"pad","inputHeight":4,"inputWidth":4,' +
        '"intensity":{"mean":0,"method":"paper-uint16","scale":1},"resize":"area","targetPixelSpacingMm":null,"testTimeFlips":["none"]}}',
    );
    expect(preprocessingHash(tiny)).toBe('0a570177324d51b8c398801df48462cd5d1e11365bafaa21ba9ff82b10a28cba'); // sha256 of the text above
  });
});

// Its speed is measured by `npm run bench` (docs/benchmarks.md), not asserted here.
describe('a full-field detector image', () => {
  it('prepares a 14-Mpixel detector image for a 1152x896x3 input', () => {
    const width = 3328;
    const height = 4096;
    const pixels = new Float32Array(width * height);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i % width) < width * 0.6 ? 500 + ((i * 7919) % 3000) : 0;
    const detector: GreyImage = { width, height, pixels, pixelSpacingMm: [0.07, 0.07] };
    const prepared = preprocessImage(detector, DEFAULT_PREPROCESSING);
    expect(prepared.shape).toEqual([3, 1152, 896]);
    // At 0.2 mm the 286.7 x 233 mm field would take 1434 x 1165 pixels: it shrinks to the input's width.
    expect(prepared.content).toEqual({ height: 1103, width: 896 });
  });
});
