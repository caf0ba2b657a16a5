import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/domain/errors.js';
import {
  miasCentreToRowColumn,
  miasImageFromRows,
  miasLaterality,
  miasWomanId,
  parseMiasLabels,
  readMiasDataset,
  readMiasPixels,
} from '../../src/training/datasets/mias.js';
import { parsePgm, readPgm } from '../../src/training/datasets/pgm.js';

const LABELS = [
  'mdb001 G CIRC B 535 425 197',
  'mdb002 G CIRC B 522 280 69',
  'mdb005 F CIRC B 477 133 30',
  'mdb005 F CIRC B 500 168 26',
  'mdb006 F NORM ',
  'mdb132 F CIRC B 252 788 52',
  'mdb132 F CIRC M 335 766 18',
  'mdb216 D CALC M *NOTE 3* ',
  'mdb059 F CIRC B',
  '',
].join('\n');

describe('parseMiasLabels', () => {
  const rows = parseMiasLabels(LABELS, 'labels.txt');

  it('reads one row per abnormality, NORM rows without severity, rows without a centre', () => {
    expect(rows).toHaveLength(9);
    expect(rows[0]).toEqual({ id: 'mdb001', tissue: 'G', abnormality: 'CIRC', severity: 'B', x: 535, y: 425, radiusPx: 197, line: 1 });
    expect(rows[4]).toEqual({ id: 'mdb006', tissue: 'F', abnormality: 'NORM', severity: null, x: null, y: null, radiusPx: null, line: 5 });
    expect(rows[7]).toMatchObject({ id: 'mdb216', abnormality: 'CALC', severity: 'M', x: null, y: null, radiusPx: null });
    expect(rows[8]).toMatchObject({ id: 'mdb059', severity: 'B', x: null, radiusPx: null });
  });

  it('ignores the prose and separators of Info.txt around the table', () => {
    const text = `INFORMATION:\n1st column: MIAS database reference number.\n=====\n${LABELS}\n=====\n`;
    expect(parseMiasLabels(text, 'Info.txt').map((r) => r.id)).toEqual(rows.map((r) => r.id));
  });

  it.each([
    ['mdb001 X CIRC B 1 2 3', /line 1: background tissue/],
    ['mdb001 F BLOB B 1 2 3', /class must be/],
    ['mdb001 F CIRC Q 1 2 3', /severity must be B or M/],
    ['mdb001 F CIRC B 1 2', /expected x, y and radius/],
    ['mdb001 F CIRC B 1 2048 3', /outside/],
    ['mdb001 F NORM B', /NORM row has no severity/],
  ])('rejects %s, naming the file and line', (row, message) => {
    expect(() => parseMiasLabels(row, 'labels.txt')).toThrow(DatasetError);
    expect(() => parseMiasLabels(row, 'labels.txt')).toThrow(message);
    expect(() => parseMiasLabels(row, 'labels.txt')).toThrow(/^labels\.txt line 1/);
  });
});

describe('MIAS image records', () => {
  const rows = parseMiasLabels(LABELS, 'labels.txt');
  const of = (id: string) => miasImageFromRows(rows.filter((r) => r.id === id), `${id}.pgm`);

  it('pairs consecutive films into one woman, even numbers left, odd right (Info.txt NOTES 1)', () => {
    expect([miasWomanId('mdb001'), miasWomanId('mdb002'), miasWomanId('mdb003'), miasWomanId('mdb322')]).toEqual(['w001', 'w001', 'w002', 'w161']);
    expect([miasLaterality('mdb001'), miasLaterality('mdb002'), miasLaterality('mdb322')]).toEqual(['R', 'L', 'L']);
  });

  it('converts the bottom-left origin to top-left row and column', () => {
    expect(miasCentreToRowColumn(535, 425)).toEqual({ row: 598, column: 535 });
    expect(miasCentreToRowColumn(0, 0)).toEqual({ row: 1023, column: 0 });
    expect(miasCentreToRowColumn(10, 1023)).toEqual({ row: 0, column: 10 });
    expect(miasCentreToRowColumn(3, 1, 4)).toEqual({ row: 2, column: 3 });
  });

  it('joins several abnormalities of one image; malignant when any is M', () => {
    const image = of('mdb132');
    expect(image).toMatchObject({ id: 'mdb132', womanId: 'w066', laterality: 'L', view: 'MLO', malignant: true, imageClass: 'malignant' });
    expect(image.lesions).toEqual([
      { abnormality: 'CIRC', severity: 'B', centre: { row: 235, column: 252 }, radiusPx: 52, radiusMm: 10.4 },
      { abnormality: 'CIRC', severity: 'M', centre: { row: 257, column: 335 }, radiusPx: 18, radiusMm: 3.6 },
    ]);
    expect(of('mdb005')).toMatchObject({ malignant: false, imageClass: 'benign' });
    expect(of('mdb005').lesions).toHaveLength(2);
  });

  it('labels NORM images normal and keeps lesions without a centre', () => {
    expect(of('mdb006')).toMatchObject({ laterality: 'L', womanId: 'w003', malignant: false, imageClass: 'normal', lesions: [] });
    expect(of('mdb216')).toMatchObject({ malignant: true, lesions: [{ abnormality: 'CALC', severity: 'M', centre: null, radiusPx: null, radiusMm: null }] });
  });
});

/** A P5 file as netpbm writes it, with a comment in the header. */
function pgmBytes(width: number, height: number, pixels: number[], header = `P5\n# written by a test\n${width} ${height}\n255\n`): Uint8Array {
  return new Uint8Array([...Buffer.from(header, 'latin1'), ...pixels]);
}

describe('parsePgm', () => {
  it('reads an 8-bit P5 image with a comment line and maxval 255, the raster as is', () => {
    // The raster begins with bytes that look like whitespace and '#': they are pixels, not header.
    const pixels = [10, 32, 35, 255, 0, 9];
    const image = parsePgm(pgmBytes(3, 2, pixels), 't.pgm');
    expect(image).toMatchObject({ width: 3, height: 2, maxValue: 255 });
    expect([...image.pixels]).toEqual(pixels);
    expect(image.pixels).toBeInstanceOf(Uint8Array);
  });

  it('accepts comments between any header fields and reads 16-bit samples big-endian', () => {
    const image = parsePgm(pgmBytes(2, 1, [0x01, 0x02, 0xff, 0xfe], 'P5 # a\n2 # b\n1\n# c\n65535\n'), 't.pgm');
    expect([...image.pixels]).toEqual([0x0102, 0xfffe]);
    expect(image.pixels).toBeInstanceOf(Uint16Array);
  });

  it.each([
    [pgmBytes(2, 2, [1, 2, 3]), /truncated PGM: 3 raster bytes, 4 expected/],
    [new Uint8Array(Buffer.from('P2\n2 2\n255\n1 2 3 4\n')), /not a binary PGM \(P5\)/],
    [new Uint8Array(Buffer.from('P5\n2 x\n255\n')), /bad PGM height 'x'/],
    [new Uint8Array(Buffer.from('P5\n2 2\n')), /header ends before the maxval/],
  ])('rejects bad bytes naming the file (%#)', (bytes, message) => {
    expect(() => parsePgm(bytes, 'bad.pgm')).toThrow(message);
    expect(() => parsePgm(bytes, 'bad.pgm')).toThrow(/^bad\.pgm: /);
  });

  it('names a missing file', async () => {
    await expect(readPgm('/nonexistent/mdb001.pgm')).rejects.toThrow(/\/nonexistent\/mdb001\.pgm: cannot read the image \(ENOENT\)/);
  });
});

describe('readMiasDataset', () => {
  it('reads only the images present, pairs them and names a folder without labels.txt', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-mias-'));
    await expect(readMiasDataset(dir)).rejects.toThrow(`${path.join(dir, 'labels.txt')}: cannot read the MIAS label file (ENOENT)`);
    writeFileSync(path.join(dir, 'labels.txt'), LABELS);
    for (const id of ['mdb001', 'mdb002', 'mdb006']) writeFileSync(path.join(dir, `${id}.pgm`), pgmBytes(2, 2, [1, 2, 3, 4]));
    const dataset = await readMiasDataset(dir);
    expect(dataset.images.map((i) => i.id)).toEqual(['mdb001', 'mdb002', 'mdb006']);
    expect([...dataset.women].map(([w, images]) => [w, images.map((i) => `${i.id}:${i.laterality}`)])).toEqual([
      ['w001', ['mdb002:L', 'mdb001:R']],
      ['w003', ['mdb006:L']],
    ]);
    // MIAS images are 1024 x 1024: a 2 x 2 one is refused by name.
    await expect(readMiasPixels(dataset.images[0]!)).rejects.toThrow(/mdb001\.pgm: expected a 1024x1024 8-bit image; got 2x2/);
    writeFileSync(path.join(dir, 'mdb007.pgm'), pgmBytes(2, 2, [1, 2, 3, 4]));
    await expect(readMiasDataset(dir)).rejects.toThrow(/mdb007\.pgm: no row for mdb007/);
  });
});
