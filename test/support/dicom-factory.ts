// Small, valid DICOM objects for tests: mammograms (For Presentation / For Processing), a
// radiation dose SR and a non-mammography image, written with dcmjs in Explicit VR Little
// Endian. Tiny pixel matrices keep STOW and WADO fast; the decoding tests use real images.

import dcmjs from 'dcmjs';

const { DicomDict, DicomMetaDictionary } = dcmjs.data;

export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const ROOT = '1.2.826.0.1.3680043.10.1137';
let counter = 0;
export const newUid = () => `${ROOT}.${process.pid}.${Date.now()}.${++counter}`;

export interface StudyIds {
  studyUid: string;
  patientId: string;
  patientName: string;
  studyDate: string;
}

export function newStudyIds(overrides: Partial<StudyIds> = {}): StudyIds {
  return { studyUid: newUid(), patientId: `PAT-${counter}`, patientName: 'TEST^MAMMO', studyDate: today(), ...overrides };
}

export function today(): string {
  return new Date().toISOString().slice(0, 10).replace(/-/g, '');
}

/** A naturalised dataset as a Part 10 file (explicit VR little endian). */
export function write(dataset: Record<string, unknown>): Uint8Array {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_LE,
    ImplementationClassUID: `${ROOT}.1`,
    ImplementationVersionName: 'MAMMOCAD_TEST',
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write());
}

function common(ids: StudyIds, seriesUid: string, sopClassUid: string, modality: string) {
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: sopClassUid,
    SOPInstanceUID: newUid(),
    StudyInstanceUID: ids.studyUid,
    SeriesInstanceUID: seriesUid,
    PatientID: ids.patientId,
    PatientName: ids.patientName,
    PatientBirthDate: '19600101',
    PatientSex: 'F',
    StudyDate: ids.studyDate,
    StudyTime: '101500',
    AccessionNumber: `ACC${counter}`,
    StudyID: '1',
    SeriesNumber: '1',
    InstanceNumber: '1',
    Modality: modality,
    Manufacturer: 'TestVendor',
  };
}

export interface ImageOptions {
  laterality?: 'L' | 'R';
  view?: 'CC' | 'MLO' | 'ML';
  forProcessing?: boolean;
  modality?: string;
  sopClassUid?: string;
  seriesUid?: string;
  size?: number;
  magnification?: boolean;
  /** A bright disc (default value 4000) at `center` (column, row; pixel centres at + 0.5) with `radius`, in pixels. */
  blob?: { center: [number, number]; radius: number; value?: number };
}

const VIEW_CODES = {
  CC: { CodeValue: 'R-10242', CodingSchemeDesignator: 'SRT', CodeMeaning: 'cranio-caudal' },
  MLO: { CodeValue: 'R-10226', CodingSchemeDesignator: 'SRT', CodeMeaning: 'medio-lateral oblique' },
  ML: { CodeValue: 'R-10224', CodingSchemeDesignator: 'SRT', CodeMeaning: 'medio-lateral' },
};

/**
 * A 12-bit mammography image (a bright half-disc on the chest-wall side). Small, but one the
 * image checks take for a mammogram: at least 256 x 256 pixels over at least 80 mm
 * (src/pipeline/image-checks.ts).
 */
export function mammogram(ids: StudyIds, options: ImageOptions = {}): { bytes: Uint8Array; sopInstanceUid: string; seriesUid: string } {
  const size = options.size ?? 256;
  const spacing = Math.max(0.1, Math.ceil((80 / size) * 1000) / 1000);
  const laterality = options.laterality ?? 'L';
  const view = options.view ?? 'CC';
  const pixels = new Uint16Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = laterality === 'L' ? x : size - 1 - x;
      const dy = y - size / 2;
      pixels[y * size + x] = dx * dx + dy * dy < (size * 0.45) ** 2 ? 2000 + ((x * 7 + y * 13) % 500) : 50;
    }
  }
  const blob = options.blob;
  if (blob) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if ((x + 0.5 - blob.center[0]) ** 2 + (y + 0.5 - blob.center[1]) ** 2 <= blob.radius ** 2) pixels[y * size + x] = blob.value ?? 4000;
      }
    }
  }
  const forProcessing = options.forProcessing ?? false;
  const seriesUid = options.seriesUid ?? newUid();
  const sopClass =
    options.sopClassUid ?? (forProcessing ? '1.2.840.10008.5.1.4.1.1.1.2.1' : '1.2.840.10008.5.1.4.1.1.1.2');
  const dataset = {
    ...common(ids, seriesUid, sopClass, options.modality ?? 'MG'),
    SeriesDescription: `${laterality} ${view}`,
    PresentationIntentType: forProcessing ? 'FOR PROCESSING' : 'FOR PRESENTATION',
    ImageType: ['ORIGINAL', 'PRIMARY'],
    ImageLaterality: laterality,
    Laterality: laterality,
    ViewPosition: view,
    ViewCodeSequence: [
      options.magnification
        ? { ...VIEW_CODES[view], ViewModifierCodeSequence: [{ CodeValue: 'R-102D6', CodingSchemeDesignator: 'SRT', CodeMeaning: 'Magnification' }] }
        : VIEW_CODES[view],
    ],
    BodyPartExamined: 'BREAST',
    PatientOrientation: laterality === 'L' ? ['A', 'R'] : ['P', 'L'],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: size,
    Columns: size,
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    PixelSpacing: [spacing, spacing],
    ImagerPixelSpacing: [spacing, spacing],
    RescaleIntercept: 0,
    RescaleSlope: 1,
    RescaleType: 'US',
    WindowCenter: 1024,
    WindowWidth: 2048,
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: 'OW' },
  };
  return { bytes: write(dataset), sopInstanceUid: dataset.SOPInstanceUID, seriesUid };
}

/** An X-Ray Radiation Dose SR, as modalities send with every mammography study. */
export function doseReport(ids: StudyIds): { bytes: Uint8Array; sopInstanceUid: string; seriesUid: string } {
  const seriesUid = newUid();
  const dataset = {
    ...common(ids, seriesUid, '1.2.840.10008.5.1.4.1.1.88.67', 'SR'),
    SeriesDescription: 'Radiation Dose Information',
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [{ CodeValue: '113701', CodingSchemeDesignator: 'DCM', CodeMeaning: 'X-Ray Radiation Dose Report' }],
    ContinuityOfContent: 'SEPARATE',
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    ContentDate: ids.studyDate,
    ContentTime: '101500',
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '10001' }],
    ContentSequence: [
      {
        RelationshipType: 'HAS CONCEPT MOD',
        ValueType: 'CODE',
        ConceptNameCodeSequence: [{ CodeValue: '121058', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Procedure reported' }],
        ConceptCodeSequence: [{ CodeValue: '71651007', CodingSchemeDesignator: 'SCT', CodeMeaning: 'Mammography' }],
      },
    ],
  };
  return { bytes: write(dataset), sopInstanceUid: dataset.SOPInstanceUID, seriesUid };
}

/** A Comprehensive SR as mammocad writes it (Manufacturer "mammocad"), for re-announcement tests. */
export function ownReport(ids: StudyIds): { bytes: Uint8Array; sopInstanceUid: string; seriesUid: string } {
  const seriesUid = newUid();
  const dataset = {
    ...common(ids, seriesUid, '1.2.840.10008.5.1.4.1.1.88.33', 'SR'),
    Manufacturer: 'mammocad',
    SeriesDescription: 'mammocad AI results',
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [{ CodeValue: '126000', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Imaging Measurement Report' }],
    ContinuityOfContent: 'SEPARATE',
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    ContentDate: ids.studyDate,
    ContentTime: '101600',
  };
  return { bytes: write(dataset), sopInstanceUid: dataset.SOPInstanceUID, seriesUid };
}

/**
 * The file with one top-level element of a short-length VR (CS, DA, LO, ...) given `value` as it
 * is, in bytes: what a vendor's header that breaks its VR's limits looks like, which no DICOM
 * writer here would produce (they refuse or cut it). Explicit VR Little Endian, the element present.
 */
export function withRawElementValue(bytes: Uint8Array, group: number, element: number, value: string): Uint8Array {
  const vr = (b: number) => String.fromCharCode(b);
  for (let at = 132; at + 8 <= bytes.length; at++) {
    if (bytes[at] !== (group & 0xff) || bytes[at + 1] !== group >> 8 || bytes[at + 2] !== (element & 0xff) || bytes[at + 3] !== element >> 8) continue;
    if (!/^[A-Z]{2}$/.test(vr(bytes[at + 4]!) + vr(bytes[at + 5]!))) continue;
    const oldLength = bytes[at + 6]! | (bytes[at + 7]! << 8);
    const padded = value.length % 2 ? `${value} ` : value;
    const out = new Uint8Array(bytes.length - oldLength + padded.length);
    out.set(bytes.subarray(0, at + 6));
    out[at + 6] = padded.length & 0xff;
    out[at + 7] = padded.length >> 8;
    out.set(new TextEncoder().encode(padded), at + 8);
    out.set(bytes.subarray(at + 8 + oldLength), at + 8 + padded.length);
    return out;
  }
  throw new Error(`element (${group.toString(16)},${element.toString(16)}) not found`);
}
