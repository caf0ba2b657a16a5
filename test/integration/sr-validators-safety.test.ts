// Reports from GE-style images (view and view modifier coded in SNOMED 3, "SNM3"), with and
// without the model evidence, research-use mark, image flags and skipped images, checked by
// dciodvfy (no error, and no "deprecated" coding scheme warning) and dsrdump (parses the tree
// and shows the texts), for both report types.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import { readPart10 } from '../../src/dicom/part10.js';
import { buildStructuredReport, type ReportInput } from '../../src/dicom/sr/index.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-sr-safety-'));
const installed = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const STATEMENT = 'RESEARCH USE ONLY: model not validated for clinical use (validation AUC 95% CI reaches 0.5)';
const FILM = "outside the model's intended use: digitised film (the model was trained on digital mammograms)";
const OOD = 'out of distribution: intensity histogram distance 3.2 (flagged above 1.0)';
const IMPLAUSIBLE = 'implausible image: 1x2 pixels (pixel spacing 74.7 mm)';

const snm3 = (value: string, meaning: string) => ({ CodeValue: value, CodingSchemeDesignator: 'SNM3', CodeMeaning: meaning });

/** Five GE-style images: four scored views (the left CC a magnification view), a fifth not scored. */
function input(annotated: boolean): { input: ReportInput; uids: string[] } {
  const ids = newStudyIds({ patientName: 'Müller^Zoë' });
  const views = [
    ['L', 'CC', snm3('R-10242', 'cranio-caudal'), [snm3('R-102D6', 'magnification')]],
    ['L', 'MLO', snm3('R-10226', 'medio-lateral oblique'), []],
    ['R', 'CC', snm3('R-10242', 'cranio-caudal'), [snm3('R-102D2', 'cleavage')]],
    ['R', 'MLO', snm3('R-10226', 'medio-lateral oblique'), []],
    ['R', 'CC', snm3('R-10242', 'cranio-caudal'), []],
  ] as const;
  const images = views.map(([laterality, view]) => mammogram(ids, { laterality, view }));
  const sources = images.map((m, i) => ({
    ...readPart10(m.bytes, 'test').dataset,
    Manufacturer: 'GE MEDICAL SYSTEMS',
    ViewCodeSequence: [{ ...views[i]![2], ViewModifierCodeSequence: [...views[i]![3]] }],
  }));
  const uids = images.map((m) => m.sopInstanceUid);
  const [lcc, lmlo, rcc, rmlo, extra] = uids as [string, string, string, string, string];
  return {
    uids,
    input: {
      sources,
      imageProbabilities: { [lcc]: 0.12, [lmlo]: 0.61, [rcc]: 0.05, [rmlo]: 0.3 },
      breasts: { L: { probability: 0.61, sopInstanceUids: [lcc, lmlo] }, R: { probability: 0.3, sopInstanceUids: [rcc, rmlo] } },
      exam: { probability: 0.61 },
      threshold: 0.5,
      algorithm: { name: 'mammocad', version: 'default-rsna-1', modelVersionId: 'mv-3', modelSha256: 'd'.repeat(64) },
      device: { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: '0.1.0', uid: '2.25.31' },
      ...(annotated
        ? {
            evidence: { auc: 0.674, aucCi: [0.603, 0.743] as [number, number], dataset: 'rsna-screening', method: '4-fold cross-validation by woman, 722 women' },
            researchUse: { statement: STATEMENT },
            imageFlags: { [lcc]: [FILM, OOD] },
            skippedImages: { [extra]: IMPLAUSIBLE },
          }
        : {}),
    },
  };
}

function reportFile(template: 'TID1500' | 'TID4000', annotated: boolean): { file: string; uids: string[] } {
  const { input: report, uids } = input(annotated);
  const file = path.join(dir, `${template}-${annotated ? 'annotated' : 'plain'}.dcm`);
  writeFileSync(file, buildStructuredReport(report, template).bytes);
  return { file, uids };
}

/** The first content item (depth first) that `match` accepts. */
function findItem(item: Record<string, unknown>, match: (item: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
  if (match(item)) return item;
  for (const child of (item.ContentSequence as Array<Record<string, unknown>> | undefined) ?? []) {
    const found = findItem(child, match);
    if (found) return found;
  }
  return undefined;
}

function dciodvfy(file: string): { iod: string; errors: string[]; warnings: string[] } {
  const run = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  const lines = `${run.stdout}${run.stderr}`.split('\n').filter(Boolean);
  return { iod: lines[0] ?? '', errors: lines.filter((l) => /Error/.test(l)), warnings: lines.filter((l) => /^Warning/.test(l)) };
}

describe.each(['TID1500', 'TID4000'] as const)('%s report of GE-style images', (template) => {
  describe.each([false, true])('with evidence, research use, flags and skipped images: %s', (annotated) => {
    it.skipIf(!installed('dciodvfy'))('dciodvfy finds no error and no deprecated coding scheme', () => {
      const result = dciodvfy(reportFile(template, annotated).file);
      if (result.warnings.length) console.log(`dciodvfy warnings for ${template}:\n${result.warnings.join('\n')}`);
      expect(result.iod).toBe(template === 'TID1500' ? 'ComprehensiveSR' : 'MammographyCADSR');
      expect(result.errors).toEqual([]);
      expect(result.warnings.filter((l) => /deprecated/i.test(l))).toEqual([]);
    });

    it.skipIf(!installed('dsrdump'))('dsrdump parses the tree and shows the SNOMED CT view codes and the texts', () => {
      const { file, uids } = reportFile(template, annotated);
      const run = spawnSync('dsrdump', ['+Pt', '+Pl', file], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stderr.split('\n').filter((l) => /^(E|F):/.test(l))).toEqual([]);
      expect(run.stdout).toContain('"Image View")=(399162004,SCT,"cranio-caudal")');
      expect(run.stdout).toContain('"Image View Modifier")=(399163009,SCT,"Magnification")');
      expect(run.stdout).toContain('"Image View Modifier")=(399161006,SCT,"Cleavage")');
      expect(run.stdout).not.toMatch(/SNM3|SRT/);
      if (!annotated) {
        expect(run.stdout).toContain('Series              : mammocad AI results');
        expect(run.stdout).not.toMatch(/Comment|Impression Description|Selected Region Description|validation-/);
        return;
      }
      expect(run.stdout).toContain('Series              : RESEARCH USE ONLY - mammocad AI results');
      expect(run.stdout).toContain('"Algorithm Parameters")="validation-auc=0.674"');
      expect(run.stdout).toContain('"Algorithm Parameters")="validation-auc-95ci=0.603-0.743"');
      expect(run.stdout).toContain('"Algorithm Parameters")="validation-data=rsna-screening; 4-fold cross-validation by woman, 722 women"');
      if (template === 'TID1500') {
        expect(run.stdout).toContain(`<contains TEXT:(,,"Comment")="${STATEMENT}">`);
        expect(run.stdout).toMatch(new RegExp(`<contains TEXT:\\(,,"Comment"\\)="Image not scored: ${IMPLAUSIBLE.replace(/[()]/g, '\\$&')}">\\s+<inferred from IMAGE:`));
        expect(run.stdout).toContain(`<contains TEXT:(,,"Comment")="${FILM}">`);
        expect(run.stdout).toContain(`<contains TEXT:(,,"Comment")="${OOD}">`);
      } else {
        expect(run.stdout).toContain(`<has properties TEXT:(,,"Impression Description")="${STATEMENT}">`);
        expect(run.stdout).toContain(`<contains TEXT:(,,"Impression Description")="Image ${uids[4]} not scored: ${IMPLAUSIBLE}">`);
        expect(run.stdout).toContain(`<has properties TEXT:(,,"Selected Region Description")="${FILM}\\r\\n${OOD}">`);
      }
    });
  });

  it.skipIf(!installed('dciodvfy')).each(['SNM3', 'SRT', '99SDM'])('control: dciodvfy does warn when the Image View is coded in %s', (scheme) => {
    const { dataset } = readPart10(buildStructuredReport(input(false).input, template).bytes, 'report');
    const view = findItem(dataset, (item) => (item.ConceptNameCodeSequence as Array<{ CodeValue: string }> | undefined)?.[0]?.CodeValue === '111031');
    view!.ConceptCodeSequence = [snm3('R-10242', 'cranio-caudal')].map((code) => ({ ...code, CodingSchemeDesignator: scheme }));
    const { DicomDict, DicomMetaDictionary } = dcmjs.data;
    const meta = {
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: dataset.SOPClassUID,
      MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
      TransferSyntaxUID: '1.2.840.10008.1.2.1',
      ImplementationClassUID: '2.25.1',
    };
    const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
    dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
    const file = path.join(dir, `${template}-${scheme}.dcm`);
    writeFileSync(file, new Uint8Array(dict.write()));
    const result = dciodvfy(file);
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([`Warning - CodingSchemeDesignator is deprecated - attribute <CodingSchemeDesignator> = <${scheme}>`]);
  });
});
