// decodeImage: one frame of a parsed DICOM file -> the grey image the classifier works on,
// whatever the vendor and encoding. The steps, top to bottom: check the transfer syntax, read the
// pixel attributes, get the frame's bytes, decode them (native words or a codec), convert to
// MONOCHROME2 modality values (or luminance for colour), set padding to the background, and
// flip so the breast is on the left.

import { PixelDecodeError, UnsupportedTransferSyntaxError } from '../../domain/errors.js';
import type { DicomFile } from '../part10.js';
import { decodeCompressedFrame, type CodecFrame, type MinimumSize } from './codecs.js';
import { readPixelModule, type PixelModule } from './pixel-module.js';
import { breastOnRight, fillPadding, flipHorizontally, toLuminance, toModalityValues, type SampleWords, type ValueRange } from './postprocess.js';
import { DECODABLE_TRANSFER_SYNTAXES, isNativeTransferSyntax } from './transfer-syntaxes.js';

export interface DecodedImage {
  /** The decoded size: the stored size, or smaller when a reduced resolution was decoded (resolutionLevel). */
  width: number;
  height: number;
  /** The stored image's size (Columns, Rows): positions for others (heat maps, SR regions) are given in its pixels. */
  sourceWidth: number;
  sourceHeight: number;
  /** 0: every stored pixel; n > 0: the JPEG 2000 resolution level decoded, about 2^n times smaller per side. */
  resolutionLevel: number;
  /** Row-major grey values, MONOCHROME2 sense (higher = brighter), after the modality LUT (rescale slope/intercept); padding pixels set to the background value. */
  pixels: Float32Array;
  /** Range of the non-padding pixels. */
  minValue: number;
  maxValue: number;
  bitsStored: number;
  /** As stored in the file. */
  photometricInterpretation: string;
  /** [row, column] spacing in mm from PixelSpacing, else ImagerPixelSpacing, else null; of the decoded pixels (larger than the header's at a reduced resolution). */
  pixelSpacingMm: [number, number] | null;
  /** True when the image was mirrored to put the breast on the left. */
  flippedHorizontally: boolean;
  paddingPixels: number;
  transferSyntaxUid: string;
  /** Time spent in the codec and post-processing (the first decode of a syntax also loads its codec). */
  decodeMs: number;
}

export interface DecodeOptions {
  /** Which frame of a multi-frame image (default 0). */
  frame?: number;
  /**
   * How many pixels the caller needs of an image of this stored size and spacing (the model's
   * pre-processing: fitImage). A codec that can (JPEG 2000) then decodes the coarsest
   * resolution that still has at least that many per side instead of every stored pixel.
   */
  minimumSize?: (stored: { width: number; height: number; pixelSpacingMm: [number, number] | null }) => MinimumSize;
}

/**
 * Decodes one frame. Throws UnsupportedTransferSyntaxError for syntaxes without a decoder and
 * PixelDecodeError (naming the source and the cause) for missing, short or corrupt pixel data.
 */
export async function decodeImage(file: DicomFile, options: DecodeOptions = {}): Promise<DecodedImage> {
  const { source, transferSyntaxUid } = file;
  if (!DECODABLE_TRANSFER_SYNTAXES.has(transferSyntaxUid)) throw new UnsupportedTransferSyntaxError(source, transferSyntaxUid);
  if (!file.hasPixelData) throw new PixelDecodeError(source, 'the data set has no PixelData (7FE0,0010)');
  const pixelModule = readPixelModule(file.dataset, source);
  const encoded = file.frames.get(options.frame ?? 0);

  const started = performance.now();
  const native = isNativeTransferSyntax(transferSyntaxUid);
  const minimumSize = options.minimumSize?.({ width: pixelModule.columns, height: pixelModule.rows, pixelSpacingMm: pixelModule.pixelSpacingMm });
  const frame = native ? nativeFrame(encoded, pixelModule, source) : await codecFrame(transferSyntaxUid, encoded, pixelModule, source, minimumSize);
  const { width, height } = frame;
  const spacing = pixelModule.pixelSpacingMm;
  const pixels = new Float32Array(width * height);
  const { paddingPixels, minValue, maxValue } = toGrey(frame, pixelModule, native, pixels);
  if (paddingPixels > 0) fillPadding(pixels, minValue);
  const flippedHorizontally = breastOnRight(pixels, width, height, minValue, maxValue);
  if (flippedHorizontally) flipHorizontally(pixels, width, height);

  return {
    width,
    height,
    pixels,
    minValue,
    maxValue,
    sourceWidth: pixelModule.columns,
    sourceHeight: pixelModule.rows,
    resolutionLevel: frame.resolutionLevel ?? 0,
    bitsStored: pixelModule.bitsStored,
    photometricInterpretation: pixelModule.photometricInterpretation,
    // At a reduced resolution each pixel covers source / decoded stored pixels per axis.
    pixelSpacingMm: spacing && [(spacing[0] * pixelModule.rows) / height, (spacing[1] * pixelModule.columns) / width],
    flippedHorizontally,
    paddingPixels,
    transferSyntaxUid,
    decodeMs: performance.now() - started,
  };
}

/** Grey values into `pixels`: modality values for one sample per pixel, luminance for colour. */
function toGrey(frame: CodecFrame, pixelModule: PixelModule, native: boolean, pixels: Float32Array): ValueRange & { paddingPixels: number } {
  if (frame.components === 3) {
    const model = frame.convertedToRgb || pixelModule.photometricInterpretation === 'RGB' ? 'RGB' : 'YBR';
    return { paddingPixels: 0, ...toLuminance(frame.samples, model, frame.planar, pixels) };
  }
  const { bitsStored, highBit, signed, rescaleSlope, rescaleIntercept, photometricInterpretation, padding } = pixelModule;
  // Codecs deliver right-aligned values; native words keep the stored bits where HighBit puts them.
  const bitShift = native ? highBit + 1 - bitsStored : 0;
  return toModalityValues(
    frame.samples,
    { bitsStored, bitShift, signed },
    { slope: rescaleSlope, intercept: rescaleIntercept, invert: photometricInterpretation === 'MONOCHROME1' },
    padding,
    pixels,
  );
}

/** Native pixel data: the frame's bytes read as words of BitsAllocated bits (part10 already made them little endian). */
function nativeFrame(bytes: Uint8Array, pixelModule: PixelModule, source: string): CodecFrame {
  const { rows, columns, samplesPerPixel, bitsAllocated, photometricInterpretation } = pixelModule;
  if (photometricInterpretation === 'YBR_FULL_422') {
    throw new PixelDecodeError(source, 'uncompressed YBR_FULL_422 (chroma-subsampled) pixel data is not supported');
  }
  const wordBytes = bitsAllocated / 8;
  // Typed arrays need aligned offsets; copy the rare frame that starts at an odd address.
  const aligned = bytes.byteOffset % wordBytes === 0 ? bytes : new Uint8Array(bytes);
  const count = rows * columns * samplesPerPixel;
  const samples: SampleWords =
    wordBytes === 1
      ? aligned.subarray(0, count)
      : wordBytes === 2
        ? new Uint16Array(aligned.buffer, aligned.byteOffset, count)
        : new Uint32Array(aligned.buffer, aligned.byteOffset, count);
  return { width: columns, height: rows, components: samplesPerPixel, samples, planar: pixelModule.planar, convertedToRgb: false };
}

async function codecFrame(transferSyntaxUid: string, encoded: Uint8Array, pixelModule: PixelModule, source: string, minimumSize?: MinimumSize): Promise<CodecFrame> {
  const { rows, columns, samplesPerPixel } = pixelModule;
  let frame: CodecFrame;
  try {
    frame = await decodeCompressedFrame(transferSyntaxUid, encoded, {
      rows,
      columns,
      samplesPerPixel,
      bitsAllocated: pixelModule.bitsAllocated,
      bitsStored: pixelModule.bitsStored,
      signed: pixelModule.signed,
      photometricInterpretation: pixelModule.photometricInterpretation,
    }, minimumSize);
  } catch (error) {
    throw new PixelDecodeError(source, `cannot decode the ${encoded.length}-byte ${transferSyntaxUid} stream: ${(error as Error).message}`, { cause: error });
  }
  // A reduced resolution level n holds ceil(size / 2^n) pixels per side.
  const scale = 2 ** (frame.resolutionLevel ?? 0);
  if (frame.width !== Math.ceil(columns / scale) || frame.height !== Math.ceil(rows / scale) || frame.components !== samplesPerPixel) {
    throw new PixelDecodeError(
      source,
      `the compressed stream holds a ${frame.width}x${frame.height} image with ${frame.components} component(s); ` +
        `the header says Columns ${columns}, Rows ${rows}, SamplesPerPixel ${samplesPerPixel}`,
    );
  }
  if (frame.samples.length < frame.height * frame.width * samplesPerPixel) {
    throw new PixelDecodeError(source, `the codec returned ${frame.samples.length} samples for ${frame.height}x${frame.width}x${samplesPerPixel}`);
  }
  return frame;
}
