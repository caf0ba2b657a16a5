import { describe, expect, it } from 'vitest';
import { SOP_CLASS } from '../../src/dicom/sop-classes.js';
import { DEFAULT_SELECTION_POLICY, selectView, type Dataset } from '../../src/dicom/view-selection.js';

const mg = (extra: Dataset = {}): Dataset => ({
  SOPClassUID: SOP_CLASS.digitalMammographyForPresentation,
  Modality: 'MG',
  PresentationIntentType: 'FOR PRESENTATION',
  ImageLaterality: 'L',
  ViewCodeSequence: [{ CodeValue: 'R-10242', CodingSchemeDesignator: 'SRT', CodeMeaning: 'cranio-caudal' }],
  ...extra,
});

describe('selectView', () => {
  it('accepts a For Presentation MG image and reads laterality and view from their codes', () => {
    expect(selectView(mg())).toEqual({ eligible: true, laterality: 'L', lateralitySource: 'ImageLaterality', view: 'CC', modifiers: [] });
  });

  it.each([
    [{ ViewCodeSequence: [{ CodeValue: '399368009', CodingSchemeDesignator: 'SCT', CodeMeaning: 'medio-lateral oblique' }] }, 'MLO'],
    [{ ViewCodeSequence: [{ CodeValue: 'X-1', CodingSchemeDesignator: '99VENDOR', CodeMeaning: 'Medio-lateral oblique' }] }, 'MLO'],
    [{ ViewCodeSequence: undefined, ViewPosition: 'MLO' }, 'MLO'],
    [{ ViewCodeSequence: undefined, ViewPosition: 'CCID' }, 'CC'],
    [{ ViewCodeSequence: undefined, SeriesDescription: 'L MLO' }, 'MLO'],
    [{ ViewCodeSequence: undefined, ProtocolName: 'R_CC' }, 'CC'],
    [{ ViewCodeSequence: undefined }, null],
  ])('reads the view from %o', (extra, view) => {
    const decision = selectView(mg(extra));
    expect(decision.view).toBe(view);
    expect(decision.eligible).toBe(true);
  });

  it('takes laterality from ImageLaterality, then Laterality, then the description', () => {
    expect(selectView(mg({ ImageLaterality: 'R', Laterality: 'L' }))).toMatchObject({ laterality: 'R', lateralitySource: 'ImageLaterality' });
    expect(selectView(mg({ ImageLaterality: undefined, Laterality: 'L' }))).toMatchObject({ laterality: 'L', lateralitySource: 'Laterality' });
    expect(selectView(mg({ ImageLaterality: '', SeriesDescription: 'RMLO' }))).toMatchObject({ laterality: 'R', lateralitySource: 'description' });
    expect(selectView(mg({ ImageLaterality: undefined, SeriesDescription: 'Left breast' }))).toMatchObject({ laterality: 'L' });
    expect(selectView(mg({ ImageLaterality: undefined }))).toMatchObject({ laterality: 'U', lateralitySource: 'none', eligible: true });
  });

  it.each([
    [{ SOPClassUID: SOP_CLASS.digitalMammographyForProcessing }, /For Processing/],
    [{ PresentationIntentType: 'FOR PROCESSING' }, /For Processing/],
    [{ SOPClassUID: SOP_CLASS.xRayRadiationDoseSr, Modality: 'SR' }, /radiation dose report/],
    [{ SOPClassUID: SOP_CLASS.comprehensiveSr, Modality: 'SR' }, /structured report/],
    [{ SOPClassUID: SOP_CLASS.breastTomosynthesis }, /tomosynthesis/],
    [{ SOPClassUID: SOP_CLASS.encapsulatedPdf, Modality: 'DOC' }, /not a projection image/],
    [{ SOPClassUID: SOP_CLASS.digitalXRayForPresentation, Modality: 'DX' }, /modality DX is not mammography/],
    [{ SOPClassUID: SOP_CLASS.secondaryCapture, Modality: 'RG' }, /modality RG is not mammography/],
    [{ NumberOfFrames: '3' }, /multi-frame image \(3 frames\)/],
    [{ ViewCodeSequence: [{ CodeValue: 'R-10242', CodeMeaning: 'cranio-caudal', ViewModifierCodeSequence: [{ CodeValue: 'R-102D6', CodeMeaning: 'Magnification' }] }] }, /diagnostic view \(magnification\)/],
    [{ ViewCodeSequence: [{ CodeValue: 'R-10242', CodeMeaning: 'cranio-caudal', ViewModifierCodeSequence: [{ CodeMeaning: 'Spot Compression' }] }] }, /spot-compression/],
    [{ ViewCodeSequence: [{ CodeValue: 'R-10224', CodeMeaning: 'medio-lateral' }] }, /view ML is not one of CC, MLO/],
    [{ ImageLaterality: 'B' }, /both breasts/],
  ])('skips %o with a reason', (extra, reason) => {
    const decision = selectView(mg(extra));
    expect(decision.eligible).toBe(false);
    expect(decision.reason).toMatch(reason);
  });

  it('flags implant-displaced views and keeps them eligible', () => {
    const decision = selectView(mg({ ViewCodeSequence: [{ CodeValue: 'R-10226', CodeMeaning: 'medio-lateral oblique', ViewModifierCodeSequence: [{ CodeMeaning: 'Implant Displaced' }] }] }));
    expect(decision).toMatchObject({ eligible: true, view: 'MLO', modifiers: ['implant-displaced'] });
  });

  it('accepts other modalities and views by configuration', () => {
    const film = { SOPClassUID: SOP_CLASS.secondaryCapture, Modality: 'RG', ImageLaterality: undefined, ViewCodeSequence: undefined };
    expect(selectView(mg(film), { ...DEFAULT_SELECTION_POLICY, extraModalities: ['RG'] })).toMatchObject({ eligible: true, laterality: 'U' });
    const ml = { ViewCodeSequence: [{ CodeValue: 'R-10224', CodeMeaning: 'medio-lateral' }] };
    expect(selectView(mg(ml), { ...DEFAULT_SELECTION_POLICY, views: ['CC', 'MLO', 'ML'] }).eligible).toBe(true);
  });
});

describe('UID checks', () => {
  it('writes only valid UIDs but accepts legacy leading-zero UIDs from a PACS', async () => {
    const { isDicomUid, isUidLike } = await import('../../src/dicom/dicom-json.js');
    expect(isDicomUid('1.2.840.10008.1.2')).toBe(true);
    expect(isDicomUid('1.2.03.4')).toBe(false);
    expect(isUidLike('1.2.03.4')).toBe(true);
    for (const bad of ['', '1', '1.2.a', `1.${'2'.repeat(70)}`, "1.2'; DROP"]) {
      expect(isUidLike(bad)).toBe(false);
      expect(isDicomUid(bad)).toBe(false);
    }
  });
});
