// The mini-MIAS data set (Suckling et al. 1994) as the project uses it: which images are in the
// folder, whose they are (consecutive films are the two breasts of one woman), each image's
// label (malignant when any of its abnormalities is) and its lesions in image coordinates.
// The folder holds the development split only; label rows of withheld images are ignored.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '../../domain/errors.js';
import { readPgm, type PgmImage } from './pgm.js';

export const MIAS_LABEL_FILE = 'labels.txt';
/** Every mini-MIAS image is 1024 x 1024 pixels of 200 micron (Info.txt, NOTES 2). */
export const MIAS_IMAGE_SIZE = 1024;
export const MIAS_PIXEL_SPACING_MM = 0.2;

export const MIAS_TISSUES = { F: 'fatty', G: 'fatty-glandular', D: 'dense-glandular' } as const;
export type MiasTissue = keyof typeof MIAS_TISSUES;
export const MIAS_CLASSES = ['CALC', 'CIRC', 'SPIC', 'MISC', 'ARCH', 'ASYM', 'NORM'] as const;
export type MiasClass = (typeof MIAS_CLASSES)[number];
export type MiasSeverity = 'B' | 'M';

/** One row of labels.txt / Info.txt, as written (x, y in the file's bottom-left-origin system). */
export interface MiasLabelRow {
  id: string;
  tissue: MiasTissue;
  abnormality: MiasClass;
  /** null for NORM rows. */
  severity: MiasSeverity | null;
  /** null when the file gives no centre (widely distributed calcifications, Info.txt NOTES 4). */
  x: number | null;
  y: number | null;
  radiusPx: number | null;
  /** 1-based line in the label file, for messages. */
  line: number;
}

export interface MiasLesion {
  abnormality: Exclude<MiasClass, 'NORM'>;
  severity: MiasSeverity;
  /** Centre in image pixels, origin top-left (row down, column right); null when the file gives none. */
  centre: { row: number; column: number } | null;
  radiusPx: number | null;
  radiusMm: number | null;
}

export type MiasImageClass = 'normal' | 'benign' | 'malignant';

export interface MiasImage {
  /** 'mdb001' ... 'mdb322'. */
  id: string;
  /** The pair the image belongs to: 'w001' for mdb001 + mdb002, 'w002' for mdb003 + mdb004, ... */
  womanId: string;
  /** Info.txt NOTES 1: even numbers are left breasts, odd numbers right ones. */
  laterality: 'L' | 'R';
  /** Every mini-MIAS film is a medio-lateral oblique view. */
  view: 'MLO';
  tissue: MiasTissue;
  /** The image-level label the project trains on: any abnormality of severity M. */
  malignant: boolean;
  /** malignant; else benign when it has any abnormality; else normal. */
  imageClass: MiasImageClass;
  lesions: MiasLesion[];
  /** The PGM file. */
  file: string;
}

export interface MiasDataset {
  dir: string;
  /** Sorted by id. */
  images: MiasImage[];
  /** Woman id -> her images present in the folder (left first). */
  women: Map<string, MiasImage[]>;
}

const ID_PATTERN = /^mdb(\d{3})$/;

/** The number of an id ('mdb012' -> 12); throws for anything else. */
function idNumber(id: string, source: string): number {
  const match = ID_PATTERN.exec(id);
  if (!match || Number(match[1]) < 1) throw new DatasetError(source, `not a MIAS image id: '${id}'`);
  return Number(match[1]);
}

/** The pair of an image: mdb(2k-1) and mdb(2k) are woman k. */
export function miasWomanId(id: string): string {
  return `w${String(Math.ceil(idNumber(id, id) / 2)).padStart(3, '0')}`;
}

/** Info.txt NOTES 1: "left (even filename numbers) and right mammograms (odd filename numbers)". */
export function miasLaterality(id: string): 'L' | 'R' {
  return idNumber(id, id) % 2 === 0 ? 'L' : 'R';
}

/**
 * A MIAS centre (origin bottom-left, y up: Info.txt NOTES 3) as image row and column (origin
 * top-left, row down). Pixel y = 0 is the bottom row, size - 1.
 */
export function miasCentreToRowColumn(x: number, y: number, size: number = MIAS_IMAGE_SIZE): { row: number; column: number } {
  return { row: size - 1 - y, column: x };
}

/**
 * Parses the rows of labels.txt (or the table of Info.txt: every line starting with an image id;
 * everything else is ignored). Columns: id, tissue, class, severity, x, y, radius; a NORM row
 * stops after the class, a row without a centre after the severity (or with "*NOTE 3*").
 */
export function parseMiasLabels(text: string, source: string): MiasLabelRow[] {
  const rows: MiasLabelRow[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const fields = raw.trim().split(/\s+/);
    if (!ID_PATTERN.test(fields[0] ?? '')) return;
    const where = `${source} line ${line}`;
    const [id, tissue, abnormality, severity, ...rest] = fields as [string, string | undefined, string | undefined, string | undefined, ...string[]];
    if (tissue === undefined || !Object.hasOwn(MIAS_TISSUES, tissue)) throw new DatasetError(where, `background tissue must be F, G or D; got '${tissue ?? ''}'`);
    if (abnormality === undefined || !(MIAS_CLASSES as readonly string[]).includes(abnormality)) {
      throw new DatasetError(where, `class must be one of ${MIAS_CLASSES.join(', ')}; got '${abnormality ?? ''}'`);
    }
    const base = { id, tissue: tissue as MiasTissue, abnormality: abnormality as MiasClass, line };
    if (abnormality === 'NORM') {
      if (severity !== undefined) throw new DatasetError(where, `a NORM row has no severity; got '${severity}'`);
      rows.push({ ...base, severity: null, x: null, y: null, radiusPx: null });
      return;
    }
    if (severity !== 'B' && severity !== 'M') throw new DatasetError(where, `severity must be B or M; got '${severity ?? ''}'`);
    // No centre: nothing after the severity, or a reference to Info.txt's note ("*NOTE 3*").
    if (rest.length === 0 || rest[0]!.startsWith('*')) {
      rows.push({ ...base, severity, x: null, y: null, radiusPx: null });
      return;
    }
    if (rest.length !== 3 || !rest.every((n) => /^\d+$/.test(n))) throw new DatasetError(where, `expected x, y and radius as integers; got '${rest.join(' ')}'`);
    const [x, y, radiusPx] = rest.map(Number) as [number, number, number];
    if (x >= MIAS_IMAGE_SIZE || y >= MIAS_IMAGE_SIZE) throw new DatasetError(where, `centre (${x}, ${y}) is outside the ${MIAS_IMAGE_SIZE}x${MIAS_IMAGE_SIZE} image`);
    rows.push({ ...base, severity, x, y, radiusPx });
  });
  return rows;
}

/** Joins the rows of one image into its record (the rows must share the id). */
export function miasImageFromRows(rows: MiasLabelRow[], file: string): MiasImage {
  const first = rows[0];
  if (!first) throw new DatasetError(file, 'no label row for this image');
  const lesions: MiasLesion[] = [];
  for (const row of rows) {
    if (row.id !== first.id) throw new DatasetError(file, `label rows of two images joined: ${first.id} and ${row.id}`);
    if (row.abnormality === 'NORM' || row.severity === null) continue;
    lesions.push({
      abnormality: row.abnormality,
      severity: row.severity,
      centre: row.x === null || row.y === null ? null : miasCentreToRowColumn(row.x, row.y),
      radiusPx: row.radiusPx,
      radiusMm: row.radiusPx === null ? null : row.radiusPx * MIAS_PIXEL_SPACING_MM,
    });
  }
  if (lesions.length > 0 && rows.some((r) => r.abnormality === 'NORM')) throw new DatasetError(file, `${first.id} is labelled both NORM and abnormal`);
  const malignant = lesions.some((l) => l.severity === 'M');
  return {
    id: first.id,
    womanId: miasWomanId(first.id),
    laterality: miasLaterality(first.id),
    view: 'MLO',
    tissue: first.tissue,
    malignant,
    imageClass: malignant ? 'malignant' : lesions.length > 0 ? 'benign' : 'normal',
    lesions,
    file,
  };
}

/**
 * Reads the folder: labels.txt and the list of PGM files. Only images present in the folder are
 * returned; a PGM without a label row is an error. Pixels are not read (see readMiasPixels).
 */
export async function readMiasDataset(dir: string): Promise<MiasDataset> {
  const labelFile = path.join(dir, MIAS_LABEL_FILE);
  let text: string;
  try {
    text = await readFile(labelFile, 'utf8');
  } catch (error) {
    throw new DatasetError(labelFile, `cannot read the MIAS label file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  const rowsById = new Map<string, MiasLabelRow[]>();
  for (const row of parseMiasLabels(text, labelFile)) rowsById.set(row.id, [...(rowsById.get(row.id) ?? []), row]);
  const names = (await readdir(dir)).filter((n) => n.toLowerCase().endsWith('.pgm')).sort();
  const images = names.map((name) => {
    const id = name.slice(0, -4);
    const file = path.join(dir, name);
    idNumber(id, file);
    const rows = rowsById.get(id);
    if (!rows) throw new DatasetError(file, `no row for ${id} in ${labelFile}`);
    return miasImageFromRows(rows, file);
  });
  const women = new Map<string, MiasImage[]>();
  for (const image of images) women.set(image.womanId, [...(women.get(image.womanId) ?? []), image].sort((a, b) => a.laterality.localeCompare(b.laterality)));
  return { dir, images, women };
}

/** The image's pixels (1024 x 1024, 8-bit, top row first). */
export async function readMiasPixels(image: MiasImage): Promise<PgmImage & { pixels: Uint8Array }> {
  const pgm = await readPgm(image.file);
  if (pgm.width !== MIAS_IMAGE_SIZE || pgm.height !== MIAS_IMAGE_SIZE || !(pgm.pixels instanceof Uint8Array)) {
    throw new DatasetError(image.file, `expected a ${MIAS_IMAGE_SIZE}x${MIAS_IMAGE_SIZE} 8-bit image; got ${pgm.width}x${pgm.height}, maxval ${pgm.maxValue}`);
  }
  return { ...pgm, pixels: pgm.pixels };
}
