// The codecs behind each encapsulated transfer syntax, and one entry point that decodes a
// frame whatever its compression:
//
//   RLE Lossless            rle-decode.ts (this project)
//   JPEG, 8-bit lossy       @cornerstonejs/codec-libjpeg-turbo-8bit (wasm)
//   JPEG, 12-bit lossy      dcmjs-codecs (wasm IJG libjpeg; libjpeg-turbo-8bit throws on 12-bit
//                           data); as fast as dcmtk's native dcmdjpeg here (docs/benchmarks.md)
//   JPEG Lossless           jpeg-lossless-decoder-js (JavaScript)
//   JPEG-LS                 @cornerstonejs/codec-charls (wasm)
//   JPEG 2000               @cornerstonejs/codec-openjpeg (wasm)
//
// JPEG streams are routed by their frame header rather than by the transfer syntax UID, so an
// 8-bit image filed under JPEG Extended, or a lossless stream under the wrong UID, still
// decodes. Every decoder returns right-aligned unsigned sample words; sign extension, masking
// and the rest happen in postprocess.ts for all syntaxes alike. Codec failures are thrown as
// plain Errors; decode-image.ts adds the source.

import { createRequire } from 'node:module';
import path from 'node:path';
import type * as DcmjsCodecs from 'dcmjs-codecs';
import type { SampleWords } from './postprocess.js';
import { decodeRleFrame } from './rle-decode.js';
import * as ts from './transfer-syntaxes.js';
import { WasmCodec, isWasmTrap } from './wasm-codec.js';

const require = createRequire(import.meta.url);

/** What the DICOM header says a frame holds; codecs that do not read it from the stream need it. */
export interface FrameGeometry {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  photometricInterpretation: string;
}

/** One decoded frame as the codec delivered it. */
export interface CodecFrame {
  width: number;
  height: number;
  components: number;
  /** Right-aligned sample words (negative values in two's complement), pixel by pixel. */
  samples: SampleWords;
  /** Samples are stored plane by plane (all R, then all G, ...) rather than interleaved. */
  planar: boolean;
  /** The codec already converted YCbCr colour to RGB. */
  convertedToRgb: boolean;
  /** JPEG 2000 only: the wavelet resolution level decoded (n: 2^n times smaller per side than the stored image); absent or 0 for the full image. */
  resolutionLevel?: number;
}

/**
 * Decodes one encapsulated frame. Throws an Error naming the codec and the fault. With
 * `minimumSize`, a codec that can decode a reduced resolution (JPEG 2000) may return a smaller
 * image that still has at least that many pixels per side (see CodecFrame.resolutionLevel).
 */
export async function decodeCompressedFrame(transferSyntaxUid: string, encoded: Uint8Array, geometry: FrameGeometry, minimumSize?: MinimumSize): Promise<CodecFrame> {
  switch (transferSyntaxUid) {
    case ts.RLE_LOSSLESS:
      return decodeRle(encoded, geometry);
    case ts.JPEG_BASELINE_8BIT:
    case ts.JPEG_EXTENDED_12BIT:
    case ts.JPEG_LOSSLESS_PROCESS_14:
    case ts.JPEG_LOSSLESS_SV1:
      return decodeJpeg(encoded, geometry);
    case ts.JPEG_LS_LOSSLESS:
    case ts.JPEG_LS_NEAR_LOSSLESS:
      return decodeJpegLs(encoded);
    case ts.JPEG_2000_LOSSLESS:
    case ts.JPEG_2000:
      return decodeJpeg2000(encoded, minimumSize ? { minimumSize } : {});
    default:
      throw new Error(`no codec for transfer syntax ${transferSyntaxUid}`);
  }
}

// RLE -------------------------------------------------------------------------------------------

function decodeRle(encoded: Uint8Array, geometry: FrameGeometry): CodecFrame {
  const bytesPerSample = geometry.bitsAllocated / 8;
  if (bytesPerSample !== 1 && bytesPerSample !== 2) throw new Error(`RLE: BitsAllocated ${geometry.bitsAllocated} is not supported`);
  const pixels = geometry.rows * geometry.columns;
  const bytes = decodeRleFrame(encoded, { pixels, samplesPerPixel: geometry.samplesPerPixel, bytesPerSample });
  return {
    width: geometry.columns,
    height: geometry.rows,
    components: geometry.samplesPerPixel,
    samples: bytesPerSample === 1 ? bytes : new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2),
    planar: geometry.samplesPerPixel > 1,
    convertedToRgb: false,
  };
}

// The Emscripten codecs --------------------------------------------------------------------------

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
}

/** The decoder classes of @cornerstonejs/codec-* share this shape (embind objects: call delete()). */
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  delete(): void;
}

interface J2KDecoder extends WasmDecoder {
  decodeSubResolution(decodeLevel: number, decodeLayer: number): void;
  getNumDecompositions(): number;
}

export interface OpenJpegModule {
  J2KDecoder: new () => J2KDecoder;
}
interface CharlsModule {
  JpegLSDecoder: new () => WasmDecoder & { getInterleaveMode(): number };
}
interface LibJpegTurboModule {
  JPEGDecoder: new () => WasmDecoder;
}

const openJpeg = new WasmCodec<OpenJpegModule>('JPEG 2000 (OpenJPEG)', '@cornerstonejs/codec-openjpeg/wasmjs', '@cornerstonejs/codec-openjpeg/wasm');
const charls = new WasmCodec<CharlsModule>('JPEG-LS (CharLS)', '@cornerstonejs/codec-charls/wasmjs', '@cornerstonejs/codec-charls/wasm');
const libJpegTurbo = new WasmCodec<LibJpegTurboModule>(
  'JPEG 8-bit (libjpeg-turbo)',
  '@cornerstonejs/codec-libjpeg-turbo-8bit/wasmjs',
  '@cornerstonejs/codec-libjpeg-turbo-8bit/wasm',
);

/** Copies the decoder's output out of the wasm heap (it is freed with the decoder) as sample words. */
function copySamples(decoded: Uint8Array, bitsPerSample: number): Uint8Array | Uint16Array {
  const copy = decoded.buffer.slice(decoded.byteOffset, decoded.byteOffset + decoded.byteLength) as ArrayBuffer;
  return bitsPerSample <= 8 ? new Uint8Array(copy) : new Uint16Array(copy);
}

/** What a caller needs of an image: decoders that can (JPEG 2000) stop at a coarser resolution that still has this many pixels. */
export interface MinimumSize {
  width: number;
  height: number;
}

/**
 * The coarsest JPEG 2000 resolution level whose image still has at least `minimum` pixels per
 * side: level n holds ceil(size / 2^n) (image offset 0, as DICOM requires), at most the
 * codestream's number of wavelet decompositions. 0 (full resolution) when no level qualifies.
 */
export function coarsestLevel(full: MinimumSize, minimum: MinimumSize, decompositions: number): number {
  let level = 0;
  while (level < decompositions) {
    const next = 2 ** (level + 1);
    if (Math.ceil(full.width / next) < minimum.width || Math.ceil(full.height / next) < minimum.height) break;
    level++;
  }
  return level;
}

/**
 * JPEG 2000 with OpenJPEG. `resolutionLevel` > 0 decodes only the coarser levels of the
 * wavelet pyramid: level n gives an image 2^n times smaller in each direction, much faster
 * (the wavelet's own low-pass image: no aliasing). `minimumSize` chooses that level from the
 * codestream's main header: the coarsest that keeps at least that many pixels per side. Should
 * the header not be read here, or that level fail (a tile with fewer decompositions than the
 * main header says), the full image is decoded instead.
 */
export async function decodeJpeg2000(encoded: Uint8Array, options: { resolutionLevel?: number; minimumSize?: MinimumSize } = {}): Promise<CodecFrame> {
  if (!options.minimumSize) return decodeJpeg2000At(encoded, options.resolutionLevel ?? 0);
  let level = 0;
  try {
    const header = readJ2kMainHeader(encoded);
    level = coarsestLevel(header, options.minimumSize, header.decompositions);
  } catch {
    // a header this reader does not follow: OpenJPEG decodes (or refuses) the full image below
  }
  if (level > 0) {
    try {
      return await decodeJpeg2000At(encoded, level);
    } catch {
      // the full decode below reports what is wrong with the stream, if anything
    }
  }
  return decodeJpeg2000At(encoded, 0);
}

async function decodeJpeg2000At(encoded: Uint8Array, level: number): Promise<CodecFrame> {
  return openJpeg.run((module) => {
    const decoder = new module.J2KDecoder();
    try {
      decoder.getEncodedBuffer(encoded.length).set(encoded);
      if (level > 0) decoder.decodeSubResolution(level, 0);
      else decoder.decode();
      // OpenJPEG reports a broken stream by printing errors and leaving the image empty.
      const info = decoder.getFrameInfo();
      if (info.width === 0 || info.height === 0 || openJpeg.problems().some((line) => /error/i.test(line))) {
        throw new Error('the codestream could not be decoded'); // run() appends what OpenJPEG printed
      }
      // Frame info keeps the full size; a reduced level rounds up (image offset 0, as DICOM requires).
      const width = Math.ceil(info.width / 2 ** level);
      const height = Math.ceil(info.height / 2 ** level);
      const samples = copySamples(decoder.getDecodedBuffer(), info.bitsPerSample);
      if (samples.length < width * height * info.componentCount) throw new Error(`the codec returned ${samples.length} samples for a ${width}x${height} image`);
      // OpenJPEG applies the inverse multi-component transform of YBR_ICT / YBR_RCT streams itself.
      return { width, height, components: info.componentCount, samples, planar: false, convertedToRgb: info.componentCount === 3, resolutionLevel: level };
    } finally {
      decoder.delete();
    }
  });
}

/**
 * The image size and the number of wavelet decompositions from a JPEG 2000 codestream's main
 * header (SIZ and COD marker segments, ITU-T T.800 A.5.1 and A.6.1), in a bare codestream or a
 * JP2 file. Throws when they are not there.
 */
export function readJ2kMainHeader(stream: Uint8Array): { width: number; height: number; decompositions: number } {
  let start = -1;
  // The codestream starts with SOC (FF 4F) then SIZ (FF 51); a JP2 file holds it in a 'jp2c' box.
  for (let i = 0; i + 4 <= Math.min(stream.length, 1 << 16); i++) {
    if (stream[i] === 0xff && stream[i + 1] === 0x4f && stream[i + 2] === 0xff && stream[i + 3] === 0x51) {
      start = i;
      break;
    }
  }
  if (start < 0) throw new Error('JPEG 2000: no codestream (SOC + SIZ markers) at the start of the data');
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  let offset = start + 2;
  let size: { width: number; height: number } | null = null;
  while (offset + 4 <= stream.length) {
    const marker = view.getUint16(offset);
    const length = view.getUint16(offset + 2);
    if (marker === 0xff51 && offset + 20 <= stream.length) {
      // Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz: the image area is [XOsiz, Xsiz) x [YOsiz, Ysiz).
      size = { width: view.getUint32(offset + 6) - view.getUint32(offset + 14), height: view.getUint32(offset + 10) - view.getUint32(offset + 18) };
    } else if (marker === 0xff52 && offset + 10 <= stream.length) {
      // Lcod, Scod, SGcod (progression order, layers, MCT), then SPcod's number of decomposition levels.
      if (!size) break;
      return { ...size, decompositions: stream[offset + 9]! };
    } else if (marker === 0xff90 || marker === 0xff93) {
      break; // a tile part (SOT) or data (SOD) before COD: not a valid main header
    }
    offset += 2 + length;
  }
  throw new Error('JPEG 2000: the main header has no SIZ and COD marker segments');
}

async function decodeJpegLs(encoded: Uint8Array): Promise<CodecFrame> {
  checkEndOfImage(encoded, 'JPEG-LS');
  return charls.run((module) => {
    const decoder = new module.JpegLSDecoder();
    try {
      decoder.getEncodedBuffer(encoded.length).set(encoded);
      decoder.decode();
      const info = decoder.getFrameInfo();
      const samples = copySamples(decoder.getDecodedBuffer(), info.bitsPerSample);
      // Interleave mode 0 ("none") keeps each component in its own scan, i.e. planes.
      const planar = info.componentCount > 1 && decoder.getInterleaveMode() === 0;
      return { width: info.width, height: info.height, components: info.componentCount, samples, planar, convertedToRgb: false };
    } finally {
      decoder.delete();
    }
  });
}

// JPEG (ISO 10918) -------------------------------------------------------------------------------

/** The start-of-frame markers: SOF0-3, 5-7, 9-11, 13-15 (C4 is DHT, C8 is reserved, CC is DAC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** Reads the frame header (SOFn) of a JPEG stream: which process and how many bits per sample. */
export function readJpegFrameHeader(stream: Uint8Array): { marker: number; precision: number } {
  if (stream[0] !== 0xff || stream[1] !== 0xd8) throw new Error('JPEG: the stream does not start with an SOI marker');
  let offset = 2;
  while (offset + 4 <= stream.length) {
    if (stream[offset] !== 0xff) throw new Error(`JPEG: expected a marker at byte ${offset}`);
    const marker = stream[offset + 1]!;
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    const length = (stream[offset + 2]! << 8) | stream[offset + 3]!;
    if (isStartOfFrame(marker)) {
      const precision = stream[offset + 4];
      if (precision === undefined) break;
      return { marker, precision };
    }
    if (marker === 0xda) break; // start of scan before any frame header
    offset += 2 + length;
  }
  throw new Error('JPEG: no frame header (SOF marker) before the image data');
}

/**
 * A JPEG or JPEG-LS stream ends with an EOI marker (FF D9), perhaps followed by a padding byte.
 * Without it the stream is truncated; the 12-bit and lossless decoders would quietly return a
 * partly grey image, so this is checked for every JPEG-family stream. (FF D9 cannot occur inside
 * entropy-coded data, where FF is always followed by 00 or a restart marker.)
 */
export function checkEndOfImage(stream: Uint8Array, format: string): void {
  const tail = stream.subarray(Math.max(0, stream.length - 8));
  for (let i = tail.length - 2; i >= 0; i--) if (tail[i] === 0xff && tail[i + 1] === 0xd9) return;
  throw new Error(`${format}: the stream does not end with an EOI marker; it is truncated`);
}

const SOF3_LOSSLESS = 0xc3;

async function decodeJpeg(encoded: Uint8Array, geometry: FrameGeometry): Promise<CodecFrame> {
  const { marker, precision } = readJpegFrameHeader(encoded);
  checkEndOfImage(encoded, 'JPEG');
  if (marker === SOF3_LOSSLESS) return decodeJpegLossless(encoded);
  if (precision <= 8) return decodeJpeg8(encoded);
  return decodeJpeg12(encoded, geometry, precision);
}

async function decodeJpeg8(encoded: Uint8Array): Promise<CodecFrame> {
  return libJpegTurbo.run((module) => {
    const decoder = new module.JPEGDecoder();
    try {
      decoder.getEncodedBuffer(encoded.length).set(encoded);
      decoder.decode();
      const info = decoder.getFrameInfo();
      const samples = copySamples(decoder.getDecodedBuffer(), 8);
      // libjpeg-turbo converts 3-component streams to RGB.
      return { width: info.width, height: info.height, components: info.componentCount, samples, planar: false, convertedToRgb: info.componentCount === 3 };
    } finally {
      decoder.delete();
    }
  });
}

let dcmjsCodecs: Promise<typeof DcmjsCodecs> | undefined;

/** dcmjs-codecs bundles IJG libjpeg built for 8, 12 and 16 bits; it is the one installed decoder for 12-bit lossy JPEG. */
function loadDcmjsCodecs(): Promise<typeof DcmjsCodecs> {
  dcmjsCodecs ??= (async () => {
    const library = require('dcmjs-codecs') as typeof DcmjsCodecs;
    const wasmFile = path.join(path.dirname(require.resolve('dcmjs-codecs')), 'dcmjs-native-codecs.wasm');
    await library.NativeCodecs.initializeAsync({ webAssemblyModulePathOrUrl: wasmFile });
    return library;
  })().catch((error: unknown) => {
    dcmjsCodecs = undefined;
    throw new Error(`JPEG 12-bit (dcmjs-codecs): the codec could not be loaded: ${(error as Error).message}`, { cause: error });
  });
  return dcmjsCodecs;
}

async function decodeJpeg12(encoded: Uint8Array, geometry: FrameGeometry, precision: number): Promise<CodecFrame> {
  const library = await loadDcmjsCodecs();
  const context = new library.Context({
    width: geometry.columns,
    height: geometry.rows,
    bitsAllocated: 16,
    bitsStored: precision,
    samplesPerPixel: geometry.samplesPerPixel,
    pixelRepresentation: geometry.signed ? 1 : 0,
    planarConfiguration: 0,
    photometricInterpretation: geometry.photometricInterpretation,
    encodedBuffer: encoded,
  });
  let decoded: Uint8Array | undefined;
  try {
    decoded = library.NativeCodecs.decodeJpeg(context, { convertColorspaceToRgb: true }).getDecodedBuffer();
  } catch (error) {
    if (isWasmTrap(error)) dcmjsCodecs = undefined; // the instance is unusable; load a fresh one next time
    throw new Error(`JPEG ${precision}-bit (dcmjs-codecs): ${(error as Error).message}`, { cause: error });
  }
  const expected = geometry.rows * geometry.columns * geometry.samplesPerPixel * 2;
  if (!decoded || decoded.length < expected) throw new Error(`JPEG ${precision}-bit (dcmjs-codecs): decoded ${decoded?.length ?? 0} bytes, expected ${expected}`);
  return {
    width: geometry.columns,
    height: geometry.rows,
    components: geometry.samplesPerPixel,
    samples: copySamples(decoded.subarray(0, expected), 16),
    planar: false,
    convertedToRgb: geometry.samplesPerPixel === 3,
  };
}

interface LosslessDecoder {
  decode(buffer: ArrayBuffer, offset: number, length: number): Uint8Array | Uint16Array;
  xDim: number;
  yDim: number;
  numComp: number;
}

async function decodeJpegLossless(encoded: Uint8Array): Promise<CodecFrame> {
  const { Decoder } = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };
  const decoder = new Decoder();
  let samples: Uint8Array | Uint16Array;
  try {
    samples = decoder.decode(encoded.buffer as ArrayBuffer, encoded.byteOffset, encoded.length);
  } catch (error) {
    throw new Error(`JPEG Lossless (jpeg-lossless-decoder-js): ${(error as Error).message}`, { cause: error });
  }
  return { width: decoder.xDim, height: decoder.yDim, components: decoder.numComp, samples, planar: false, convertedToRgb: false };
}
