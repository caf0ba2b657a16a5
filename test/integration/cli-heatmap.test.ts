// `mammocad score --heatmap DIR` as a user runs it (issue 16): with an active model whose map we
// control (a cell is malignant when bright: test/support/brightness-model.ts), each scored image
// gets DIR/<SOP Instance UID>.png, a whole PNG no larger than the cap, the breast coloured and,
// only when the image is at or above the model's threshold, the marked region outlined; --json
// names the picture on the image's line. A model exported before heat maps is refused before
// anything is scored, naming why.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEAT_MAP_PICTURE_MAX_SIZE } from '../../src/cli/score-heatmap.js';
import { exportToOnnx } from '../../src/ml/onnx/index.js';
import { crc32 } from '../../src/training/evaluation/png.js';
import { brightnessModel, brightnessPreprocessing } from '../support/brightness-model.js';
import { runCli } from '../support/cli.js';
import { doseReport, mammogram, newStudyIds } from '../support/dicom-factory.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';

const work = mkdtempSync(path.join(tmpdir(), 'mammocad-cli-heatmap-'));
const env = { MAMMOCAD_DATA_DIR: path.join(work, 'data') };
const put = (name: string, bytes: Uint8Array) => {
  const file = path.join(work, name);
  writeFileSync(file, bytes);
  return file;
};

interface ImageLine {
  level: 'image';
  file: string;
  sopInstanceUid: string | null;
  status: string;
  probability: number | null;
  heatMap?: string | null;
}

interface Picture {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** Reads an 8-bit RGB PNG strictly: signature, every chunk's CRC, IHDR, the whole IDAT stream, IEND last. */
function readPng(file: string): Picture {
  const bytes = readFileSync(file);
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  const types: string[] = [];
  for (let at = 8; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const data = bytes.subarray(at + 8, at + 8 + length);
    expect(bytes.readUInt32BE(at + 8 + length), `CRC of ${type}`).toBe(crc32(bytes.subarray(at + 4, at + 8 + length)));
    types.push(type);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9]], 'bit depth 8, colour type RGB').toEqual([8, 2]);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  expect(types[0]).toBe('IHDR');
  expect(types.at(-1)).toBe('IEND');
  const raw = inflateSync(Buffer.concat(idat));
  expect(raw.length).toBe(height * (1 + 3 * width));
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    // The project's writer uses filter 0 (none) on every scanline.
    expect(raw[y * (1 + 3 * width)]).toBe(0);
    rgb.set(raw.subarray(y * (1 + 3 * width) + 1, (y + 1) * (1 + 3 * width)), y * width * 3);
  }
  return { width, height, rgb };
}

/** Pixels drawn in the outline colour (magenta) and pixels with any colour at all. */
function colours(picture: Picture): { outline: number; coloured: number } {
  let outline = 0;
  let coloured = 0;
  for (let i = 0; i < picture.rgb.length; i += 3) {
    const [r, g, b] = [picture.rgb[i]!, picture.rgb[i + 1]!, picture.rgb[i + 2]!];
    if (r === 255 && g === 0 && b === 255) outline++;
    if (r !== g || g !== b) coloured++;
  }
  return { outline, coloured };
}

async function activate(version: string): Promise<void> {
  const dir = path.join(work, 'incoming');
  const imported = await runCli(['models', 'import', path.join(dir, version)], env);
  expect(imported.code, imported.stderr).toBe(0);
  const activated = await runCli(['models', 'activate', version], env);
  expect(activated.code, activated.stderr).toBe(0);
}

async function score(files: string[], dir: string): Promise<ImageLine[]> {
  const result = await runCli(['score', '--json', '--heatmap', dir, ...files], env);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ImageLine | { level: string })
    .filter((line): line is ImageLine => line.level === 'image');
}

describe('mammocad score --heatmap', () => {
  const ids = newStudyIds();
  // Larger than the cap (the picture is shrunk), smaller (kept), a right breast (mirrored by the decoder), and a file that is not scored.
  const large = mammogram(ids, { laterality: 'L', view: 'CC', size: 1300 });
  const small = mammogram(ids, { laterality: 'R', view: 'MLO', size: 256 });
  let files: string[];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const preprocessing = brightnessPreprocessing();
    const model = brightnessModel({ inputHeight: preprocessing.inputHeight!, inputWidth: preprocessing.inputWidth!, channels: 1, cell: 8 });
    const bytes = exportToOnnx(model, { heatMap: true });
    model.dispose();
    const incoming = path.join(work, 'incoming');
    // The synthetic breast is a half disc: its cells are near P = 1, the image as a whole (a
    // quarter of the padded input is breast) about 0.03, background cells 0.0025 (sigmoid(-6)).
    // A threshold of 0.02 makes the images positive and marks the breast, 0.9 makes them negative.
    await writeTestPackage(incoming, { version: 'bright-low', model: bytes, preprocessing, manifest: { threshold: 0.02 } });
    await writeTestPackage(incoming, { version: 'bright-high', model: bytes, preprocessing, manifest: { threshold: 0.9 } });
    await writeTestPackage(incoming, { version: 'no-heatmap' });
    files = [put('large.dcm', large.bytes), put('small.dcm', small.bytes), put('dose.dcm', doseReport(ids).bytes)];
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes one capped PNG per scored image, named by its SOP Instance UID, with the marked region outlined above the threshold', async () => {
    await activate('bright-low');
    const dir = path.join(work, 'maps-low');
    const lines = await score(files, dir);
    expect(lines.map((l) => l.status)).toEqual(['scored', 'scored', 'skipped']);
    expect(lines.map((l) => l.heatMap)).toEqual([path.join(dir, `${large.sopInstanceUid}.png`), path.join(dir, `${small.sopInstanceUid}.png`), null]);
    for (const line of lines.slice(0, 2)) expect(line.probability).toBeGreaterThanOrEqual(0.02);

    const big = readPng(lines[0]!.heatMap!);
    expect([big.width, big.height]).toEqual([HEAT_MAP_PICTURE_MAX_SIZE, HEAT_MAP_PICTURE_MAX_SIZE]);
    const kept = readPng(lines[1]!.heatMap!);
    expect([kept.width, kept.height]).toEqual([256, 256]);
    for (const picture of [big, kept]) {
      const { outline, coloured } = colours(picture);
      expect(outline).toBeGreaterThan(0);
      expect(coloured).toBeGreaterThan(picture.width * picture.height * 0.1);
    }
    // The breast of the right image is on the right of its stored matrix: so are the map and the outline.
    const rightHalf = (picture: Picture) => {
      let inRight = 0;
      let all = 0;
      for (let y = 0; y < picture.height; y++) {
        for (let x = 0; x < picture.width; x++) {
          const i = (y * picture.width + x) * 3;
          if (picture.rgb[i] === 255 && picture.rgb[i + 1] === 0 && picture.rgb[i + 2] === 255) {
            all++;
            if (x >= picture.width / 2) inRight++;
          }
        }
      }
      return inRight / all;
    };
    expect(rightHalf(kept)).toBeGreaterThan(0.6);
    expect(rightHalf(big)).toBeLessThan(0.4);
  });

  it('colours the map but outlines nothing on an image below the threshold; the text output names the pictures', async () => {
    await activate('bright-high');
    const dir = path.join(work, 'maps-high');
    const lines = await score(files.slice(0, 1), dir);
    expect(lines[0]!.probability).toBeLessThan(0.9);
    const { outline, coloured } = colours(readPng(lines[0]!.heatMap!));
    expect(outline).toBe(0);
    expect(coloured).toBeGreaterThan(0);

    // The same file twice: two pictures, the second one's name made unique.
    const text = await runCli(['score', '--heatmap', path.join(work, 'maps-text'), files[0]!, files[0]!], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`large.dcm: scored p=${lines[0]!.probability!.toFixed(4)} -> ${path.join(work, 'maps-text', `${large.sopInstanceUid}.png`)}`);
    expect(text.stdout).toContain(`-> ${path.join(work, 'maps-text', `${large.sopInstanceUid}-2.png`)}`);
  });

  it('refuses, before scoring, a model exported without the heat map output, naming why', async () => {
    await activate('no-heatmap');
    const dir = path.join(work, 'maps-none');
    const result = await runCli(['score', '--json', '--heatmap', dir, ...files], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('HEAT_MAPS_UNAVAILABLE: --heatmap: model no-heatmap: no heat maps: the model.onnx of no-heatmap has no "heatmap" output');
    expect(existsSync(dir)).toBe(false);
    // Without --heatmap the same model scores as before, and the lines carry no heatMap field.
    const plain = await runCli(['score', '--json', ...files], env);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout.split('\n')[0]!)).not.toHaveProperty('heatMap');
  });
});
