// CBIS-DDSM (Lee et al. 2017, Sci Data 4:170177; TCIA doi:10.7937/K9/TCIA.2016.7O02S9CY), the
// data set the method was developed on, in the shared training form (dataset.ts).
//
// What the files look like (checked against the TCIA collection page, which lists the four
// description files mass_/calc_case_description_train_/test_set.csv, and public readers of them):
// - One CSV row per abnormality. Columns: patient_id, breast density, left or right breast,
//   image view, abnormality id, abnormality type, then mass shape + mass margins (mass files) or
//   calc type + calc distribution (calc files), assessment, pathology, subtlety, image file path,
//   cropped image file path, ROI mask file path. The mass files spell the density column
//   'breast_density', the calc files 'breast density'; both are accepted.
// - pathology is MALIGNANT, BENIGN or BENIGN_WITHOUT_CALLBACK; only MALIGNANT is malignant (the
//   authors' sampler, ddsm_train/sample_patches_combined.py, labels a case by
//   pathology.startswith('MALIGNANT')).
// - The paths in the CSV ('Mass-Training_P_00001_LEFT_CC/<study uid>/<series uid>/000000.dcm')
//   do not match the folders of the TCIA download ('Mass-Training_P_00001_LEFT_CC/<date>-DDSM-
//   <n>/1.000000-full mammogram images-<n>/1-1.dcm'). Only the first component, the case folder,
//   is reliable, so files are found by it. Some path fields carry a newline inside their quotes.
// - The ROI case folder ('..._LEFT_CC_1') holds the ROI mask and the cropped lesion, sometimes as
//   one series with 1-1.dcm and 1-2.dcm in either order, sometimes as two series ('ROI mask
//   images', 'cropped images'). The mask is the binary image (preferring the series named
//   'ROI mask'), the largest such if several.
// - The same film appears in the mass and the calc collections when it has both kinds of
//   lesion: rows are joined per (patient, breast, view), which is the image id.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '../../domain/errors.js';
import { parseCsv } from './csv.js';
import { once, regionFromMask, trainingDataset, type DatasetSkip, type LesionRegion, type TrainingDataset, type TrainingImage, type TrainingLesion } from './dataset.js';
import { decodeDicomPixels, readDicomFile, readDicomPixels } from './dicom-pixels.js';

export const CBIS_PATHOLOGIES = ['MALIGNANT', 'BENIGN', 'BENIGN_WITHOUT_CALLBACK'] as const;
export type CbisPathology = (typeof CBIS_PATHOLOGIES)[number];

const COMMON_COLUMNS = [
  'patient_id',
  'left or right breast',
  'image view',
  'abnormality id',
  'abnormality type',
  'assessment',
  'pathology',
  'subtlety',
  'image file path',
  'cropped image file path',
  'ROI mask file path',
] as const;
const DENSITY_COLUMNS = ['breast_density', 'breast density'] as const;
const DESCRIPTOR_COLUMNS = { mass: ['mass shape', 'mass margins'], calcification: ['calc type', 'calc distribution'] } as const;
const LATERALITIES: Record<string, 'L' | 'R'> = { LEFT: 'L', RIGHT: 'R' };
const VIEWS = ['CC', 'MLO'] as const;

/** One row of a description file, checked. */
export interface CbisAbnormalityRow {
  /** '<csv file> line <n>', for messages. */
  where: string;
  patientId: string;
  laterality: 'L' | 'R';
  view: (typeof VIEWS)[number];
  abnormalityId: string;
  type: 'mass' | 'calcification';
  pathology: CbisPathology;
  /** Density, assessment, subtlety and the shape/margins or type/distribution descriptors, as written (empty ones left out). */
  attributes: Record<string, string>;
  imagePath: string;
  roiMaskPath: string;
}

/** The case folder of a CSV path: its first component ('Mass-Training_P_00001_LEFT_CC'). */
export function cbisCaseFolder(csvPath: string): string {
  return csvPath.replace(/\\/g, '/').trim().split('/').find((part) => part !== '') ?? '';
}

/** 'train' or 'test' from a case folder name ('Calc-Test_P_00038_LEFT_CC'); null when it says neither. */
export function cbisSplitOf(caseFolder: string): 'train' | 'test' | null {
  const match = /^(?:Mass|Calc)-(Training|Test)_/i.exec(caseFolder);
  return match ? (match[1]!.toLowerCase() === 'test' ? 'test' : 'train') : null;
}

/** Parses one description file (mass or calc, train or test). Throws DatasetError naming the file and line. */
export function parseCbisDescription(text: string, source: string): CbisAbnormalityRow[] {
  const table = parseCsv(text, source, { required: COMMON_COLUMNS });
  const density = DENSITY_COLUMNS.find((c) => table.header.includes(c));
  if (!density) throw new DatasetError(`${source} line 1`, `missing column 'breast_density' (or 'breast density')`);
  return table.rows.map(({ line, values }) => {
    const where = `${source} line ${line}`;
    const v = (column: string) => values[column] ?? '';
    const patientId = v('patient_id');
    if (!/^P_\d+$/.test(patientId)) throw new DatasetError(where, `patient_id must look like P_00001; got '${patientId}'`);
    const laterality = LATERALITIES[v('left or right breast').toUpperCase()];
    if (!laterality) throw new DatasetError(where, `left or right breast must be LEFT or RIGHT; got '${v('left or right breast')}'`);
    const view = v('image view').toUpperCase();
    if (!(VIEWS as readonly string[]).includes(view)) throw new DatasetError(where, `image view must be ${VIEWS.join(' or ')}; got '${v('image view')}'`);
    const type = v('abnormality type').toLowerCase();
    if (type !== 'mass' && type !== 'calcification') throw new DatasetError(where, `abnormality type must be mass or calcification; got '${v('abnormality type')}'`);
    const pathology = v('pathology').toUpperCase();
    if (!(CBIS_PATHOLOGIES as readonly string[]).includes(pathology)) throw new DatasetError(where, `pathology must be one of ${CBIS_PATHOLOGIES.join(', ')}; got '${v('pathology')}'`);
    const abnormalityId = v('abnormality id');
    if (!/^\d+$/.test(abnormalityId)) throw new DatasetError(where, `abnormality id must be a number; got '${abnormalityId}'`);
    for (const column of ['image file path', 'ROI mask file path']) {
      if (cbisCaseFolder(v(column)) === '') throw new DatasetError(where, `the ${column} is empty`);
    }
    const attributes: Record<string, string> = {};
    for (const [key, column] of [['density', density], ['assessment', 'assessment'], ['subtlety', 'subtlety'], ...DESCRIPTOR_COLUMNS[type].map((c) => [c, c])] as const) {
      const value = v(column);
      if (value !== '') attributes[key] = value;
    }
    return {
      where,
      patientId,
      laterality,
      view: view as CbisAbnormalityRow['view'],
      abnormalityId,
      type,
      pathology: pathology as CbisPathology,
      attributes,
      imagePath: v('image file path'),
      roiMaskPath: v('ROI mask file path'),
    };
  });
}

export interface CbisDdsmOptions {
  /** The folder holding the case folders ('CBIS-DDSM' in the TCIA download). */
  imageDir: string;
  /** Description CSV files to read (any of the four). */
  csvFiles: readonly string[];
  /**
   * A row whose image or ROI folder is missing: 'error' (the default: a partial download is
   * refused) or 'skip' (the whole image is left out, recorded in `skipped`).
   */
  missingFiles?: 'error' | 'skip';
}

/** DICOM files under one case folder, sorted; [] when the folder does not exist. Cached per read. */
function caseFiles(imageDir: string): (folder: string) => Promise<string[]> {
  const cache = new Map<string, Promise<string[]>>();
  return (folder) => {
    let files = cache.get(folder);
    if (!files) {
      const dir = path.join(imageDir, folder);
      files = readdir(dir, { recursive: true }).then(
        (names) => names.filter((n) => n.toLowerCase().endsWith('.dcm')).map((n) => path.join(dir, n)).sort(),
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
          throw new DatasetError(dir, `cannot list the case folder (${error.code ?? error.message})`, { cause: error });
        },
      );
      cache.set(folder, files);
    }
    return files;
  };
}

/**
 * The mask among the DICOM files of an ROI case folder: binary pixels; a series described as
 * 'ROI mask' first, then the largest image (a cropped lesion is a small part of the film).
 */
async function maskRegion(files: string[], where: string): Promise<LesionRegion> {
  const candidates: { file: string; isMaskSeries: boolean; size: number; region: LesionRegion | null }[] = [];
  for (const file of files) {
    const dicom = await readDicomFile(file);
    const pixels = await decodeDicomPixels(dicom);
    if (!isBinary(pixels.pixels)) continue;
    const description = String(dicom.dataset.SeriesDescription ?? '');
    candidates.push({ file, isMaskSeries: /roi mask/i.test(description), size: pixels.width * pixels.height, region: regionFromMask(pixels.pixels, pixels.width, pixels.height) });
  }
  candidates.sort((a, b) => Number(b.isMaskSeries) - Number(a.isMaskSeries) || b.size - a.size);
  const best = candidates[0];
  if (!best) throw new DatasetError(files[0] ?? where, `${where}: no binary ROI mask among ${files.map((f) => path.basename(f)).join(', ')}`);
  if (!best.region) throw new DatasetError(best.file, `${where}: the ROI mask is empty`);
  return best.region;
}

function isBinary(pixels: ArrayLike<number>): boolean {
  let a: number | undefined;
  let b: number | undefined;
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i]!;
    if (v === a || v === b) continue;
    if (a === undefined) a = v;
    else if (b === undefined) b = v;
    else return false;
  }
  return true;
}

interface ImageParts {
  rows: CbisAbnormalityRow[];
  imageFile?: string;
  roiFiles: Map<CbisAbnormalityRow, string[]>;
  /** Missing files: where (CSV file and line) and what. */
  problems: { where: string; problem: string }[];
}

/**
 * Reads the description files and finds every image's DICOM file and every lesion's ROI folder
 * (listing folders only; pixels and masks are read when asked for). Images are the films,
 * joined over the files: id '<patient>_<LEFT|RIGHT>_<view>', woman = patient_id, malignant when
 * any of its abnormalities is MALIGNANT.
 */
export async function readCbisDdsmDataset(options: CbisDdsmOptions): Promise<TrainingDataset> {
  const rows: CbisAbnormalityRow[] = [];
  for (const csv of options.csvFiles) {
    let text: string;
    try {
      text = await readFile(csv, 'utf8');
    } catch (error) {
      throw new DatasetError(csv, `cannot read the CBIS-DDSM description file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
    }
    rows.push(...parseCbisDescription(text, csv));
  }
  const listCase = caseFiles(options.imageDir);
  const images = new Map<string, ImageParts>();
  const seen = new Map<string, string>();
  for (const row of rows) {
    const id = `${row.patientId}_${row.laterality === 'L' ? 'LEFT' : 'RIGHT'}_${row.view}`;
    const lesionKey = `${id}:${row.type}:${row.abnormalityId}`;
    const earlier = seen.get(lesionKey);
    if (earlier) throw new DatasetError(row.where, `${row.type} ${row.abnormalityId} of ${id} is also described at ${earlier}`);
    seen.set(lesionKey, row.where);
    const parts: ImageParts = images.get(id) ?? { rows: [], roiFiles: new Map(), problems: [] };
    images.set(id, parts);
    parts.rows.push(row);
  }

  const missing = options.missingFiles ?? 'error';
  const out: TrainingImage[] = [];
  const skipped: DatasetSkip[] = [];
  for (const [id, parts] of images) {
    for (const row of parts.rows) {
      const imageFolder = cbisCaseFolder(row.imagePath);
      const files = await listCase(imageFolder);
      const exact = path.join(options.imageDir, row.imagePath.trim());
      const file = files.includes(exact) ? exact : files.length === 1 ? files[0] : undefined;
      if (!file) {
        const dir = path.join(options.imageDir, imageFolder);
        parts.problems.push({ where: row.where, problem: files.length === 0 ? `no DICOM file for the image under ${dir}` : `${files.length} DICOM files under ${dir} and none is the CSV's path` });
      } else parts.imageFile ??= file;
      const roiFolder = cbisCaseFolder(row.roiMaskPath);
      const roiFiles = await listCase(roiFolder);
      if (roiFiles.length === 0) parts.problems.push({ where: row.where, problem: `no DICOM file for the ROI mask under ${path.join(options.imageDir, roiFolder)}` });
      parts.roiFiles.set(row, roiFiles);
    }
    if (parts.problems.length > 0) {
      const [problem] = parts.problems as [ImageParts['problems'][number]];
      if (missing === 'error') throw new DatasetError(problem.where, problem.problem);
      skipped.push({ item: id, reason: parts.problems.map((p) => `${p.where}: ${p.problem}`).join('; ') });
      continue;
    }
    out.push(cbisImage(id, parts));
  }
  return trainingDataset('CBIS-DDSM', out, skipped);
}

function cbisImage(id: string, parts: ImageParts): TrainingImage {
  const first = parts.rows[0]!;
  const imageFile = parts.imageFile!;
  const malignant = parts.rows.some((r) => r.pathology === 'MALIGNANT');
  const splits = [...new Set(parts.rows.map((r) => cbisSplitOf(cbisCaseFolder(r.imagePath))).filter((s) => s !== null))].sort();
  const lesions = parts.rows.map((row): TrainingLesion => {
    const files = parts.roiFiles.get(row)!;
    return {
      type: row.type,
      pathology: row.pathology === 'MALIGNANT' ? 'malignant' : 'benign',
      attributes: { abnormalityId: row.abnormalityId, pathology: row.pathology, ...row.attributes },
      region: once(() => maskRegion(files, row.where)),
    };
  });
  const attributes: Record<string, string> = {};
  if (first.attributes.density !== undefined) attributes.density = first.attributes.density;
  if (splits.length > 0) attributes.split = splits.join('+');
  return {
    id,
    womanId: first.patientId,
    laterality: first.laterality,
    view: first.view,
    malignant,
    label: malignant ? 1 : 0,
    // Every CBIS-DDSM film has at least one abnormality: none is normal.
    imageClass: malignant ? 'malignant' : 'benign',
    lesions,
    attributes,
    source: imageFile,
    loadPixels: () => readDicomPixels(imageFile),
  };
}
