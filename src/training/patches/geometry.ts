// Where a stored-image pixel lands in the model input: the geometric part of the inference path,
// written down so lesion positions can follow the pixels (src/ml/preprocess exports fitImage, the
// size, but not the mapping itself).
//
// The path from stored pixels to the model input, at inference:
//   1. the DICOM decoder (src/dicom/pixels/decode-image.ts) mirrors the image left-right when
//      breastOnRight() finds more tissue in the right half ("canonical flip": breast on the
//      left) and says so in flippedHorizontally;
//   2. preprocessImage (src/ml/preprocess/preprocess.ts) resamples the image to fitImage()'s
//      content size (same physical pixel size, shrunk to fit; or stretched) with pixel centres at
//      i + 0.5 (resize.ts), into the TOP-LEFT corner of the input; padding lies right and bottom;
//   3. intensities are normalised (no geometry);
//   4. when the spec's canonicalFlip is false and the decoder flipped, the whole input width is
//      mirrored back (so the padding then lies on the left).
// Training images do not pass through the decoder, so canonicalGreyImage() below repeats step 1
// with the decoder's own functions (breastOnRight, flipHorizontally); test/unit/
// training-patches-geometry.test.ts checks it against decodeImage and the mapping against
// preprocessImage.

import { breastOnRight, flipHorizontally } from '../../dicom/pixels/postprocess.js';
import type { PreprocessingSpec } from '../../ml/model-manifest.js';
import { fitImage, type GreyImage } from '../../ml/preprocess/index.js';
import type { InputRoi, Point, Region, StoredPixels, StoredRoi } from './types.js';
import { valueRange } from '../datasets/dataset.js';

/** Everything needed to map positions between a stored image and its model input. */
export interface InputGeometry {
  storedWidth: number;
  storedHeight: number;
  inputWidth: number;
  inputHeight: number;
  /** The part of the input the image fills, from the top-left corner (before a mirror back). */
  content: { width: number; height: number };
  /** The canonical flip (step 1) mirrored the stored image. */
  flipped: boolean;
  /** Step 4: the input was mirrored back over its whole width. */
  mirroredBack: boolean;
}

/**
 * A stored image as the decoder would deliver it: Float32 pixels, mirrored when the breast is
 * on the right (the decoder's test, on the range of the pixels), flippedHorizontally set.
 * No padding detection: dataset images (PGM) carry no DICOM padding value.
 */
export function canonicalGreyImage(stored: StoredPixels): GreyImage & { flippedHorizontally: boolean } {
  const { width, height } = stored;
  const pixels = Float32Array.from(stored.pixels);
  const { min, max } = valueRange(pixels);
  const flippedHorizontally = breastOnRight(pixels, width, height, min, max);
  if (flippedHorizontally) flipHorizontally(pixels, width, height);
  return { width, height, pixels, pixelSpacingMm: stored.pixelSpacingMm, flippedHorizontally };
}

/** The geometry of an image through `spec`; `flipped` is the canonical flip's decision. */
export function inputGeometry(image: Pick<GreyImage, 'width' | 'height' | 'pixelSpacingMm'>, spec: PreprocessingSpec, flipped: boolean): InputGeometry {
  const content = fitImage(image, spec);
  return {
    storedWidth: image.width,
    storedHeight: image.height,
    inputWidth: spec.inputWidth,
    inputHeight: spec.inputHeight,
    content: { width: content.width, height: content.height },
    flipped,
    mirroredBack: flipped && !spec.canonicalFlip,
  };
}

/** Input pixels per stored pixel along rows and columns. */
export function inputScale(g: InputGeometry): { rows: number; columns: number } {
  return { rows: g.content.height / g.storedHeight, columns: g.content.width / g.storedWidth };
}

/** A stored position (pixel centres at integers) -> its input position (may be fractional). */
export function storedToInput(g: InputGeometry, p: Point): Point {
  const { rows, columns } = inputScale(g);
  const column = g.flipped ? g.storedWidth - 1 - p.column : p.column;
  let x = (column + 0.5) * columns - 0.5;
  if (g.mirroredBack) x = g.inputWidth - 1 - x;
  return { row: (p.row + 0.5) * rows - 0.5, column: x };
}

/** The inverse of storedToInput (positions in the padding map outside the stored image). */
export function inputToStored(g: InputGeometry, p: Point): Point {
  const { rows, columns } = inputScale(g);
  const x = g.mirroredBack ? g.inputWidth - 1 - p.column : p.column;
  const column = (x + 0.5) / columns - 0.5;
  return { row: (p.row + 0.5) / rows - 0.5, column: g.flipped ? g.storedWidth - 1 - column : column };
}

/** A region in stored coordinates -> the same region in input coordinates. */
export function storedRegionToInput(g: InputGeometry, region: Region): Region {
  const { rows, columns } = inputScale(g);
  if (region.shape === 'ellipse') {
    return { shape: 'ellipse', centre: storedToInput(g, region.centre), radiusRows: region.radiusRows * rows, radiusColumns: region.radiusColumns * columns };
  }
  // Edges are positions too; a mirror swaps left and right.
  const a = storedToInput(g, { row: region.top, column: region.left });
  const b = storedToInput(g, { row: region.bottom, column: region.right });
  return { shape: 'box', top: a.row, bottom: b.row, left: Math.min(a.column, b.column), right: Math.max(a.column, b.column) };
}

export function storedRoiToInput(g: InputGeometry, roi: StoredRoi): InputRoi {
  return { ...roi, region: storedRegionToInput(g, roi.region) };
}

/** The centre of a region. */
export function regionCentre(region: Region): Point {
  return region.shape === 'ellipse' ? region.centre : { row: (region.top + region.bottom) / 2, column: (region.left + region.right) / 2 };
}

/**
 * The breast mask of the input (1 = breast), in input geometry: each input pixel inside the
 * content takes the stored (canonical) pixel nearest to its inverse-mapped position, which is
 * breast when above min + threshold * (max - min), the test of the intensity step
 * ('window-then-breast-zscore', breastThreshold; intensity.ts) and of the decoder's tissue
 * weighing (0.1). Padding is never breast.
 */
export function breastMaskInInput(g: InputGeometry, canonical: Pick<GreyImage, 'width' | 'height' | 'pixels'>, threshold: number): Uint8Array {
  const { pixels, width, height } = canonical;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const cut = min + threshold * (max - min);
  const { rows, columns } = inputScale(g);
  const mask = new Uint8Array(g.inputWidth * g.inputHeight);
  const sourceColumn = new Int32Array(g.inputWidth).fill(-1);
  for (let x = 0; x < g.inputWidth; x++) {
    const inContent = g.mirroredBack ? g.inputWidth - 1 - x : x;
    if (inContent >= g.content.width) continue;
    // Stored column in canonical (flipped) orientation: canonical pixels are already mirrored.
    sourceColumn[x] = Math.min(width - 1, Math.max(0, Math.round((inContent + 0.5) / columns - 0.5)));
  }
  for (let y = 0; y < g.content.height; y++) {
    const sy = Math.min(height - 1, Math.max(0, Math.round((y + 0.5) / rows - 0.5)));
    for (let x = 0; x < g.inputWidth; x++) {
      const sx = sourceColumn[x]!;
      if (sx >= 0 && pixels[sy * width + sx]! > cut) mask[y * g.inputWidth + x] = 1;
    }
  }
  return mask;
}

/** The breast threshold of a spec: its own for 'window-then-breast-zscore', else the decoder's 0.1. */
export function specBreastThreshold(spec: PreprocessingSpec): number {
  return spec.intensity.method === 'window-then-breast-zscore' ? spec.intensity.breastThreshold : 0.1;
}
