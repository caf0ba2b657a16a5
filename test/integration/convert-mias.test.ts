// `mammocad convert mias` on four real mini-MIAS images (two women): the files pass dciodvfy
// without error, and the project's own reader, decoder and view selection get back the PGM's
// pixels, the laterality, the MLO view and the 0.2 mm spacing.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readPart10 } from '../../src/dicom/part10.js';
import { decodeImage } from '../../src/dicom/pixels/decode-image.js';
import { selectView } from '../../src/dicom/view-selection.js';
import { readPgm } from '../../src/training/datasets/pgm.js';
import { runCli } from '../support/cli.js';
import { needsSharedData, sharedFile } from '../support/shared-data.js';

const installed = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
// w002: two normal films; w029: a normal right breast (mdb057) and a malignant left one (mdb058).
const IMAGES = [
  { id: 'mdb003', woman: 'w002', laterality: 'R' },
  { id: 'mdb004', woman: 'w002', laterality: 'L' },
  { id: 'mdb057', woman: 'w029', laterality: 'R' },
  { id: 'mdb058', woman: 'w029', laterality: 'L' },
] as const;

const work = mkdtempSync(path.join(tmpdir(), 'mammocad-convert-mias-'));
const source = path.join(work, 'mias');
const out = path.join(work, 'out');
const fileOf = (image: (typeof IMAGES)[number], dir = out) => path.join(dir, image.woman, `${image.id}.dcm`);

interface Line {
  level: string;
  [key: string]: unknown;
}
let lines: Line[] = [];

beforeAll(async () => {
  // The real files, linked into a folder with only these four images (the reader takes what is present).
  mkdirSync(source);
  symlinkSync(sharedFile('mias', 'labels.txt'), path.join(source, 'labels.txt'));
  for (const image of IMAGES) symlinkSync(sharedFile('mias', `${image.id}.pgm`), path.join(source, `${image.id}.pgm`));
  const run = await runCli(['convert', 'mias', source, out, '--json']);
  expect(run.code, run.stderr).toBe(0);
  lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
});

describe('mammocad convert mias', needsSharedData('mias'), () => {
  it('writes OUT/<woman>/<image>.dcm, one line per file and a summary', () => {
    expect(lines.filter((l) => l.level === 'file').map((l) => [l.imageId, l.womanId, l.laterality, l.view, l.imageClass, l.file])).toEqual([
      ['mdb004', 'w002', 'L', 'MLO', 'normal', fileOf(IMAGES[1])],
      ['mdb003', 'w002', 'R', 'MLO', 'normal', fileOf(IMAGES[0])],
      ['mdb058', 'w029', 'L', 'MLO', 'malignant', fileOf(IMAGES[3])],
      ['mdb057', 'w029', 'R', 'MLO', 'normal', fileOf(IMAGES[2])],
    ]);
    expect(lines.at(-1)).toEqual({ level: 'summary', dir: source, out, images: 4, women: 2, malignantImages: 1 });
  });

  it.skipIf(!installed('dciodvfy'))('dciodvfy finds no error in any file', () => {
    for (const image of IMAGES) {
      const run = spawnSync('dciodvfy', [fileOf(image)], { encoding: 'utf8' });
      const output = `${run.stdout}${run.stderr}`.split('\n').filter(Boolean);
      expect(output).toContain('MammographyImageForPresentation'); // the IOD it checked against
      expect(output.filter((l) => /Error/.test(l))).toEqual([]);
    }
  });

  it.each(IMAGES)('$id reads back: the PGM pixels, $laterality MLO, eligible, 0.2 mm', async (image) => {
    const file = readPart10(readFileSync(fileOf(image)), fileOf(image));
    expect(file.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    expect(file.dataset).toMatchObject({
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.2',
      Modality: 'MG',
      PatientID: `MIAS-${image.woman}`,
      PatientName: [{ Alphabetic: `MIAS^${image.woman}` }],
      ImageLaterality: image.laterality,
      PresentationIntentType: 'FOR PRESENTATION',
      BurnedInAnnotation: 'NO',
    });
    expect(selectView(file.dataset)).toMatchObject({ eligible: true, laterality: image.laterality, lateralitySource: 'ImageLaterality', view: 'MLO' });

    const decoded = await decodeImage(file);
    const pgm = await readPgm(path.join(source, `${image.id}.pgm`));
    expect([decoded.width, decoded.height, decoded.bitsStored]).toEqual([1024, 1024, 8]);
    expect(decoded.pixelSpacingMm).toEqual([0.2, 0.2]);
    expect(decoded.paddingPixels).toBe(0);
    // The decoder turns the breast to the left by tissue mass: right breasts (chest wall on the
    // right of the film) are mirrored, left ones not, which checks Info.txt's left/right too.
    expect(decoded.flippedHorizontally).toBe(image.laterality === 'R');
    const expected = new Float32Array(1024 * 1024);
    for (let row = 0; row < 1024; row++) {
      for (let column = 0; column < 1024; column++) {
        const from = image.laterality === 'R' ? 1023 - column : column;
        expected[row * 1024 + column] = pgm.pixels[row * 1024 + from]!;
      }
    }
    expect(Buffer.from(decoded.pixels.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
  });

  it('puts the two films of a woman in one patient and study, and re-running gives the same files', async () => {
    const datasets = IMAGES.map((image) => readPart10(readFileSync(fileOf(image)), 'x').dataset);
    const [a, b, c] = datasets as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    expect(a.StudyInstanceUID).toBe(b.StudyInstanceUID);
    expect(a.StudyInstanceUID).not.toBe(c.StudyInstanceUID);
    expect(new Set(datasets.map((d) => d.SOPInstanceUID)).size).toBe(4);
    for (const d of datasets) expect(String(d.SOPInstanceUID)).toMatch(/^2\.25\.\d{1,39}$/);

    const again = path.join(work, 'again');
    const run = await runCli(['convert', 'mias', source, again]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`wrote 4 images of 2 women (1 malignant) under ${again}`);
    for (const image of IMAGES) expect(readFileSync(fileOf(image, again)).equals(readFileSync(fileOf(image)))).toBe(true);
  });

  it('names the missing labels.txt and an unreadable PGM (exit 1)', async () => {
    const empty = mkdtempSync(path.join(work, 'empty-'));
    const missing = await runCli(['convert', 'mias', empty, path.join(work, 'x')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`DATASET_INVALID: ${path.join(empty, 'labels.txt')}: cannot read the MIAS label file (ENOENT)`);

    const broken = mkdtempSync(path.join(work, 'broken-'));
    symlinkSync(sharedFile('mias', 'labels.txt'), path.join(broken, 'labels.txt'));
    writeFileSync(path.join(broken, 'mdb003.pgm'), 'P5\n1024 1024\n255\n\u0000\u0000');
    const truncated = await runCli(['convert', 'mias', broken, path.join(work, 'y')]);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toContain(`${path.join(broken, 'mdb003.pgm')}: truncated PGM`);
  });
});
