// View and view modifier codes copied from the images are written in SNOMED CT: codes in the
// deprecated SNOMED-RT / SNOMED 3 / SNOMED DICOM Microglossary schemes (SRT, SNM3, 99SDM), as
// GE and others write them, are translated with the PS3.16 CID 4014 / CID 4015 tables; a
// deprecated code with no translation is left out; codes in other schemes are kept as they are.

import { describe, expect, it } from 'vitest';
import { readPart10, type NaturalizedDataset } from '../../src/dicom/part10.js';
import {
  DEPRECATED_SCHEMES,
  LEGACY_VIEW_CODES,
  LEGACY_VIEW_MODIFIER_CODES,
  MAMMOGRAPHY_VIEWS,
  translateLegacyCode,
} from '../../src/dicom/sr/codes.js';
import { buildStructuredReport, readStructuredReport, validateReportInput, type ReportInput } from '../../src/dicom/sr/index.js';
import { selectView } from '../../src/dicom/view-selection.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

const code = (value: string, scheme: string, meaning: string) => ({ value, scheme, meaning });
const item = (value: string, scheme: string, meaning: string) => ({ CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning });

/** A GE-style view: the view and its modifiers coded in SNOMED 3 (SNM3). */
function geView(view = item('R-10242', 'SNM3', 'cranio-caudal'), modifiers = [item('R-102D6', 'SNM3', 'magnification')]): NaturalizedDataset {
  return { Manufacturer: 'GE MEDICAL SYSTEMS', ViewCodeSequence: [{ ...view, ViewModifierCodeSequence: modifiers }] };
}

function input(views: NaturalizedDataset[]): ReportInput {
  const ids = newStudyIds();
  const images = views.map((_, i) => mammogram(ids, { laterality: i % 2 ? 'R' : 'L', view: 'CC' }));
  const sources = images.map((m, i) => ({ ...readPart10(m.bytes, 'test').dataset, ...views[i] }));
  const uids = images.map((m) => m.sopInstanceUid);
  return {
    sources,
    imageProbabilities: Object.fromEntries(uids.map((uid) => [uid, 0.2])),
    breasts: {},
    exam: { probability: 0.2 },
    threshold: 0.5,
    algorithm: { name: 'mammocad', version: 'v1', modelVersionId: 'mv-1', modelSha256: 'a'.repeat(64) },
    device: { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: '0.1.0', uid: '2.25.5' },
  };
}

describe('translateLegacyCode', () => {
  it('translates CID 4014 views and CID 4015 modifiers in SRT, SNM3 and 99SDM to SNOMED CT', () => {
    expect(translateLegacyCode(code('R-10242', 'SNM3', 'cranio-caudal'), LEGACY_VIEW_CODES)).toEqual(code('399162004', 'SCT', 'cranio-caudal'));
    expect(translateLegacyCode(code('R-10226', 'SRT', 'medio-lateral oblique'), LEGACY_VIEW_CODES)).toEqual(code('399368009', 'SCT', 'medio-lateral oblique'));
    expect(translateLegacyCode(code('R-10228', 'SRT', 'latero-medial'), LEGACY_VIEW_CODES)).toEqual(code('399352003', 'SCT', 'latero-medial'));
    expect(translateLegacyCode(code('R-10230', 'SRT', 'latero-medial oblique'), LEGACY_VIEW_CODES)).toEqual(code('399099002', 'SCT', 'latero-medial oblique'));
    expect(translateLegacyCode(code('Y-X1770', '99SDM', 'cranio-caudal exaggerated laterally'), LEGACY_VIEW_CODES)).toEqual(
      code('399192008', 'SCT', 'cranio-caudal exaggerated laterally'),
    );
    expect(translateLegacyCode(code('R-102D6', 'SNM3', 'magnification'), LEGACY_VIEW_MODIFIER_CODES)).toEqual(code('399163009', 'SCT', 'Magnification'));
    expect(translateLegacyCode(code('R-102D2', 'SRT', 'cleavage'), LEGACY_VIEW_MODIFIER_CODES)).toEqual(code('399161006', 'SCT', 'Cleavage'));
    expect(translateLegacyCode(code('P2-00161', 'SRT', 'anterior compression'), LEGACY_VIEW_MODIFIER_CODES)).toEqual(code('441752004', 'SCT', 'Anterior compression'));
  });

  it('leaves out a deprecated code it has no translation for, and a retired code with another meaning', () => {
    expect(translateLegacyCode(code('R-10299', 'SNM3', 'some view'), LEGACY_VIEW_CODES)).toBeUndefined();
    expect(translateLegacyCode(code('R-102D6', 'SNM3', 'magnification'), LEGACY_VIEW_CODES)).toBeUndefined(); // a modifier is no view
    // R-102CA is Rolled Inferior in CID 4015 but also the retired "Lordotic" (PS3.16 Annex J)
    expect(translateLegacyCode(code('R-102CA', 'SRT', 'Lordotic'), LEGACY_VIEW_MODIFIER_CODES)).toBeUndefined();
    expect(translateLegacyCode(code('R-102CA', 'SRT', 'Rolled Inferior'), LEGACY_VIEW_MODIFIER_CODES)).toEqual(code('414493004', 'SCT', 'Rolled Inferior'));
  });

  it('keeps codes in schemes that are not deprecated as they are', () => {
    for (const kept of [code('399162004', 'SCT', 'cranio-caudal'), code('CC-XYZ', '99GEMS', 'vendor view'), code('R-10242', 'DCM', 'odd but not deprecated')]) {
      expect(translateLegacyCode(kept, LEGACY_VIEW_CODES)).toEqual(kept);
    }
  });

  it('translates only to SNOMED CT, and agrees with the View Position table', () => {
    expect([...DEPRECATED_SCHEMES].sort()).toEqual(['99SDM', 'SNM3', 'SRT']);
    for (const translated of [...Object.values(LEGACY_VIEW_CODES), ...Object.values(LEGACY_VIEW_MODIFIER_CODES)]) {
      expect(translated.scheme).toBe('SCT');
      expect(translated.value).toMatch(/^\d+$/);
    }
    const byView = { CC: 'R-10242', MLO: 'R-10226', ML: 'R-10224', LM: 'R-10228', XCCL: 'R-1024A', XCCM: 'R-1024B', LMO: 'R-10230', FB: 'R-10244', SIO: 'R-102D0', ISO: 'R-40AAA' };
    for (const [view, legacy] of Object.entries(byView)) expect(MAMMOGRAPHY_VIEWS[view], view).toEqual(LEGACY_VIEW_CODES[legacy]);
  });
});

describe('view codes in the report', () => {
  it('writes a GE-style SNM3 view and modifier in SNOMED CT, in both report types', () => {
    const base = input([geView(), geView(item('R-10226', 'SNM3', 'medio-lateral oblique'), [])]);
    const [first, second] = validateReportInput(base).sources;
    expect(first!.viewCode).toEqual(code('399162004', 'SCT', 'cranio-caudal'));
    expect(first!.viewModifiers).toEqual([code('399163009', 'SCT', 'Magnification')]);
    expect(second!.viewCode).toEqual(code('399368009', 'SCT', 'medio-lateral oblique'));
    for (const template of ['TID1500', 'TID4000'] as const) {
      const bytes = buildStructuredReport(base, template).bytes;
      expect(readStructuredReport(bytes).library.map((e) => e.view)).toEqual([code('399162004', 'SCT', 'cranio-caudal'), code('399368009', 'SCT', 'medio-lateral oblique')]);
      const text = Buffer.from(bytes).toString('latin1');
      for (const legacy of ['SNM3', 'SRT', 'R-10242', 'R-102D6']) expect(text, `${template} ${legacy}`).not.toContain(legacy);
      expect(text).toContain('399163009');
    }
  });

  it('leaves out deprecated codes without a translation, keeps other schemes, and keeps the View Position fallback', () => {
    const base = input([
      geView(item('R-10299', 'SNM3', 'cranio-caudal'), [item('R-102ZZ', 'SRT', 'unknown'), item('R-102D7', 'SRT', 'Spot Compression'), item('R-102CA', 'SNM3', 'Lordotic')]),
      geView(item('CCX', '99GEMS', 'GE cranio-caudal'), [item('MAG2', '99GEMS', 'GE magnification')]),
      { ViewCodeSequence: [], ViewPosition: 'MLO' },
    ]);
    const sources = validateReportInput(base).sources;
    expect(sources[0]!.viewCode).toBeUndefined(); // not guessed from the meaning
    expect(sources[1]!.viewCode).toEqual(code('CCX', '99GEMS', 'GE cranio-caudal'));
    expect(sources[1]!.viewModifiers).toEqual([code('MAG2', '99GEMS', 'GE magnification')]);
    expect(sources[2]!.viewCode).toEqual(MAMMOGRAPHY_VIEWS.MLO);
    const withModifiers = validateReportInput(input([geView(item('R-10242', 'SRT', 'cranio-caudal'), [item('R-102ZZ', 'SRT', 'unknown'), item('R-102D7', 'SRT', 'Spot Compression')])])).sources[0]!;
    expect(withModifiers.viewModifiers).toEqual([code('399055006', 'SCT', 'Spot Compression')]);
  });
});

describe('view selection knows the SNOMED CT view codes', () => {
  it.each([
    ['399162004', 'CC'],
    ['399368009', 'MLO'],
    ['399192008', 'XCCL'],
    ['399101009', 'XCCM'],
    ['399099002', 'LMO'],
    ['399196006', 'FB'],
    ['399188001', 'SIO'],
    ['441555000', 'ISO'],
  ])('%s is %s', (value, view) => {
    const ds = { SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.2', Modality: 'MG', ImageLaterality: 'L', ViewCodeSequence: [item(value, 'SCT', 'no words to go by')] };
    expect(selectView(ds).view).toBe(view);
  });
});
