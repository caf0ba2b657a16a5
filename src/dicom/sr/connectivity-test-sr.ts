// The test object `mammocad pacs check` stores to prove STOW-RS works: a Basic Text SR in a
// study of its own, with fresh UIDs, marked everywhere a PACS user looks (patient name and ID,
// study and series descriptions, the text itself) as a connectivity test, and carrying no
// scores: a copy left behind cannot be mistaken for a result. Its Manufacturer is mammocad's,
// so study discovery never treats it as images to score.

import { containerItem, textContentItem } from './content-items.js';
import { COMMENT } from './codes.js';
import { REPORT_MANUFACTURER, dicomDateTime, writePart10 } from './sr-document.js';
import { rootOf } from './tid1500-report.js';
import { newUid } from './uids.js';

/** Basic Text SR Storage (PS3.4 B.5). */
export const BASIC_TEXT_SR = '1.2.840.10008.5.1.4.1.1.88.11';

/** Who the test object belongs to: no one. Fixed, so a PACS user can find every copy. */
export const CONNECTIVITY_TEST_PATIENT = { name: 'MAMMOCAD-TEST^PACS CONNECTIVITY CHECK', id: 'MAMMOCAD-PACS-CHECK' } as const;
export const CONNECTIVITY_TEST_DESCRIPTION = 'mammocad PACS connectivity test - not clinical, delete';
const STATEMENT =
  'Test object stored by `mammocad pacs check` to verify that mammocad can store structured reports in this PACS. ' +
  'It belongs to no patient and holds no result. Delete this study.';

export interface ConnectivityTestSr {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  /** The Part 10 file. */
  bytes: Uint8Array;
}

export function buildConnectivityTestSr(options: { softwareVersion: string; createdAt?: Date }): ConnectivityTestSr {
  const { date, time, offset } = dicomDateTime(options.createdAt ?? new Date());
  const uids = { studyInstanceUid: newUid(), seriesInstanceUid: newUid(), sopInstanceUid: newUid() };
  const bytes = writePart10({
    // SOP Common
    SOPClassUID: BASIC_TEXT_SR,
    SOPInstanceUID: uids.sopInstanceUid,
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    TimezoneOffsetFromUTC: offset,
    // Patient
    PatientName: CONNECTIVITY_TEST_PATIENT.name,
    PatientID: CONNECTIVITY_TEST_PATIENT.id,
    PatientBirthDate: '',
    PatientSex: '',
    // General Study
    StudyInstanceUID: uids.studyInstanceUid,
    StudyDate: date,
    StudyTime: time,
    ReferringPhysicianName: '',
    StudyID: 'PACSCHECK',
    AccessionNumber: '',
    StudyDescription: CONNECTIVITY_TEST_DESCRIPTION,
    // SR Document Series
    Modality: 'SR',
    SeriesInstanceUID: uids.seriesInstanceUid,
    SeriesNumber: 1,
    SeriesDate: date,
    SeriesTime: time,
    SeriesDescription: CONNECTIVITY_TEST_DESCRIPTION,
    ReferencedPerformedProcedureStepSequence: [],
    // General Equipment
    Manufacturer: REPORT_MANUFACTURER,
    ManufacturerModelName: 'mammocad pacs check',
    SoftwareVersions: options.softwareVersion,
    // SR Document General
    InstanceNumber: 1,
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    ContentDate: date,
    ContentTime: time,
    PerformedProcedureCodeSequence: [],
    // SR Document Content: one remark under a neutral title; no template, no codes that could read as a finding
    ...rootOf(containerItem('CONTAINS', COMMENT, [textContentItem('CONTAINS', COMMENT, STATEMENT)])),
  });
  return { ...uids, sopClassUid: BASIC_TEXT_SR, bytes };
}
