// The presentation state that draws the marked regions on the images: written, read back with
// dcmjs (every outline point and text, the images it references, the displayed area and the
// grayscale pipeline), marked for research use like the SR, and refused when one presentation
// state cannot show the images faithfully.

import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/index.js';
import { buildPresentationState } from '../../src/dicom/gsps/index.js';
import { readPart10, type NaturalizedDataset } from '../../src/dicom/part10.js';
import type { ReportInput } from '../../src/dicom/sr/index.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';
import { IRREGULAR_REGION, asStored, squareRegion } from '../support/region-fixtures.js';

type Item = Record<string, unknown>;

const GSPS_UIDS = { seriesInstanceUid: '2.25.7001', sopInstanceUid: '2.25.7002' };

function study(patientName = 'Müller^Zoë') {
  const ids = newStudyIds({ patientName });
  const images = (['L', 'R'] as const).flatMap((laterality) => (['CC', 'MLO'] as const).map((view) => mammogram(ids, { laterality, view })));
  const uids = images.map((m) => m.sopInstanceUid);
  const [lcc, lmlo, rcc, rmlo] = uids as [string, string, string, string];
  const input: ReportInput = {
    sources: images.map((m) => readPart10(m.bytes, 'test').dataset),
    imageProbabilities: { [lcc]: 0.1, [lmlo]: 0.73, [rcc]: 0.05, [rmlo]: 0.2 },
    breasts: { L: { probability: 0.73, sopInstanceUids: [lcc, lmlo] }, R: { probability: 0.2, sopInstanceUids: [rcc, rmlo] } },
    exam: { probability: 0.73 },
    threshold: 0.5,
    algorithm: { name: 'mammocad', version: 'shen2019-v1', modelVersionId: 'mv-1', modelSha256: 'c'.repeat(64) },
    device: { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: '0.1.0', uid: '2.25.42' },
    uids: { seriesInstanceUid: '2.25.601', sopInstanceUid: '2.25.602' },
    createdAt: new Date(2026, 2, 4, 5, 6, 7, 80),
    regions: { [lmlo]: [IRREGULAR_REGION, squareRegion(0.55, 20, 30)], [rmlo]: [squareRegion(0.4, 200, 200, 50)] },
  };
  return { ids, images, uids, input };
}

function refusal(input: ReportInput): ValidationError {
  try {
    buildPresentationState(input, { uids: GSPS_UIDS });
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('the input was accepted');
}

const items = (value: unknown) => (value ?? []) as Item[];
const refs = (value: unknown) => items(value).map((r) => r.ReferencedSOPInstanceUID);

describe('grayscale softcopy presentation state', () => {
  it('writes every outline as a closed PIXEL polyline on the mammocad layer, with its score, on the image it belongs to', () => {
    const { input, uids } = study();
    const built = buildPresentationState(input, { uids: GSPS_UIDS })!;
    expect(built).toMatchObject({ sopClassUid: '1.2.840.10008.5.1.4.1.1.11.1', ...GSPS_UIDS, regionCount: 3, annotatedImageCount: 2, referencedSopInstanceUids: uids });
    const { dataset } = readPart10(built.bytes, 'gsps');
    const annotations = items(dataset.GraphicAnnotationSequence);
    expect(annotations.map((a) => refs(a.ReferencedImageSequence))).toEqual([[uids[1]], [uids[3]]]);
    expect(annotations.map((a) => a.GraphicLayer)).toEqual(['MAMMOCAD', 'MAMMOCAD']);
    const [left, right] = annotations as [Item, Item];
    const outlines = items(left.GraphicObjectSequence);
    expect(outlines.map((o) => o.GraphicData)).toEqual([asStored(IRREGULAR_REGION).outline.flat(), squareRegion(0.55, 20, 30).outline.flat()]);
    expect(outlines[0]).toMatchObject({ GraphicAnnotationUnits: 'PIXEL', GraphicDimensions: 2, NumberOfGraphicPoints: 5, GraphicType: 'POLYLINE', GraphicFilled: 'N' });
    const texts = items(left.TextObjectSequence);
    expect(texts.map((t) => t.UnformattedTextValue)).toEqual(['mammocad 0.73', 'mammocad 0.55']);
    // The score sits at the top of its outline, centred on it.
    expect(texts[1]).toMatchObject({ AnchorPointAnnotationUnits: 'PIXEL', AnchorPoint: [40, 30], AnchorPointVisibility: 'N' });
    expect(items(right.TextObjectSequence)[0]!.UnformattedTextValue).toBe('mammocad 0.40');
    expect(items(dataset.GraphicLayerSequence)).toMatchObject([{ GraphicLayer: 'MAMMOCAD', GraphicLayerOrder: 1, GraphicLayerRecommendedDisplayGrayscaleValue: 65535 }]);
  });

  it('references every scored image by series, shows each whole, and keeps the images\' own grayscale rendering', () => {
    const { input, uids, images } = study();
    const { dataset } = readPart10(buildPresentationState(input, { uids: GSPS_UIDS })!.bytes, 'gsps');
    const series = items(dataset.ReferencedSeriesSequence);
    expect(series.map((s) => s.SeriesInstanceUID)).toEqual(images.map((m) => m.seriesUid));
    expect(series.flatMap((s) => refs(s.ReferencedImageSequence))).toEqual(uids);
    expect(items(series[0]!.ReferencedImageSequence)[0]!.ReferencedSOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.1.2');
    // One displayed area for the four 256 x 256 images of one pixel spacing.
    expect(items(dataset.DisplayedAreaSelectionSequence)).toHaveLength(1);
    const area = items(dataset.DisplayedAreaSelectionSequence)[0]!;
    expect(refs(area.ReferencedImageSequence)).toEqual(uids);
    expect(area).toMatchObject({ DisplayedAreaTopLeftHandCorner: [1, 1], DisplayedAreaBottomRightHandCorner: [256, 256], PresentationSizeMode: 'SCALE TO FIT' });
    expect(area.PresentationPixelSpacing).toEqual((input.sources[0] as NaturalizedDataset).PixelSpacing);
    // The images' rescale, their window (1024 / 2048), and no inversion for MONOCHROME2.
    expect(dataset).toMatchObject({ RescaleIntercept: 0, RescaleSlope: 1, RescaleType: 'US', PresentationLUTShape: 'IDENTITY' });
    expect(items(dataset.SoftcopyVOILUTSequence)).toMatchObject([{ WindowCenter: 1024, WindowWidth: 2048 }]);
    expect(refs(items(dataset.SoftcopyVOILUTSequence)[0]!.ReferencedImageSequence)).toEqual(uids);
  });

  it('copies patient and study from the images, in a PR series of its own made by mammocad', () => {
    const { input } = study();
    const { dataset } = readPart10(buildPresentationState(input, { uids: GSPS_UIDS })!.bytes, 'gsps');
    const source = input.sources[0]!;
    for (const key of ['PatientID', 'PatientBirthDate', 'PatientSex', 'StudyInstanceUID', 'StudyDate', 'StudyTime', 'AccessionNumber', 'StudyID']) expect(dataset[key], key).toEqual(source[key]);
    expect(dataset).toMatchObject({
      SpecificCharacterSet: 'ISO_IR 192',
      Modality: 'PR',
      SeriesInstanceUID: GSPS_UIDS.seriesInstanceUid,
      SeriesNumber: 9002,
      SeriesDescription: 'mammocad marked regions',
      Manufacturer: 'mammocad',
      ContentLabel: 'MAMMOCAD',
      ContentDescription: 'mammocad marked regions',
      PresentationCreationDate: '20260304',
      PresentationCreationTime: '050607.080',
      InstanceNumber: 1,
      Laterality: '', // both breasts
    });
    expect((dataset.PatientName as Array<{ Alphabetic: string }>)[0]!.Alphabetic).toBe('Müller^Zoë');
  });

  it('marks a research-use report\'s presentation state in its label, descriptions and texts', () => {
    const { input } = study();
    const { dataset } = readPart10(buildPresentationState({ ...input, researchUse: { statement: 'RESEARCH USE ONLY: not validated' } }, { uids: GSPS_UIDS })!.bytes, 'gsps');
    expect(dataset).toMatchObject({
      ContentLabel: 'RESEARCH_ONLY',
      ContentDescription: 'RESEARCH USE ONLY - mammocad marked regions',
      SeriesDescription: 'RESEARCH USE ONLY - mammocad marked regions',
    });
    const texts = items(dataset.GraphicAnnotationSequence).flatMap((a) => items(a.TextObjectSequence).map((t) => t.UnformattedTextValue));
    expect(texts).toEqual(['mammocad 0.73 RESEARCH USE ONLY', 'mammocad 0.55 RESEARCH USE ONLY', 'mammocad 0.40 RESEARCH USE ONLY']);
  });

  it('gives the side when every image is of one breast, and only the scored images', () => {
    const { input, uids } = study();
    const left: ReportInput = { ...input, imageProbabilities: { [uids[0]!]: 0.1, [uids[1]!]: 0.73 }, breasts: {}, exam: { probability: 0.73 }, regions: { [uids[1]!]: [squareRegion(0.8, 1, 1)] } };
    const built = buildPresentationState(left, { uids: GSPS_UIDS })!;
    expect(built.referencedSopInstanceUids).toEqual([uids[0], uids[1]]);
    expect(readPart10(built.bytes, 'gsps').dataset.Laterality).toBe('L');
  });

  it('is not made when no image has a marked region', () => {
    const { input, uids } = study();
    expect(buildPresentationState({ ...input, regions: undefined })).toBeNull();
    expect(buildPresentationState({ ...input, regions: { [uids[0]!]: [] } })).toBeNull();
  });

  it('is the same file when rebuilt with the same UIDs and time (a retry re-sends it)', () => {
    const { input } = study();
    expect(buildPresentationState(input, { uids: GSPS_UIDS })!.bytes).toEqual(buildPresentationState(input, { uids: GSPS_UIDS })!.bytes);
  });

  it('gives an image without a window one over its stored range, and inverts MONOCHROME1 images', () => {
    const { input } = study();
    const sources = input.sources.map((ds) => ({ ...ds, WindowCenter: undefined, WindowWidth: undefined, PhotometricInterpretation: 'MONOCHROME1' }));
    const { dataset } = readPart10(buildPresentationState({ ...input, sources }, { uids: GSPS_UIDS })!.bytes, 'gsps');
    expect(items(dataset.SoftcopyVOILUTSequence)).toMatchObject([{ WindowCenter: 2048, WindowWidth: 4096 }]); // 12 bits stored
    expect(dataset.PresentationLUTShape).toBe('INVERSE');
  });

  const refusals: Array<[string, (input: ReportInput, uids: string[]) => ReportInput, RegExp]> = [
    ['a bad region (as the SR builder would)', (input, uids) => ({ ...input, regions: { [uids[1]!]: [{ ...squareRegion(0.9, 1, 1), score: 2 }] } }), /regions\['[\d.]+'\]\[0\]\.score/],
    ['an image without Rows and Columns', (input) => ({ ...input, sources: input.sources.map((ds, i) => (i === 2 ? { ...ds, Rows: undefined } : ds)) }), /sources\['[\d.]+'\]: has no Rows and Columns/],
    ['images rescaled differently', (input) => ({ ...input, sources: input.sources.map((ds, i) => (i === 3 ? { ...ds, RescaleIntercept: -1024 } : ds)) }), /rescaled differently/],
    ['MONOCHROME1 beside MONOCHROME2', (input) => ({ ...input, sources: input.sources.map((ds, i) => (i === 0 ? { ...ds, PhotometricInterpretation: 'MONOCHROME1' } : ds)) }), /mixes MONOCHROME1 and MONOCHROME2/],
    ['a Modality LUT Sequence', (input) => ({ ...input, sources: input.sources.map((ds, i) => (i === 0 ? { ...ds, ModalityLUTSequence: [{}] } : ds)) }), /ModalityLUTSequence: a Modality LUT Sequence is not supported/],
  ];

  it.each(refusals)('refuses %s', (_label, spoil, message) => {
    const { input, uids } = study();
    expect(refusal(spoil(input, uids)).message).toMatch(message);
  });

  it("refuses the report's own UIDs", () => {
    const { input } = study();
    expect(() => buildPresentationState(input, { uids: { seriesInstanceUid: input.uids!.seriesInstanceUid, sopInstanceUid: '2.25.9' } })).toThrow(/presentation state needs UIDs of its own/);
  });
});
