// What a report says besides its scores, so that it is safe to read on its own in the PACS:
// the model's validation evidence (TID 4019 Algorithm Parameters), a research-use mark (a text
// viewers show, and the Series Description), flags on scored images and the reasons images
// were not scored. Each is read back as it was given, from both report types; without them
// the report is as before.

import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/index.js';
import type { DicomJson } from '../../src/dicom/dicomweb-client.js';
import { readPart10 } from '../../src/dicom/part10.js';
import {
  RESEARCH_SERIES_DESCRIPTION,
  buildStructuredReport,
  readStructuredReport,
  readStructuredReportJson,
  validateReportInput,
  type ReportInput,
  type ReportResults,
} from '../../src/dicom/sr/index.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

const TEMPLATES = ['TID1500', 'TID4000'] as const;
const STATEMENT = 'RESEARCH USE ONLY: model not validated for clinical use (validation AUC 95% CI reaches 0.5)';
const FILM = "outside the model's intended use: digitised film (the model was trained on digital mammograms)";
const OOD = 'out of distribution: intensity histogram distance 3.2 (flagged above 1.0)';
const IMPLAUSIBLE = 'implausible image: 1x2 pixels (pixel spacing 74.7 mm)';

/** Four scored views and a fifth image that was not scored. */
function study(): { input: ReportInput; uids: string[] } {
  const ids = newStudyIds();
  const images = [
    mammogram(ids, { laterality: 'L', view: 'CC' }),
    mammogram(ids, { laterality: 'L', view: 'MLO' }),
    mammogram(ids, { laterality: 'R', view: 'CC' }),
    mammogram(ids, { laterality: 'R', view: 'MLO' }),
    mammogram(ids, { laterality: 'R', view: 'CC' }),
  ];
  const uids = images.map((m) => m.sopInstanceUid);
  const [lcc, lmlo, rcc, rmlo] = uids as [string, string, string, string];
  return {
    uids,
    input: {
      sources: images.map((m) => readPart10(m.bytes, 'test').dataset),
      imageProbabilities: { [lcc]: 0.12, [lmlo]: 0.61, [rcc]: 0.05, [rmlo]: 0.3 },
      breasts: { L: { probability: 0.61, sopInstanceUids: [lcc, lmlo] }, R: { probability: 0.3, sopInstanceUids: [rcc, rmlo] } },
      exam: { probability: 0.61 },
      threshold: 0.5,
      algorithm: { name: 'mammocad', version: 'default-rsna-1', modelVersionId: 'mv-3', modelSha256: 'b'.repeat(64) },
      device: { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: '0.1.0', uid: '2.25.31' },
      uids: { seriesInstanceUid: '2.25.4001', sopInstanceUid: '2.25.4002' },
      createdAt: new Date(2026, 2, 1, 8, 0, 0),
    },
  };
}

/** The study with every note: evidence, research use, two flags on one image and one on another, a skipped image. */
function annotated(): { input: ReportInput; uids: string[] } {
  const { input, uids } = study();
  return {
    uids,
    input: {
      ...input,
      evidence: { auc: 0.674, aucCi: [0.603, 0.743], dataset: 'rsna-screening', method: '4-fold cross-validation by woman, 722 women' },
      researchUse: { statement: STATEMENT },
      imageFlags: { [uids[3]!]: [OOD], [uids[0]!]: [FILM, OOD] },
      skippedImages: { [uids[4]!]: IMPLAUSIBLE },
    },
  };
}

/** Equal up to the last digits of probabilities (TID 4000 holds percent). */
function expectSameResults(actual: ReportResults, expected: ReportResults): void {
  const strip = (r: ReportResults) => JSON.parse(JSON.stringify(r, (key, value) => (key === 'probability' ? undefined : value)));
  expect(strip(actual)).toEqual(strip(expected));
  for (const [uid, result] of Object.entries(expected.images)) expect(actual.images[uid]!.probability).toBeCloseTo(result.probability, 14);
}

/** Every text content item of a content tree, as "concept meaning: text". */
function texts(item: Record<string, unknown>): string[] {
  const children = (item.ContentSequence as Array<Record<string, unknown>> | undefined) ?? [];
  const own = item.ValueType === 'TEXT' ? [`${(item.ConceptNameCodeSequence as Array<{ CodeMeaning: string }>)[0]!.CodeMeaning}: ${String(item.TextValue)}`] : [];
  return [...own, ...children.flatMap(texts)];
}

const refusal = (bad: ReportInput): ValidationError => {
  try {
    validateReportInput(bad);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('the input was accepted');
};

describe.each(TEMPLATES)('%s report', (template) => {
  it('without the new fields: no notes, no evidence, the usual Series Description', () => {
    const { input } = study();
    const built = buildStructuredReport(input, template);
    const read = readStructuredReport(built.bytes);
    expectSameResults(read.results, validateReportInput(input).results);
    for (const key of ['evidence', 'researchUse', 'imageFlags', 'skippedImages']) expect(read.results).not.toHaveProperty(key);
    expect(read.seriesDescription).toBe('mammocad AI results');
    const all = texts(readPart10(built.bytes, 'r').dataset).join('\n');
    expect(all).not.toMatch(/Comment|Impression Description|Selected Region Description|validation-/);
  });

  it('reads back the evidence, the research-use statement, the image flags and the skipped images as given', () => {
    const { input, uids } = annotated();
    const read = readStructuredReport(buildStructuredReport(input, template).bytes);
    expectSameResults(read.results, validateReportInput(input).results);
    expect(read.results.evidence).toEqual(input.evidence);
    expect(read.results.researchUse).toEqual({ statement: STATEMENT });
    expect(read.results.imageFlags).toEqual({ [uids[0]!]: [FILM, OOD], [uids[3]!]: [OOD] }); // in source order
    expect(Object.keys(read.results.imageFlags!)).toEqual([uids[0], uids[3]]);
    expect(read.results.skippedImages).toEqual({ [uids[4]!]: IMPLAUSIBLE });
    expect(read.library.map((e) => e.sopInstanceUid)).toEqual(uids); // the skipped image stays in the library
    expect(read.results.images).not.toHaveProperty(uids[4]!);
  });

  it('marks a research-use report in its Series Description (LO, at most 64 characters)', () => {
    const { input } = annotated();
    const read = readStructuredReport(buildStructuredReport(input, template).bytes);
    expect(read.seriesDescription).toBe(RESEARCH_SERIES_DESCRIPTION);
    expect(read.seriesDescription.startsWith('RESEARCH USE ONLY')).toBe(true);
    expect(read.seriesDescription.length).toBeLessThanOrEqual(64);
    // research use alone changes the description; evidence alone does not
    const { input: plain } = study();
    expect(readStructuredReport(buildStructuredReport({ ...plain, researchUse: { statement: STATEMENT } }, template).bytes).seriesDescription).toBe(RESEARCH_SERIES_DESCRIPTION);
    expect(readStructuredReport(buildStructuredReport({ ...plain, evidence: annotated().input.evidence }, template).bytes).seriesDescription).toBe('mammocad AI results');
  });

  it('writes the evidence as "key=value" Algorithm Parameters with every result', () => {
    const { input } = annotated();
    const all = texts(readPart10(buildStructuredReport(input, template).bytes, 'r').dataset);
    const parameters = all.filter((t) => t.startsWith('Algorithm Parameters: validation-'));
    const results = 4 + 2 + 1 + (template === 'TID4000' ? 1 + 1 + 1 : 0); // images, breasts, exam (+ detection performed and the two TID 4002 bodies)
    expect(parameters).toHaveLength(3 * results);
    expect(new Set(parameters)).toEqual(
      new Set([
        'Algorithm Parameters: validation-auc=0.674',
        'Algorithm Parameters: validation-auc-95ci=0.603-0.743',
        'Algorithm Parameters: validation-data=rsna-screening; 4-fold cross-validation by woman, 722 women',
      ]),
    );
  });

  it('says "validation-auc=none" for a model without evidence, and reads unknown fields back as null', () => {
    const { input } = study();
    const none = { auc: null, aucCi: null, dataset: null, method: null };
    const built = buildStructuredReport({ ...input, evidence: none }, template);
    expect(readStructuredReport(built.bytes).results.evidence).toEqual(none);
    const all = texts(readPart10(built.bytes, 'r').dataset);
    expect(all).toContain('Algorithm Parameters: validation-auc=none');
    expect(all).toContain('Algorithm Parameters: validation-auc-95ci=none');
    expect(all).toContain('Algorithm Parameters: validation-data=none');
    for (const partial of [
      { auc: 0.5123456789012345, aucCi: [1e-7, 1] as [number, number], dataset: null, method: 'bootstrap; 2000 resamples' },
      { auc: null, aucCi: null, dataset: 'inbreast', method: null },
    ]) {
      expect(readStructuredReport(buildStructuredReport({ ...input, evidence: partial }, template).bytes).results.evidence).toEqual(partial);
    }
  });

  it('shows the notes where viewers display them', () => {
    const { input, uids } = annotated();
    const all = texts(readPart10(buildStructuredReport(input, template).bytes, 'r').dataset);
    if (template === 'TID1500') {
      expect(all).toEqual(expect.arrayContaining([`Comment: ${STATEMENT}`, `Comment: Image not scored: ${IMPLAUSIBLE}`, `Comment: ${FILM}`, `Comment: ${OOD}`]));
    } else {
      expect(all).toEqual(
        expect.arrayContaining([
          `Impression Description: ${STATEMENT}`,
          `Impression Description: Image ${uids[4]} not scored: ${IMPLAUSIBLE}`,
          `Selected Region Description: ${FILM}\r\n${OOD}`,
          `Selected Region Description: ${OOD}`,
        ]),
      );
    }
  });

  it('reads the notes from DICOM JSON (WADO-RS metadata) as from the bytes', () => {
    const { input } = annotated();
    const built = buildStructuredReport(input, template);
    const json = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(readPart10(built.bytes, 'r').dataset) as unknown as DicomJson;
    const fromJson = readStructuredReportJson(json);
    expect(fromJson.results).toEqual(readStructuredReport(built.bytes).results);
    expect(fromJson.seriesDescription).toBe(RESEARCH_SERIES_DESCRIPTION);
  });
});

describe('checking the notes', () => {
  it('drops empty flag lists and trims the texts', () => {
    const { input, uids } = study();
    const report = validateReportInput({ ...input, imageFlags: { [uids[0]!]: [], [uids[1]!]: ['  padded  '] }, researchUse: { statement: ' research ' } });
    expect(report.results.imageFlags).toEqual({ [uids[1]!]: ['padded'] });
    expect(report.results.researchUse).toEqual({ statement: 'research' });
    expect(validateReportInput({ ...input, imageFlags: { [uids[0]!]: [] } }).results).not.toHaveProperty('imageFlags');
  });

  it('refuses flags on an image without a score or that is not a source, and texts a line cannot hold', () => {
    const { input, uids } = study();
    expect(refusal({ ...input, imageFlags: { [uids[4]!]: [FILM] } }).message).toMatch(/has no score.*skippedImages/);
    expect(refusal({ ...input, imageFlags: { '1.2.3.4': [FILM] } }).field).toBe("imageFlags['1.2.3.4']");
    expect(refusal({ ...input, imageFlags: { [uids[0]!]: ['two\nlines'] } }).message).toMatch(/one line/);
    expect(refusal({ ...input, imageFlags: { [uids[0]!]: [' '] } }).field).toBe(`imageFlags['${uids[0]}'][0]`);
    expect(refusal({ ...input, imageFlags: { [uids[0]!]: ['x'.repeat(1025)] } }).message).toMatch(/at most 1024/);
    expect(refusal({ ...input, imageFlags: { [uids[0]!]: FILM as unknown as string[] } }).message).toMatch(/list/);
  });

  it('refuses a skipped image that has a score, is not a source, or that a result was computed from', () => {
    const { input, uids } = study();
    expect(refusal({ ...input, skippedImages: { [uids[0]!]: IMPLAUSIBLE } }).message).toMatch(/has a score/);
    expect(refusal({ ...input, skippedImages: { '1.2.3.4': IMPLAUSIBLE } }).field).toBe("skippedImages['1.2.3.4']");
    expect(refusal({ ...input, skippedImages: { [uids[4]!]: '' } }).field).toBe(`skippedImages['${uids[4]}']`);
    const breasts = { ...input.breasts, R: { probability: 0.3, sopInstanceUids: [uids[2]!, uids[3]!, uids[4]!] } };
    expect(refusal({ ...input, breasts, skippedImages: { [uids[4]!]: IMPLAUSIBLE } }).message).toMatch(/breast or exam result references/);
  });

  it('refuses evidence it could not write or read back unambiguously', () => {
    const { input } = study();
    const evidence = { auc: 0.674, aucCi: [0.603, 0.743] as [number, number], dataset: 'rsna-screening', method: 'cv' };
    expect(refusal({ ...input, evidence: { ...evidence, auc: 1.2 } }).field).toBe('evidence.auc');
    expect(refusal({ ...input, evidence: { ...evidence, auc: Number.NaN } }).field).toBe('evidence.auc');
    expect(refusal({ ...input, evidence: { ...evidence, aucCi: [0.8, 0.6] } }).field).toBe('evidence.aucCi');
    expect(refusal({ ...input, evidence: { ...evidence, aucCi: [0.6] as unknown as [number, number] } }).field).toBe('evidence.aucCi');
    expect(refusal({ ...input, evidence: { ...evidence, dataset: 'a; b' } }).field).toBe('evidence.dataset');
    expect(refusal({ ...input, evidence: { ...evidence, method: 'none' } }).field).toBe('evidence.method');
    expect(refusal({ ...input, evidence: null as unknown as ReportInput['evidence'] }).field).toBe('evidence');
    expect(refusal({ ...input, researchUse: { statement: '' } }).field).toBe('researchUse.statement');
  });
});
