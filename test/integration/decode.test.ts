// The decoding corpus. Two mini-MIAS films (a left and a right breast of one woman) are written
// here as MG "For Presentation" DICOM with dcmjs, then transcoded by dcmtk and GDCM into every
// transfer syntax the decoder supports, in a temporary directory. Each file is checked with
// dcmdump to carry the intended transfer syntax, decoded, and compared with the source pixels
// of the PGM (not with another decode): exactly for lossless syntaxes, within stated bounds for
// lossy ones. Then the two real samples in ../shared/data/dicom, and the bad inputs.
//
// Needs dcmtk (dcmconv, dcmcrle, dcmcjpeg, dcmcjpls, dcmdump) and GDCM (gdcmconv, package
// libgdcm-tools). Set MAMMOCAD_SHARED_DATA_DIR to read the shared data from elsewhere.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DicomParseError, PixelDecodeError, UnsupportedTransferSyntaxError } from '../../src/domain/errors.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { decodeImage, type DecodedImage } from '../../src/dicom/pixels/decode-image.js';
import * as ts from '../../src/dicom/pixels/transfer-syntaxes.js';
import { needsSharedData, sharedData, sharedFile } from '../support/shared-data.js';

const run = promisify(execFile);
const MIAS = sharedData('mias').dir;
const SAMPLES = sharedData('dicom').dir;
/** mini-MIAS pairs a right (odd number) and a left (even number) film of one woman; the PGM shows the right breast on the right, the left on the left. */
const RIGHT_FILM = 'mdb003';
const LEFT_FILM = 'mdb004';
const MIAS_SPACING_MM = 0.2;
const MG_FOR_PRESENTATION = '1.2.840.10008.5.1.4.1.1.1.2';
const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
const MPEG2_MAIN_PROFILE = '1.2.840.10008.1.2.4.100';
const TOOLS = ['dcmconv', 'dcmcrle', 'dcmcjpeg', 'dcmcjpls', 'dcmdump', 'gdcmconv'];

// Source images -------------------------------------------------------------------------------

interface Film {
  width: number;
  height: number;
  /** 8-bit grey values, row-major, as in the PGM. */
  values: Uint8Array;
}

/** A binary PGM (P5, maxval < 256), comments allowed in the header. */
function readPgm(file: string): Film {
  const bytes = readFileSync(file);
  const fields: string[] = [];
  let offset = 0;
  while (fields.length < 4) {
    while (/\s/.test(String.fromCharCode(bytes[offset]!))) offset++;
    if (bytes[offset] === 0x23) {
      while (bytes[offset] !== 0x0a) offset++;
      continue;
    }
    let field = '';
    while (!/\s/.test(String.fromCharCode(bytes[offset]!))) field += String.fromCharCode(bytes[offset++]!);
    fields.push(field);
  }
  const [magic, width, height, maxValue] = [fields[0], Number(fields[1]), Number(fields[2]), Number(fields[3])];
  if (magic !== 'P5' || maxValue > 255) throw new Error(`${file}: expected an 8-bit binary PGM`);
  return { width, height, values: new Uint8Array(bytes.subarray(offset + 1, offset + 1 + width * height)) };
}

/** What a decode of a file made from `film` should give, pixel by pixel: `f(value, index)`, mirrored when `mirror`. */
function expected(film: Film, f: (value: number, index: number) => number, mirror = false): Float32Array {
  const out = new Float32Array(film.width * film.height);
  for (let y = 0; y < film.height; y++) {
    for (let x = 0; x < film.width; x++) {
      const source = y * film.width + x;
      out[y * film.width + (mirror ? film.width - 1 - x : x)] = f(film.values[source]!, source);
    }
  }
  return out;
}

// Writing DICOM with dcmjs ----------------------------------------------------------------------

interface ImageSpec {
  film: Film;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  signed?: boolean;
  photometric?: 'MONOCHROME1' | 'MONOCHROME2';
  /** Stored word for each pixel. */
  store: (value: number, index: number) => number;
  attributes?: Record<string, unknown>;
}

function writeMammogram(file: string, spec: ImageSpec): void {
  const { film, bitsAllocated, bitsStored } = spec;
  const words = bitsAllocated === 8 ? new Uint8Array(film.values.length) : spec.signed ? new Int16Array(film.values.length) : new Uint16Array(film.values.length);
  for (let i = 0; i < words.length; i++) words[i] = spec.store(film.values[i]!, i);
  writeDataset(file, {
    SOPClassUID: MG_FOR_PRESENTATION,
    SOPInstanceUID: dcmjs.data.DicomMetaDictionary.uid(),
    StudyInstanceUID: dcmjs.data.DicomMetaDictionary.uid(),
    SeriesInstanceUID: dcmjs.data.DicomMetaDictionary.uid(),
    Modality: 'MG',
    PresentationIntentType: 'FOR PRESENTATION',
    PatientID: 'MIAS',
    SamplesPerPixel: 1,
    PhotometricInterpretation: spec.photometric ?? 'MONOCHROME2',
    Rows: film.height,
    Columns: film.width,
    BitsAllocated: bitsAllocated,
    BitsStored: bitsStored,
    HighBit: bitsStored - 1,
    PixelRepresentation: spec.signed ? 1 : 0,
    ImagerPixelSpacing: [MIAS_SPACING_MM, MIAS_SPACING_MM],
    ...spec.attributes,
    PixelData: [words.buffer],
    _vrMap: { PixelData: bitsAllocated === 8 ? 'OB' : 'OW', PixelPaddingValue: spec.signed ? 'SS' : 'US' },
  });
}

function writeDataset(file: string, dataset: Record<string, unknown>, transferSyntaxUid = ts.EXPLICIT_VR_LITTLE_ENDIAN): void {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: transferSyntaxUid,
    ImplementationClassUID: '1.2.826.0.1.3680043.10.1137.1',
  };
  const dict = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(dataset);
  writeFileSync(file, Buffer.from(dict.write()));
}

// The corpus ------------------------------------------------------------------------------------

/** 12-bit words from the 8-bit film: scaled by 16 so they span the 12-bit range. */
const TWELVE_BIT = (v: number) => v * 16;
const RESCALE = { slope: 0.5, intercept: -100 };
const PADDING_VALUE = 4095; // written where the film is 0 (outside the breast): above every real value (255 x 16)
const SIGNED_OFFSET = 2048; // the signed twin stores v x 16 - 2048 and says RescaleIntercept 2048

interface Derived {
  name: string;
  /** Source file in the corpus directory. */
  from: string;
  transferSyntaxUid: string;
  /** Command and arguments; the input and output paths are appended. */
  command: string[];
}

const LOSSLESS: Derived[] = [
  { name: 'implicit VR little endian', from: 'left12', transferSyntaxUid: ts.IMPLICIT_VR_LITTLE_ENDIAN, command: ['dcmconv', '+ti'] },
  { name: 'explicit VR little endian', from: 'left12', transferSyntaxUid: ts.EXPLICIT_VR_LITTLE_ENDIAN, command: ['dcmconv', '+te'] },
  { name: 'explicit VR big endian', from: 'left12', transferSyntaxUid: ts.EXPLICIT_VR_BIG_ENDIAN, command: ['dcmconv', '+tb'] },
  { name: 'deflated explicit VR little endian', from: 'left12', transferSyntaxUid: ts.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, command: ['dcmconv', '+td'] },
  { name: 'RLE lossless, 16-bit', from: 'left12', transferSyntaxUid: ts.RLE_LOSSLESS, command: ['dcmcrle'] },
  { name: 'RLE lossless, 8-bit', from: 'left8', transferSyntaxUid: ts.RLE_LOSSLESS, command: ['dcmcrle'] },
  { name: 'JPEG lossless, process 14', from: 'left12', transferSyntaxUid: ts.JPEG_LOSSLESS_PROCESS_14, command: ['dcmcjpeg', '+el'] },
  { name: 'JPEG lossless, SV1', from: 'left12', transferSyntaxUid: ts.JPEG_LOSSLESS_SV1, command: ['dcmcjpeg', '+e1'] },
  { name: 'JPEG-LS lossless', from: 'left12', transferSyntaxUid: ts.JPEG_LS_LOSSLESS, command: ['dcmcjpls', '+el'] },
  { name: 'JPEG 2000 lossless, 12-bit', from: 'left12', transferSyntaxUid: ts.JPEG_2000_LOSSLESS, command: ['gdcmconv', '--j2k'] },
  { name: 'JPEG 2000 lossless, 8-bit', from: 'left8', transferSyntaxUid: ts.JPEG_2000_LOSSLESS, command: ['gdcmconv', '--j2k'] },
  { name: 'signed, RLE lossless', from: 'signed12', transferSyntaxUid: ts.RLE_LOSSLESS, command: ['dcmcrle'] },
  { name: 'signed, JPEG lossless SV1', from: 'signed12', transferSyntaxUid: ts.JPEG_LOSSLESS_SV1, command: ['dcmcjpeg', '+e1'] },
  { name: 'signed, JPEG-LS lossless', from: 'signed12', transferSyntaxUid: ts.JPEG_LS_LOSSLESS, command: ['dcmcjpls', '+el'] },
  { name: 'signed, JPEG 2000 lossless', from: 'signed12', transferSyntaxUid: ts.JPEG_2000_LOSSLESS, command: ['gdcmconv', '--j2k'] },
];

/**
 * Lossy syntaxes, each with the error it may add, in grey levels of the file's own scale, and why:
 * - JPEG baseline at dcmcjpeg's default IJG quality 90 quantises with the standard tables x 0.2,
 *   steps of 2 to 24 grey levels; errors average well under one level (measured MAE 0.41, max
 *   17): bounds MAE 1, max 24 (one coarsest step).
 * - JPEG extended 12-bit at quality 90 uses the same steps on the 12-bit scale (measured MAE 1.7,
 *   max 19 of 4095): bounds MAE 3, max 48 (two coarsest steps), about 0.1% of full scale on average.
 * - JPEG-LS near-lossless with NEAR = 2 guarantees |error| <= 2 per pixel: bounds MAE 2, max 2.
 * - JPEG 2000 at a 10:1 compression ratio (gdcmconv -r 10; the source carries 8 bits of
 *   information in 12) is visually lossless (measured MAE 1.9, max 24): bounds MAE 4, max 64,
 *   i.e. under a quarter and four 8-bit grey levels (16 units each).
 */
const LOSSY: Array<Derived & { maxMeanError: number; maxError: number }> = [
  { name: 'JPEG baseline, 8-bit', from: 'left8', transferSyntaxUid: ts.JPEG_BASELINE_8BIT, command: ['dcmcjpeg', '+eb'], maxMeanError: 1, maxError: 24 },
  { name: 'JPEG extended, 12-bit', from: 'left12', transferSyntaxUid: ts.JPEG_EXTENDED_12BIT, command: ['dcmcjpeg', '+ee'], maxMeanError: 3, maxError: 48 },
  { name: 'JPEG-LS near-lossless (NEAR 2)', from: 'left12', transferSyntaxUid: ts.JPEG_LS_NEAR_LOSSLESS, command: ['dcmcjpls', '+en', '+md', '2'], maxMeanError: 2, maxError: 2 },
  { name: 'JPEG 2000 lossy, 10:1', from: 'left12', transferSyntaxUid: ts.JPEG_2000, command: ['gdcmconv', '--j2k', '--lossy', '-r', '10'], maxMeanError: 4, maxError: 64 },
];

/**
 * Colour (SamplesPerPixel 3, as in secondary captures): an RGB image whose three channels differ
 * (so interleaving or plane mix-ups show) while its luminance still follows the film.
 */
const RGB_FROM_GREY = (v: number): [number, number, number] => [v, v ^ 0x0f, 255 - v];
const luminance = (v: number) => {
  const [r, g, b] = RGB_FROM_GREY(v);
  return 0.299 * r + 0.587 * g + 0.114 * b;
};
const COLOUR: Array<Derived & { maxMeanError: number; maxError: number }> = [
  { name: 'RGB, explicit VR little endian', from: 'rgb', transferSyntaxUid: ts.EXPLICIT_VR_LITTLE_ENDIAN, command: ['dcmconv', '+te'], maxMeanError: 0, maxError: 0 },
  { name: 'RGB, RLE lossless (planes)', from: 'rgb', transferSyntaxUid: ts.RLE_LOSSLESS, command: ['dcmcrle'], maxMeanError: 0, maxError: 0 },
  { name: 'RGB, JPEG lossless SV1', from: 'rgb', transferSyntaxUid: ts.JPEG_LOSSLESS_SV1, command: ['dcmcjpeg', '+e1'], maxMeanError: 0, maxError: 0 },
  { name: 'RGB, JPEG-LS lossless', from: 'rgb', transferSyntaxUid: ts.JPEG_LS_LOSSLESS, command: ['dcmcjpls', '+el'], maxMeanError: 0, maxError: 0 },
  { name: 'RGB, JPEG 2000 lossless (RCT)', from: 'rgb', transferSyntaxUid: ts.JPEG_2000_LOSSLESS, command: ['gdcmconv', '--j2k'], maxMeanError: 0, maxError: 0 },
  // YBR_FULL_422 at quality 90: chroma is subsampled, but luma is what we keep (bounds as for grey baseline).
  { name: 'RGB, JPEG baseline (YBR_FULL_422)', from: 'rgb', transferSyntaxUid: ts.JPEG_BASELINE_8BIT, command: ['dcmcjpeg', '+eb'], maxMeanError: 1, maxError: 24 },
];

let dir: string;
let left: Film;
let right: Film;

const corpusFile = (name: string) => path.join(dir, `${name}.dcm`);
const derivedName = (d: Derived) => `${d.from}-${d.name.replace(/[^a-z0-9]+/gi, '-')}`;

async function decodeFile(file: string): Promise<DecodedImage> {
  return decodeImage(readPart10(readFileSync(file), file));
}

/** The transfer syntax dcmdump reads from a file's meta header. */
async function dumpedTransferSyntax(file: string): Promise<string> {
  const { stdout } = await run('dcmdump', ['-Un', '+P', '0002,0010', file]);
  return /\[([\d.]+)\]/.exec(stdout)?.[1] ?? `(dcmdump printed: ${stdout.trim()})`;
}

/** How far `actual` is from `wanted`: pixels that differ, mean and largest absolute error. */
function difference(actual: Float32Array, wanted: Float32Array) {
  let mismatches = 0;
  let total = 0;
  let largest = 0;
  let firstMismatch = -1;
  for (let i = 0; i < wanted.length; i++) {
    const error = Math.abs(actual[i]! - wanted[i]!);
    if (error > 0) {
      mismatches++;
      if (firstMismatch < 0) firstMismatch = i;
    }
    total += error;
    if (error > largest) largest = error;
  }
  return { mismatches, firstMismatch, meanError: total / wanted.length, maxError: largest };
}

/** Little-endian 16-bit words from bytes (copied: the bytes may be an unaligned view into a Buffer). */
function words16(bytes: Uint8Array): Uint16Array {
  return new Uint16Array(new Uint8Array(bytes).buffer);
}

/** Smallest and largest value (spreading a megapixel array into Math.min overflows the stack). */
function extremes(values: ArrayLike<number>): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i]! < min) min = values[i]!;
    if (values[i]! > max) max = values[i]!;
  }
  return [min, max];
}

/** Intensity mass of the left and right halves above the image's minimum. */
function halfMasses(image: DecodedImage): { left: number; right: number } {
  let leftMass = 0;
  let rightMass = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const v = image.pixels[y * image.width + x]! - image.minValue;
      if (x < image.width / 2) leftMass += v;
      else rightMass += v;
    }
  }
  return { left: leftMass, right: rightMass };
}

beforeAll(async () => {
  const missing: string[] = [];
  for (const tool of TOOLS) await run('which', [tool]).catch(() => missing.push(tool));
  if (missing.length > 0) throw new Error(`the decoding corpus needs ${missing.join(', ')} (Debian packages dcmtk and libgdcm-tools)`);

  dir = mkdtempSync(path.join(tmpdir(), 'mammocad-decode-'));
  left = readPgm(sharedFile('mias', `${LEFT_FILM}.pgm`));
  right = readPgm(sharedFile('mias', `${RIGHT_FILM}.pgm`));

  writeMammogram(corpusFile('left8'), { film: left, bitsAllocated: 8, bitsStored: 8, store: (v) => v, attributes: { ImageLaterality: 'L' } });
  writeMammogram(corpusFile('left12'), { film: left, bitsAllocated: 16, bitsStored: 12, store: TWELVE_BIT, attributes: { ImageLaterality: 'L' } });
  // No laterality in the header: orientation must come from the pixels.
  writeMammogram(corpusFile('right12'), { film: right, bitsAllocated: 16, bitsStored: 12, store: TWELVE_BIT });
  writeMammogram(corpusFile('left12-monochrome1'), { film: left, bitsAllocated: 16, bitsStored: 12, photometric: 'MONOCHROME1', store: (v) => 4095 - v * 16 });
  writeMammogram(corpusFile('left12-rescale-padding'), {
    film: left,
    bitsAllocated: 16,
    bitsStored: 12,
    // Odd pixels carry junk in the four unused high bits (as overlay bits would), which must be masked.
    store: (v, i) => (v === 0 ? PADDING_VALUE : v * 16) | (i % 2 ? 0xa000 : 0),
    attributes: { RescaleSlope: RESCALE.slope, RescaleIntercept: RESCALE.intercept, PixelPaddingValue: PADDING_VALUE, PixelSpacing: [0.19, 0.21] },
  });
  writeMammogram(corpusFile('signed12'), {
    film: left,
    bitsAllocated: 16,
    bitsStored: 12,
    signed: true,
    store: (v) => v * 16 - SIGNED_OFFSET,
    attributes: { RescaleIntercept: SIGNED_OFFSET, RescaleSlope: 1 },
  });

  const rgb = new Uint8Array(left.values.length * 3);
  left.values.forEach((v, i) => rgb.set(RGB_FROM_GREY(v), 3 * i));
  writeDataset(corpusFile('rgb'), {
    SOPClassUID: SECONDARY_CAPTURE,
    SOPInstanceUID: dcmjs.data.DicomMetaDictionary.uid(),
    Modality: 'OT',
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: left.height,
    Columns: left.width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [rgb.buffer],
    _vrMap: { PixelData: 'OB' },
  });

  // Transcode in parallel; GDCM's lossy mode prints a warning on stderr, which is expected.
  await Promise.all([...LOSSLESS, ...LOSSY, ...COLOUR].map((d) => run(d.command[0]!, [...d.command.slice(1), corpusFile(d.from), corpusFile(derivedName(d))])));
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('lossless transfer syntaxes decode to the source pixels exactly', needsSharedData('mias'), () => {
  it.each(LOSSLESS)('$name', async (derived) => {
    const file = corpusFile(derivedName(derived));
    expect(await dumpedTransferSyntax(file)).toBe(derived.transferSyntaxUid);
    const image = await decodeFile(file);
    expect(image.transferSyntaxUid).toBe(derived.transferSyntaxUid);
    expect([image.width, image.height]).toEqual([left.width, left.height]);
    const eightBit = derived.from === 'left8';
    expect(image.bitsStored).toBe(eightBit ? 8 : 12);
    expect(image.pixelSpacingMm).toEqual([MIAS_SPACING_MM, MIAS_SPACING_MM]);
    expect(image.flippedHorizontally).toBe(false);
    // The signed twin's rescale intercept brings it back to v x 16.
    const wanted = expected(left, eightBit ? (v) => v : TWELVE_BIT);
    expect(difference(image.pixels, wanted)).toMatchObject({ mismatches: 0 });
    expect([image.minValue, image.maxValue]).toEqual(extremes(wanted));
  });
});

describe('lossy transfer syntaxes decode within their stated error bounds', needsSharedData('mias'), () => {
  it.each(LOSSY)('$name: mean error <= $maxMeanError, max error <= $maxError', async (derived) => {
    const file = corpusFile(derivedName(derived));
    expect(await dumpedTransferSyntax(file)).toBe(derived.transferSyntaxUid);
    const image = await decodeFile(file);
    expect(image.transferSyntaxUid).toBe(derived.transferSyntaxUid);
    expect([image.width, image.height, image.flippedHorizontally]).toEqual([left.width, left.height, false]);
    const eightBit = derived.from === 'left8';
    const { meanError, maxError, mismatches } = difference(image.pixels, expected(left, eightBit ? (v) => v : TWELVE_BIT));
    expect(mismatches).toBeGreaterThan(0); // it really is lossy, so the bounds mean something
    expect(meanError).toBeLessThanOrEqual(derived.maxMeanError);
    expect(maxError).toBeLessThanOrEqual(derived.maxError);
  });
});

describe('colour images decode to their luminance', needsSharedData('mias'), () => {
  it.each(COLOUR)('$name: mean error <= $maxMeanError, max error <= $maxError', async (derived) => {
    const file = corpusFile(derivedName(derived));
    expect(await dumpedTransferSyntax(file)).toBe(derived.transferSyntaxUid);
    const image = await decodeFile(file);
    expect([image.width, image.height, image.flippedHorizontally]).toEqual([left.width, left.height, false]);
    const { meanError, maxError } = difference(image.pixels, expected(left, luminance));
    expect(meanError).toBeLessThanOrEqual(derived.maxMeanError);
    expect(maxError).toBeLessThanOrEqual(derived.maxError);
  });
});

describe('pixel transforms', needsSharedData('mias'), () => {
  it('decodes MONOCHROME1 inverted, to the same grey values as its MONOCHROME2 twin', async () => {
    const image = await decodeFile(corpusFile('left12-monochrome1'));
    expect(image.photometricInterpretation).toBe('MONOCHROME1');
    expect(difference(image.pixels, expected(left, TWELVE_BIT))).toMatchObject({ mismatches: 0 });
    // The raw stored values really are inverted: bright breast tissue is stored low.
    const stored = words16(readPart10(readFileSync(corpusFile('left12-monochrome1')), 'm1').frames.get(0));
    const brightest = left.values.indexOf(extremes(left.values)[1]);
    expect(stored[brightest]).toBe(4095 - left.values[brightest]! * 16);
  });

  it('applies RescaleSlope/Intercept, masks unused high bits and sets padding to the background', async () => {
    const image = await decodeFile(corpusFile('left12-rescale-padding'));
    const isPadding = (v: number) => v === 0;
    const paddingCount = left.values.filter(isPadding).length;
    expect(paddingCount).toBeGreaterThan(100_000); // the film's black surround
    expect(image.paddingPixels).toBe(paddingCount);
    const lowest = extremes(left.values.filter((v) => !isPadding(v)))[0] * 16 * RESCALE.slope + RESCALE.intercept;
    const wanted = expected(left, (v) => (isPadding(v) ? lowest : v * 16 * RESCALE.slope + RESCALE.intercept));
    expect(difference(image.pixels, wanted)).toMatchObject({ mismatches: 0 });
    expect(image.minValue).toBe(lowest);
    expect(image.maxValue).toBe(extremes(left.values)[1] * 16 * RESCALE.slope + RESCALE.intercept);
    expect(image.pixelSpacingMm).toEqual([0.19, 0.21]); // PixelSpacing wins over ImagerPixelSpacing
  });

  it('flips a right breast so that left and right both end up with the breast on the left', async () => {
    const [leftImage, rightImage] = await Promise.all([decodeFile(corpusFile('left12')), decodeFile(corpusFile('right12'))]);
    expect(leftImage.flippedHorizontally).toBe(false);
    expect(rightImage.flippedHorizontally).toBe(true);
    expect(difference(rightImage.pixels, expected(right, TWELVE_BIT, true))).toMatchObject({ mismatches: 0 });
    for (const image of [leftImage, rightImage]) {
      const { left: leftMass, right: rightMass } = halfMasses(image);
      expect(leftMass).toBeGreaterThan(2 * rightMass);
    }
  });
});

// The corpus folder (beforeAll, from mini-MIAS) holds GDCM's reference decode.
describe('real samples', needsSharedData('mias', 'dicom'), () => {
  it('decodes the NEMA WG04 MG1 JPEG 2000 mammogram bit-exactly against GDCM', async () => {
    const file = path.join(SAMPLES, 'nema-wg04-mg1-j2ki.dcm');
    const reference = path.join(dir, 'nema-raw.dcm');
    await run('gdcmconv', ['--raw', file, reference]);
    const image = await decodeFile(file);
    expect(image).toMatchObject({ width: 3064, height: 4664, bitsStored: 12, transferSyntaxUid: ts.JPEG_2000, photometricInterpretation: 'MONOCHROME2' });
    expect(image.pixelSpacingMm).toBeNull(); // a film scan stored as secondary capture: no spacing attributes
    expect(image.flippedHorizontally).toBe(false); // a left MLO with the breast on the left
    const stored = words16(readPart10(readFileSync(reference), reference).frames.get(0));
    expect(difference(image.pixels, Float32Array.from(stored))).toMatchObject({ mismatches: 0 });
    expect(image.minValue).toBeGreaterThanOrEqual(0);
    expect(image.maxValue).toBeLessThanOrEqual(4095);
    expect(image.maxValue - image.minValue).toBeGreaterThan(3000); // uses the 12-bit range, not 8
  });

  it('decodes the Clunie MG explicit little endian sample', async () => {
    const file = path.join(SAMPLES, 'clunie-mg-explicit-little.dcm');
    const image = await decodeFile(file);
    expect(image).toMatchObject({ width: 512, height: 512, bitsStored: 8, transferSyntaxUid: ts.EXPLICIT_VR_LITTLE_ENDIAN });
    expect(image.pixelSpacingMm).toEqual([0.25, 0.25]); // PixelSpacing, not ImagerPixelSpacing (0.5)
    const stored = readPart10(readFileSync(file), file).frames.get(0);
    const film: Film = { width: 512, height: 512, values: stored };
    expect(difference(image.pixels, expected(film, (v) => v, image.flippedHorizontally))).toMatchObject({ mismatches: 0 });
  });
});

describe('bad input', needsSharedData('mias'), () => {
  it('reports a truncated file as a parse error naming the file', () => {
    const file = corpusFile('left12');
    const bytes = readFileSync(file);
    const cut = bytes.subarray(0, Math.floor(bytes.length * 0.6));
    const parse = () => readPart10(cut, file);
    expect(parse).toThrow(DicomParseError);
    expect(parse).toThrow(`${file}: truncated: the 2097152-byte value of element (7FE0,0010)`);
  });

  it('reports bytes that are not DICOM as a parse error', () => {
    const file = path.join(MIAS, `${LEFT_FILM}.pgm`);
    const parse = () => readPart10(readFileSync(file), file);
    expect(parse).toThrow(DicomParseError);
    expect(parse).toThrow(`${file}: not a DICOM Part 10 file`);
  });

  it('reports missing PixelData when decoding, not when parsing', async () => {
    const file = path.join(dir, 'no-pixels.dcm');
    writeDataset(file, { SOPClassUID: MG_FOR_PRESENTATION, SOPInstanceUID: '1.2.3.4', Modality: 'MG', Rows: 16, Columns: 16, BitsAllocated: 8 });
    const parsed = readPart10(readFileSync(file), file);
    expect(parsed.hasPixelData).toBe(false);
    expect(parsed.dataset.Rows).toBe(16);
    await expect(decodeImage(parsed)).rejects.toThrow(PixelDecodeError);
    await expect(decodeImage(parsed)).rejects.toThrow(`${file}: the data set has no PixelData (7FE0,0010)`);
  });

  it('reports pixel data shorter than Rows x Columns x BitsAllocated/8', async () => {
    const file = path.join(dir, 'short.dcm');
    const half: Film = { width: left.width, height: left.height / 2, values: left.values.subarray(0, left.values.length / 2) };
    writeMammogram(file, { film: half, bitsAllocated: 16, bitsStored: 12, store: TWELVE_BIT, attributes: { Rows: left.height } });
    const decode = decodeImage(readPart10(readFileSync(file), file));
    await expect(decode).rejects.toThrow(PixelDecodeError);
    await expect(decode).rejects.toThrow(`${file}: pixel data is shorter than declared: PixelData holds 1048576 bytes, frame 0 needs bytes 0-2097152`);
  });

  it('refuses a transfer syntax it has no decoder for (MPEG-2)', async () => {
    const file = path.join(dir, 'mpeg2.dcm');
    const source = readFileSync(corpusFile(derivedName(LOSSY[0]!)));
    const message = dcmjs.data.DicomMessage.readFile(new Uint8Array(source).buffer);
    message.meta['00020010'] = { vr: 'UI', Value: [MPEG2_MAIN_PROFILE] };
    writeFileSync(file, Buffer.from(message.write()));
    expect(await dumpedTransferSyntax(file)).toBe(MPEG2_MAIN_PROFILE);
    const decode = decodeImage(readPart10(readFileSync(file), file));
    await expect(decode).rejects.toThrow(UnsupportedTransferSyntaxError);
    await expect(decode).rejects.toThrow(`${file}: unsupported transfer syntax ${MPEG2_MAIN_PROFILE}`);
  });

  it('reports a 12-bit JPEG stream cut short inside an intact file (libjpeg alone would fill in grey)', async () => {
    const file = path.join(dir, 'cut-jpeg.dcm');
    const source = readFileSync(corpusFile(derivedName(LOSSY.find((d) => d.transferSyntaxUid === ts.JPEG_EXTENDED_12BIT)!)));
    const message = dcmjs.data.DicomMessage.readFile(new Uint8Array(source).buffer);
    const pixelData = message.dict['7FE00010']!;
    const stream = pixelData.Value![0] as ArrayBuffer;
    pixelData.Value = [stream.slice(0, Math.floor(stream.byteLength / 4) * 2)];
    writeFileSync(file, Buffer.from(message.write({ fragmentMultiframe: false })));
    const decode = decodeImage(readPart10(readFileSync(file), file));
    await expect(decode).rejects.toThrow(PixelDecodeError);
    await expect(decode).rejects.toThrow('JPEG: the stream does not end with an EOI marker; it is truncated');
  });

  it('reports a corrupt JPEG 2000 codestream, and the codec keeps working afterwards', async () => {
    const good = corpusFile(derivedName(LOSSLESS.find((d) => d.name === 'JPEG 2000 lossless, 12-bit')!));
    const bytes = new Uint8Array(readFileSync(good));
    // Flip the bytes of the SIZ marker that follows the codestream's SOC marker (FF 4F FF 51).
    const soc = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0x4f && bytes[i + 2] === 0xff && bytes[i + 3] === 0x51);
    expect(soc).toBeGreaterThan(0);
    for (let i = soc + 2; i < soc + 12; i++) bytes[i] = bytes[i]! ^ 0xff;
    const file = path.join(dir, 'corrupt-j2k.dcm');
    writeFileSync(file, bytes);
    const decode = decodeImage(readPart10(bytes, file));
    await expect(decode).rejects.toThrow(PixelDecodeError);
    await expect(decode).rejects.toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot decode the \\d+-byte ${ts.JPEG_2000_LOSSLESS.replace(/\./g, '\\.')} stream: JPEG 2000 \\(OpenJPEG\\)`));
    const recovered = await decodeFile(good);
    expect(recovered.width).toBe(left.width);
  });
});
