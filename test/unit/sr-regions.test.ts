// Marked regions in the structured reports (issue 16): checked up front (on a scored source,
// score in [0, 1], finite points inside the image, a closed outline), written as TID 1410
// region groups (TID 1500) and as Single Image Findings with their TID 4021 geometry
// (TID 4000), and absent or empty regions leave a report exactly as it was.

import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/index.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { buildStructuredReport, validateReportInput, type ReportInput } from '../../src/dicom/sr/index.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';
import { IRREGULAR_REGION, asStored, fourViewReportInput, squareRegion } from '../support/region-fixtures.js';

type Item = Record<string, unknown>;

function input(overrides: Partial<ReportInput> = {}): { input: ReportInput; uids: string[] } {
  return fourViewReportInput([0.1, 0.7312345678901234, 0.05, 0.2], {
    overrides: { uids: { seriesInstanceUid: '2.25.501', sopInstanceUid: '2.25.502' }, createdAt: new Date(2026, 1, 2, 3, 4, 5), ...overrides },
  });
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

/** Every content item (depth first) that `match` accepts. */
function findItems(item: Item, match: (item: Item) => boolean, found: Item[] = []): Item[] {
  if (match(item)) found.push(item);
  for (const child of (item.ContentSequence as Item[] | undefined) ?? []) findItems(child, match, found);
  return found;
}
const named = (value: string) => (item: Item) => (item.ConceptNameCodeSequence as Array<{ CodeValue: string }> | undefined)?.[0]?.CodeValue === value;
const children = (item: Item) => (item.ContentSequence as Item[] | undefined) ?? [];

describe('marked regions: validation', () => {
  const base = input();
  const [lcc, lmlo] = base.uids as [string, string];
  const good = squareRegion(0.8, 100, 100);
  const withRegion = (uid: string, region: unknown): ReportInput => ({ ...base.input, regions: { [uid]: [region] } as ReportInput['regions'] });

  it('accepts regions on scored images, in source order, and holds their coordinates as 32-bit floats', () => {
    const { results } = validateReportInput({ ...base.input, regions: { [lmlo]: [IRREGULAR_REGION, good], [lcc]: [good], [base.uids[2]!]: [] } });
    expect(Object.keys(results.regions!)).toEqual([lcc, lmlo]); // the image without regions is left out
    expect(results.regions![lmlo]).toEqual([asStored(IRREGULAR_REGION), good]);
    expect(results.regions![lmlo]![0]!.center[0]).not.toBe(150.1);
  });

  it('leaves regions out of the results when none is marked', () => {
    expect(validateReportInput(base.input).results).not.toHaveProperty('regions');
    expect(validateReportInput({ ...base.input, regions: {} }).results).not.toHaveProperty('regions');
    expect(validateReportInput({ ...base.input, regions: { [lcc]: [] } }).results).not.toHaveProperty('regions');
  });

  it('accepts points on the image border: (0, 0) and (Columns, Rows) are its corners', () => {
    const border = { score: 1, center: [0, 0], outline: [[0, 0], [256, 0], [256, 256], [0, 0]] };
    expect(validateReportInput(withRegion(lcc, border)).results.regions![lcc]![0]!.outline).toHaveLength(4);
  });

  const cases: Array<[string, () => ReportInput, RegExp]> = [
    ['an image that is not a source', () => withRegion('1.2.3.999', good), /regions\['1\.2\.3\.999'\]: is not the SOP Instance UID of a source image/],
    ['an image without a score', () => ({ ...base.input, imageProbabilities: { [lmlo]: 0.7 }, breasts: {}, exam: { probability: 0.7 }, regions: { [lcc]: [good] } }), /regions\['[\d.]+'\]: the image has no score/],
    ['a list that is not a list', () => ({ ...base.input, regions: { [lcc]: good } as unknown as ReportInput['regions'] }), /must be a list of marked regions/],
    ['a score above 1', () => withRegion(lcc, { ...good, score: 1.2 }), /regions\['[\d.]+'\]\[0\]\.score: must be a finite probability in \[0, 1\]; got 1\.2/],
    ['a NaN score', () => withRegion(lcc, { ...good, score: Number.NaN }), /\[0\]\.score: .*got NaN/],
    ['a centre that is not a point', () => withRegion(lcc, { ...good, center: [1] }), /\[0\]\.center: must be \[column, row\], two finite numbers; got \[1\]/],
    ['an infinite coordinate', () => withRegion(lcc, { ...good, center: [Number.POSITIVE_INFINITY, 3] }), /\[0\]\.center: must be \[column, row\], two finite numbers/],
    ['a centre right of the image', () => withRegion(lcc, { ...good, center: [256.5, 10] }), /\[0\]\.center: \(256\.5, 10\) lies outside the image \(256 columns x 256 rows, \(0, 0\) to \(256, 256\)\)/],
    ['an outline point below the image', () => withRegion(lcc, { ...good, outline: [[10, 10], [20, 10], [20, 300], [10, 10]] }), /\[0\]\.outline\[2\]: \(20, 300\) lies outside the image/],
    ['a negative coordinate', () => withRegion(lcc, { ...good, outline: [[-1, 10], [20, 10], [20, 20], [-1, 10]] }), /\[0\]\.outline\[0\]: \(-1, 10\) lies outside the image/],
    ['an open outline', () => withRegion(lcc, { ...good, outline: good.outline.slice(0, 4) }), /\[0\]\.outline: must be closed: its last point \(100, 140\) must repeat its first \(100, 100\)/],
    ['an outline of three points', () => withRegion(lcc, { ...good, outline: [[1, 1], [2, 2], [1, 1]] }), /\[0\]\.outline: must be a closed outline of at least 4 points .*got 3 point\(s\)/],
    ['a region that is not an object', () => withRegion(lcc, 'here'), /\[0\]: must be a region: \{ score, center, outline \}/],
  ];

  it.each(cases)('refuses %s, naming the field', (_label, make, message) => {
    const error = refusal(make());
    expect(error.message).toMatch(message);
    expect(() => buildStructuredReport(make(), 'TID4000')).toThrow(message);
  });

  it('checks points against each image\'s own size (a 512-pixel image takes what a 256-pixel one refuses)', () => {
    const ids = newStudyIds();
    const big = mammogram(ids, { laterality: 'L', size: 512 });
    const small = mammogram(ids, { laterality: 'R', size: 256 });
    const far = squareRegion(0.9, 400, 400);
    const report = (uid: string): ReportInput => ({
      ...base.input,
      sources: [big, small].map((m) => readPart10(m.bytes, 'test').dataset),
      imageProbabilities: { [big.sopInstanceUid]: 0.9, [small.sopInstanceUid]: 0.1 },
      breasts: {},
      exam: { probability: 0.9 },
      regions: { [uid]: [far] },
    });
    expect(validateReportInput(report(big.sopInstanceUid)).results.regions![big.sopInstanceUid]).toEqual([far]);
    expect(refusal(report(small.sopInstanceUid)).message).toMatch(/\[0\]\.center: \(420, 420\) lies outside the image \(256 columns x 256 rows/);
  });

  it('without Rows and Columns only refuses negative coordinates', () => {
    const sources = base.input.sources.map((ds) => ({ ...ds, Rows: undefined, Columns: undefined }));
    expect(validateReportInput({ ...withRegion(lcc, squareRegion(0.9, 1000, 1000)), sources }).results.regions).toBeDefined();
    expect(refusal({ ...withRegion(lcc, { ...good, center: [-0.5, 3] }), sources }).message).toMatch(/\(-0\.5, 3\) lies outside the image \(no negative coordinates\)/);
  });
});

describe('marked regions: reports without them are unchanged', () => {
  it.each(['TID1500', 'TID4000'] as const)('%s: absent, empty, and empty per image give the same bytes', (template) => {
    const { input: report, uids } = input();
    const plain = buildStructuredReport(report, template).bytes;
    expect(buildStructuredReport({ ...report, regions: {} }, template).bytes).toEqual(plain);
    expect(buildStructuredReport({ ...report, regions: { [uids[0]!]: [], [uids[3]!]: [] } }, template).bytes).toEqual(plain);
    expect(buildStructuredReport({ ...report, regions: { [uids[0]!]: [squareRegion(0.9, 10, 10)] } }, template).bytes).not.toEqual(plain);
  });
});

describe('marked regions: content trees', () => {
  const { input: report, uids } = input();
  const [, lmlo, , rmlo] = uids as [string, string, string, string];
  const marked: ReportInput = { ...report, regions: { [lmlo]: [IRREGULAR_REGION, squareRegion(0.55, 20, 30)], [rmlo]: [squareRegion(0.4, 200, 200, 50)] } };

  it('TID 1500: one TID 1410 group per region after its image\'s group, with the outline and the centre selected from the image', () => {
    const { dataset } = readPart10(buildStructuredReport(marked, 'TID1500').bytes, 'report');
    const groups = findItems(dataset, named('125007'));
    const identifiers = groups.map((g) => (children(g).find(named('112039'))!.TextValue as string).trim());
    expect(identifiers).toEqual([`image ${uids[0]}`, `image ${lmlo}`, `region 1 of image ${lmlo}`, `region 2 of image ${lmlo}`, `image ${uids[2]}`, `image ${rmlo}`, `region 1 of image ${rmlo}`, 'breast L', 'breast R', 'exam']);
    const region = groups[2]!;
    expect((region.ContentTemplateSequence as Item[])[0]).toMatchObject({ MappingResource: 'DCMR', TemplateIdentifier: '1410' });
    const outline = children(region).find(named('111030'))!;
    expect(outline).toMatchObject({ RelationshipType: 'CONTAINS', ValueType: 'SCOORD', GraphicType: 'POLYLINE' });
    expect(outline.GraphicData).toEqual(asStored(IRREGULAR_REGION).outline.flat());
    const source = children(outline)[0]!;
    expect(source).toMatchObject({ RelationshipType: 'SELECTED FROM', ValueType: 'IMAGE' });
    expect((source.ReferencedSOPSequence as Item[])[0]!.ReferencedSOPInstanceUID).toBe(lmlo);
    const center = children(region).find(named('111010'))!;
    expect(center).toMatchObject({ ValueType: 'SCOORD', GraphicType: 'POINT', GraphicData: asStored(IRREGULAR_REGION).center });
    const score = children(region).find(named('111047'))!;
    expect((score.MeasuredValueSequence as Item[])[0]).toMatchObject({ FloatingPointValue: 0.7312345678901234 });
    // Normality at the operating threshold (0.5): the third region (0.4) is Normal.
    const normality = (g: Item) => ((children(children(g).find(named('111047'))!).find(named('121402'))!.ConceptCodeSequence as Item[])[0]!.CodeMeaning as string).trim();
    expect([groups[2], groups[3], groups[6]].map((g) => normality(g!))).toEqual(['Abnormal', 'Abnormal', 'Normal']);
  });

  it('TID 4000: one Single Image Finding per region after its image\'s, with Center and Outline selected from the image by reference', () => {
    const { dataset } = readPart10(buildStructuredReport(marked, 'TID4000').bytes, 'report');
    const findings = findItems(dataset, named('111059'));
    expect(findings).toHaveLength(4 + 3);
    const regions = findings.filter((f) => children(f).some(named('111010')));
    expect(regions).toHaveLength(3);
    const [first] = regions;
    const center = children(first!).find(named('111010'))!;
    const outline = children(first!).find(named('111041'))!;
    expect(center).toMatchObject({ RelationshipType: 'HAS PROPERTIES', ValueType: 'SCOORD', GraphicType: 'POINT', GraphicData: asStored(IRREGULAR_REGION).center });
    expect(outline).toMatchObject({ RelationshipType: 'HAS PROPERTIES', ValueType: 'SCOORD', GraphicType: 'POLYLINE', GraphicData: asStored(IRREGULAR_REGION).outline.flat() });
    // The left MLO is the second Image Library entry: position 1.2.2.
    for (const scoord of [center, outline]) expect(children(scoord)).toMatchObject([{ RelationshipType: 'SELECTED FROM', ReferencedContentItemIdentifier: [1, 2, 2] }]);
    const intent = (f: Item) => ((children(f).find(named('111056'))!.ConceptCodeSequence as Item[])[0]!.CodeValue as string).trim();
    expect(regions.map(intent)).toEqual(['111150', '111150', '111151']); // required at or above the threshold, optional below
    // Each region follows its image's finding within the breast's Composite Feature.
    const leftBreast = findItems(dataset, named('111015'))[1]!;
    const leftFindings = children(leftBreast).filter(named('111059'));
    expect(leftFindings.map((f) => children(f).some(named('111010')))).toEqual([false, false, true, true]);
  });
});
