// Turns decoded sample words into the grey image the model sees: stored values (masked and
// sign-extended), the modality rescale, MONOCHROME1 inversion, padding set to the background,
// colour to luminance, and the canonical orientation (breast on the left).
//
// Each step is one tight loop over typed arrays with no calls or allocations per pixel: a
// detector image is 14 Mpixels and these passes should cost milliseconds, not the seconds the
// codecs take.

export type SampleWords = Uint8Array | Uint16Array | Uint32Array;

export interface StoredValueCoding {
  bitsStored: number;
  /** Bits below the stored value in each word: HighBit + 1 - BitsStored for native data, 0 for codec output. */
  bitShift: number;
  signed: boolean;
}

export interface ModalityTransform {
  slope: number;
  intercept: number;
  /** MONOCHROME1: low values are bright, so invert to make higher = brighter. */
  invert: boolean;
}

/** The range of the non-padding pixels ({0, 0} when every pixel is padding). */
export interface ValueRange {
  minValue: number;
  maxValue: number;
}

/**
 * Writes the modality value of every pixel of a one-sample image into `out`: the stored value
 * (the word shifted by `bitShift`, masked to `bitsStored` bits, sign-extended when signed) times
 * slope plus intercept, inverted for MONOCHROME1. Pixels whose stored value lies in `padding`
 * become NaN, for `fillPadding` to replace. Returns the number of padding pixels and the range
 * of the others (computed here to save a pass over the image).
 *
 * MONOCHROME1 is inverted over the whole range the stored values can take (not the range that
 * occurs), so an image and its MONOCHROME1 twin with stored values (2^BitsStored - 1 - v) decode
 * to the same values.
 */
export function toModalityValues(
  words: SampleWords,
  coding: StoredValueCoding,
  transform: ModalityTransform,
  padding: { low: number; high: number } | null,
  out: Float32Array,
): ValueRange & { paddingPixels: number } {
  const { bitsStored, bitShift, signed } = coding;
  const half = 2 ** (bitsStored - 1);
  const lowest = signed ? -half : 0;
  const highest = signed ? half - 1 : 2 * half - 1;
  const { slope, intercept } = transform;
  // For MONOCHROME1, v' = (lo + hi) - v over the modality range [lo, hi] of all stored values.
  const mirror = transform.invert ? 2 * intercept + slope * (lowest + highest) : 0;
  const direction = transform.invert ? -1 : 1;
  const padLow = padding ? padding.low : Infinity;
  const padHigh = padding ? padding.high : -Infinity;
  // Shifting the stored bits to the top of a 32-bit integer and back masks the bits above
  // them; shifting back with >> (not >>>) also sign-extends.
  const unusedHighBits = 32 - bitsStored;
  const n = out.length;
  let paddingPixels = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const word = (words[i]! >>> bitShift) << unusedHighBits;
    const v = signed ? word >> unusedHighBits : word >>> unusedHighBits;
    if (v >= padLow && v <= padHigh) {
      out[i] = NaN;
      paddingPixels++;
    } else {
      const value = mirror + direction * (v * slope + intercept);
      out[i] = value;
      if (value < min) min = value;
      if (value > max) max = value;
    }
  }
  return { paddingPixels, ...finiteRange(min, max) };
}

/** The range rounded to Float32 like the pixels that hold it, or {0, 0} when nothing was seen. */
function finiteRange(min: number, max: number): ValueRange {
  if (min > max) return { minValue: 0, maxValue: 0 };
  return { minValue: Math.fround(min), maxValue: Math.fround(max) };
}

/** Sets the padding pixels (NaN) to `background`. */
export function fillPadding(pixels: Float32Array, background: number): void {
  const n = pixels.length;
  for (let i = 0; i < n; i++) if (pixels[i]! !== pixels[i]!) pixels[i] = background; // NaN
}

/** How colour samples reach us: RGB (also what the JPEG codecs deliver) or YCbCr, whose Y is already the luminance. */
export type ColourModel = 'RGB' | 'YBR';

/**
 * Grey from a three-sample image: ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B) for RGB, the
 * Y sample for YCbCr. `planar` means all R (or Y), then all G, then all B.
 */
export function toLuminance(words: SampleWords, model: ColourModel, planar: boolean, out: Float32Array): ValueRange {
  const n = out.length;
  const step = planar ? 1 : 3;
  const second = planar ? n : 1;
  const third = planar ? 2 * n : 2;
  const yOnly = model === 'YBR';
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0, s = 0; i < n; i++, s += step) {
    const value = yOnly ? words[s]! : 0.299 * words[s]! + 0.587 * words[s + second]! + 0.114 * words[s + third]!;
    out[i] = value;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return finiteRange(min, max);
}

/**
 * Which pixels count as tissue when weighing the two halves, as fractions of the grey range
 * above the background: below the lower bound is background (film base, detector noise);
 * above the upper bound is saturated, which in practice means film edges, burned-in labels and
 * markers rather than breast. (Without the upper bound one mini-MIAS image in 224 is decided
 * wrongly, by a white film edge running the full height of the image.)
 */
const TISSUE_BOUNDS = { low: 0.1, high: 0.95 };
/** Rows weighed per image at most: a breast spans hundreds of rows, so a sample decides as well as all 4664. */
const SAMPLED_ROWS = 512;

/**
 * Whether the breast is on the right: compares the tissue intensity mass (above the
 * background) of the right and left halves. The breast is by far the largest bright object, so
 * this holds for either laterality, whatever the header says.
 */
export function breastOnRight(pixels: Float32Array, width: number, height: number, minValue: number, maxValue: number): boolean {
  const low = minValue + TISSUE_BOUNDS.low * (maxValue - minValue);
  const high = minValue + TISSUE_BOUNDS.high * (maxValue - minValue);
  const half = Math.floor(width / 2);
  const rightStart = width - half; // an odd middle column belongs to neither half
  const rowStep = Math.max(1, Math.floor(height / SAMPLED_ROWS));
  let left = 0;
  let right = 0;
  for (let y = 0; y < height; y += rowStep) {
    const row = y * width;
    for (let x = 0; x < half; x++) {
      const v = pixels[row + x]!;
      if (v > low && v < high) left += v - low;
    }
    for (let x = rightStart; x < width; x++) {
      const v = pixels[row + x]!;
      if (v > low && v < high) right += v - low;
    }
  }
  return right > left;
}

/** Mirrors the image left-right in place. */
export function flipHorizontally(pixels: Float32Array, width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    let a = y * width;
    let b = a + width - 1;
    while (a < b) {
      const t = pixels[a]!;
      pixels[a++] = pixels[b]!;
      pixels[b--] = t;
    }
  }
}
