// One 2-D mammogram held outside DICOM (a digitised film's raster, an image folder's JPEG) as a
// DICOM Digital Mammography X-Ray Image "For Presentation" object, so images from data sets can
// travel the path a hospital's do: PACS, view selection, decoding, scoring. The pixels go in
// either as 8-bit grey samples (Explicit VR Little Endian, MONOCHROME1 or MONOCHROME2) or as a
// baseline JPEG stream kept byte for byte (encapsulated, JPEG Baseline transfer syntax), which
// puts the service's own JPEG codec on the path. Takes plain data (no dependency on the training
// code); UIDs are derived from the names given, so a re-run writes identical files.

import dcmjs from 'dcmjs';
import { ValidationError } from '../../domain/errors.js';
import { checkEndOfImage, readJpegFrameHeader } from '../pixels/codecs.js';
import { EXPLICIT_VR_LITTLE_ENDIAN, JPEG_BASELINE_8BIT } from '../pixels/transfer-syntaxes.js';
import { SOP_CLASS } from '../sop-classes.js';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, uidFromName } from '../sr/uids.js';

/** CID 4014 views (SNOMED CT, as current DICOM codes them). */
export const VIEW_CODES = {
  CC: { CodeValue: '399162004', CodingSchemeDesignator: 'SCT', CodeMeaning: 'cranio-caudal' },
  MLO: { CodeValue: '399368009', CodingSchemeDesignator: 'SCT', CodeMeaning: 'medio-lateral oblique' },
} as const;
/** CID 4031 anatomic region: breast. */
export const REGION_BREAST = { CodeValue: '76752008', CodingSchemeDesignator: 'SCT', CodeMeaning: 'Breast' } as const;

/**
 * Patient Orientation of a mammogram in the usual display (PS3.3 C.8.11.7.1): the chest wall on
 * the left of a left breast's image and on the right of a right one's; rows run anterior (left
 * breast) or posterior (right), columns towards the feet and the other side (MLO) or just the
 * other side (CC).
 */
const ORIENTATION = {
  CC: { L: ['A', 'R'], R: ['P', 'L'] },
  MLO: { L: ['A', 'FR'], R: ['P', 'FL'] },
} as const;

const SOF0_BASELINE = 0xc0;

/** 8-bit grey samples, row-major, top row first. */
export interface GreySamples {
  encoding: 'native';
  rows: number;
  columns: number;
  samples: Uint8Array;
  /**
   * MONOCHROME2: higher = brighter. MONOCHROME1: higher = darker, e.g. an image exported with
   * its stored values uninverted (bright background); the decoder inverts it back.
   */
  photometricInterpretation: 'MONOCHROME1' | 'MONOCHROME2';
}

/** A baseline JPEG (SOF0, 8-bit) file's bytes, encapsulated as they are. */
export interface BaselineJpeg {
  encoding: 'jpeg-baseline';
  rows: number;
  columns: number;
  /** 1 (grey) or 3 (YCbCr, as grey images saved as colour are: MONOCHROME1 cannot be said of them). */
  samplesPerPixel: 1 | 3;
  stream: Uint8Array;
}

export interface MammogramImageInput {
  /** Identifies the image in its collection; the SOP Instance UID is derived from it. */
  imageId: string;
  /** The woman: PatientID, and the key of her one study (and one series). */
  patientId: string;
  patientName: string;
  laterality: 'L' | 'R';
  view: 'CC' | 'MLO';
  /** 1-based position of the image in its series. */
  instanceNumber: number;
  /** Where the image comes from, e.g. 'mini-MIAS'; goes into descriptions and the UID names. */
  collection: string;
  /** What the series holds, e.g. 'mini-MIAS digitised film'. */
  seriesDescription: string;
  /** How this image was made from the original acquisition (DerivationDescription). */
  derivationDescription: string;
  /** DetectorType (Type 2): 'FILM' for a digitised film, '' when unknown. */
  detectorType: '' | 'FILM' | 'DIRECT' | 'SCINTILLATOR';
  /**
   * Square pixels, mm; null when unknown (e.g. an export resized to a square), and then no
   * spacing is written: a made-up one would make a model that resamples to a physical pixel
   * size scale the image wrongly, where none makes it use its fallback as for any image
   * without one.
   */
  pixelSpacingMm: number | null;
  /** True when the pixels went through lossy compression on their way here (always so for a JPEG). */
  lossy?: boolean;
  pixels: GreySamples | BaselineJpeg;
  /**
   * A study date to record (DICOM DA, YYYYMMDD), e.g. when the copy stands in for today's
   * screening in a demonstration. By default none: data sets rarely carry one.
   */
  studyDate?: string;
  /** Mixed into every UID name, to make a distinct copy of the same image (default: none). */
  uidSeed?: string;
}

export interface MammogramImage {
  bytes: Uint8Array;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
}

/** Decimal strings as DICOM wants them: no exponent, at most 16 characters. */
export const ds = (value: number) => Number(value.toPrecision(10)).toString();

/** The Image Pixel attributes and the pixel data (with the transfer syntax it needs), checked. */
function pixelModule(pixels: GreySamples | BaselineJpeg): { attributes: Record<string, unknown>; transferSyntaxUid: string } {
  const { rows, columns } = pixels;
  if (!Number.isInteger(rows) || !Number.isInteger(columns) || rows < 1 || columns < 1 || rows > 0xffff || columns > 0xffff) {
    throw new ValidationError('pixels', `${rows}x${columns} is not a size DICOM can hold`);
  }
  const common = { Rows: rows, Columns: columns, BitsAllocated: 8, BitsStored: 8, HighBit: 7, PixelRepresentation: 0 };
  if (pixels.encoding === 'native') {
    if (pixels.samples.length !== rows * columns) throw new ValidationError('pixels', `${pixels.samples.length} samples for ${rows}x${columns}`);
    // A copy of exactly the samples (the caller's array may be a view into a larger buffer), padded to even length.
    const raster = new Uint8Array(pixels.samples.length + (pixels.samples.length % 2));
    raster.set(pixels.samples);
    return {
      transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
      attributes: { SamplesPerPixel: 1, PhotometricInterpretation: pixels.photometricInterpretation, ...common, PixelData: [raster.buffer] },
    };
  }
  let header;
  try {
    header = readJpegFrameHeader(pixels.stream);
    checkEndOfImage(pixels.stream, 'JPEG');
  } catch (error) {
    throw new ValidationError('pixels', (error as Error).message);
  }
  if (header.marker !== SOF0_BASELINE || header.precision !== 8) {
    throw new ValidationError('pixels', `not a baseline 8-bit JPEG (frame marker 0x${header.marker.toString(16)}, ${header.precision}-bit): only JPEG Baseline is encapsulated as it is`);
  }
  // Encapsulated fragments are padded to even length; the decoder reads up to the EOI marker.
  const stream = new Uint8Array(pixels.stream.length + (pixels.stream.length % 2));
  stream.set(pixels.stream);
  return {
    transferSyntaxUid: JPEG_BASELINE_8BIT,
    attributes: {
      SamplesPerPixel: pixels.samplesPerPixel,
      // PS3.5 8.2.1: a lossy JPEG's colour is YCbCr (subsampled, as the common encoders write it).
      PhotometricInterpretation: pixels.samplesPerPixel === 1 ? 'MONOCHROME2' : 'YBR_FULL_422',
      ...(pixels.samplesPerPixel === 3 ? { PlanarConfiguration: 0 } : {}),
      ...common,
      PixelData: [stream.buffer],
    },
  };
}

/** Builds the Part 10 bytes of one image. Throws ValidationError for pixels or values DICOM cannot hold. */
export function buildMammogramImage(input: MammogramImageInput): MammogramImage {
  const { pixels } = input;
  if (input.pixelSpacingMm !== null && !(input.pixelSpacingMm > 0)) throw new ValidationError('pixelSpacingMm', `must be positive or null; got ${input.pixelSpacingMm}`);
  if (input.studyDate !== undefined && !/^\d{8}$/.test(input.studyDate)) throw new ValidationError('studyDate', `must be YYYYMMDD; got '${input.studyDate}'`);
  const { attributes: imagePixel, transferSyntaxUid } = pixelModule(pixels);
  const monochrome1 = imagePixel.PhotometricInterpretation === 'MONOCHROME1';
  const lossy = input.lossy === true || pixels.encoding === 'jpeg-baseline';
  const seed = input.uidSeed ? ` ${input.uidSeed}` : '';
  const key = `${input.collection} ${input.patientId}${seed}`;
  const studyInstanceUid = uidFromName(`${key} study`);
  const seriesInstanceUid = uidFromName(`${key} series`);
  const sopInstanceUid = uidFromName(`${input.collection} image ${input.imageId}${seed}`);
  const spacing = input.pixelSpacingMm === null ? null : [ds(input.pixelSpacingMm), ds(input.pixelSpacingMm)];
  const dataset: Record<string, unknown> = {
    // SOP Common
    SOPClassUID: SOP_CLASS.digitalMammographyForPresentation,
    SOPInstanceUID: sopInstanceUid,
    // Patient: anonymous by construction; no birth date is known (Type 2, empty).
    PatientName: input.patientName,
    PatientID: input.patientId,
    PatientBirthDate: '',
    PatientSex: 'F',
    // General Study: no date unless the caller stages a copy as a study of a given day (a
    // made-up one would be worse than none).
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
    SeriesDescription: input.seriesDescription,
    PresentationIntentType: 'FOR PRESENTATION',
    // Frame of Reference: each image is its own.
    FrameOfReferenceUID: uidFromName(`${input.collection} frame ${input.imageId}${seed}`),
    PositionReferenceIndicator: '',
    // General Equipment: not recorded in the data sets.
    Manufacturer: '',
    // General Image, DX Image, Mammography Image
    InstanceNumber: String(input.instanceNumber),
    PatientOrientation: [...ORIENTATION[input.view][input.laterality]],
    ContentDate: '',
    ContentTime: '',
    ImageType: ['DERIVED', 'PRIMARY'],
    DerivationDescription: input.derivationDescription,
    ImageComments: `${input.collection} ${input.imageId}`,
    BurnedInAnnotation: 'NO',
    RecognizableVisualFeatures: 'NO',
    LossyImageCompression: lossy ? '01' : '00',
    ...(lossy ? { LossyImageCompressionMethod: 'ISO_10918_1' } : {}),
    PixelIntensityRelationship: 'LOG',
    // Stored values run the other way in a MONOCHROME1 image, and the DX Image module ties the
    // Presentation LUT Shape to the photometric interpretation.
    PixelIntensityRelationshipSign: monochrome1 ? -1 : 1,
    RescaleIntercept: '0',
    RescaleSlope: '1',
    RescaleType: 'US',
    PresentationLUTShape: monochrome1 ? 'INVERSE' : 'IDENTITY',
    WindowCenter: '128',
    WindowWidth: '256',
    // DX Anatomy Imaged, Mammography Image
    ImageLaterality: input.laterality,
    BodyPartExamined: 'BREAST',
    AnatomicRegionSequence: [{ ...REGION_BREAST }],
    ViewPosition: input.view,
    ViewCodeSequence: [{ ...VIEW_CODES[input.view], ViewModifierCodeSequence: [] }],
    PositionerType: 'MAMMOGRAPHIC',
    OrganExposed: 'BREAST',
    // DX Detector
    DetectorType: input.detectorType,
    ...(spacing ? { ImagerPixelSpacing: spacing, PixelSpacing: spacing } : {}),
    // Acquisition Context (Type 2: nothing known)
    AcquisitionContextSequence: [],
    // Image Pixel
    ...imagePixel,
    _vrMap: { PixelData: 'OB' },
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: SOP_CLASS.digitalMammographyForPresentation,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: transferSyntaxUid,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return { bytes: new Uint8Array(dict.write()), sopInstanceUid, seriesInstanceUid, studyInstanceUid };
}
