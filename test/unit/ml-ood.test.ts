// The out-of-distribution statistic (src/ml/ood): the input histogram, the Jensen-Shannon
// distance, the reference built from training images, and the statistic on synthetic sets: an
// in-distribution set of new "women" is rarely flagged, shifted sets (film-like background,
// inverted, a test object, a wrong window) mostly are.

import { describe, expect, it } from 'vitest';
import type { PreprocessingSpec } from '../../src/ml/model-manifest.js';
import {
  DEFAULT_OOD_THRESHOLD,
  MIN_REFERENCE_IMAGES,
  OOD_STATISTIC,
  OodModel,
  OodReferenceBuilder,
  combineOod,
  contentMirrored,
  histogramSettingsFor,
  inputHistogram,
  jensenShannonDistance,
  oodReferenceBytes,
  oodReferenceSchema,
  preprocessingSpecSha256,
} from '../../src/ml/ood/index.js';
import { preprocessImage, type GreyImage } from '../../src/ml/preprocess/index.js';
import { seededRandom } from '../../src/training/datasets/splits.js';
import { testPreprocessing } from '../support/onnx-fixtures.js';

/** Like the default model's: stretch, grey range to [-1, 1]. */
const SPEC: PreprocessingSpec = testPreprocessing({ inputHeight: 64, inputWidth: 48, fit: 'stretch', intensity: { method: 'minmax', mean: 1, scale: 2 } });

type Shift = 'none' | 'film' | 'inverted' | 'test-object' | 'wrong-window';

/**
 * A mammogram-like 12-bit image: a dark background with a little noise, a breast (half ellipse
 * on the left) of random size whose tissue falls off towards the skin, and bright dense spots.
 * The shifts change what a different acquisition would change.
 */
function mammogram(seed: number, shift: Shift = 'none'): GreyImage {
  const random = seededRandom(seed);
  const width = 96;
  const height = 128;
  const radiusX = 40 + 45 * random();
  const radiusY = 45 + 15 * random();
  const tissue = 1500 + 1200 * random();
  const density = 0.3 + 0.5 * random();
  const pixels = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const r = Math.hypot(x / radiusX, (y - height / 2) / radiusY);
      let v: number;
      if (r < 1) {
        const dense = random() < density ? 600 * random() : 0;
        v = tissue * (1 - 0.6 * r * r) + dense + 150 * random();
      } else {
        v = 20 * random();
      }
      pixels[y * width + x] = v;
    }
  }
  if (shift === 'film') {
    // Film base: the background is grey, not black, with a bright label.
    for (let i = 0; i < pixels.length; i++) if (pixels[i]! < 100) pixels[i] = 900 + 200 * random();
    for (let y = 5; y < 25; y++) for (let x = 70; x < 92; x++) pixels[y * width + x] = 4095;
  } else if (shift === 'inverted') {
    for (let i = 0; i < pixels.length; i++) pixels[i] = 4095 - pixels[i]!;
  } else if (shift === 'test-object') {
    pixels.fill(0);
    for (let y = 20; y < 110; y += 18) for (let x = 10; x < 90; x += 18) for (let dy = 0; dy < 8; dy++) for (let dx = 0; dx < 8; dx++) pixels[(y + dy) * width + x + dx] = 600 * (1 + ((x + y) % 5));
  } else if (shift === 'wrong-window') {
    // A display window clipped far too narrow: most tissue saturated.
    for (let i = 0; i < pixels.length; i++) pixels[i] = Math.min(pixels[i]!, 600);
  }
  return { width, height, pixels, pixelSpacingMm: null };
}

/** A reference of `women` training women with two views each. */
function referenceOf(women: number, seedOffset = 0): OodModel {
  const builder = new OodReferenceBuilder(SPEC);
  for (let w = 0; w < women; w++) {
    for (let view = 0; view < 2; view++) builder.addImage(mammogram(seedOffset + w * 2 + view), `woman-${w}`);
  }
  return new OodModel(builder.build({ datasets: ['synthetic'], createdAt: '2026-12-03T00:00:00Z' }), DEFAULT_OOD_THRESHOLD);
}

const statisticOf = (model: OodModel, image: GreyImage) => model.statisticOf(preprocessImage(image, SPEC), contentMirrored(image, SPEC));

describe('the input histogram', () => {
  const settings = histogramSettingsFor(SPEC);

  it('bins the range the intensity method gives, sums to 1 and weights the background bin', () => {
    expect(settings).toEqual({ bins: 64, range: [-1, 1], backgroundWeight: 0.25 });
    const h = inputHistogram(preprocessImage(mammogram(1), SPEC), settings);
    expect(h).toHaveLength(64);
    expect(h.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    const unweighted = inputHistogram(preprocessImage(mammogram(1), SPEC), { ...settings, backgroundWeight: 1 });
    // The background (image minimum -> -1) is bin 0; weighting it by 0.25 shrinks its share.
    expect(h[0]!).toBeLessThan(unweighted[0]!);
    expect(h[0]! / (1 - h[0]!)).toBeCloseTo((0.25 * unweighted[0]!) / (1 - unweighted[0]!), 10);
  });

  it('takes the region the image fills, not the padding, and finds it at the right when the input was mirrored back', () => {
    const padded = testPreprocessing({ inputHeight: 64, inputWidth: 64, intensity: { method: 'minmax', mean: 1, scale: 2 } });
    const image: GreyImage = { ...mammogram(3), flippedHorizontally: true };
    const left = preprocessImage(image, padded);
    expect(left.content.width).toBeLessThan(64);
    const mirroredSpec = { ...padded, canonicalFlip: false };
    const right = preprocessImage(image, mirroredSpec);
    expect(contentMirrored(image, padded)).toBe(false);
    expect(contentMirrored(image, mirroredSpec)).toBe(true);
    const s = histogramSettingsFor(padded);
    const h = inputHistogram(left, s, false);
    expect(inputHistogram(right, s, true)).toEqual(h);
    // Read from the wrong side, the histogram takes in padding and changes.
    expect(inputHistogram(right, s, false)).not.toEqual(h);
  });

  it('puts values beyond the range into the end bins', () => {
    const data = new Float32Array([-7, -1, 0.999, 1, 9, 0]);
    const h = inputHistogram({ data, shape: [1, 1, 6], content: { height: 1, width: 6 } }, { bins: 4, range: [-1, 1], backgroundWeight: 1 });
    expect(Array.from(h)).toEqual([2 / 6, 0, 1 / 6, 3 / 6]);
  });
});

describe('the Jensen-Shannon distance', () => {
  it('is 0 for equal histograms, 1 for disjoint ones, symmetric, and refuses different bin counts', () => {
    expect(jensenShannonDistance([0.5, 0.5, 0], [0.5, 0.5, 0])).toBe(0);
    expect(jensenShannonDistance([1, 0], [0, 1])).toBeCloseTo(1, 12);
    const p = [0.7, 0.2, 0.1];
    const q = [0.1, 0.3, 0.6];
    expect(jensenShannonDistance(p, q)).toBeCloseTo(jensenShannonDistance(q, p), 15);
    expect(jensenShannonDistance(p, q)).toBeGreaterThan(0.3);
    expect(() => jensenShannonDistance([1], [0.5, 0.5])).toThrow(RangeError);
  });
});

describe('the reference and the statistic', () => {
  const model = referenceOf(60);

  it('records the statistic, the pre-processing and a scale at the training images\' 99th percentile', () => {
    const reference = model.reference;
    expect(reference).toMatchObject({ statistic: OOD_STATISTIC, statisticVersion: 1, bins: 64, range: [-1, 1], images: 120, percentile: 99, preprocessingSpecSha256: preprocessingSpecSha256(SPEC) });
    expect(reference.scale).toBe(reference.distances.p99);
    expect(reference.distances.n).toBe(120);
    expect(reference.distances.p50).toBeLessThan(reference.scale);
    expect(reference.distances.max).toBeGreaterThanOrEqual(reference.scale);
  });

  it('round-trips through its JSON file and scores the same', () => {
    const parsed = oodReferenceSchema.parse(JSON.parse(new TextDecoder().decode(oodReferenceBytes(model.reference))));
    const again = new OodModel(parsed, DEFAULT_OOD_THRESHOLD);
    const image = mammogram(9999);
    expect(statisticOf(again, image)).toEqual(statisticOf(model, image));
  });

  it('rarely flags new women of the training distribution', () => {
    const scores = Array.from({ length: 100 }, (_, i) => statisticOf(model, mammogram(100_000 + i)));
    const flagged = scores.filter((s) => s.outOfDistributionFlagged).length;
    expect(flagged).toBeLessThanOrEqual(5);
    const median = scores.map((s) => s.outOfDistribution).sort((a, b) => a - b)[50]!;
    expect(median).toBeLessThan(0.8);
  });

  it.each<Shift>(['film', 'inverted', 'test-object', 'wrong-window'])('flags most %s images', (shift) => {
    const scores = Array.from({ length: 30 }, (_, i) => statisticOf(model, mammogram(200_000 + i, shift)));
    const flagged = scores.filter((s) => s.outOfDistributionFlagged).length;
    expect(flagged).toBeGreaterThanOrEqual(27);
    for (const s of scores) expect(s.outOfDistributionFlagged).toBe(s.outOfDistribution > DEFAULT_OOD_THRESHOLD);
  });

  it('scores a training image about 0: it is its own nearest neighbour (float32 storage aside)', () => {
    expect(statisticOf(model, mammogram(0)).outOfDistribution).toBeLessThan(1e-6);
  });

  it('follows the threshold the package sets', () => {
    const image = mammogram(300_000, 'film');
    const s = statisticOf(model, image).outOfDistribution;
    expect(new OodModel(model.reference, s + 1).statisticOf(preprocessImage(image, SPEC), false).outOfDistributionFlagged).toBe(false);
    expect(new OodModel(model.reference, s / 2).statisticOf(preprocessImage(image, SPEC), false).outOfDistributionFlagged).toBe(true);
  });

  it('refuses too few images, or images of one woman only', () => {
    const few = new OodReferenceBuilder(SPEC);
    for (let i = 0; i < MIN_REFERENCE_IMAGES - 1; i++) few.addImage(mammogram(i), `w${i}`);
    expect(() => few.build({ datasets: [], createdAt: '' })).toThrow(/at least 10 training images/);
    const one = new OodReferenceBuilder(SPEC);
    for (let i = 0; i < 30; i++) one.addImage(mammogram(i), 'the-only-woman');
    expect(() => one.build({ datasets: [], createdAt: '' })).toThrow(/two women/);
  });

  it('combines images into a breast or exam value: the largest, flagged when any is', () => {
    expect(combineOod([])).toEqual({ outOfDistribution: null, outOfDistributionFlagged: null });
    expect(combineOod([{ outOfDistribution: null, outOfDistributionFlagged: null }])).toEqual({ outOfDistribution: null, outOfDistributionFlagged: null });
    expect(
      combineOod([
        { outOfDistribution: 0.4, outOfDistributionFlagged: false },
        { outOfDistribution: 1.7, outOfDistributionFlagged: true },
        { outOfDistribution: null, outOfDistributionFlagged: null },
      ]),
    ).toEqual({ outOfDistribution: 1.7, outOfDistributionFlagged: true });
  });
});
