// Both report types checked by two independent validators: dciodvfy (dicom3tools) must find
// no error against the IOD, and dsrdump (dcmtk) must parse the content tree (relationship
// constraints, by-reference targets) without error. Warnings are printed; the expected ones
// are listed and explained in docs/structured-reports.md.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPart10 } from '../../src/dicom/part10.js';
import { buildStructuredReport, type ReportInput } from '../../src/dicom/sr/index.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-sr-validators-'));
const installed = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

function reportFile(template: 'TID1500' | 'TID4000'): string {
  const ids = newStudyIds({ patientName: 'Müller^Zoë' });
  const images = [
    mammogram(ids, { laterality: 'L', view: 'CC' }),
    mammogram(ids, { laterality: 'L', view: 'MLO' }),
    mammogram(ids, { laterality: 'R', view: 'CC' }),
    mammogram(ids, { laterality: 'R', view: 'MLO', magnification: true }), // a view modifier, to exercise that row too
  ];
  const [lcc, lmlo, rcc, rmlo] = images.map((m) => m.sopInstanceUid) as [string, string, string, string];
  const input: ReportInput = {
    sources: images.map((m) => readPart10(m.bytes, 'test').dataset),
    imageProbabilities: { [lcc]: 0.12, [lmlo]: 0.7312345678901234, [rcc]: 0.05, [rmlo]: 0.3 },
    breasts: { L: { probability: 0.7312345678901234, sopInstanceUids: [lcc, lmlo] }, R: { probability: 0.3, sopInstanceUids: [rcc, rmlo] } },
    exam: { probability: 0.7312345678901234 },
    threshold: 0.5,
    algorithm: { name: 'mammocad', version: 'shen2019-v1', modelVersionId: 'mv-1', modelSha256: 'e'.repeat(64) },
    device: { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: '0.1.0', uid: '2.25.99' },
  };
  const file = path.join(dir, `${template}.dcm`);
  writeFileSync(file, buildStructuredReport(input, template).bytes);
  return file;
}

describe.each(['TID1500', 'TID4000'] as const)('%s report', (template) => {
  it.skipIf(!installed('dciodvfy'))('dciodvfy finds no error', () => {
    const run = spawnSync('dciodvfy', [reportFile(template)], { encoding: 'utf8' });
    const lines = `${run.stdout}${run.stderr}`.split('\n').filter(Boolean);
    const warnings = lines.filter((l) => /^Warning/.test(l));
    if (warnings.length) console.log(`dciodvfy warnings for ${template}:\n${warnings.join('\n')}`);
    expect(lines[0]).toBe(template === 'TID1500' ? 'ComprehensiveSR' : 'MammographyCADSR'); // the IOD it checked against
    expect(lines.filter((l) => /Error/.test(l))).toEqual([]);
    expect(warnings.filter((l) => /deprecated/.test(l))).toEqual([]); // the SRT Magnification modifier is written in SNOMED CT
  });

  it.skipIf(!installed('dsrdump'))('dsrdump parses the document and its content tree without error', () => {
    const run = spawnSync('dsrdump', ['+Pt', reportFile(template)], { encoding: 'utf8' });
    const warnings = run.stderr.split('\n').filter((l) => l.startsWith('W:'));
    if (warnings.length) console.log(`dsrdump warnings for ${template}:\n${warnings.join('\n')}`);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr.split('\n').filter((l) => /^(E|F):/.test(l))).toEqual([]);
    expect(run.stdout).toContain(template === 'TID1500' ? 'Comprehensive SR Document' : 'Mammography CAD SR Document');
    expect(run.stdout).toContain(`# TID ${template.slice(3)} (DCMR)`);
    expect(run.stdout).toContain('Müller^Zoë');
    if (template === 'TID1500') expect(run.stdout).toContain('"Probability of cancer")="0.73123456789012" (1,UCUM,"no units")');
    else expect(run.stdout).toMatch(/<inferred from 1\.2\.2>/); // by-reference to the second library image
  });
});
