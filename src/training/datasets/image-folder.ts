// A folder of PNG or JPEG mammograms with a CSV manifest, in the shared training form
// (dataset.ts): the form exports from PACS viewers, challenges and research archives take
// (the RSNA screening set in ../shared/data/rsna-screening is one). Image-level labels only.
//
// The manifest (manifest.csv in the folder), one row per image:
//   file        path of the image, relative to the folder (PNG 8/16-bit or baseline JPEG)
//   woman       the woman's id (or `patient_id`): splits and CIs keep her images together
//   laterality  L or R
//   view        CC, MLO, ... (as the data set names it)
//   label       1 = malignant, 0 = not (or `malignant`)
// Every other column (age, site_id, machine_id, density, ...) is kept in the image's
// attributes, blanks left out. A row that cannot be used is a skip naming its line and why,
// never dropped silently; a manifest lacking a required column is refused whole.
//
// Pixels are decoded on demand into one grey channel, as stored: no mirroring (the scoring
// path's canonicalGreyImage turns the breast to the left, for these images as for DICOM ones),
// no spacing (pixelSpacingMm null: a PNG's pHYs is rarely the detector's). One thing is
// corrected here because only pixels can tell: an image stored inverted (MONOCHROME1 exported
// raw, bright background) is inverted back (background-inversion.ts), and the image's
// attributes then say `inverted: 'true'` ('false' when it was not) from its first load on.

import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '../../domain/errors.js';
import { decodeCompressedFrame, readJpegFrameHeader } from '../../dicom/pixels/codecs.js';
import { JPEG_BASELINE_8BIT } from '../../dicom/pixels/transfer-syntaxes.js';
import { detectInvertedBackground, invertGreyLevels } from './background-inversion.js';
import { parseCsv } from './csv.js';
import { trainingDataset, type DatasetSkip, type TrainingDataset, type TrainingImage, type TrainingPixels } from './dataset.js';
import { decodePngGrey, isPng } from './png-decode.js';

export const MANIFEST_FILE = 'manifest.csv';

/** Required columns, each with the names it may go by (the first found wins). */
const COLUMNS = {
  file: ['file'],
  woman: ['woman', 'patient_id'],
  laterality: ['laterality'],
  view: ['view'],
  label: ['label', 'malignant'],
} as const;
type Column = keyof typeof COLUMNS;

const LATERALITIES: Record<string, 'L' | 'R'> = { L: 'L', R: 'R', LEFT: 'L', RIGHT: 'R' };
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** One usable manifest row. */
export interface ImageFolderRow {
  /** 1-based line of the manifest. */
  line: number;
  /** As written in the manifest (relative to the folder). */
  file: string;
  /** The file's stem: stable across reads and re-exports of the same manifest. */
  id: string;
  womanId: string;
  laterality: 'L' | 'R';
  view: string;
  label: 0 | 1;
  attributes: Record<string, string>;
}

export interface ImageFolderManifest {
  rows: ImageFolderRow[];
  skipped: DatasetSkip[];
  /** The manifest's columns that went into attributes. */
  attributeColumns: string[];
}

/**
 * Parses a manifest. A missing required column is a DatasetError naming every one missing;
 * bad rows (no file, unknown laterality, label not 0/1, no woman, no view, a file outside the
 * folder or not PNG/JPEG, an id already taken) are skips with their line.
 */
export function parseImageFolderManifest(text: string, source: string): ImageFolderManifest {
  const table = parseCsv(text, source);
  const chosen = {} as Record<Column, string>;
  const missing: string[] = [];
  for (const [column, names] of Object.entries(COLUMNS) as [Column, readonly string[]][]) {
    const found = names.find((n) => table.header.includes(n));
    if (found) chosen[column] = found;
    else missing.push(names.map((n) => `'${n}'`).join(' or '));
  }
  if (missing.length > 0) {
    throw new DatasetError(`${source} line 1`, `missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (the header has ${table.header.map((h) => `'${h}'`).join(', ')})`);
  }
  const required = new Set(Object.values(chosen));
  const attributeColumns = table.header.filter((h) => !required.has(h) && h !== '');
  const rows: ImageFolderRow[] = [];
  const skipped: DatasetSkip[] = [];
  const ids = new Map<string, number>();
  for (const { line, values } of table.rows) {
    const v = (column: Column) => values[chosen[column]] ?? '';
    const item = `${source} line ${line}`;
    const skip = (reason: string) => skipped.push({ item, reason });
    const file = v('file');
    if (file === '') {
      skip(`no ${chosen.file}`);
      continue;
    }
    const normalised = path.normalize(file.replace(/\\/g, '/'));
    if (path.isAbsolute(normalised) || normalised.split(path.sep)[0] === '..') {
      skip(`${chosen.file} '${file}' is not inside the folder`);
      continue;
    }
    const extension = path.extname(normalised).toLowerCase();
    if (!IMAGE_EXTENSIONS.has(extension)) {
      skip(`${chosen.file} '${file}' is not a PNG or JPEG file (.png, .jpg, .jpeg)`);
      continue;
    }
    const womanId = v('woman');
    if (womanId === '') {
      skip(`no ${chosen.woman} for ${file}`);
      continue;
    }
    const laterality = LATERALITIES[v('laterality').toUpperCase()];
    if (!laterality) {
      skip(`${chosen.laterality} must be L or R; got '${v('laterality')}' for ${file}`);
      continue;
    }
    const view = v('view').toUpperCase();
    if (view === '') {
      skip(`no ${chosen.view} for ${file}`);
      continue;
    }
    const labelText = v('label');
    if (labelText !== '0' && labelText !== '1') {
      skip(`${chosen.label} must be 0 or 1; got '${labelText}' for ${file}`);
      continue;
    }
    const id = path.basename(normalised, path.extname(normalised));
    const earlier = ids.get(id);
    if (earlier !== undefined) {
      skip(`image id '${id}' (the file's name without its extension) is already taken by line ${earlier}`);
      continue;
    }
    ids.set(id, line);
    const attributes: Record<string, string> = {};
    for (const column of attributeColumns) {
      const value = values[column] ?? '';
      if (value !== '') attributes[column] = value;
    }
    rows.push({ line, file: normalised, id, womanId, laterality, view, label: labelText === '1' ? 1 : 0, attributes });
  }
  return { rows, skipped, attributeColumns };
}

/** The image's grey pixels as stored (one channel), from a PNG or a JPEG, whatever the extension says. */
export async function readImageFileGrey(file: string): Promise<TrainingPixels> {
  const bytes = new Uint8Array(await readFile(file));
  if (isPng(bytes)) {
    const png = decodePngGrey(bytes, file);
    return { width: png.width, height: png.height, pixels: png.pixels, pixelSpacingMm: null };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return decodeJpegGrey(bytes, file);
  throw new DatasetError(file, 'neither a PNG nor a JPEG file (by its first bytes)');
}

const SOF3_LOSSLESS = 0xc3;

/**
 * A JPEG file through the DICOM decoder's codecs (codecs.ts: libjpeg-turbo for 8-bit lossy,
 * the lossless decoder for SOF3), so the service has one JPEG decoder. Those read the size from
 * the stream; the geometry argument is read only by the 12-bit decoder, which needs the DICOM
 * header's and is refused before it.
 */
async function decodeJpegGrey(bytes: Uint8Array, file: string): Promise<TrainingPixels> {
  let frame;
  try {
    const { marker, precision } = readJpegFrameHeader(bytes);
    if (precision > 8 && marker !== SOF3_LOSSLESS) throw new Error(`${precision}-bit lossy JPEG is not supported in image folders: export 8-bit JPEG or 16-bit PNG`);
    const unknown = { rows: 0, columns: 0, samplesPerPixel: 0, bitsAllocated: 0, bitsStored: precision, signed: false, photometricInterpretation: '' };
    frame = await decodeCompressedFrame(JPEG_BASELINE_8BIT, bytes, unknown);
  } catch (error) {
    throw new DatasetError(file, (error as Error).message, { cause: error });
  }
  const { width, height, components, samples } = frame;
  const count = width * height;
  if (components !== 1 && components !== 3) throw new DatasetError(file, `a JPEG with ${components} components; 1 (grey) or 3 (colour) expected`);
  if (samples.length < count * components) throw new DatasetError(file, `the codec returned ${samples.length} samples for ${width}x${height}x${components}`);
  // Colour is decoded to interleaved RGB. A grey image saved as colour has equal channels (its
  // chroma is flat, which JPEG keeps exactly), taken as they are; true colour becomes luminance.
  const pixels = samples instanceof Uint8Array ? new Uint8Array(count) : new Uint16Array(count);
  for (let p = 0; p < count; p++) {
    if (components === 1) {
      pixels[p] = samples[p]!;
      continue;
    }
    const r = samples[3 * p]!;
    const g = samples[3 * p + 1]!;
    const b = samples[3 * p + 2]!;
    pixels[p] = r === g && g === b ? r : Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  return { width, height, pixels, pixelSpacingMm: null };
}

export interface ImageFolderOptions {
  /** The data set's name in reports (default: the folder's base name). */
  name?: string;
}

/**
 * Reads `<dir>/manifest.csv` and lists the images (checking each file exists; pixels are read
 * when asked for). A missing image file is a skip. Throws DatasetError for a missing or
 * unreadable manifest or one without the required columns.
 */
export async function readImageFolderDataset(dir: string, options: ImageFolderOptions = {}): Promise<TrainingDataset> {
  const manifestFile = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(manifestFile, 'utf8');
  } catch (error) {
    throw new DatasetError(manifestFile, `cannot read the image folder's manifest (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  const manifest = parseImageFolderManifest(text, manifestFile);
  const skipped = [...manifest.skipped];
  const images: TrainingImage[] = [];
  for (const row of manifest.rows) {
    const file = path.join(dir, row.file);
    const found = await stat(file).then(
      (s) => (s.isFile() ? null : 'is not a file'),
      (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? 'does not exist' : `cannot be read (${error.code ?? error.message})`),
    );
    if (found) {
      skipped.push({ item: `${manifestFile} line ${row.line}`, reason: `image file ${file} ${found}` });
      continue;
    }
    images.push(imageFolderImage(row, file));
  }
  return trainingDataset(options.name ?? path.basename(path.resolve(dir)), images, skipped);
}

function imageFolderImage(row: ImageFolderRow, file: string): TrainingImage {
  // Filled in by each load (the same answer every time: the test is deterministic); the
  // record's consumers read it, only this reader writes it.
  const attributes: Record<string, string> = { ...row.attributes };
  return {
    id: row.id,
    womanId: row.womanId,
    laterality: row.laterality,
    view: row.view,
    malignant: row.label === 1,
    label: row.label,
    // Image-level labels: a 0 may be a normal or a benign breast.
    imageClass: row.label === 1 ? 'malignant' : null,
    lesions: [],
    attributes,
    source: file,
    // Decoded on every call, not kept: a folder of thousands of films does not fit in memory.
    loadPixels: async () => {
      const stored = await readImageFileGrey(file);
      const check = detectInvertedBackground(stored.pixels, stored.width, stored.height);
      if (check.inverted) invertGreyLevels(stored.pixels);
      attributes.inverted = String(check.inverted);
      return stored;
    },
  };
}
