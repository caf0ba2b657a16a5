// The out-of-distribution statistic: how far an image's model input lies from the inputs the
// model was trained on, by the shape of its intensity histogram (docs/ood.md).
//
//   h(x)   64-bin histogram of the pre-processed input x (first channel; the others are
//          copies), over the part of the input the image fills (padding left out), on a fixed
//          range derived from the intensity method (values outside it fall into the end bins);
//          the lowest non-empty bin, the background, weighted by 0.25; normalised to sum 1.
//   d(x)   min over the training images j of JS(h(x), h_j), the Jensen-Shannon distance
//          sqrt(JSD) with base-2 logarithms (0 <= JS <= 1): the distance to the nearest
//          training histogram (ood-reference.json keeps them all).
//   s(x)   d(x) / d99, d99 the 99th percentile over the training images of the same distance
//          to the nearest training image of another woman: s = 1 is as far as the 1% most
//          unusual training images; s above the package's threshold (default 1) flags it.
//
// Why these choices (docs/ood.md has the measurements): the share of air in the field varies
// from 14% to 88% between screening images and dominated a plain histogram, hence the weight
// on the background bin; and screening data mixes machines and sites, so the distance to the
// mean histogram separated film from digital poorly (AUC about 0.7) where the distance to the
// nearest training image separates them well (AUC 0.99).
//
// It is computed on what the network sees (after resizing, inversion, orientation and intensity
// scaling), so a digitised film, a test object, a wrong window or an inverted image shows up as
// a different histogram however its DICOM header describes it. About 3 ms per 512x512 input:
// the histogram in one pass, the search over 2,555 training histograms with early exit.

import type { IntensitySpec, PreprocessingSpec } from '../model-manifest.js';
import type { GreyImage, PreparedImage } from '../preprocess/preprocess.js';

/** The statistic's name and version, as recorded in a package's manifest and reference file. */
export const OOD_STATISTIC = 'input-histogram-nn-jsd';
export const OOD_STATISTIC_VERSION = 1;
export const DEFAULT_OOD_BINS = 64;
/** Weight of the background (lowest non-empty) bin before normalising. */
export const DEFAULT_BACKGROUND_WEIGHT = 0.25;

/** Where the histogram's bins lie, in model-input units; the first and last bins also take what lies beyond. */
export interface HistogramSettings {
  bins: number;
  range: [number, number];
  /** The lowest non-empty bin (the background: air and padding lie at the input's minimum) is multiplied by this. */
  backgroundWeight: number;
}

/**
 * The binned range for a pre-processing spec, from the values its intensity method can give:
 *  - minmax: the image's own range maps onto exactly [-mean, scale - mean];
 *  - window-then-breast-zscore: v = (clipped x - breast mean) / breast std, v in [-5, 5] holds
 *    every breast pixel of a reasonable window (the background sits at the window's low end);
 *  - paper-uint16: v = the stored value, 0..65535.
 * Then the model sees v * scale - mean.
 */
export function histogramSettingsFor(spec: PreprocessingSpec, bins = DEFAULT_OOD_BINS, backgroundWeight = DEFAULT_BACKGROUND_WEIGHT): HistogramSettings {
  const [low, high] = normalisedRange(spec.intensity);
  const { scale, mean } = spec.intensity;
  const ends = [low * scale - mean, high * scale - mean].sort((a, b) => a - b) as [number, number];
  return { bins, range: ends, backgroundWeight };
}

function normalisedRange(intensity: IntensitySpec): [number, number] {
  switch (intensity.method) {
    case 'minmax':
      return [0, 1];
    case 'window-then-breast-zscore':
      return [-5, 5];
    case 'paper-uint16':
      return [0, 65535];
  }
}

/**
 * True when the pre-processing mirrored the image back (canonicalFlip false and the decoder had
 * mirrored it): the content then lies at the right of the input, not the left.
 */
export function contentMirrored(image: Pick<GreyImage, 'flippedHorizontally'>, spec: Pick<PreprocessingSpec, 'canonicalFlip'>): boolean {
  return !spec.canonicalFlip && image.flippedHorizontally === true;
}

/**
 * h(x): the histogram of the first channel of a prepared input over the region the image fills
 * (rows [0, content.height), columns [0, content.width), or the last content.width columns when
 * `mirrored`), its lowest non-empty bin weighted by `backgroundWeight`, normalised to sum 1.
 */
export function inputHistogram(prepared: PreparedImage, settings: HistogramSettings, mirrored = false): Float64Array {
  const [, height, width] = prepared.shape;
  const { bins, range } = settings;
  const [low, high] = range;
  const perUnit = bins / (high - low);
  const counts = new Float64Array(bins);
  const rows = Math.min(height, prepared.content.height);
  const columns = Math.min(width, prepared.content.width);
  const first = mirrored ? width - columns : 0;
  const data = prepared.data;
  const last = bins - 1;
  for (let y = 0; y < rows; y++) {
    const start = y * width + first;
    const end = start + columns;
    for (let i = start; i < end; i++) {
      // NaN cannot occur (checkGreyImage refuses it, normalisation keeps values finite).
      const b = Math.floor((data[i]! - low) * perUnit);
      counts[b < 0 ? 0 : b > last ? last : b]!++;
    }
  }
  const background = counts.findIndex((c) => c > 0);
  if (background < 0) return counts; // an empty content region cannot come out of preprocessImage
  counts[background]! *= settings.backgroundWeight;
  const total = counts.reduce((sum, c) => sum + c, 0);
  for (let b = 0; b < bins; b++) counts[b]! /= total;
  return counts;
}

/**
 * The Jensen-Shannon distance between two normalised histograms: the square root of the JS
 * divergence with base-2 logarithms, a metric between 0 (same) and 1 (disjoint supports).
 */
export function jensenShannonDistance(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new RangeError(`histograms of ${p.length} and ${q.length} bins`);
  return Math.sqrt(jsDivergence(p, 0, q, 0, p.length, Infinity));
}

/**
 * The JS divergence (base 2) of p[pStart..] and q[qStart..] over `bins` bins, or a value above
 * `bound` as soon as the partial sum passes it: every bin's term is >= 0, so a nearest-neighbour
 * search can stop a candidate early.
 */
export function jsDivergence(p: ArrayLike<number>, pStart: number, q: ArrayLike<number>, qStart: number, bins: number, bound: number): number {
  const stop = 2 * bound;
  let sum = 0;
  for (let i = 0; i < bins; i++) {
    const a = p[pStart + i]!;
    const b = q[qStart + i]!;
    if (a === 0 && b === 0) continue;
    const m = (a + b) / 2;
    // a*log2(a/m) + b*log2(b/m) = (a+b) * (1 - H2(a/(a+b))) >= 0
    if (a > 0) sum += a * Math.log2(a / m);
    if (b > 0) sum += b * Math.log2(b / m);
    if (sum > stop) return sum / 2;
  }
  // Rounding can leave -1e-17 for equal histograms.
  return Math.min(1, Math.max(0, sum / 2));
}
