// Structured reports: building mammocad's results into a DICOM SR (TID 1500 Comprehensive SR
// by default, or a TID 4000 Mammography CAD SR) and reading them back. docs/structured-reports.md
// describes the content trees and the codes.
export { buildStructuredReport, sopClassOf, REPORT_MANUFACTURER, RESEARCH_SERIES_DESCRIPTION, type BuiltReport } from './sr-document.js';
export { readStructuredReport, readStructuredReportJson, readReportDataset, type ReadReport } from './sr-reader.js';
export {
  validateReportInput,
  checkMarkedRegion,
  MAX_OUTLINE_POINTS,
  type ReportInput,
  type ReportResults,
  type ScoredResult,
  type ScopedResult,
  type AlgorithmIdentity,
  type DeviceObserver,
  type ModelEvidence,
  type ResearchUse,
} from './report-input.js';
export type { LibraryEntry } from './tid1600-image-library.js';
export { newUid, uidFromName } from './uids.js';
export { buildConnectivityTestSr, CONNECTIVITY_TEST_PATIENT, type ConnectivityTestSr } from './connectivity-test-sr.js';
