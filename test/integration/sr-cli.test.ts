// `mammocad sr`: writes a report for given images and a score set, as a user or a validator
// would run it; refuses bad input with a clear message and writes nothing.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStructuredReport } from '../../src/dicom/sr/index.js';
import { runCli } from '../support/cli.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-sr-cli-'));
let files = 0;
const put = (name: string, content: Uint8Array | string) => {
  const file = path.join(dir, `${++files}-${name}`);
  writeFileSync(file, content);
  return file;
};
const model = { version: 'shen2019-v1', hash: '9'.repeat(64), id: 'mv-cli' };

function study(patientName = 'Müller^Zoë') {
  const ids = newStudyIds({ patientName });
  const images = [mammogram(ids, { laterality: 'L', view: 'CC' }), mammogram(ids, { laterality: 'L', view: 'MLO' }), mammogram(ids, { laterality: 'R', view: 'CC' })];
  return { ids, uids: images.map((m) => m.sopInstanceUid), files: images.map((m, i) => put(`image${i}.dcm`, m.bytes)) };
}

describe('mammocad sr', () => {
  it('writes a TID 1500 report for the images and scores, and prints its UIDs as JSON', async () => {
    const { ids, uids, files: images } = study();
    const scores = put('scores.json', JSON.stringify({ images: { [uids[0]!]: 0.2, [uids[1]!]: 0.81, [uids[2]!]: 0.1 }, threshold: 0.5, model }));
    const out = path.join(dir, 'report-1500.dcm');
    const result = await runCli(['sr', ...images, '--scores', scores, '--out', out, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(printed).toMatchObject({ template: 'TID1500', studyInstanceUid: ids.studyUid, out, images: 3 });
    const read = readStructuredReport(new Uint8Array(readFileSync(out)), out);
    expect(read.sopInstanceUid).toBe(printed.sopInstanceUid);
    expect(read.patientName).toBe('Müller^Zoë');
    expect(read.results.images).toEqual({ [uids[0]!]: { probability: 0.2, positive: false }, [uids[1]!]: { probability: 0.81, positive: true }, [uids[2]!]: { probability: 0.1, positive: false } });
    // not given: breast and exam are the maximum over their images
    expect(read.results.breasts).toEqual({ L: { probability: 0.81, positive: true, sopInstanceUids: [uids[0], uids[1]] }, R: { probability: 0.1, positive: false, sopInstanceUids: [uids[2]] } });
    expect(read.results.exam).toEqual({ probability: 0.81, positive: true, sopInstanceUids: uids });
    expect(read.results.algorithm).toEqual({ name: 'mammocad', version: 'shen2019-v1', modelVersionId: 'mv-cli', modelSha256: model.hash });
    expect(read.results.device).toMatchObject({ manufacturer: 'mammocad', modelName: 'mammocad', uid: expect.stringMatching(/^2\.25\./) });
  });

  it('takes the template from --template, else from report.template, and prints the SOP Instance UID', async () => {
    const { uids, files: images } = study('PLAIN^ASCII');
    const scores = put('scores.json', JSON.stringify({ images: { [uids[0]!]: 0.7, [uids[2]!]: 0.3 }, breasts: { L: 0.75 }, exam: 0.75, threshold: 0.6, model }));
    const byOption = path.join(dir, 'by-option.dcm');
    const fromOption = await runCli(['sr', ...images, '--scores', scores, '--out', byOption, '--template', 'tid4000']);
    expect(fromOption.code, fromOption.stderr).toBe(0);
    const read = readStructuredReport(new Uint8Array(readFileSync(byOption)));
    expect(fromOption.stdout.trim()).toBe(read.sopInstanceUid);
    expect(read.template).toBe('TID4000');
    expect(read.results.breasts.L).toMatchObject({ positive: true, sopInstanceUids: [uids[0]] });
    expect(read.results.breasts.L!.probability).toBeCloseTo(0.75, 14);

    const bySetting = path.join(dir, 'by-setting.dcm');
    const fromSetting = await runCli(['sr', ...images, '--scores', scores, '--out', bySetting], { MAMMOCAD_REPORT_TEMPLATE: 'TID4000' });
    expect(fromSetting.code, fromSetting.stderr).toBe(0);
    expect(readStructuredReport(new Uint8Array(readFileSync(bySetting))).template).toBe('TID4000');
  });

  it('without --scores, an active model or a shipped default, says how to get one and writes nothing', async () => {
    const { files: images } = study();
    const out = path.join(dir, 'no-scores.dcm');
    const empty = mkdtempSync(path.join(tmpdir(), 'mammocad-sr-nomodel-'));
    const result = await runCli(['sr', ...images, '--out', out], { MAMMOCAD_DATA_DIR: empty, MAMMOCAD_DEFAULT_MODEL_DIR: path.join(empty, 'no-default-model') });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('NO_ACTIVE_MODEL: no model version is active: import one (mammocad models import DIR) and activate it');
    expect(existsSync(out)).toBe(false);
  });

  it.each([
    ['an unknown template', (uids: string[]) => ({ images: { [uids[0]!]: 0.5 }, threshold: 0.5, model }), ['--template', 'TID9999'], 2, /--template: must be one of TID1500, TID4000/],
    ['a score above 1', (uids: string[]) => ({ images: { [uids[0]!]: 1.3 }, threshold: 0.5, model }), [], 1, /VALIDATION_FAILED: imageProbabilities\['[\d.]+'\]: must be a finite probability in \[0, 1\]; got 1\.3/],
    ['a non-finite score', (uids: string[]) => `{"images": {"${uids[0]}": 1e999}, "threshold": 0.5, "model": ${JSON.stringify(model)}}`, [], 1, /got Infinity/],
    ['a score for an image not given', () => ({ images: { '1.2.3.4': 0.5 }, threshold: 0.5, model }), [], 1, /'1\.2\.3\.4'\]: is not the SOP Instance UID of a source image/],
    ['a file that is not JSON', () => 'images: 0.5', [], 1, /--scores: cannot read .* as JSON/],
  ])('refuses %s and writes nothing', async (_label, scoreSet, extra, code, message) => {
    const { uids, files: images } = study();
    const content = scoreSet(uids);
    const scores = put('scores.json', typeof content === 'string' ? content : JSON.stringify(content));
    const out = path.join(dir, `refused-${files}.dcm`);
    const result = await runCli(['sr', ...images, '--scores', scores, '--out', out, ...extra]);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('refuses images of two studies, naming the field and not the patient', async () => {
    const first = study();
    const second = study();
    const scores = put('scores.json', JSON.stringify({ images: { [first.uids[0]!]: 0.5, [second.uids[0]!]: 0.5 }, threshold: 0.5, model }));
    const out = path.join(dir, 'two-studies.dcm');
    const result = await runCli(['sr', first.files[0]!, second.files[0]!, '--scores', scores, '--out', out]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/sources\[1\]\.StudyInstanceUID: differs from that of sources\[0\]: a report covers exactly one study/);
    expect(result.stderr).not.toMatch(/PAT-/);
    expect(existsSync(out)).toBe(false);
  });

  it('names an unreadable image file', async () => {
    const scores = put('scores.json', JSON.stringify({ images: { '1.2.3': 0.5 }, threshold: 0.5, model }));
    const result = await runCli(['sr', path.join(dir, 'missing.dcm'), '--scores', scores, '--out', path.join(dir, 'x.dcm')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/DICOM_PARSE_FAILED: .*missing\.dcm: cannot read the file \(ENOENT\)/);
  });
});
