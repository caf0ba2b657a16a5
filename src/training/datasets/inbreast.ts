// INbreast (Moreira et al. 2012, Acad Radiol 19:236-248), the full-field digital set the method
// was transferred to, in the shared training form (dataset.ts).
//
// What the files look like (checked against public readers of the release):
// - INbreast.csv (the release's INbreast.xls saved as text): semicolon-separated, columns
//   Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads. In the public
//   release 'Patient ID' and 'Patient age' hold 'removed'; blank ACR fields are padded with
//   spaces; Bi-Rads is 1, 2, 3, 4a, 4b, 4c, 5 or 6. A comma-separated export is read as well.
// - AllDICOMs/<File Name>_<patient hash>_MG_<L|R>_<CC|ML>_ANON.dcm: the second part of the name
//   is the anonymised patient, the same in every image of a woman.
// - AllXML/<File Name>.xml: an OsiriX ROI export, an XML property list
//   {Images: [{ROIs: [{Name, NumberOfPoints, Point_px: ["(x, y)", ...]}, ...]}]}, x the column
//   and y the row in image pixels. Names seen: Mass, Calcification(s), Cluster, Asymmetry,
//   Distortion, Spiculated Region, ... Images without findings (BI-RADS 1) have no file.
//
// Decisions:
// - Label: BI-RADS 4 (a, b, c), 5 and 6 malignant; 1, 2 and 3 not, the split used for INbreast
//   in the method's paper (Shen et al. 2019) and in most work since. BI-RADS is the radiologist's
//   assessment, not pathology: imageClass is normal for 1, benign for 2-3, malignant for 4-6.
// - Woman: the 'Patient ID' column when every row has one (not blank, not 'removed'), otherwise
//   the patient hash of the DICOM file names (the public release's only patient key).

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '../../domain/errors.js';
import { parseCsv } from './csv.js';
import { knownRegion, regionFromOutline, trainingDataset, type DatasetSkip, type ImageClass, type LesionType, type PixelPoint, type TrainingDataset, type TrainingImage, type TrainingLesion } from './dataset.js';
import { readDicomPixels } from './dicom-pixels.js';
import { parsePlist, type PlistValue } from './plist.js';

export const INBREAST_CSV = 'INbreast.csv';
export const INBREAST_DICOM_DIR = 'AllDICOMs';
export const INBREAST_XML_DIR = 'AllXML';
const COLUMNS = ['Laterality', 'View', 'File Name', 'Bi-Rads'] as const;
const BIRADS = ['1', '2', '3', '4', '4a', '4b', '4c', '5', '6'] as const;
export type InbreastBirads = (typeof BIRADS)[number];
const VIEWS = ['CC', 'MLO', 'ML', 'LM', 'XCCL', 'XCCM', 'FB', 'SIO', 'AT'] as const;
const DICOM_NAME = /^(\d+)_([0-9a-zA-Z]+)_MG_([LR])_([A-Z]+)_ANON\.dcm$/i;

/** BI-RADS 4-6 malignant (Shen et al. 2019 on INbreast). */
export function inbreastMalignant(birads: InbreastBirads): boolean {
  return birads.startsWith('4') || birads === '5' || birads === '6';
}

export function inbreastImageClass(birads: InbreastBirads): ImageClass {
  return inbreastMalignant(birads) ? 'malignant' : birads === '1' ? 'normal' : 'benign';
}

export interface InbreastRow {
  where: string;
  fileName: string;
  /** Null when the release withholds it. */
  patientId: string | null;
  laterality: 'L' | 'R';
  view: string;
  birads: InbreastBirads;
  attributes: Record<string, string>;
}

/** Parses INbreast.csv. Throws DatasetError naming the file and line. */
export function parseInbreastCsv(text: string, source: string): InbreastRow[] {
  const firstLine = text.slice(0, text.search(/\r?\n|$/));
  const table = parseCsv(text, source, { delimiter: firstLine.includes(';') ? ';' : ',', required: COLUMNS });
  const names = new Map<string, string>();
  return table.rows.map(({ line, values }) => {
    const where = `${source} line ${line}`;
    const v = (column: string) => values[column] ?? '';
    const fileName = v('File Name');
    if (!/^\d+$/.test(fileName)) throw new DatasetError(where, `File Name must be the image number; got '${fileName}'`);
    const earlier = names.get(fileName);
    if (earlier) throw new DatasetError(where, `File Name ${fileName} is also on ${earlier}`);
    names.set(fileName, `line ${line}`);
    const laterality = v('Laterality').toUpperCase();
    if (laterality !== 'L' && laterality !== 'R') throw new DatasetError(where, `Laterality must be L or R; got '${v('Laterality')}'`);
    const view = v('View').toUpperCase();
    if (!(VIEWS as readonly string[]).includes(view)) throw new DatasetError(where, `View must be one of ${VIEWS.join(', ')}; got '${v('View')}'`);
    const birads = v('Bi-Rads').toLowerCase();
    if (!(BIRADS as readonly string[]).includes(birads)) throw new DatasetError(where, `Bi-Rads must be one of ${BIRADS.join(', ')}; got '${v('Bi-Rads')}'`);
    const patient = v('Patient ID');
    const attributes: Record<string, string> = { birads };
    for (const [key, column] of [['density', 'ACR'], ['acquired', 'Acquisition date'], ['age', 'Patient age']] as const) {
      const value = v(column);
      if (value !== '' && value.toLowerCase() !== 'removed') attributes[key] = value;
    }
    return { where, fileName, patientId: patient === '' || patient.toLowerCase() === 'removed' ? null : patient, laterality, view, birads: birads as InbreastBirads, attributes };
  });
}

export interface InbreastRoi {
  name: string;
  type: LesionType;
  /** The outline in image pixels (row = y, column = x); one point for a single calcification. */
  outline: PixelPoint[];
}

export function inbreastLesionType(name: string): LesionType {
  if (/mass/i.test(name)) return 'mass';
  if (/calcification|cluster/i.test(name)) return 'calcification';
  return 'other';
}

const POINT = /^\(\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*,\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*\)$/i;

/** The ROIs of one annotation file (all images of the plist; INbreast has one per file). */
export function parseInbreastXml(xml: string, source: string): InbreastRoi[] {
  const root = parsePlist(xml, source);
  const fail = (element: string, problem: string): never => {
    throw new DatasetError(`${source} (${element})`, problem);
  };
  const isDict = (v: PlistValue | undefined): v is Record<string, PlistValue> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
  if (!isDict(root)) return fail('plist', 'the root is not a <dict>');
  const images = root.Images;
  if (!Array.isArray(images)) return fail('Images', 'no Images array');
  const rois: InbreastRoi[] = [];
  images.forEach((image, i) => {
    if (!isDict(image)) return fail(`Images[${i}]`, 'not a <dict>');
    const list = image.ROIs ?? [];
    if (!Array.isArray(list)) return fail(`Images[${i}].ROIs`, 'not an <array>');
    list.forEach((roi, r) => {
      const element = `Images[${i}].ROIs[${r}]`;
      if (!isDict(roi)) return fail(element, 'not a <dict>');
      if (typeof roi.Name !== 'string') return fail(`${element}.Name`, 'missing or not a <string>');
      const points = roi.Point_px;
      if (!Array.isArray(points)) return fail(`${element}.Point_px`, 'missing or not an <array>');
      const outline = points.map((p, k) => {
        const match = typeof p === 'string' ? POINT.exec(p.trim()) : null;
        if (!match) return fail(`${element}.Point_px[${k}]`, `expected "(x, y)"; got ${typeof p === 'string' ? `'${p.slice(0, 40)}'` : 'a non-string'}`);
        return { row: Number(match[2]), column: Number(match[1]) };
      });
      rois.push({ name: roi.Name, type: inbreastLesionType(roi.Name), outline });
    });
  });
  return rois;
}

export interface InbreastOptions {
  /** Default: <dir>/INbreast.csv, <dir>/AllDICOMs, <dir>/AllXML. */
  csvFile?: string;
  dicomDir?: string;
  xmlDir?: string;
  /** A CSV row without its DICOM file: 'error' (default) or 'skip' (recorded in `skipped`). */
  missingFiles?: 'error' | 'skip';
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    throw new DatasetError(dir, `cannot list the folder (${code ?? (error as Error).message})`, { cause: error });
  }
}

/** Reads the release folder: the CSV, the DICOM file of every row and its annotation file. Pixels are read when asked for. */
export async function readInbreastDataset(dir: string, options: InbreastOptions = {}): Promise<TrainingDataset> {
  const csvFile = options.csvFile ?? path.join(dir, INBREAST_CSV);
  const dicomDir = options.dicomDir ?? path.join(dir, INBREAST_DICOM_DIR);
  const xmlDir = options.xmlDir ?? path.join(dir, INBREAST_XML_DIR);
  let text: string;
  try {
    text = await readFile(csvFile, 'latin1');
  } catch (error) {
    throw new DatasetError(csvFile, `cannot read the INbreast table (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  const rows = parseInbreastCsv(text, csvFile);

  const dicoms = new Map<string, { file: string; patient: string; laterality: string }[]>();
  for (const name of await listDir(dicomDir)) {
    const match = DICOM_NAME.exec(name);
    if (!match) continue;
    const entry = { file: path.join(dicomDir, name), patient: match[2]!, laterality: match[3]!.toUpperCase() };
    dicoms.set(match[1]!, [...(dicoms.get(match[1]!) ?? []), entry]);
  }
  const xmlFiles = new Set((await listDir(xmlDir)).filter((n) => n.toLowerCase().endsWith('.xml')));
  const usePatientColumn = rows.length > 0 && rows.every((r) => r.patientId !== null);

  const images: TrainingImage[] = [];
  const skipped: DatasetSkip[] = [];
  for (const row of rows) {
    const found = dicoms.get(row.fileName) ?? [];
    if (found.length !== 1) {
      const problem = found.length === 0 ? `no DICOM file ${row.fileName}_*_MG_*_ANON.dcm in ${dicomDir}` : `${found.length} DICOM files for ${row.fileName} in ${dicomDir}`;
      if ((options.missingFiles ?? 'error') === 'error' || found.length > 1) throw new DatasetError(row.where, problem);
      skipped.push({ item: row.fileName, reason: `${row.where}: ${problem}` });
      continue;
    }
    const dicom = found[0]!;
    if (dicom.laterality !== row.laterality) throw new DatasetError(row.where, `Laterality ${row.laterality}, but the DICOM file name says ${dicom.laterality}: ${path.basename(dicom.file)}`);
    const xmlName = `${row.fileName}.xml`;
    const rois = xmlFiles.has(xmlName) ? parseInbreastXml(await readFile(path.join(xmlDir, xmlName), 'utf8'), path.join(xmlDir, xmlName)) : [];
    images.push(inbreastImage(row, usePatientColumn ? row.patientId! : dicom.patient, dicom.file, rois));
  }
  return trainingDataset('INbreast', images, skipped);
}

function inbreastImage(row: InbreastRow, womanId: string, file: string, rois: InbreastRoi[]): TrainingImage {
  const malignant = inbreastMalignant(row.birads);
  const lesions = rois.map(
    (roi): TrainingLesion => ({
      type: roi.type,
      pathology: null,
      attributes: { name: roi.name },
      region: knownRegion(roi.outline.length > 0 ? regionFromOutline(roi.outline) : null),
    }),
  );
  return {
    id: row.fileName,
    womanId,
    laterality: row.laterality,
    view: row.view,
    malignant,
    label: malignant ? 1 : 0,
    imageClass: inbreastImageClass(row.birads),
    lesions,
    attributes: row.attributes,
    source: file,
    loadPixels: () => readDicomPixels(file),
  };
}
