// The model commands and scoring with the active model, as an admin and a user run them:
// import -> list -> activate -> score files -> a report from the active model's scores.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readStructuredReport } from '../../src/dicom/sr/index.js';
import { runCli } from '../support/cli.js';
import { doseReport, mammogram, newStudyIds } from '../support/dicom-factory.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'mammocad-cli-models-'));
const env = { MAMMOCAD_DATA_DIR: path.join(work, 'data') };
const put = (name: string, bytes: Uint8Array) => {
  const file = path.join(work, name);
  writeFileSync(file, bytes);
  return file;
};

// Each case runs the CLI as a process several times (3-4 s each to start on this 2-core machine,
// more beside other test files): a longer timeout than the suite's default.
describe('mammocad models and score', { timeout: 180_000 }, () => {
  let packageDir: string;
  beforeAll(async () => {
    packageDir = await writeTestPackage(path.join(work, 'incoming'), { version: 'tiny-cli-1' });
  });

  it('imports, lists, verifies and activates a model package', async () => {
    const imported = await runCli(['models', 'import', packageDir, '--json'], env);
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ version: 'tiny-cli-1', path: path.join(work, 'data', 'models', 'tiny-cli-1') });

    const listed = await runCli(['models', 'list', '--json'], env);
    expect(JSON.parse(listed.stdout.trim().split('\n')[0]!)).toMatchObject({ version: 'tiny-cli-1', registered: true, active: false });
    expect((await runCli(['models', 'verify', 'tiny-cli-1'], env)).stdout).toContain('tiny-cli-1: ok');

    const activated = await runCli(['models', 'activate', 'tiny-cli-1'], env);
    expect(activated.code, activated.stderr).toBe(0);
    expect((await runCli(['models', 'list'], env)).stdout).toMatch(/^\* tiny-cli-1 {2}test-conv4 {2}registered/m);
    const shown = JSON.parse((await runCli(['models', 'show', 'tiny-cli-1', '--json'], env)).stdout) as { active: boolean; manifest: { preprocessing: unknown } };
    expect(shown.active).toBe(true);
    expect(shown.manifest.preprocessing).toBeDefined();
  });

  it('refuses an unknown version and a corrupt package, naming them', async () => {
    const unknown = await runCli(['models', 'activate', 'nope'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('NOT_FOUND: model version not found: nope');
    const broken = path.join(work, 'broken');
    const bad = await runCli(['models', 'import', broken], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/MODEL_PACKAGE_INVALID: model package .*broken/);
  });

  it('scores files with the active model: JSON lines per image, breast and exam', async () => {
    const ids = newStudyIds();
    const files = [
      put('l.dcm', mammogram(ids, { laterality: 'L', view: 'CC', size: 256 }).bytes),
      put('r.dcm', mammogram(ids, { laterality: 'R', view: 'MLO', size: 256 }).bytes),
      put('dose.dcm', doseReport(ids).bytes),
    ];
    const result = await runCli(['score', '--json', ...files], env);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { level: string; status?: string; probability: number; laterality?: string });
    expect(lines.map((l) => l.level)).toEqual(['image', 'image', 'image', 'breast', 'breast', 'exam']);
    expect(lines.slice(0, 3).map((l) => l.status)).toEqual(['scored', 'scored', 'skipped']);
    expect(lines[5]!.probability).toBe(Math.max(lines[0]!.probability, lines[1]!.probability));
    expect(lines[5]).toMatchObject({ threshold: 0.5, models: ['tiny-cli-1'] });
  });

  it('writes a report from the active model when no score set is given', async () => {
    const ids = newStudyIds();
    const files = [put('sr-l.dcm', mammogram(ids, { laterality: 'L', view: 'CC', size: 256 }).bytes), put('sr-r.dcm', mammogram(ids, { laterality: 'R', view: 'CC', size: 256 }).bytes)];
    const out = path.join(work, 'report.dcm');
    // The test model has no validation: by default no report is written (report policy) ...
    const withheld = await runCli(['sr', ...files, '--out', out, '--json'], env);
    expect(withheld.code).toBe(1);
    expect(withheld.stderr).toMatch(/REPORT_WITHHELD: model tiny-cli-1: no report written to the PACS: the model has no validation AUC/);
    expect(existsSync(out)).toBe(false);
    // ... and in research mode it is written, marked.
    const result = await runCli(['sr', ...files, '--out', out, '--json'], { ...env, MAMMOCAD_REPORT_RESEARCH_MODE: 'true' });
    expect(result.code, result.stderr).toBe(0);
    const report = readStructuredReport(new Uint8Array(readFileSync(out)));
    expect(report.studyInstanceUid).toBe(ids.studyUid);
    expect(report.seriesDescription).toMatch(/^RESEARCH USE ONLY/);
    expect(report.results.researchUse?.statement).toMatch(/no validation AUC/);
    // The same files scored by `mammocad score`: the report carries exactly these probabilities.
    const lines = (await runCli(['score', '--json', ...files], env)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { level: string; sopInstanceUid: string; probability: number });
    for (const image of lines.filter((l) => l.level === 'image')) {
      expect(report.results.images[image.sopInstanceUid]!.probability).toBe(image.probability);
    }
    expect(report.results.exam.probability).toBe(lines.find((l) => l.level === 'exam')!.probability);
    expect(report.results.algorithm.version).toBe('tiny-cli-1');
  });
});
