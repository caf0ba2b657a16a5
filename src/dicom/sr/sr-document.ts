// Writes a structured report as a DICOM Part 10 file (Explicit VR Little Endian): the content
// tree of the chosen template wrapped in the modules both SR IODs require: SOP Common,
// Patient and General Study (copied from the source images), SR Document Series (a new series,
// Modality SR), General Equipment (mammocad; discovery recognises our own reports by the
// Manufacturer), SR Document General (dates, flags, the evidence) and SR Document Content.
// The input is validated completely before anything is built; the Part 10 writer refuses (with a
// ValidationError naming the element) a value its VR cannot hold, such as one copied from an image.

import { REPORT_TEMPLATES, assertOneOf, type ReportTemplate } from '../../domain/index.js';
import type { NaturalizedDataset } from '../part10.js';
import { encodePart10 } from '../part10-writer.js';
import { EXPLICIT_VR_LITTLE_ENDIAN } from '../pixels/transfer-syntaxes.js';
import { validateReportInput, type ReportInput, type ValidatedReport } from './report-input.js';
import { Tid1500MeasurementReport } from './tid1500-report.js';
import { Tid4000MammographyCadReport } from './tid4000-mammography-cad-report.js';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './uids.js';

/** The Manufacturer of every report mammocad writes; study discovery relies on it to leave our own reports out. */
export const REPORT_MANUFACTURER = 'mammocad';
export const REPORT_SERIES_DESCRIPTION = 'mammocad AI results';
/**
 * The Series Description of a report marked for research use only: PACS and viewers list
 * series by their description, so the mark is seen before the report is opened (LO, at most
 * 64 characters).
 */
export const RESEARCH_SERIES_DESCRIPTION = `RESEARCH USE ONLY - ${REPORT_SERIES_DESCRIPTION}`;
/** Series Number of the report series: high, so viewers list it after the image series. */
const REPORT_SERIES_NUMBER = 9001;

export interface BuiltReport {
  template: ReportTemplate;
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  /** The Part 10 file. */
  bytes: Uint8Array;
}

const TEMPLATES = {
  TID1500: Tid1500MeasurementReport,
  TID4000: Tid4000MammographyCadReport,
} as const;

/** The SOP Class a template is written with. */
export function sopClassOf(template: ReportTemplate): string {
  return TEMPLATES[template].SOP_CLASS_UID;
}

/**
 * Builds the report for `input` with the given template. Throws ValidationError (naming the
 * field) for any bad input, before anything is written.
 */
export function buildStructuredReport(input: ReportInput, template: ReportTemplate = 'TID1500'): BuiltReport {
  const { report, dataset } = reportDataset(input, template);
  return {
    template,
    sopClassUid: sopClassOf(template),
    sopInstanceUid: report.uids.sopInstanceUid,
    seriesInstanceUid: report.uids.seriesInstanceUid,
    studyInstanceUid: report.studyInstanceUid,
    bytes: writePart10(dataset),
  };
}

function reportDataset(input: ReportInput, template: ReportTemplate): { report: ValidatedReport; dataset: NaturalizedDataset } {
  assertOneOf('template', template, REPORT_TEMPLATES);
  const report = validateReportInput(input);
  const content = new TEMPLATES[template](report).content();
  return { report, dataset: { ...documentModules(report, sopClassOf(template)), ...content } };
}

/** Every module but SR Document Content. */
function documentModules(report: ValidatedReport, sopClassUid: string): NaturalizedDataset {
  const { date, time, offset } = dicomDateTime(report.createdAt);
  const device = report.results.device;
  // The sources' series, each listing its instances: the evidence the report was made from.
  const series = new Map<string, Array<{ ReferencedSOPClassUID: string; ReferencedSOPInstanceUID: string }>>();
  for (const source of report.sources) {
    const list = series.get(source.seriesInstanceUid) ?? [];
    list.push({ ReferencedSOPClassUID: source.sopClassUid, ReferencedSOPInstanceUID: source.sopInstanceUid });
    series.set(source.seriesInstanceUid, list);
  }
  return {
    // SOP Common
    ...(report.specificCharacterSet ? { SpecificCharacterSet: report.specificCharacterSet } : {}),
    SOPClassUID: sopClassUid,
    SOPInstanceUID: report.uids.sopInstanceUid,
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    TimezoneOffsetFromUTC: offset,
    // Patient, General Study, and the institution of General Equipment: from the sources
    ...report.copied,
    // SR Document Series
    Modality: 'SR',
    SeriesInstanceUID: report.uids.seriesInstanceUid,
    SeriesNumber: REPORT_SERIES_NUMBER,
    SeriesDate: date,
    SeriesTime: time,
    SeriesDescription: report.results.researchUse ? RESEARCH_SERIES_DESCRIPTION : REPORT_SERIES_DESCRIPTION,
    ReferencedPerformedProcedureStepSequence: [],
    // General Equipment: what wrote the report
    Manufacturer: REPORT_MANUFACTURER,
    ManufacturerModelName: device.modelName,
    SoftwareVersions: device.softwareVersion,
    DeviceUID: device.uid,
    // SR Document General
    InstanceNumber: 1,
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    ContentDate: date,
    ContentTime: time,
    PerformedProcedureCodeSequence: [],
    CurrentRequestedProcedureEvidenceSequence: [
      {
        StudyInstanceUID: report.studyInstanceUid,
        ReferencedSeriesSequence: [...series].map(([SeriesInstanceUID, ReferencedSOPSequence]) => ({ SeriesInstanceUID, ReferencedSOPSequence })),
      },
    ],
  };
}

/** Local date, time and UTC offset in DICOM form (DA, TM, SH "+HHMM"). */
export function dicomDateTime(at: Date): { date: string; time: string; offset: string } {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const minutes = -at.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  return {
    date: `${at.getFullYear()}${pad(at.getMonth() + 1)}${pad(at.getDate())}`,
    time: `${pad(at.getHours())}${pad(at.getMinutes())}${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`,
    offset: `${sign}${pad(Math.floor(Math.abs(minutes) / 60))}${pad(Math.abs(minutes) % 60)}`,
  };
}

/** A naturalised dataset as a Part 10 file in Explicit VR Little Endian, with mammocad's implementation UID. */
export function writePart10(dataset: NaturalizedDataset): Uint8Array {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  };
  return encodePart10(meta, dataset);
}
