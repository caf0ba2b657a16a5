// Reading DICOM JSON (PS3.18 F.2) as returned by QIDO-RS and WADO-RS metadata.

import type { DicomJson } from './dicomweb-client.js';

/** Tags the watcher and the selection read, by keyword. */
export const TAG = {
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  StudyTime: '00080030',
  AccessionNumber: '00080050',
  Modality: '00080060',
  ModalitiesInStudy: '00080061',
  Manufacturer: '00080070',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  PatientID: '00100020',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  NumberOfSeriesRelatedInstances: '00201209',
  TransferSyntaxUID: '00020010',
  AvailableTransferSyntaxUID: '00083002',
  Rows: '00280010',
  Columns: '00280011',
} as const;

/** The first value of a tag as a string ('' when absent). PN values give their Alphabetic form. */
export function jsonString(item: DicomJson, tag: string): string {
  const value = item[tag]?.Value?.[0];
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return String((value as { Alphabetic?: string }).Alphabetic ?? '');
  return String(value);
}

export function jsonStrings(item: DicomJson, tag: string): string[] {
  return (item[tag]?.Value ?? []).map((v) => String(v));
}

export function jsonNumber(item: DicomJson, tag: string): number | null {
  const value = Number(jsonString(item, tag));
  return jsonString(item, tag) === '' || !Number.isFinite(value) ? null : value;
}

/** A valid DICOM UID (PS3.5 9.1): digits and dots, no leading zeros, at most 64 characters. What we write must be one. */
export function isDicomUid(value: string): boolean {
  return value.length > 0 && value.length <= 64 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/.test(value);
}

/**
 * A UID as PACSs may hand it to us: digits and dots, at most 64 characters. Older modalities
 * write components with leading zeros (invalid per PS3.5); refusing them would leave such
 * studies unscored, and such a value carries nothing dangerous into a query.
 */
export function isUidLike(value: string): boolean {
  return value.length > 0 && value.length <= 64 && /^[0-9]+(\.[0-9]+)+$/.test(value);
}
