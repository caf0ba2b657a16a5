// The report input is checked completely before anything is built: bad sources, mixed
// patients or studies, bad probabilities and dangling references are refused with the field
// named, and patient identifiers never appear in the messages.

import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/index.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { buildStructuredReport, validateReportInput, type ReportInput } from '../../src/dicom/sr/index.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

function fourViews(patientName = 'TEST^MAMMO') {
  const ids = newStudyIds({ patientName, patientId: 'PID-SECRET-4711' });
  const images = (['L', 'R'] as const).flatMap((laterality) => (['CC', 'MLO'] as const).map((view) => mammogram(ids, { laterality, view })));
  return { ids, images, sources: images.map((m) => readPart10(m.bytes, 'test').dataset) };
}

function input(overrides: Partial<ReportInput> = {}): ReportInput {
  const { images, sources } = fourViews();
  const [lcc, lmlo, rcc, rmlo] = images.map((m) => m.sopInstanceUid) as [string, string, string, string];
  return {
    sources,
    imageProbabilities: { [lcc]: 0.1, [lmlo]: 0.62, [rcc]: 0.05, [rmlo]: 0.2 },
    breasts: { L: { probability: 0.62, sopInstanceUids: [lmlo, lcc] }, R: { probability: 0.2, sopInstanceUids: [rcc, rmlo] } },
    exam: { probability: 0.62 },
    threshold: 0.5,
    algorithm: { name: 'mammocad', version: 'shen2019-v1', modelVersionId: 'mv-1', modelSha256: 'c'.repeat(64) },
    device: { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: '0.1.0', uid: '2.25.42' },
    ...overrides,
  };
}

function refusal(bad: ReportInput): ValidationError {
  try {
    validateReportInput(bad);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('the input was accepted');
}

describe('validateReportInput', () => {
  it('accepts a complete input and derives the qualitative results at the threshold', () => {
    const base = input();
    const report = validateReportInput(base);
    const [lcc, lmlo] = Object.keys(base.imageProbabilities);
    expect(report.results.images[lcc!]).toEqual({ probability: 0.1, positive: false });
    expect(report.results.images[lmlo!]).toEqual({ probability: 0.62, positive: true });
    // references come back in the order of the sources, whatever order they were given in
    expect(report.results.breasts.L).toEqual({ probability: 0.62, positive: true, sopInstanceUids: [lcc, lmlo] });
    expect(report.results.exam.sopInstanceUids).toEqual(Object.keys(base.imageProbabilities));
    expect(report.sources.map((s) => [s.laterality, s.viewCode?.value, s.viewCode?.scheme])).toEqual([
      ['L', '399162004', 'SCT'],
      ['L', '399368009', 'SCT'],
      ['R', '399162004', 'SCT'],
      ['R', '399368009', 'SCT'],
    ]);
  });

  it('treats the threshold itself as positive', () => {
    const base = input({ threshold: 0.62 });
    expect(validateReportInput(base).results.exam.positive).toBe(true);
    expect(validateReportInput({ ...base, exam: { probability: 0.6199999 } }).results.exam.positive).toBe(false);
  });

  it.each(['SOPClassUID', 'SOPInstanceUID', 'SeriesInstanceUID', 'StudyInstanceUID', 'PatientID'])('refuses a source without %s', (key) => {
    const base = input();
    const sources = base.sources.map((s) => ({ ...s }));
    delete sources[2]![key];
    const error = refusal({ ...base, sources });
    expect(error.field).toBe(`sources[2].${key}`);
    expect(error.message).toMatch(/missing/);
  });

  it('refuses a malformed UID in a source', () => {
    const base = input();
    const sources = base.sources.map((s, i) => (i === 1 ? { ...s, SeriesInstanceUID: '1.2.03.abc' } : s));
    expect(refusal({ ...base, sources }).field).toBe('sources[1].SeriesInstanceUID');
  });

  it('refuses sources from several studies or several patients, without naming the patient', () => {
    const base = input();
    const otherStudy = base.sources.map((s, i) => (i === 3 ? { ...s, StudyInstanceUID: '1.2.3.4.5' } : s));
    expect(refusal({ ...base, sources: otherStudy })).toMatchObject({ field: 'sources[3].StudyInstanceUID', message: expect.stringMatching(/exactly one study/) });
    const otherPatient = base.sources.map((s, i) => (i === 1 ? { ...s, PatientID: 'PID-OTHER-0815' } : s));
    const error = refusal({ ...base, sources: otherPatient });
    expect(error).toMatchObject({ field: 'sources[1].PatientID', message: expect.stringMatching(/exactly one patient/) });
    expect(error.message).not.toMatch(/PID-/);
  });

  it('refuses the same image twice among the sources', () => {
    const base = input();
    expect(refusal({ ...base, sources: [...base.sources, base.sources[0]!] }).field).toBe('sources[4].SOPInstanceUID');
  });

  it.each([
    ['above 1', 1.2],
    ['below 0', -0.01],
    ['NaN', Number.NaN],
    ['infinite', Number.POSITIVE_INFINITY],
  ])('refuses an image probability %s', (_label, p) => {
    const base = input();
    const uid = Object.keys(base.imageProbabilities)[1]!;
    const error = refusal({ ...base, imageProbabilities: { ...base.imageProbabilities, [uid]: p } });
    expect(error.field).toBe(`imageProbabilities['${uid}']`);
    expect(error.message).toMatch(/finite probability in \[0, 1\]/);
  });

  it('refuses bad breast, exam and threshold values, and a probability that is not a number', () => {
    const base = input();
    expect(refusal({ ...base, breasts: { ...base.breasts, R: { ...base.breasts.R!, probability: 7 } } }).field).toBe('breasts.R.probability');
    expect(refusal({ ...base, exam: { probability: Number.NEGATIVE_INFINITY } }).field).toBe('exam.probability');
    expect(refusal({ ...base, threshold: 1.5 }).field).toBe('threshold');
    expect(refusal({ ...base, exam: { probability: '0.5' as unknown as number } }).message).toMatch(/must be a number/);
  });

  it('refuses references to images that are not sources, and breasts of the wrong side', () => {
    const base = input();
    const [lcc, , rcc] = Object.keys(base.imageProbabilities);
    expect(refusal({ ...base, imageProbabilities: { ...base.imageProbabilities, '1.2.3.999': 0.4 } }).field).toBe("imageProbabilities['1.2.3.999']");
    expect(refusal({ ...base, breasts: { L: { probability: 0.3, sopInstanceUids: [lcc!, '1.2.3.999'] } } }).field).toBe('breasts.L.sopInstanceUids[1]');
    expect(refusal({ ...base, breasts: { L: { probability: 0.3, sopInstanceUids: [lcc!, rcc!] } } }).message).toMatch(/laterality 'R', not 'L'/);
    expect(refusal({ ...base, breasts: { L: { probability: 0.3, sopInstanceUids: [] } } }).field).toBe('breasts.L.sopInstanceUids');
    expect(refusal({ ...base, breasts: { X: { probability: 0.3, sopInstanceUids: [lcc!] } } as never }).field).toBe('breasts.X');
    expect(refusal({ ...base, exam: { probability: 0.4, sopInstanceUids: [lcc!, lcc!] } }).message).toMatch(/more than once/);
  });

  it('refuses a report without images or scores', () => {
    const base = input();
    expect(refusal({ ...base, sources: [] }).field).toBe('sources');
    expect(refusal({ ...base, imageProbabilities: {} }).field).toBe('imageProbabilities');
  });

  it('refuses an incomplete algorithm or device identification', () => {
    const base = input();
    expect(refusal({ ...base, algorithm: { ...base.algorithm, modelSha256: 'sha256:abc' } }).field).toBe('algorithm.modelSha256');
    expect(refusal({ ...base, algorithm: { ...base.algorithm, version: '' } }).field).toBe('algorithm.version');
    expect(refusal({ ...base, device: { ...base.device, uid: 'not-a-uid' } }).field).toBe('device.uid');
    expect(refusal({ ...base, device: { ...base.device, manufacturer: 'a\\b' } }).field).toBe('device.manufacturer');
    expect(refusal({ ...base, uids: { seriesInstanceUid: '2.25.1', sopInstanceUid: '2.25.1' } }).field).toBe('uids');
  });

  it('declares UTF-8 when the sources declare a character set, and none for plain ASCII sources that declare none', () => {
    expect(validateReportInput(input()).specificCharacterSet).toBe('ISO_IR 192');
    const base = input();
    const ascii = base.sources.map(({ SpecificCharacterSet: _charset, ...rest }) => rest);
    expect(validateReportInput({ ...base, sources: ascii }).specificCharacterSet).toBeUndefined();
    const accented = ascii.map((s) => ({ ...s, PatientName: 'Ångström^Åsa' }));
    expect(validateReportInput({ ...base, sources: accented }).specificCharacterSet).toBe('ISO_IR 192');
  });

  it('checks what only a Mammography CAD report needs: breast and exam results over scored images', () => {
    const base = input();
    const [lcc, lmlo] = Object.keys(base.imageProbabilities);
    const { [lmlo!]: _unscored, ...scores } = base.imageProbabilities;
    const partial = { ...base, imageProbabilities: scores, exam: { probability: 0.62, sopInstanceUids: Object.keys(scores) } };
    expect(() => buildStructuredReport(partial, 'TID1500')).not.toThrow();
    expect(() => buildStructuredReport(partial, 'TID4000')).toThrow(/breasts\.L\.sopInstanceUids: image .* has no image-level score/);
    const examSubset = { ...base, exam: { probability: 0.62, sopInstanceUids: [lcc!] } };
    expect(() => buildStructuredReport(examSubset, 'TID4000')).toThrow(/exam result covers every scored image/);
  });
});
