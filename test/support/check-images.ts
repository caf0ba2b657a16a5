// DICOM images for the image checks (src/pipeline/image-checks.ts), written with dcmjs in
// Explicit VR Little Endian: a plausible full-size 12-bit mammogram, the degenerate ones the
// checks must stop (blank, saturated, constant), the GE "For Presentation" header with 1 x 2
// pixels that was once scored p=0 "negative", and a mini-MIAS film converted as digitised film.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildFilmMammogram } from '../../src/dicom/convert/mias-to-dicom.js';
import { parsePgm } from '../../src/training/datasets/pgm.js';
import { seededRandom } from '../../src/training/datasets/splits.js';
import { newUid, write, type StudyIds } from './dicom-factory.js';

const DIGITAL_MAMMOGRAPHY_FOR_PRESENTATION = '1.2.840.10008.5.1.4.1.1.1.2';

export interface CheckImage {
  bytes: Uint8Array;
  sopInstanceUid: string;
}

export interface MammogramHeader {
  manufacturer?: string;
  laterality?: 'L' | 'R';
  view?: 'CC' | 'MLO';
  rows: number;
  columns: number;
  /** mm, square; null writes none. */
  pixelSpacingMm: number | null;
  bitsStored?: number;
}

function mgDataset(ids: StudyIds, header: MammogramHeader, pixels: Uint16Array): Record<string, unknown> {
  const laterality = header.laterality ?? 'L';
  const view = header.view ?? 'CC';
  const bitsStored = header.bitsStored ?? 12;
  const spacing = header.pixelSpacingMm === null ? {} : { PixelSpacing: [header.pixelSpacingMm, header.pixelSpacingMm], ImagerPixelSpacing: [header.pixelSpacingMm, header.pixelSpacingMm] };
  return {
    SpecificCharacterSet: 'ISO_IR 100',
    SOPClassUID: DIGITAL_MAMMOGRAPHY_FOR_PRESENTATION,
    SOPInstanceUID: newUid(),
    StudyInstanceUID: ids.studyUid,
    SeriesInstanceUID: newUid(),
    PatientID: ids.patientId,
    PatientName: ids.patientName,
    PatientBirthDate: '19600101',
    PatientSex: 'F',
    StudyDate: ids.studyDate,
    StudyTime: '101500',
    AccessionNumber: 'ACC-CHECKS',
    StudyID: '1',
    SeriesNumber: '1',
    InstanceNumber: '1',
    Modality: 'MG',
    Manufacturer: header.manufacturer ?? 'TestVendor',
    SeriesDescription: `${laterality} ${view}`,
    PresentationIntentType: 'FOR PRESENTATION',
    ImageType: ['ORIGINAL', 'PRIMARY'],
    ImageLaterality: laterality,
    ViewPosition: view,
    ViewCodeSequence: [view === 'CC' ? { CodeValue: '399162004', CodingSchemeDesignator: 'SCT', CodeMeaning: 'cranio-caudal' } : { CodeValue: '399368009', CodingSchemeDesignator: 'SCT', CodeMeaning: 'medio-lateral oblique' }],
    BodyPartExamined: 'BREAST',
    PatientOrientation: laterality === 'L' ? ['A', 'R'] : ['P', 'L'],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: header.rows,
    Columns: header.columns,
    BitsAllocated: 16,
    BitsStored: bitsStored,
    HighBit: bitsStored - 1,
    PixelRepresentation: 0,
    ...spacing,
    RescaleIntercept: 0,
    RescaleSlope: 1,
    RescaleType: 'US',
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: 'OW' },
  };
}

/**
 * The GE case: a Digital Mammography "For Presentation" header from GE MEDICAL SYSTEMS whose
 * pixel data is 1 x 2 pixels of 74.7 mm. It decodes without error; only the checks stop it.
 */
export function geHeaderOnly(ids: StudyIds): CheckImage {
  const dataset = mgDataset(ids, { manufacturer: 'GE MEDICAL SYSTEMS', rows: 1, columns: 2, pixelSpacingMm: 74.7, bitsStored: 14 }, new Uint16Array([0, 0]));
  return { bytes: write(dataset), sopInstanceUid: dataset.SOPInstanceUID as string };
}

export type SyntheticKind = 'breast' | 'blank' | 'saturated' | 'constant';

/**
 * A full-size 12-bit mammogram, 768 x 640 pixels of 0.1 mm (77 x 64 mm, a magnification-sized
 * field): 'breast' has a textured half-disc on the chest-wall side over a dark background;
 * 'blank' is the background with a 1% speck; 'saturated' is 99% at the top of the range;
 * 'constant' is one grey value.
 */
export function syntheticMammogram(ids: StudyIds, kind: SyntheticKind, options: { laterality?: 'L' | 'R'; view?: 'CC' | 'MLO'; seed?: number } = {}): CheckImage {
  const rows = 768;
  const columns = 640;
  const random = seededRandom(options.seed ?? 7);
  const pixels = new Uint16Array(rows * columns);
  const laterality = options.laterality ?? 'L';
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const dx = laterality === 'L' ? x : columns - 1 - x;
      const dy = y - rows / 2;
      const inBreast = dx * dx + dy * dy < (rows * 0.42) ** 2;
      const i = y * columns + x;
      if (kind === 'breast') pixels[i] = inBreast ? 900 + Math.round(2200 * random() * (1 - dx / columns)) : 40 + Math.round(10 * random());
      else if (kind === 'blank') pixels[i] = dx < 60 && Math.abs(dy) < 25 ? 1500 + Math.round(500 * random()) : 0;
      else if (kind === 'saturated') pixels[i] = dx < 60 && Math.abs(dy) < 25 ? Math.round(3000 * random()) : 4095;
      else pixels[i] = 1000;
    }
  }
  const dataset = mgDataset(ids, { laterality, view: options.view ?? 'CC', rows, columns, pixelSpacingMm: 0.1 }, pixels);
  return { bytes: write(dataset), sopInstanceUid: dataset.SOPInstanceUID as string };
}

/** A mini-MIAS film (its PGM under `miasDir`) as DICOM, as `mammocad convert-mias` writes it: Detector Type FILM, 0.2 mm. */
export function miasFilm(miasDir: string, imageId: string, uidSeed?: string): CheckImage & { studyInstanceUid: string } {
  const pgm = parsePgm(new Uint8Array(readFileSync(path.join(miasDir, `${imageId}.pgm`))), imageId);
  const number = Number(imageId.slice(3));
  const built = buildFilmMammogram({
    imageId,
    patientId: `MIAS-${imageId}`,
    patientName: `MIAS^${imageId}`,
    laterality: number % 2 === 0 ? 'L' : 'R',
    view: 'MLO',
    instanceNumber: 1,
    rows: pgm.height,
    columns: pgm.width,
    pixels: pgm.pixels as Uint8Array,
    pixelSpacingMm: 0.2,
    collection: 'mini-MIAS',
    ...(uidSeed === undefined ? {} : { uidSeed }),
  });
  return { bytes: built.bytes, sopInstanceUid: built.sopInstanceUid, studyInstanceUid: built.studyInstanceUid };
}

/**
 * How a vendor writes a For Presentation mammogram, for the vendor table of the image checks'
 * tests (docs/image-checks.md, "Vendors considered"). Pixels are written as the vendor stores
 * them (MONOCHROME1 inverted, padding values, a rescale), so the decoder's handling of them is
 * part of what is tested.
 */
export interface VendorStyle {
  manufacturer: string;
  rows: number;
  columns: number;
  bitsStored: number;
  photometricInterpretation?: 'MONOCHROME1' | 'MONOCHROME2';
  /** Share of the image the breast (a half-disc on the chest-wall side) covers. */
  breastShare: number;
  /** Stored background level in MONOCHROME2 sense (before any MONOCHROME1 inversion); noise of +-backgroundNoise. */
  background: number;
  backgroundNoise?: number;
  /** Tissue levels, MONOCHROME2 sense: from the skin line (low) to the chest wall (high). */
  tissue: [number, number];
  /** An implant: this share of the image, at the top of the stored range (saturated), inside the breast. */
  implantShare?: number;
  /** Pixel Padding Value (stored, as written): the columns beyond the collimator on the far side carry it. */
  pixelPaddingValue?: number;
  /** Columns of padding on the side away from the chest wall. */
  paddingColumns?: number;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  /** Spacing attributes as the vendor writes them (PixelSpacing, ImagerPixelSpacing, EstimatedRadiographicMagnificationFactor, ...). */
  header?: Record<string, unknown>;
  seed?: number;
}

export function vendorMammogram(ids: StudyIds, style: VendorStyle): CheckImage & { dataset: Record<string, unknown> } {
  const { rows, columns, bitsStored } = style;
  const top = 2 ** bitsStored - 1;
  const random = seededRandom(style.seed ?? 11);
  const pixels = new Uint16Array(rows * columns);
  // A half-disc of radius r against the left edge covers pi r^2 / 2 of the image.
  const radius = Math.sqrt((2 * style.breastShare * rows * columns) / Math.PI);
  const implantRadius = style.implantShare ? Math.sqrt((2 * style.implantShare * rows * columns) / Math.PI) : 0;
  const noise = style.backgroundNoise ?? 0;
  const [skin, wall] = style.tissue;
  const monochrome1 = style.photometricInterpretation === 'MONOCHROME1';
  const padFrom = columns - (style.paddingColumns ?? 0);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const dy = y - rows / 2;
      const distance = Math.sqrt(x * x + dy * dy);
      let value: number;
      if (distance < implantRadius) value = top;
      else if (distance < radius) value = Math.round(skin + (wall - skin) * (1 - distance / radius) * (0.8 + 0.2 * random()));
      else value = style.background + Math.round(noise * (2 * random() - 1));
      value = Math.max(0, Math.min(top, value));
      pixels[y * columns + x] = x >= padFrom && style.pixelPaddingValue !== undefined ? style.pixelPaddingValue : monochrome1 ? top - value : value;
    }
  }
  const dataset = mgDataset(ids, { manufacturer: style.manufacturer, rows, columns, pixelSpacingMm: null, bitsStored }, pixels);
  Object.assign(dataset, {
    PhotometricInterpretation: style.photometricInterpretation ?? 'MONOCHROME2',
    RescaleSlope: style.rescaleSlope ?? 1,
    RescaleIntercept: style.rescaleIntercept ?? 0,
    ...(style.pixelPaddingValue === undefined ? {} : { PixelPaddingValue: style.pixelPaddingValue }),
    ...style.header,
  });
  if (style.pixelPaddingValue !== undefined) (dataset._vrMap as Record<string, string>).PixelPaddingValue = 'US';
  return { bytes: write(dataset), sopInstanceUid: dataset.SOPInstanceUID as string, dataset };
}
