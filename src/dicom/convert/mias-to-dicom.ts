// Digitised film mammograms (mini-MIAS) as DICOM Digital Mammography X-Ray Image "For
// Presentation" objects, so the data the project trains on can travel the same path as a
// hospital's images: PACS, view selection, decoding. The DICOM itself is image-to-dicom.ts's;
// this says what a MIAS film is (MLO, digitised film, MONOCHROME2, a known pixel size).

import { buildMammogramImage, ds, type MammogramImage } from './image-to-dicom.js';

export interface FilmMammogramInput {
  /** Identifies the image in its data set (e.g. 'mdb003'); the SOP Instance UID is derived from it. */
  imageId: string;
  /** The woman: PatientID, and the key of her one study (and one series). */
  patientId: string;
  patientName: string;
  laterality: 'L' | 'R';
  view: 'MLO';
  /** 1-based position of the image in its series. */
  instanceNumber: number;
  rows: number;
  columns: number;
  /** Row-major 8-bit grey values, top row first, higher = brighter (MONOCHROME2). */
  pixels: Uint8Array;
  /** Square pixels, mm. */
  pixelSpacingMm: number;
  /** Where the image comes from, e.g. 'mini-MIAS'; goes into descriptions and the UID names. */
  collection: string;
  /**
   * A study date to record (DICOM DA, YYYYMMDD), e.g. when the copy stands in for today's
   * screening in a demonstration. By default none: the films carry no date.
   */
  studyDate?: string;
  /** Mixed into every UID name, to make a distinct copy of the same image (default: none). */
  uidSeed?: string;
}

export type FilmMammogram = MammogramImage;

/** Builds the Part 10 bytes (Explicit VR Little Endian) of one image. */
export function buildFilmMammogram(input: FilmMammogramInput): FilmMammogram {
  const { rows, columns, pixels, pixelSpacingMm, collection } = input;
  return buildMammogramImage({
    imageId: input.imageId,
    patientId: input.patientId,
    patientName: input.patientName,
    laterality: input.laterality,
    view: input.view,
    instanceNumber: input.instanceNumber,
    collection,
    seriesDescription: `${collection} digitised film`,
    derivationDescription: `digitised film from ${collection}, resampled to ${ds(pixelSpacingMm)} mm pixels`,
    detectorType: 'FILM',
    pixelSpacingMm,
    pixels: { encoding: 'native', rows, columns, samples: pixels, photometricInterpretation: 'MONOCHROME2' },
    ...(input.studyDate === undefined ? {} : { studyDate: input.studyDate }),
    ...(input.uidSeed === undefined ? {} : { uidSeed: input.uidSeed }),
  });
}
