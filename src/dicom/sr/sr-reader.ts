// Reads a report mammocad wrote (TID 1500 or TID 4000) back into the results model: every
// probability and its qualitative reading, the images each result refers to, the algorithm
// and the device. From a Part 10 file or from DICOM JSON (WADO-RS metadata).

import dcmjs from 'dcmjs';
import { ReportParseError, type ReportTemplate } from '../../domain/index.js';
import type { DicomJson } from '../dicomweb-client.js';
import { readPart10, type NaturalizedDataset } from '../part10.js';
import { templateIdOf } from './content-items.js';
import type { ReportResults } from './report-input.js';
import { Tid1500MeasurementReport, type ParsedReportContent } from './tid1500-report.js';
import type { LibraryEntry } from './tid1600-image-library.js';
import { Tid4000MammographyCadReport } from './tid4000-mammography-cad-report.js';

export interface ReadReport {
  template: ReportTemplate;
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  manufacturer: string;
  /** Series Description: "RESEARCH USE ONLY - ..." for a report marked for research use only. */
  seriesDescription: string;
  /** Patient's Name as written (the alphabetic group), e.g. for checking the character set. */
  patientName: string;
  specificCharacterSet: string;
  /** Every image of the Image Library, in order. */
  library: LibraryEntry[];
  results: ReportResults;
}

const PARSERS: Record<string, { template: ReportTemplate; sopClassUid: string; parse: (dataset: NaturalizedDataset, where: string) => ParsedReportContent }> = {
  [Tid1500MeasurementReport.TEMPLATE_ID]: { template: 'TID1500', sopClassUid: Tid1500MeasurementReport.SOP_CLASS_UID, parse: Tid1500MeasurementReport.parse },
  [Tid4000MammographyCadReport.TEMPLATE_ID]: { template: 'TID4000', sopClassUid: Tid4000MammographyCadReport.SOP_CLASS_UID, parse: Tid4000MammographyCadReport.parse },
};

function text(dataset: NaturalizedDataset, key: string): string {
  const value = Array.isArray(dataset[key]) ? (dataset[key] as unknown[])[0] : dataset[key];
  if (typeof value === 'object' && value !== null) return String((value as { Alphabetic?: unknown }).Alphabetic ?? '');
  return value === undefined || value === null ? '' : String(value).trim();
}

/** Reads a report from its naturalised data set. Throws ReportParseError for anything that is not a complete mammocad report. */
export function readReportDataset(dataset: NaturalizedDataset, source: string): ReadReport {
  const templateId = templateIdOf(dataset);
  const parser = PARSERS[templateId];
  if (!parser) throw new ReportParseError(`${source}: not a TID 1500 or TID 4000 report (root template '${templateId || 'none'}')`);
  const sopClassUid = text(dataset, 'SOPClassUID');
  if (sopClassUid !== parser.sopClassUid) throw new ReportParseError(`${source}: a ${parser.template} report must have SOP Class ${parser.sopClassUid}, not '${sopClassUid}'`);
  const { results, library } = parser.parse(dataset, source);
  return {
    template: parser.template,
    sopClassUid,
    sopInstanceUid: text(dataset, 'SOPInstanceUID'),
    seriesInstanceUid: text(dataset, 'SeriesInstanceUID'),
    studyInstanceUid: text(dataset, 'StudyInstanceUID'),
    manufacturer: text(dataset, 'Manufacturer'),
    seriesDescription: text(dataset, 'SeriesDescription'),
    patientName: text(dataset, 'PatientName'),
    specificCharacterSet: text(dataset, 'SpecificCharacterSet'),
    library,
    results,
  };
}

/** Reads a report from Part 10 bytes (a file, or a WADO-RS instance). */
export function readStructuredReport(bytes: Uint8Array, source = 'structured report'): ReadReport {
  return readReportDataset(readPart10(bytes, source).dataset, source);
}

/** Reads a report from its DICOM JSON (WADO-RS metadata of the instance). */
export function readStructuredReportJson(json: DicomJson, source = 'structured report metadata'): ReadReport {
  return readReportDataset(dcmjs.data.DicomMetaDictionary.naturalizeDataset(json), source);
}
