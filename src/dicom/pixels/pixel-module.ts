// The attributes that say how to read the pixels (the Image Pixel module, the modality LUT, pixel
// padding and spacing), read from a naturalised data set, defaulted and checked once so the
// decoder can trust them.

import { PixelDecodeError } from '../../domain/errors.js';
import { integerAttribute, type NaturalizedDataset } from '../part10.js';

export interface PixelModule {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  /** PixelRepresentation 1: two's complement samples. */
  signed: boolean;
  photometricInterpretation: string;
  /** PlanarConfiguration 1: colour samples stored plane by plane (native pixel data only). */
  planar: boolean;
  rescaleSlope: number;
  rescaleIntercept: number;
  /** Stored values that mark padding (PixelPaddingValue up to PixelPaddingRangeLimit), or null. */
  padding: { low: number; high: number } | null;
  /** [row spacing, column spacing] in mm from PixelSpacing, else ImagerPixelSpacing. */
  pixelSpacingMm: [number, number] | null;
}

const GREY_INTERPRETATIONS = new Set(['MONOCHROME1', 'MONOCHROME2']);
const COLOUR_INTERPRETATIONS = new Set(['RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_PARTIAL_420', 'YBR_ICT', 'YBR_RCT']);

/** Reads and checks the pixel attributes. Throws PixelDecodeError naming the attribute at fault. */
export function readPixelModule(dataset: NaturalizedDataset, source: string): PixelModule {
  const fail = (problem: string): never => {
    throw new PixelDecodeError(source, problem);
  };
  const rows = integerAttribute(dataset.Rows) ?? 0;
  const columns = integerAttribute(dataset.Columns) ?? 0;
  if (rows <= 0 || columns <= 0) fail(`Rows (${String(dataset.Rows)}) and Columns (${String(dataset.Columns)}) must be positive integers`);
  const samplesPerPixel = integerAttribute(dataset.SamplesPerPixel) ?? 1;
  const bitsAllocated = integerAttribute(dataset.BitsAllocated) ?? 0;
  if (![8, 16, 32].includes(bitsAllocated)) fail(`BitsAllocated ${String(dataset.BitsAllocated)} is not supported (8, 16 or 32)`);
  const bitsStored = integerAttribute(dataset.BitsStored) ?? bitsAllocated;
  if (bitsStored < 1 || bitsStored > bitsAllocated) fail(`BitsStored ${bitsStored} does not fit BitsAllocated ${bitsAllocated}`);
  const highBit = integerAttribute(dataset.HighBit) ?? bitsStored - 1;
  if (highBit < bitsStored - 1 || highBit >= bitsAllocated) fail(`HighBit ${highBit} does not fit BitsStored ${bitsStored} and BitsAllocated ${bitsAllocated}`);
  const signed = integerAttribute(dataset.PixelRepresentation) === 1;

  const stated = typeof dataset.PhotometricInterpretation === 'string' ? dataset.PhotometricInterpretation.trim().toUpperCase() : '';
  const photometricInterpretation = stated || (samplesPerPixel === 1 ? 'MONOCHROME2' : 'RGB');
  const known = samplesPerPixel === 1 ? GREY_INTERPRETATIONS : samplesPerPixel === 3 ? COLOUR_INTERPRETATIONS : new Set<string>();
  if (!known.has(photometricInterpretation)) {
    fail(`PhotometricInterpretation ${photometricInterpretation} with SamplesPerPixel ${samplesPerPixel} is not supported`);
  }

  const slope = numberAttribute(dataset.RescaleSlope);
  const rescaleSlope = slope !== undefined && slope !== 0 ? slope : 1;
  const rescaleIntercept = numberAttribute(dataset.RescaleIntercept) ?? 0;

  return {
    rows,
    columns,
    samplesPerPixel,
    bitsAllocated,
    bitsStored,
    highBit,
    signed,
    photometricInterpretation,
    planar: integerAttribute(dataset.PlanarConfiguration) === 1,
    rescaleSlope,
    rescaleIntercept,
    padding: readPadding(dataset, bitsStored, signed),
    pixelSpacingMm: readSpacing(dataset.PixelSpacing) ?? readSpacing(dataset.ImagerPixelSpacing),
  };
}

/**
 * PixelPaddingValue alone marks one stored value; with PixelPaddingRangeLimit, every value
 * between the two (PS3.3 C.7.5.1.1.2). Both are brought into the stored-value domain the
 * pixels are compared in (masked to BitsStored and sign-extended), because dcmjs may read an
 * SS value as US in implicit VR files, and some writers put the full word there.
 */
function readPadding(dataset: NaturalizedDataset, bitsStored: number, signed: boolean): { low: number; high: number } | null {
  const value = integerAttribute(dataset.PixelPaddingValue);
  if (value === undefined) return null;
  const limit = integerAttribute(dataset.PixelPaddingRangeLimit) ?? value;
  const a = storedValue(value, bitsStored, signed);
  const b = storedValue(limit, bitsStored, signed);
  return { low: Math.min(a, b), high: Math.max(a, b) };
}

/** `value`'s low `bitsStored` bits, sign-extended when signed: how a stored sample reads. */
export function storedValue(value: number, bitsStored: number, signed: boolean): number {
  const range = 2 ** bitsStored;
  const unsigned = ((value % range) + range) % range;
  return signed && unsigned >= range / 2 ? unsigned - range : unsigned;
}

function numberAttribute(value: unknown): number | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  const number = typeof first === 'string' ? Number(first.trim()) : first;
  return typeof number === 'number' && Number.isFinite(number) ? number : undefined;
}

function readSpacing(value: unknown): [number, number] | null {
  const parts = Array.isArray(value) ? value : typeof value === 'string' ? value.split('\\') : [];
  if (parts.length !== 2) return null;
  const [row, column] = parts.map((part) => numberAttribute(part));
  return row !== undefined && column !== undefined && row > 0 && column > 0 ? [row, column] : null;
}
