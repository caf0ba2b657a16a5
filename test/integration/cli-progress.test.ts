// Progress of long commands as a script or a log file sees it (stderr is a pipe here, not a
// terminal): plain lines on stderr, the start and the end, no \r and no escape sequence, stdout
// as before; with --json not one byte more on stderr and stdout parses as before. Runs on four
// synthetic mini-MIAS films written here, and evaluates with the shipped default model.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../support/cli.js';

const work = mkdtempSync(path.join(tmpdir(), 'mammocad-cli-progress-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** mdb001..mdb004 (two women), 1024x1024 8-bit PGM with a gradient; mdb003 malignant. */
function syntheticMias(): string {
  const dir = path.join(work, 'mias');
  mkdirSync(dir);
  for (let n = 1; n <= 4; n++) {
    const pixels = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < pixels.length; i++) pixels[i] = ((i % 1024) * 7 + n * 13 + (i >> 12)) % 256;
    writeFileSync(path.join(dir, `mdb00${n}.pgm`), Buffer.concat([Buffer.from('P5\n1024 1024\n255\n'), pixels]));
  }
  writeFileSync(path.join(dir, 'labels.txt'), 'mdb001 G NORM\nmdb002 G NORM\nmdb003 F CIRC M 500 500 30\nmdb004 F NORM\n');
  return dir;
}

const mias = syntheticMias();
const DEFAULT_MODEL = path.join(ROOT, 'models', 'default');

describe('progress of mammocad convert mias', () => {
  it('writes plain progress lines on stderr, and stdout as before', async () => {
    const out = path.join(work, 'out-text');
    const run = await runCli(['convert', 'mias', mias, out]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual([
      `${path.join(out, 'w001', 'mdb002.dcm')}: L MLO, normal`,
      `${path.join(out, 'w001', 'mdb001.dcm')}: R MLO, normal`,
      `${path.join(out, 'w002', 'mdb004.dcm')}: L MLO, normal`,
      `${path.join(out, 'w002', 'mdb003.dcm')}: R MLO, malignant`,
      `wrote 4 images of 2 women (1 malignant) under ${out}`,
    ]);
    const lines = run.stderr.trim().split('\n');
    expect(lines[0]).toBe('mammocad convert mias: started, 4 images');
    expect(lines.at(-1)).toMatch(/^mammocad convert mias: done, 4\/4 images in \d+s \(\d+(\.\d)? images\/s\)$/);
    expect(run.stderr).not.toContain('\r');
    expect(run.stderr).not.toContain('\x1b');
  });

  it('adds nothing with --json: stderr stays empty, every stdout line parses', async () => {
    const out = path.join(work, 'out-json');
    const run = await runCli(['convert', 'mias', mias, out, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { level: string });
    expect(lines.map((l) => l.level)).toEqual(['file', 'file', 'file', 'file', 'summary']);
    expect(lines.at(-1)).toEqual({ level: 'summary', dir: mias, out, images: 4, women: 2, malignantImages: 1 });
  });
});

describe.skipIf(!existsSync(path.join(DEFAULT_MODEL, 'manifest.json')))('progress of mammocad evaluate (needs models/default)', () => {
  const env = { MAMMOCAD_DATA_DIR: path.join(work, 'data'), MAMMOCAD_DEFAULT_MODEL_DIR: DEFAULT_MODEL };

  it('writes plain progress lines on stderr; with --json stderr stays empty and stdout is the one JSON object', async () => {
    const text = await runCli(['evaluate', '--dataset', 'mias', '--dir', mias], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^model \S+ on mini-MIAS \(4 images, 1 malignant\)\n {2}AUC /);
    const lines = text.stderr.trim().split('\n');
    expect(lines[0]).toBe('mammocad evaluate: started, 4 images, scoring');
    expect(lines.at(-1)).toMatch(/^mammocad evaluate: done, 4\/4 images in \d+s \(\d+(\.\d)? images\/s\)$/);
    expect(text.stderr).not.toContain('\r');
    expect(text.stderr).not.toContain('\x1b');

    const json = await runCli(['evaluate', '--dataset', 'mias', '--dir', mias, '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stderr).toBe('');
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(Object.keys(report).sort()).toEqual(['auc', 'auc_ci', 'n', 'positives', 'sensitivity_at_spec_0.8', 'sensitivity_at_spec_0.9', 'threshold']);
    expect(report).toMatchObject({ n: 4, positives: 1 });
  }, 120_000);
});
