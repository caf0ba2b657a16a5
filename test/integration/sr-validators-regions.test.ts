// Marked regions checked by the independent validators: both report types with regions (and
// with the research-use mark) pass dciodvfy (dicom3tools) without error and dsrdump (dcmtk)
// reads their SCOORD items and what they are selected from; the presentation state passes
// dciodvfy against the Grayscale Softcopy Presentation State IOD without error.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPresentationState } from '../../src/dicom/gsps/index.js';
import { buildStructuredReport, type ReportInput } from '../../src/dicom/sr/index.js';
import { IRREGULAR_REGION, fourViewReportInput, squareRegion } from '../support/region-fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-regions-validators-'));
const installed = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** Four views, regions on the left MLO (two) and the right MLO (one below the threshold). */
function input(research: boolean): { input: ReportInput; uids: string[] } {
  const { input: report, uids } = fourViewReportInput([0.12, 0.73, 0.05, 0.3], { patientName: 'Müller^Zoë' });
  const [, lmlo, , rmlo] = uids;
  return {
    uids,
    input: {
      ...report,
      regions: { [lmlo]: [IRREGULAR_REGION, squareRegion(0.55, 20, 30)], [rmlo]: [squareRegion(0.45, 200, 200, 50)] },
      ...(research ? { researchUse: { statement: 'RESEARCH USE ONLY: model not validated for clinical use' } } : {}),
    },
  };
}

function file(name: string, bytes: Uint8Array): string {
  const target = path.join(dir, `${name}.dcm`);
  writeFileSync(target, bytes);
  return target;
}

function dciodvfy(target: string): { iod: string; errors: string[]; warnings: string[] } {
  const run = spawnSync('dciodvfy', [target], { encoding: 'utf8' });
  const lines = `${run.stdout}${run.stderr}`.split('\n').filter(Boolean);
  return { iod: lines[0] ?? '', errors: lines.filter((l) => /Error/.test(l)), warnings: lines.filter((l) => /^Warning/.test(l)) };
}

describe.each(['TID1500', 'TID4000'] as const)('%s report with marked regions', (template) => {
  it.skipIf(!installed('dciodvfy')).each([false, true])('dciodvfy finds no error and no warning (research use: %s)', (research) => {
    const result = dciodvfy(file(`${template}-${research}`, buildStructuredReport(input(research).input, template).bytes));
    expect(result.iod).toBe(template === 'TID1500' ? 'ComprehensiveSR' : 'MammographyCADSR');
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
  });

  it.skipIf(!installed('dsrdump'))('dsrdump reads the tree: outlines, centres and the images they are selected from', () => {
    const { input: report } = input(false);
    const run = spawnSync('dsrdump', ['+Pt', file(`${template}-dump`, buildStructuredReport(report, template).bytes)], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr.split('\n').filter((l) => /^(E|F):/.test(l))).toEqual([]);
    if (template === 'TID1500') {
      expect(run.stdout).toContain('# TID 1410 (DCMR)');
      expect(run.stdout).toContain('<contains SCOORD:(,,"Image Region")=(POLYLINE,140.199997/50.09999847,...)>');
      expect(run.stdout).toMatch(/<contains SCOORD:\(,,"Center"\)=\(POINT,150\.100006\/60\.2999992\)>\s+<selected from IMAGE:\(,,"Original Source"\)/);
      expect(run.stdout.match(/"Tracking Identifier"\)="region \d of image/g)).toHaveLength(3);
    } else {
      // The left MLO is the second Image Library entry (1.2.2), the right MLO the fourth (1.2.4).
      expect(run.stdout).toMatch(/<has properties SCOORD:\(,,"Center"\)=\(POINT,150\.100006\/60\.2999992\)>\s+<selected from 1\.2\.2>/);
      expect(run.stdout).toMatch(/<has properties SCOORD:\(,,"Outline"\)=\(POLYLINE,140\.199997\/50\.09999847,\.\.\.\)>\s+<selected from 1\.2\.2>/);
      expect(run.stdout).toMatch(/<has properties SCOORD:\(,,"Outline"\)=\(POLYLINE,200\/200,\.\.\.\)>\s+<selected from 1\.2\.4>/);
    }
  });
});

describe('presentation state with the marked regions', () => {
  it.skipIf(!installed('dciodvfy')).each([false, true])('dciodvfy finds no error (research use: %s); both breasts leave Laterality empty, its one warning', (research) => {
    const result = dciodvfy(file(`gsps-${research}`, buildPresentationState(input(research).input)!.bytes));
    expect(result.iod).toBe('GrayscaleSoftcopyPresentationState');
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([
      'Warning - is only permitted to be empty when actually unknown; should be absent (not empty) if an unpaired body part, and have a value if a paired body part - attribute <Laterality>',
    ]);
  });

  it.skipIf(!installed('dciodvfy'))('dciodvfy finds neither error nor warning in one for the images of one breast', () => {
    const { input: report, uids } = input(false);
    const left: ReportInput = { ...report, imageProbabilities: { [uids[0]!]: 0.12, [uids[1]!]: 0.73 }, breasts: {}, exam: { probability: 0.73 }, regions: { [uids[1]!]: report.regions![uids[1]!]! } };
    const result = dciodvfy(file('gsps-left', buildPresentationState(left)!.bytes));
    expect(result.iod).toBe('GrayscaleSoftcopyPresentationState');
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
  });
});
