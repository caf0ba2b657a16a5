// Pre-processing: a decoded grey mammogram -> the tensor a model takes, as its manifest's
// PreprocessingSpec says. This one function serves training and inference alike, so a model is
// always fed pixels prepared exactly as during its training.
//
// Steps, top to bottom (preprocessImage):
//   1. check the spec and the image (size, finite values, spacing);
//   2. choose the size the image takes inside the input: the same physical pixel size from
//      every detector (resample to targetPixelSpacingMm, up or down), then only shrunk further,
//      if the field is larger than the input; or a plain fit / stretch without a target spacing;
//   3. resample into the top-left of an input-sized canvas filled with the background, so the
//      padding lies right and bottom, away from the breast (the decoder put it on the left);
//   4. normalise intensities (intensity.ts);
//   5. mirror back if the model wants the detector's orientation (canonicalFlip false);
//   6. replicate the grey plane to the model's channels (CHW).
// toBatch stacks prepared images into an NCHW batch, applying a test-time flip on the way.
//
// Where this differs from the paper (Shen et al. 2019; docs/method.md), and why:
//   - The paper resized every image straight to 1152x896 with bicubic interpolation, whatever
//     its pixel size or aspect ratio. We resample to a physical pixel size so a lesion has the
//     same size in pixels from a 0.05 mm detector and a 0.2 mm film scan, keep the aspect ratio
//     and pad. 'stretch' + 'bicubic' + 'paper-uint16' reproduce the paper for imported models.
//   - We recommend 'area' resampling: bicubic without low-pass filtering aliases when shrinking
//     2-4x (OpenCV's INTER_CUBIC, which the paper's code used, does not filter).
//   - The paper scaled the 16-bit stored value by 255/65535 and subtracted a dataset mean, which
//     ties a model to one dataset's bit depth and exposure: an 8-bit film scan or a 12-bit
//     detector lands at a different scale. 'window-then-breast-zscore' normalises each image by
//     its own breast tissue, so every source lands on a comparable scale (MONOCHROME1 is
//     already inverted by the decoder).

import { ModelInputError } from '../../domain/errors.js';
import type { PreprocessingSpec, TestTimeFlip } from '../model-manifest.js';
import { normaliseIntensity, type GreyRange, type GreyWindow } from './intensity.js';
import { checkPreprocessingSpec } from './preprocessing-spec.schema.js';
import { resizePlane, type PlaneSize } from './resize.js';

/**
 * A decoded grey image as src/dicom's decoder delivers it (that object satisfies this type), or
 * as a dataset reader builds it.
 */
export interface GreyImage {
  width: number;
  height: number;
  /** Row-major grey values, higher = brighter, padding already set to the background (the minimum). */
  pixels: Float32Array;
  /** [row, column] pixel spacing in mm, or null when the image does not state one. */
  pixelSpacingMm: readonly [number, number] | null;
  /** The image's display window, in the same units and sense as `pixels` (used by 'window-then-breast-zscore'). */
  windowCenter?: number;
  windowWidth?: number;
  /** True when the decoder mirrored the image to put the breast on the left. */
  flippedHorizontally?: boolean;
  /**
   * The stored image's size when these pixels are a reduced resolution of it (a JPEG 2000
   * resolution level): positions given to others (heat maps, regions) are in its pixels.
   */
  sourceWidth?: number;
  sourceHeight?: number;
}

/** One image ready for a model: channel-major values (one item of an NCHW batch). */
export interface PreparedImage {
  data: Float32Array;
  /** [channels, height, width] */
  shape: [number, number, number];
  /** The part of the input the image fills, from the top-left corner; the rest is padding. */
  content: PlaneSize;
}

/** Images stacked for one model run. */
export interface ImageBatch {
  data: Float32Array;
  /** [images, channels, height, width] */
  shape: [number, number, number, number];
}

/** Prepares one image for a model with the given spec. Throws ModelInputError for an unusable image. */
export function preprocessImage(image: GreyImage, spec: PreprocessingSpec): PreparedImage {
  checkPreprocessingSpec(spec);
  const range = checkGreyImage(image);
  const content = fitImage(image, spec);
  const { inputHeight: height, inputWidth: width, channels } = spec;

  const plane = new Float32Array(height * width).fill(range.min);
  resizePlane(image.pixels, image, plane, content, width, spec.resize);
  normaliseIntensity(plane, spec.intensity, range, imageWindow(image));
  if (!spec.canonicalFlip && image.flippedHorizontally === true) mirrorRows(plane, width, height);

  let data = plane;
  if (channels > 1) {
    data = new Float32Array(channels * plane.length);
    for (let c = 0; c < channels; c++) data.set(plane, c * plane.length);
  }
  return { data, shape: [channels, height, width], content };
}

/**
 * The size the image takes inside the model input (step 2 of the header). Exported so callers
 * can map positions between the image and the input (heat maps, ROIs).
 */
export function fitImage(image: Pick<GreyImage, 'width' | 'height' | 'pixelSpacingMm'>, spec: PreprocessingSpec): PlaneSize {
  const { inputHeight, inputWidth } = spec;
  if (spec.fit === 'stretch') return { height: inputHeight, width: inputWidth };
  let rowScale = 1;
  let columnScale = 1;
  let largest = Infinity; // plain fit: enlarge or shrink to the input
  if (spec.targetPixelSpacingMm !== null) {
    const [rowSpacing, columnSpacing] = image.pixelSpacingMm ?? [spec.fallbackPixelSpacingMm, spec.fallbackPixelSpacingMm];
    rowScale = rowSpacing / spec.targetPixelSpacingMm;
    columnScale = columnSpacing / spec.targetPixelSpacingMm;
    largest = 1; // from here the fit may only shrink: enlarging would change the physical scale
  }
  const fit = Math.min(largest, inputHeight / (image.height * rowScale), inputWidth / (image.width * columnScale));
  return {
    height: clamp(Math.round(image.height * rowScale * fit), 1, inputHeight),
    width: clamp(Math.round(image.width * columnScale * fit), 1, inputWidth),
  };
}

/** Stacks prepared images (all of one shape) into an NCHW batch, applying `flip` to each. */
export function toBatch(images: readonly PreparedImage[], flip: TestTimeFlip = 'none'): ImageBatch {
  if (images.length === 0) throw new ModelInputError('a batch needs at least one image');
  const [channels, height, width] = images[0]!.shape;
  const itemSize = channels * height * width;
  const data = new Float32Array(images.length * itemSize);
  const horizontal = flip === 'horizontal' || flip === 'both';
  const vertical = flip === 'vertical' || flip === 'both';
  images.forEach((image, n) => {
    const [c, h, w] = image.shape;
    if (c !== channels || h !== height || w !== width || image.data.length !== itemSize) {
      throw new ModelInputError(`batch image ${n} has shape [${image.shape.join(', ')}], image 0 has [${channels}, ${height}, ${width}]`);
    }
    for (let plane = 0; plane < channels; plane++) {
      const offset = n * itemSize + plane * height * width;
      for (let y = 0; y < height; y++) {
        const from = plane * height * width + (vertical ? height - 1 - y : y) * width;
        const to = offset + y * width;
        if (horizontal) {
          for (let x = 0; x < width; x++) data[to + x] = image.data[from + width - 1 - x]!;
        } else {
          data.set(image.data.subarray(from, from + width), to);
        }
      }
    }
  });
  return { data, shape: [images.length, channels, height, width] };
}

/**
 * Checks what preprocessing relies on and returns the grey range, in one pass over the pixels:
 * a positive integer size matching the pixel count, finite values (a NaN would spread through
 * every statistic and every output), and a positive spacing when one is stated.
 */
export function checkGreyImage(image: GreyImage): GreyRange {
  const { width, height, pixels } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ModelInputError(`image size ${width}x${height}: width and height must be positive integers`);
  }
  if (pixels.length !== width * height) {
    throw new ModelInputError(`image size ${width}x${height} needs ${width * height} pixels; got ${pixels.length}`);
  }
  if (image.pixelSpacingMm !== null) {
    const [row, column] = image.pixelSpacingMm;
    if (!(row > 0 && column > 0 && Number.isFinite(row) && Number.isFinite(column))) {
      throw new ModelInputError(`pixel spacing [${row}, ${column}] mm: must be positive and finite (use null when unknown)`);
    }
  }
  let min = Infinity;
  let max = -Infinity;
  const n = pixels.length;
  for (let i = 0; i < n; i++) {
    const v = pixels[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  // Infinities show in the range; NaN fails both comparisons and never does, hence the
  // (native, fast) search for it.
  if (!Number.isFinite(min) || !Number.isFinite(max) || pixels.includes(NaN)) {
    const bad = pixels.findIndex((v) => !Number.isFinite(v));
    throw new ModelInputError(`pixel (row ${Math.floor(bad / width)}, column ${bad % width}) is ${pixels[bad]}: pixels must be finite`);
  }
  return { min, max };
}

function imageWindow(image: GreyImage): GreyWindow | null {
  const { windowCenter: center, windowWidth: width } = image;
  if (center === undefined || width === undefined) return null;
  if (!Number.isFinite(center) || !(width > 0) || !Number.isFinite(width)) {
    throw new ModelInputError(`window center ${center} / width ${width}: the width must be positive and both finite`);
  }
  return { center, width };
}

/** Mirrors each row in place. */
function mirrorRows(plane: Float32Array, width: number, height: number): void {
  for (let y = 0; y < height; y++) plane.subarray(y * width, (y + 1) * width).reverse();
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
