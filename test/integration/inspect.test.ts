// `mammocad inspect`: what a site runs to check that its files are eligible and decodable.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { doseReport, mammogram, newStudyIds } from '../support/dicom-factory.js';
import { needsSharedData, sharedFile } from '../support/shared-data.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-inspect-'));
const put = (name: string, bytes: Uint8Array | string) => {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return file;
};

describe('mammocad inspect', needsSharedData('dicom'), () => {
  it('reports eligibility, laterality, view, size, transfer syntax and decode time per file', async () => {
    const ids = newStudyIds();
    const files = [
      sharedFile('dicom', 'clunie-mg-explicit-little.dcm'),
      sharedFile('dicom', 'nema-wg04-mg1-j2ki.dcm'),
      put('for-processing.dcm', mammogram(ids, { forProcessing: true }).bytes),
      put('dose.dcm', doseReport(ids).bytes),
    ];
    const result = await runCli(['inspect', '--json', ...files], { MAMMOCAD_SELECTION_EXTRA_MODALITIES: 'RG' });
    expect(result.code, result.stderr).toBe(0);
    const [clunie, nema, processing, dose] = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(clunie).toMatchObject({ status: 'eligible', laterality: 'R', view: 'CC', rows: 512, columns: 512, transferSyntaxUid: '1.2.840.10008.1.2.1' });
    expect(nema).toMatchObject({ status: 'eligible', modality: 'RG', rows: 4664, columns: 3064, transferSyntaxUid: '1.2.840.10008.1.2.4.91' });
    expect(nema!.decodeMs).toBeGreaterThan(0);
    expect(processing).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/For Processing/) });
    expect(processing!.decodeMs).toBeGreaterThan(0); // skipped images are still checked for decodability
    expect(dose).toMatchObject({ status: 'skipped', reason: 'radiation dose report, not an image', decodeMs: null });
  });

  it('without the configuration, the digitised film (Modality RG) is skipped with the reason', async () => {
    const result = await runCli(['inspect', sharedFile('dicom', 'nema-wg04-mg1-j2ki.dcm')]);
    expect(result.stdout).toMatch(/skipped \(modality RG is not mammography \(MG\)\), L MLO, 4664x3064, 1\.2\.840\.10008\.1\.2\.4\.91, decoded in [\d.]+ ms/);
  });

  it('names each unreadable file and its cause, goes on with the others, and exits 1', async () => {
    const good = mammogram(newStudyIds()).bytes;
    const files = [
      put('notes.txt', 'not a dicom file'),
      put('truncated.dcm', good.subarray(0, Math.floor(good.byteLength / 2))),
      sharedFile('dicom', 'clunie-mg-explicit-little.dcm'),
      path.join(dir, 'missing.dcm'),
    ];
    const result = await runCli(['inspect', '--json', ...files]);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; status: string; code: string | null; reason: string | null });
    expect(lines.map((l) => l.status)).toEqual(['failed', 'failed', 'eligible', 'failed']);
    expect(lines[0]).toMatchObject({ code: 'DICOM_PARSE_FAILED', reason: expect.stringContaining(`${files[0]}: not a DICOM Part 10 file`) });
    expect(lines[1]!.reason).toContain(files[1]);
    expect(lines[1]!.code).toMatch(/DICOM_PARSE_FAILED|PIXEL_DECODE_FAILED/);
    expect(lines[3]).toMatchObject({ code: 'READ_FAILED', reason: expect.stringContaining('ENOENT') });
  });

  it('reads a file whose pixel data is RLE-compressed by dcmtk', async () => {
    const source = put('plain.dcm', readFileSync(sharedFile('dicom', 'clunie-mg-explicit-little.dcm')));
    const { execFileSync } = await import('node:child_process');
    const rle = path.join(dir, 'rle.dcm');
    execFileSync('dcmcrle', [source, rle]);
    const result = await runCli(['inspect', '--json', rle]);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'eligible', transferSyntaxUid: '1.2.840.10008.1.2.5', rows: 512 });
  });
});
