// Digitised film mammograms (mini-MIAS) as DICOM Digital Mammography X-Ray Image "For
// Presentation" objects, so the data the project trains on can travel the same path as a
// hospital's images: PACS, view selection, decoding. Takes plain data (no dependency on the
// training code); UIDs are derived from the names given, so a re-run writes identical files.

import dcmjs from 'dcmjs';
import { ValidationError } from '../../domain/errors.js';
import { SOP_CLASS } from '../sop-classes.js';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, uidFromName } from '../sr/uids.js';

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** CID 4014 view: medio-lateral oblique (SNOMED CT, as current DICOM codes it). */
export const VIEW_MLO = { CodeValue: '399368009', CodingSchemeDesignator: 'SCT', CodeMeaning: 'medio-lateral oblique' } as const;
/** CID 4031 anatomic region: breast. */
export const REGION_BREAST = { CodeValue: '76752008', CodingSchemeDesignator: 'SCT', CodeMeaning: 'Breast' } as const;

/**
 * Patient Orientation of a mammogram in the usual display (PS3.3 C.8.11.7.1): the chest wall on
 * the left of a left breast's image (rows run anterior) and on the right of a right one's.
 */
const MLO_ORIENTATION = { L: ['A', 'FR'], R: ['P', 'FL'] } as const;

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

export interface FilmMammogram {
  bytes: Uint8Array;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
}

/** Decimal strings as DICOM wants them: no exponent, at most 16 characters. */
const ds = (value: number) => Number(value.toPrecision(10)).toString();

/** Builds the Part 10 bytes (Explicit VR Little Endian) of one image. */
export function buildFilmMammogram(input: FilmMammogramInput): FilmMammogram {
  const { rows, columns, pixels } = input;
  if (!Number.isInteger(rows) || !Number.isInteger(columns) || rows < 1 || columns < 1 || pixels.length !== rows * columns) {
    throw new ValidationError('pixels', `${pixels.length} samples for ${rows}x${columns}`);
  }
  if (!(input.pixelSpacingMm > 0)) throw new ValidationError('pixelSpacingMm', `must be positive; got ${input.pixelSpacingMm}`);
  if (input.studyDate !== undefined && !/^\d{8}$/.test(input.studyDate)) throw new ValidationError('studyDate', `must be YYYYMMDD; got '${input.studyDate}'`);
  const seed = input.uidSeed ? ` ${input.uidSeed}` : '';
  const key = `${input.collection} ${input.patientId}${seed}`;
  const studyInstanceUid = uidFromName(`${key} study`);
  const seriesInstanceUid = uidFromName(`${key} series`);
  const sopInstanceUid = uidFromName(`${input.collection} image ${input.imageId}${seed}`);
  const spacing = [ds(input.pixelSpacingMm), ds(input.pixelSpacingMm)];
  // A copy of exactly the samples (the caller's array may be a view into a larger buffer), padded to even length.
  const raster = new Uint8Array(pixels.length + (pixels.length % 2));
  raster.set(pixels);
  const dataset: Record<string, unknown> = {
    // SOP Common
    SOPClassUID: SOP_CLASS.digitalMammographyForPresentation,
    SOPInstanceUID: sopInstanceUid,
    // Patient: anonymous by construction; no birth date or sex is known for the films (Type 2, empty).
    PatientName: input.patientName,
    PatientID: input.patientId,
    PatientBirthDate: '',
    PatientSex: 'F',
    // General Study: the films carry no date, and a made-up one would be worse than none
    // (unless the caller stages a copy as a study of a given day).
    StudyInstanceUID: studyInstanceUid,
    StudyDate: input.studyDate ?? '',
    StudyTime: input.studyDate ? '120000' : '',
    ReferringPhysicianName: '',
    StudyID: input.patientId.slice(0, 16),
    AccessionNumber: '',
    StudyDescription: `${input.collection} mammograms`,
    // General Series, DX Series, Mammography Series
    Modality: 'MG',
    SeriesInstanceUID: seriesInstanceUid,
    SeriesNumber: '1',
    SeriesDescription: `${input.collection} digitised film`,
    PresentationIntentType: 'FOR PRESENTATION',
    // Frame of Reference: each image is its own.
    FrameOfReferenceUID: uidFromName(`${input.collection} frame ${input.imageId}${seed}`),
    PositionReferenceIndicator: '',
    // General Equipment: the digitiser is not recorded in MIAS.
    Manufacturer: '',
    // General Image, DX Image, Mammography Image
    InstanceNumber: String(input.instanceNumber),
    PatientOrientation: [...MLO_ORIENTATION[input.laterality]],
    ContentDate: '',
    ContentTime: '',
    ImageType: ['DERIVED', 'PRIMARY'],
    DerivationDescription: `digitised film from ${input.collection}, resampled to ${ds(input.pixelSpacingMm)} mm pixels`,
    ImageComments: `${input.collection} ${input.imageId}`,
    BurnedInAnnotation: 'NO',
    RecognizableVisualFeatures: 'NO',
    LossyImageCompression: '00',
    PixelIntensityRelationship: 'LOG',
    PixelIntensityRelationshipSign: 1,
    RescaleIntercept: '0',
    RescaleSlope: '1',
    RescaleType: 'US',
    PresentationLUTShape: 'IDENTITY',
    WindowCenter: '128',
    WindowWidth: '256',
    // DX Anatomy Imaged, Mammography Image
    ImageLaterality: input.laterality,
    BodyPartExamined: 'BREAST',
    AnatomicRegionSequence: [{ ...REGION_BREAST }],
    ViewPosition: input.view,
    ViewCodeSequence: [{ ...VIEW_MLO, ViewModifierCodeSequence: [] }],
    PositionerType: 'MAMMOGRAPHIC',
    OrganExposed: 'BREAST',
    // DX Detector
    DetectorType: 'FILM',
    ImagerPixelSpacing: spacing,
    PixelSpacing: spacing,
    // Acquisition Context (Type 2: nothing known)
    AcquisitionContextSequence: [],
    // Image Pixel
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: rows,
    Columns: columns,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [raster.buffer],
    _vrMap: { PixelData: 'OB' },
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: SOP_CLASS.digitalMammographyForPresentation,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return { bytes: new Uint8Array(dict.write()), sopInstanceUid, seriesInstanceUid, studyInstanceUid };
}
