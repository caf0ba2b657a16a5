// Build -> Part 10 bytes -> read gives back every score, qualitative result, reference, the
// algorithm and the device, for both report types; the header carries the patient, study,
// equipment and evidence the IODs require.

import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import { ReportParseError } from '../../src/domain/index.js';
import type { DicomJson } from '../../src/dicom/dicomweb-client.js';
import { readPart10 } from '../../src/dicom/part10.js';
import {
  buildStructuredReport,
  readStructuredReport,
  readStructuredReportJson,
  validateReportInput,
  type ReportInput,
  type ReportResults,
} from '../../src/dicom/sr/index.js';
import { doseReport, mammogram, newStudyIds } from '../support/dicom-factory.js';
import { IRREGULAR_REGION, asStored, squareRegion } from '../support/region-fixtures.js';

const REPORT_UIDS = { seriesInstanceUid: '2.25.1001', sopInstanceUid: '2.25.1002' };

/** Four views of one study, an unscored extra image of unknown side, and scores with full double precision. */
function studyInput(patientName = 'Müller^Zoë'): { input: ReportInput; uids: string[] } {
  const ids = newStudyIds({ patientName });
  const images = [
    mammogram(ids, { laterality: 'L', view: 'CC' }),
    mammogram(ids, { laterality: 'L', view: 'MLO' }),
    mammogram(ids, { laterality: 'R', view: 'CC' }),
    mammogram(ids, { laterality: 'R', view: 'MLO' }),
  ];
  const uids = images.map((m) => m.sopInstanceUid);
  const [lcc, lmlo, rcc, rmlo] = uids as [string, string, string, string];
  const probabilities = [0.1234567890123456, 0.7312345678901234, 1e-7, 0.5];
  return {
    uids,
    input: {
      sources: images.map((m) => readPart10(m.bytes, 'test').dataset),
      imageProbabilities: Object.fromEntries(uids.map((uid, i) => [uid, probabilities[i]!])),
      breasts: { L: { probability: 0.7312345678901234, sopInstanceUids: [lcc, lmlo] }, R: { probability: 0.5, sopInstanceUids: [rcc, rmlo] } },
      exam: { probability: 0.7312345678901234 },
      threshold: 0.5,
      algorithm: { name: 'mammocad', version: 'shen2019-resnet50-v1', modelVersionId: 'mv-7', modelSha256: '0123456789abcdef'.repeat(4) },
      device: { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: '0.1.0', uid: '2.25.77' },
      uids: REPORT_UIDS,
      createdAt: new Date(2026, 0, 15, 9, 30, 5, 120),
    },
  };
}

function expectClose(actual: ReportResults, expected: ReportResults): void {
  const strip = (r: ReportResults) => JSON.parse(JSON.stringify(r, (key, value) => (key === 'probability' ? undefined : value)));
  expect(strip(actual)).toEqual(strip(expected));
  for (const [uid, result] of Object.entries(expected.images)) expect(actual.images[uid]!.probability).toBeCloseTo(result.probability, 14);
  for (const side of ['L', 'R'] as const) expect(actual.breasts[side]!.probability).toBeCloseTo(expected.breasts[side]!.probability, 14);
  expect(actual.exam.probability).toBeCloseTo(expected.exam.probability, 14);
}

describe('structured report round trip', () => {
  it('TID 1500: reading the bytes reproduces every score, qualitative result and reference exactly', () => {
    const { input, uids } = studyInput();
    const built = buildStructuredReport(input, 'TID1500');
    const read = readStructuredReport(built.bytes);
    const expected = validateReportInput(input).results;
    expect(read.results).toEqual(expected);
    expect(read.results.images[uids[1]!]).toEqual({ probability: 0.7312345678901234, positive: true });
    expect(read.results.images[uids[2]!]).toEqual({ probability: 1e-7, positive: false });
    expect(read.results.breasts.R).toEqual({ probability: 0.5, positive: true, sopInstanceUids: [uids[2], uids[3]] }); // at the threshold: positive
    expect(read).toMatchObject({ template: 'TID1500', sopClassUid: '1.2.840.10008.5.1.4.1.1.88.33', ...REPORT_UIDS, manufacturer: 'mammocad' });
    expect(read.library.map((e) => [e.sopInstanceUid, e.laterality, e.view?.meaning])).toEqual([
      [uids[0], 'L', 'cranio-caudal'],
      [uids[1], 'L', 'medio-lateral oblique'],
      [uids[2], 'R', 'cranio-caudal'],
      [uids[3], 'R', 'medio-lateral oblique'],
    ]);
  });

  it('TID 4000: reading the bytes reproduces every result and reference (probabilities to 14 digits: the report holds percent)', () => {
    const { input } = studyInput();
    const built = buildStructuredReport(input, 'TID4000');
    const read = readStructuredReport(built.bytes);
    expect(read).toMatchObject({ template: 'TID4000', sopClassUid: '1.2.840.10008.5.1.4.1.1.88.50' });
    expectClose(read.results, validateReportInput(input).results);
  });

  it.each(['TID1500', 'TID4000'] as const)('%s: a negative exam and an image of unknown side read back too', (template) => {
    const { input, uids } = studyInput();
    const sources = input.sources.map((s, i) => (i === 3 ? { ...s, ImageLaterality: undefined, Laterality: undefined, SeriesDescription: 'unknown', ViewPosition: 'CC' } : s));
    const negative: ReportInput = {
      ...input,
      sources,
      imageProbabilities: { ...input.imageProbabilities, [uids[1]!]: 0.2, [uids[3]!]: 0.3 },
      breasts: { L: { probability: 0.2, sopInstanceUids: [uids[0]!, uids[1]!] }, R: { probability: 1e-7, sopInstanceUids: [uids[2]!] } },
      exam: { probability: 0.3 },
    };
    const read = readStructuredReport(buildStructuredReport(negative, template).bytes);
    expectClose(read.results, validateReportInput(negative).results);
    expect(read.results.exam.positive).toBe(false);
    expect(read.library[3]!.laterality).toBe('U');
  });

  it.each(['TID1500', 'TID4000'] as const)('%s: marked regions come back with every point (as 32-bit floats) and their image, from the bytes and from DICOM JSON', (template) => {
    const { input, uids } = studyInput();
    const regions = { [uids[3]!]: [squareRegion(0.5, 200, 10, 30)], [uids[1]!]: [IRREGULAR_REGION, squareRegion(0.9999999, 0, 0, 256)] };
    const marked: ReportInput = { ...input, regions };
    const built = buildStructuredReport(marked, template);
    const read = readStructuredReport(built.bytes);
    const expected = validateReportInput(marked).results;
    expect(Object.keys(read.results.regions!)).toEqual([uids[1], uids[3]]); // in library order
    expect(read.results.regions![uids[1]!]!.map((r) => ({ ...r, score: 0 }))).toEqual([asStored(IRREGULAR_REGION), squareRegion(0.9999999, 0, 0, 256)].map((r) => ({ ...r, score: 0 })));
    if (template === 'TID1500') expect(read.results).toEqual(expected);
    else {
      // TID 4000 holds the score in percent.
      const scores = (r: ReportResults) => Object.values(r.regions!).flat().map((region) => region.score);
      scores(read.results).forEach((score, i) => expect(score).toBeCloseTo(scores(expected)[i]!, 14));
      expectClose({ ...read.results, regions: undefined }, { ...expected, regions: undefined });
    }
    const json = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(readPart10(built.bytes, 'r').dataset) as unknown as DicomJson;
    expect(readStructuredReportJson(json).results).toEqual(read.results);
  });

  it('copies patient and study attributes, keeps the non-ASCII name in UTF-8, and lists the sources as evidence', () => {
    const { input, uids } = studyInput('Müller^Zoë');
    const built = buildStructuredReport(input, 'TID1500');
    const { dataset } = readPart10(built.bytes, 'report');
    const source = input.sources[0]!;
    expect(readStructuredReport(built.bytes)).toMatchObject({ patientName: 'Müller^Zoë', specificCharacterSet: 'ISO_IR 192' });
    // The name is encoded as UTF-8 in the file itself.
    expect(Buffer.from(built.bytes).includes(Buffer.from('Müller^Zoë', 'utf8'))).toBe(true);
    for (const key of ['PatientID', 'PatientBirthDate', 'PatientSex', 'StudyInstanceUID', 'StudyDate', 'StudyTime', 'AccessionNumber', 'StudyID']) {
      expect(dataset[key], key).toEqual(source[key]);
    }
    expect(dataset).toMatchObject({
      Modality: 'SR',
      SeriesInstanceUID: REPORT_UIDS.seriesInstanceUid,
      Manufacturer: 'mammocad',
      SoftwareVersions: '0.1.0',
      CompletionFlag: 'COMPLETE',
      VerificationFlag: 'UNVERIFIED',
      ContentDate: '20260115',
      ContentTime: '093005.120',
    });
    const evidence = dataset.CurrentRequestedProcedureEvidenceSequence as Array<{ StudyInstanceUID: string; ReferencedSeriesSequence: Array<{ ReferencedSOPSequence: Array<{ ReferencedSOPInstanceUID: string }> }> }>;
    expect(evidence[0]!.StudyInstanceUID).toBe(source.StudyInstanceUID);
    expect(evidence[0]!.ReferencedSeriesSequence.flatMap((s) => s.ReferencedSOPSequence.map((r) => r.ReferencedSOPInstanceUID))).toEqual(uids);
  });

  it('rebuilding with the same UIDs gives the same content tree (a retry re-sends the same report)', () => {
    const { input } = studyInput();
    const first = readPart10(buildStructuredReport(input, 'TID1500').bytes, 'a').dataset;
    const again = readPart10(buildStructuredReport({ ...input, createdAt: new Date(2026, 0, 16) }, 'TID1500').bytes, 'b').dataset;
    expect(again.ContentSequence).toEqual(first.ContentSequence);
    expect(again.SOPInstanceUID).toBe(first.SOPInstanceUID);
  });

  it('reads a report from its DICOM JSON (WADO-RS metadata) as from its bytes', () => {
    const { input } = studyInput();
    for (const template of ['TID1500', 'TID4000'] as const) {
      const built = buildStructuredReport(input, template);
      const json = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(readPart10(built.bytes, 'r').dataset) as unknown as DicomJson;
      expect(readStructuredReportJson(json).results).toEqual(readStructuredReport(built.bytes).results);
    }
  });

  it('refuses to read an SR that is not one of ours, and a report whose SOP class contradicts its template', () => {
    const ids = newStudyIds();
    expect(() => readStructuredReport(doseReport(ids).bytes, 'dose.dcm')).toThrow(ReportParseError);
    expect(() => readStructuredReport(doseReport(ids).bytes, 'dose.dcm')).toThrow(/dose\.dcm: not a TID 1500 or TID 4000 report \(root template '10001'\)/);
    const { input } = studyInput();
    const dataset = readPart10(buildStructuredReport(input, 'TID1500').bytes, 'r').dataset;
    const relabelled = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({ ...dataset, SOPClassUID: '1.2.840.10008.5.1.4.1.1.88.50' }) as unknown as DicomJson;
    expect(() => readStructuredReportJson(relabelled)).toThrow(/must have SOP Class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\.33/);
  });

  it('names what is missing when a content tree lacks a required item', () => {
    const { input } = studyInput();
    const dataset = readPart10(buildStructuredReport(input, 'TID1500').bytes, 'r').dataset;
    const withoutMeasurements = { ...dataset, ContentSequence: (dataset.ContentSequence as unknown[]).slice(0, -1) };
    const json = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(withoutMeasurements) as unknown as DicomJson;
    expect(() => readStructuredReportJson(json, 'cut.dcm')).toThrow(/cut\.dcm: no CONTAINER item 'Imaging Measurements' \(DCM 126010\)/);
  });
});
