// Finds mammograms stored with inverted grey levels (bright background, dense tissue dark): a
// MONOCHROME1 image exported to PNG/JPEG without applying its photometric interpretation,
// as the machines 29 and 210 images of the RSNA screening set are. DICOM files say so in their
// header and the decoder inverts them; an image folder carries no header, so the pixels decide.
//
// The test rests on what every mammogram has: a background (air beside the breast) that is
// flat — one narrow band of grey — and fills much of the image border, while the breast is
// textured and spreads over many grey levels. So the background level is the most crowded
// narrow band of the border pixels, wherever the breast touches the border (chest wall on
// either side, top or bottom too), and the image is inverted when the breast, the pixels away
// from that level, is darker than the background. It does not ask which side the chest wall is
// on, nor use fixed corner positions (a large breast can fill a corner). It abstains (not
// inverted) when no band holds a fair share of the border or almost no pixel is off it: an
// empty or flat image gives no evidence either way, and leaving an image as stored is the safe
// default. A dark-background image padded with a wide white frame would fool it; no export
// seen does that.

import { valueRange } from './dataset.js';

/** Bins over the image's grey range; the background band is one bin and its two neighbours. */
const BINS = 64;
/** The border strip: this fraction of the shorter side, at least 2 pixels. */
const BORDER_FRACTION = 0.03;
/** The background band must hold at least this share of the border pixels. */
const MIN_BACKGROUND_SHARE = 0.2;
/** ...and at least this share of all pixels must lie off it (the breast). */
const MIN_TISSUE_SHARE = 0.02;
/** Pixels sampled for the tissue level (a regular grid): enough for a median, cheap on a 4k film. */
const TISSUE_SAMPLES = 65_536;

export interface InversionCheck {
  inverted: boolean;
  /** Mean grey level of the background band along the border; null when the image is flat. */
  backgroundLevel: number | null;
  /** Share of the border pixels in the background band. */
  backgroundShare: number;
  /** Median grey level of the sampled pixels off the background band; null when too few. */
  tissueMedian: number | null;
  /** Why it decided so, for logs and reports. */
  reason: string;
}

function median(values: number[]): number {
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}

/** Decides whether a grey image (row-major) is stored inverted. Pure: reads the pixels only. */
export function detectInvertedBackground(pixels: ArrayLike<number>, width: number, height: number): InversionCheck {
  if (width <= 0 || height <= 0 || pixels.length < width * height) throw new RangeError(`expected ${width}x${height} pixels, got ${pixels.length}`);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < width * height; i++) {
    const v = pixels[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!(max > min)) return { inverted: false, backgroundLevel: null, backgroundShare: 0, tissueMedian: null, reason: 'the image is flat: nothing to decide on' };
  const binOf = (v: number) => Math.min(BINS - 1, Math.floor(((v - min) / (max - min)) * BINS));

  // Border pixels, each once (the strips overlap at the corners).
  const strip = Math.max(2, Math.round(BORDER_FRACTION * Math.min(width, height)));
  const histogram = new Float64Array(BINS);
  const sums = new Float64Array(BINS);
  let border = 0;
  const count = (v: number) => {
    const b = binOf(v);
    histogram[b]! += 1;
    sums[b]! += v;
    border++;
  };
  for (let y = 0; y < height; y++) {
    const row = y * width;
    if (y < strip || y >= height - strip || width <= 2 * strip) {
      for (let x = 0; x < width; x++) count(pixels[row + x]!);
    } else {
      for (let x = 0; x < strip; x++) count(pixels[row + x]!);
      for (let x = width - strip; x < width; x++) count(pixels[row + x]!);
    }
  }
  // The most crowded band of three adjacent bins: a flat background split by a bin edge still counts whole.
  let best = 0;
  let bestCount = -1;
  for (let b = 0; b < BINS; b++) {
    const inBand = histogram[b]! + (b > 0 ? histogram[b - 1]! : 0) + (b + 1 < BINS ? histogram[b + 1]! : 0);
    if (inBand > bestCount) {
      best = b;
      bestCount = inBand;
    }
  }
  const lowBin = Math.max(0, best - 1);
  const highBin = Math.min(BINS - 1, best + 1);
  let bandSum = 0;
  for (let b = lowBin; b <= highBin; b++) bandSum += sums[b]!;
  const backgroundLevel = bandSum / bestCount;
  const backgroundShare = bestCount / border;
  if (backgroundShare < MIN_BACKGROUND_SHARE) {
    return { inverted: false, backgroundLevel, backgroundShare, tissueMedian: null, reason: `no flat background along the border (its most common grey band holds ${(100 * backgroundShare).toFixed(0)}% of the border)` };
  }

  // The breast: pixels off the background band, on a regular grid.
  const step = Math.max(1, Math.floor(Math.sqrt((width * height) / TISSUE_SAMPLES)));
  const tissue: number[] = [];
  let sampled = 0;
  for (let y = 0; y < height; y += step) {
    for (let x = 0; x < width; x += step) {
      sampled++;
      const v = pixels[y * width + x]!;
      const b = binOf(v);
      if (b < lowBin || b > highBin) tissue.push(v);
    }
  }
  if (tissue.length < MIN_TISSUE_SHARE * sampled) {
    return { inverted: false, backgroundLevel, backgroundShare, tissueMedian: null, reason: `almost nothing but background (${tissue.length} of ${sampled} sampled pixels off it)` };
  }
  const tissueMedian = median(tissue);
  const inverted = tissueMedian < backgroundLevel;
  return {
    inverted,
    backgroundLevel,
    backgroundShare,
    tissueMedian,
    reason: `background ${backgroundLevel.toFixed(1)} (${(100 * backgroundShare).toFixed(0)}% of the border) is ${inverted ? 'brighter' : 'darker'} than the breast (median ${tissueMedian.toFixed(1)})`,
  };
}

/** Inverts grey levels in place within the image's own range (max + min - v), so the range and the array type are kept. */
export function invertGreyLevels(pixels: Uint8Array | Uint16Array | Float32Array): void {
  const { min, max } = valueRange(pixels);
  for (let i = 0; i < pixels.length; i++) pixels[i] = max + min - pixels[i]!;
}
