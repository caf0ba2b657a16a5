// What a report says and what it is built from: the results model shared by the builders
// (TID 1500, TID 4000), the document writer and the reader. `validateReportInput` checks the
// whole input up front, so a report is either complete and consistent or not built at all:
// the PACS never receives a half-valid one.
// Kept whole: the report's model and its validation are one contract, each field checked beside its type.

import { BREAST_SIDES, ValidationError, assertProbability, type BreastSide, type Laterality } from '../../domain/index.js';
import type { MarkedRegion } from '../../domain/heatmap.js';
import { isDicomUid, isUidLike } from '../dicom-json.js';
import { integerAttribute, type NaturalizedDataset } from '../part10.js';
import { selectView } from '../view-selection.js';
import { LEGACY_VIEW_CODES, LEGACY_VIEW_MODIFIER_CODES, MAMMOGRAPHY_VIEWS, translateLegacyCode, type Code } from './codes.js';
import { checkCode, checkLo, checkNote } from './content-items.js';
import { newUid } from './uids.js';

/** The classifier that produced the scores (TID 4019 Algorithm Identification). */
export interface AlgorithmIdentity {
  /** 'mammocad'. */
  name: string;
  /** The model version's label, e.g. 'shen2019-resnet50-v1'. */
  version: string;
  /** The model version's id in mammocad's store. */
  modelVersionId: string;
  /** SHA-256 of the model package, 64 lowercase hexadecimal digits. */
  modelSha256: string;
}

/** The device that made the observations (TID 1004) and the equipment that wrote the report. */
export interface DeviceObserver {
  manufacturer: string;
  modelName: string;
  softwareVersion: string;
  /** Identifies this installation; stays the same across reports. */
  uid: string;
}

/** A probability and its reading at the operating threshold (positive: at or above it). */
export interface ScoredResult {
  probability: number;
  positive: boolean;
}

export interface ScopedResult extends ScoredResult {
  /** The source images the result was computed from, in the order of the sources. */
  sopInstanceUids: string[];
}

/**
 * The model's validation evidence, written into the TID 4019 Algorithm Parameters of every
 * result. Each field is null when unknown; an AUC of null says the model has no evidence.
 */
export interface ModelEvidence {
  /** Validation AUC, in [0, 1]. */
  auc: number | null;
  /** Its 95% confidence interval [lower, upper], each in [0, 1]. */
  aucCi: [number, number] | null;
  /** The data set it was validated on, e.g. 'rsna-screening'. */
  dataset: string | null;
  /** How, e.g. '4-fold cross-validation by woman, 722 women'. */
  method: string | null;
}

/** A statement that the report is for research use only, shown where viewers display it. */
export interface ResearchUse {
  statement: string;
}

/** The content of a report: every score, what it refers to, and who produced it. The reader returns exactly this. */
export interface ReportResults {
  /** Per image, keyed by SOP Instance UID. */
  images: Record<string, ScoredResult>;
  breasts: Partial<Record<BreastSide, ScopedResult>>;
  exam: ScopedResult;
  threshold: number;
  algorithm: AlgorithmIdentity;
  device: DeviceObserver;
  /** The model's validation evidence, when the input gave it. */
  evidence?: ModelEvidence;
  /** The research-use statement, when the report is marked for research use only. */
  researchUse?: ResearchUse;
  /** Notes on scored images (SOP Instance UID -> texts, in the order given), when there are any. */
  imageFlags?: Record<string, string[]>;
  /** Source images that were not scored, with the reason (SOP Instance UID -> reason), when there are any. */
  skippedImages?: Record<string, string>;
  /**
   * The regions the model marks on scored images (SOP Instance UID -> regions, in the order
   * given), when any image has one. Coordinates are as the report holds them: 32-bit floats.
   */
  regions?: Record<string, MarkedRegion[]>;
}

export interface ReportInput {
  /** The source images' attributes (dcmjs naturalised, as readPart10 or WADO metadata give them); every one is listed in the report. */
  sources: NaturalizedDataset[];
  /** Probability of malignancy per image, keyed by SOP Instance UID; images without a score may be among the sources. */
  imageProbabilities: Record<string, number>;
  /** Per breast: the probability and the images it was computed from (each a source of that side). */
  breasts: Partial<Record<BreastSide, { probability: number; sopInstanceUids: string[] }>>;
  /** The exam's probability; its images are every scored image unless given. */
  exam: { probability: number; sopInstanceUids?: string[] };
  /** The site's operating threshold: a probability at or above it is a positive (recall) result. */
  threshold: number;
  algorithm: AlgorithmIdentity;
  device: DeviceObserver;
  /** UIDs reserved for the report (a retry must reuse them); new ones when absent. */
  uids?: { seriesInstanceUid: string; sopInstanceUid: string };
  /** When the report is written (Content Date/Time); now when absent. */
  createdAt?: Date;
  /** The model's validation evidence (TID 4019 Algorithm Parameters "validation-..."). */
  evidence?: ModelEvidence;
  /**
   * Marks the report for research use only: the statement is written where viewers display it
   * and the Series Description starts with "RESEARCH USE ONLY". Without it nothing changes.
   */
  researchUse?: ResearchUse;
  /** Short notes on scored images (SOP Instance UID -> texts), e.g. "outside the model's intended use: digitised film". */
  imageFlags?: Record<string, string[]>;
  /** Source images that were not scored (SOP Instance UID -> reason), e.g. an implausible image. */
  skippedImages?: Record<string, string>;
  /**
   * Regions the model marks on scored images (SOP Instance UID -> regions), in the image's pixel
   * coordinates (src/domain/heatmap.ts). Absent or empty: the report is exactly as without them.
   */
  regions?: Record<string, MarkedRegion[]>;
}

/** What the report needs to know of one source image. */
export interface SourceImage {
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  modality: string;
  laterality: Laterality;
  /** The image's coded view (its View Code Sequence, or the code for its View Position). */
  viewCode: Code | undefined;
  viewModifiers: Code[];
  studyDate: string | undefined;
  studyTime: string | undefined;
  /** Patient Orientation (row, column), when the image has it. */
  patientOrientation: [string, string] | undefined;
  /** The pixel matrix (Rows, Columns), when the image's attributes give it: marked regions must lie inside it. */
  rows: number | undefined;
  columns: number | undefined;
}

/** A checked input, ready for the builders: nothing in it can make writing fail. */
export interface ValidatedReport {
  sources: SourceImage[];
  /** Patient, study and institution attributes copied from the sources, as keyword -> value. */
  copied: NaturalizedDataset;
  /** 'ISO_IR 192' (UTF-8, what dcmjs writes) when the sources declare a character set or any text needs one. */
  specificCharacterSet: string | undefined;
  studyInstanceUid: string;
  results: ReportResults;
  uids: { seriesInstanceUid: string; sopInstanceUid: string };
  createdAt: Date;
}

/** Patient and study attributes (Type 2: written, empty when the sources lack them). */
const PATIENT_STUDY_TYPE2 = ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyDate', 'StudyTime', 'ReferringPhysicianName', 'StudyID', 'AccessionNumber'] as const;
/** Copied when present: the patient's issuer, the study's description, and the institution the images come from. */
const COPIED_WHEN_PRESENT = ['IssuerOfPatientID', 'StudyDescription', 'InstitutionName', 'InstitutionAddress', 'InstitutionalDepartmentName'] as const;

const text = (ds: NaturalizedDataset, key: string): string => {
  const value = ds[key];
  const first = Array.isArray(value) ? value[0] : value;
  if (typeof first === 'string') return first.trim();
  if (typeof first === 'number') return String(first);
  if (typeof first === 'object' && first !== null) return String((first as { Alphabetic?: unknown }).Alphabetic ?? '').trim();
  return '';
};

function codeFrom(item: unknown): Code | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const fields = item as NaturalizedDataset;
  const code = { value: text(fields, 'CodeValue'), scheme: text(fields, 'CodingSchemeDesignator'), meaning: text(fields, 'CodeMeaning') };
  return code.value && code.scheme && code.meaning ? code : undefined;
}

function sequenceItems(ds: NaturalizedDataset, key: string): NaturalizedDataset[] {
  const value = ds[key];
  const items = Array.isArray(value) ? value : value ? [value] : [];
  return items.filter((i): i is NaturalizedDataset => typeof i === 'object' && i !== null);
}

function requireUid(ds: NaturalizedDataset, key: string, field: string): string {
  const value = text(ds, key);
  if (!value) throw new ValidationError(`${field}.${key}`, 'is missing; a report can only reference images that carry it');
  // Sources are referenced exactly as the PACS holds them, legacy leading-zero UIDs included.
  if (!isUidLike(value)) throw new ValidationError(`${field}.${key}`, `is not a DICOM UID: '${value}'`);
  return value;
}

function requiredLo(field: string, value: unknown, pattern?: RegExp, expected?: string): string {
  if (typeof value !== 'string') throw new ValidationError(field, 'is required');
  checkLo(field, value);
  if (pattern && !pattern.test(value)) throw new ValidationError(field, `must be ${expected}; got '${value}'`);
  return value;
}

function sourceImageOf(ds: NaturalizedDataset, field: string): SourceImage {
  const sopClassUid = requireUid(ds, 'SOPClassUID', field);
  const sopInstanceUid = requireUid(ds, 'SOPInstanceUID', field);
  const seriesInstanceUid = requireUid(ds, 'SeriesInstanceUID', field);
  const decision = selectView(ds);
  const viewItem = sequenceItems(ds, 'ViewCodeSequence')[0];
  // View and view modifier codes in deprecated schemes (SRT, SNM3, 99SDM: GE and others still
  // write them) are written with their SNOMED CT equivalents from PS3.16 CID 4014 / CID 4015;
  // codes in other schemes are copied as the image has them (see translateLegacyCode).
  const imageViewCode = codeFrom(viewItem);
  const knownView = decision.view ? MAMMOGRAPHY_VIEWS[decision.view] : undefined;
  // An image without a View Code Sequence gets the code of the view the selection read from its
  // View Position or description. A deprecated view code CID 4014 does not list is left out,
  // not guessed from its meaning: the report states no view rather than a wrong one.
  const viewCode = imageViewCode ? translateLegacyCode(imageViewCode, LEGACY_VIEW_CODES) : knownView;
  const viewModifiers = viewItem
    ? sequenceItems(viewItem, 'ViewModifierCodeSequence')
        .map(codeFrom)
        .filter((c): c is Code => c !== undefined)
        .map((c) => translateLegacyCode(c, LEGACY_VIEW_MODIFIER_CODES))
        .filter((c): c is Code => c !== undefined)
    : [];
  // A code the image carries is repeated in the report; one that would not fit a Code Sequence is left out rather than failing the report.
  const fits = (code: Code) => {
    try {
      checkCode(field, code);
      return true;
    } catch {
      return false;
    }
  };
  const orientation = ds.PatientOrientation;
  const [row, column] = Array.isArray(orientation) ? orientation.map(String) : typeof orientation === 'string' ? orientation.split('\\') : [];
  const studyDate = text(ds, 'StudyDate');
  const studyTime = text(ds, 'StudyTime');
  return {
    sopClassUid,
    sopInstanceUid,
    seriesInstanceUid,
    modality: text(ds, 'Modality'),
    laterality: decision.laterality,
    viewCode: viewCode && fits(viewCode) ? viewCode : undefined,
    viewModifiers: viewModifiers.filter(fits),
    studyDate: /^\d{8}$/.test(studyDate) ? studyDate : undefined,
    studyTime: /^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$/.test(studyTime) ? studyTime : undefined,
    patientOrientation: row && column ? [row, column] : undefined,
    rows: positiveInteger(ds.Rows),
    columns: positiveInteger(ds.Columns),
  };
}

function positiveInteger(value: unknown): number | undefined {
  const n = integerAttribute(value);
  return n !== undefined && n > 0 ? n : undefined;
}

/** Checks that every referenced image is a source and appears once; returns them in source order. */
function checkReferences(field: string, uids: unknown, order: Map<string, number>): string[] {
  if (!Array.isArray(uids) || uids.length === 0) throw new ValidationError(field, 'must list at least one source image');
  for (const [i, uid] of uids.entries()) {
    if (typeof uid !== 'string' || !order.has(uid)) throw new ValidationError(`${field}[${i}]`, `'${String(uid)}' is not the SOP Instance UID of a source image`);
  }
  if (new Set(uids).size !== uids.length) throw new ValidationError(field, 'lists an image more than once');
  return [...(uids as string[])].sort((a, b) => order.get(a)! - order.get(b)!);
}

function probability(field: string, value: unknown): number {
  if (typeof value !== 'number') throw new ValidationError(field, `must be a number; got ${JSON.stringify(value)}`);
  assertProbability(field, value);
  return value;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** How the report writes an unknown evidence field; a data set or method of that name could not be told from an unknown one. */
export const UNKNOWN_EVIDENCE = 'none';

function evidenceText(field: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const text = checkNote(field, value);
  if (text.trim() === UNKNOWN_EVIDENCE) throw new ValidationError(field, `'${UNKNOWN_EVIDENCE}' is how the report writes an unknown value; give null instead`);
  return text;
}

function modelEvidence(value: unknown): ModelEvidence {
  if (!isRecord(value)) throw new ValidationError('evidence', 'must be an object with auc, aucCi, dataset and method (null when unknown)');
  const auc = value.auc === null || value.auc === undefined ? null : probability('evidence.auc', value.auc);
  let aucCi: [number, number] | null = null;
  if (value.aucCi !== null && value.aucCi !== undefined) {
    if (!Array.isArray(value.aucCi) || value.aucCi.length !== 2) throw new ValidationError('evidence.aucCi', 'must be [lower, upper] or null');
    aucCi = [probability('evidence.aucCi[0]', value.aucCi[0]), probability('evidence.aucCi[1]', value.aucCi[1])];
    if (aucCi[0] > aucCi[1]) throw new ValidationError('evidence.aucCi', `the lower bound ${aucCi[0]} is above the upper bound ${aucCi[1]}`);
  }
  const dataset = evidenceText('evidence.dataset', value.dataset);
  // The report writes "validation-data=<dataset>; <method>": the first "; " separates them.
  if (dataset?.includes('; ')) throw new ValidationError('evidence.dataset', "must not contain '; ' (it separates the data set from the method in the report)");
  return { auc, aucCi, dataset, method: evidenceText('evidence.method', value.method) };
}

/**
 * Checks the notes a report carries besides its scores: the research-use statement, flags on
 * scored images and the reasons images were not scored. Flags belong to a scored image (they
 * are written with its result); a skipped image is a source without a score, and no breast or
 * exam result may have been computed from it.
 */
function reportNotes(
  input: ReportInput,
  order: Map<string, number>,
  results: Pick<ReportResults, 'images' | 'breasts' | 'exam'>,
): Pick<ReportResults, 'researchUse' | 'imageFlags' | 'skippedImages'> {
  const notes: Pick<ReportResults, 'researchUse' | 'imageFlags' | 'skippedImages'> = {};
  const bySource = (entries: Array<[string, unknown]>) => entries.sort(([a], [b]) => order.get(a)! - order.get(b)!);
  if (input.researchUse !== undefined) {
    if (!isRecord(input.researchUse)) throw new ValidationError('researchUse', 'must be an object with a statement');
    notes.researchUse = { statement: checkNote('researchUse.statement', input.researchUse.statement) };
  }
  if (input.imageFlags !== undefined) {
    if (!isRecord(input.imageFlags)) throw new ValidationError('imageFlags', 'must map SOP Instance UIDs to lists of texts');
    const flags: Record<string, string[]> = {};
    for (const [uid, texts] of Object.entries(input.imageFlags)) {
      const field = `imageFlags['${uid}']`;
      if (!order.has(uid)) throw new ValidationError(field, 'is not the SOP Instance UID of a source image');
      if (!results.images[uid]) throw new ValidationError(field, 'the image has no score: a flag is written with the image\'s result (give a skipped image\'s reason in skippedImages)');
      if (!Array.isArray(texts)) throw new ValidationError(field, 'must be a list of texts');
      if (texts.length) flags[uid] = texts.map((text, i) => checkNote(`${field}[${i}]`, text));
    }
    if (Object.keys(flags).length) notes.imageFlags = Object.fromEntries(bySource(Object.entries(flags))) as Record<string, string[]>;
  }
  if (input.skippedImages !== undefined) {
    if (!isRecord(input.skippedImages)) throw new ValidationError('skippedImages', 'must map SOP Instance UIDs to reasons');
    const used = new Set([...Object.values(results.breasts).flatMap((b) => b?.sopInstanceUids ?? []), ...results.exam.sopInstanceUids]);
    const skipped: Record<string, string> = {};
    for (const [uid, reason] of Object.entries(input.skippedImages)) {
      const field = `skippedImages['${uid}']`;
      if (!order.has(uid)) throw new ValidationError(field, 'is not the SOP Instance UID of a source image');
      if (results.images[uid]) throw new ValidationError(field, 'the image has a score; a skipped image has none');
      if (used.has(uid)) throw new ValidationError(field, 'a breast or exam result references the image, but it was not scored');
      skipped[uid] = checkNote(field, reason);
    }
    if (Object.keys(skipped).length) notes.skippedImages = Object.fromEntries(bySource(Object.entries(skipped))) as Record<string, string>;
  }
  return notes;
}

/**
 * The most points an outline may have: a presentation state counts them in Number of Graphic
 * Points (0070,0021), an unsigned 16-bit value.
 */
export const MAX_OUTLINE_POINTS = 65535;

/** Where a point lies in words, for messages. */
const at = (p: readonly number[]) => `(${p.join(', ')})`;

/**
 * Checks one (column, row) point: two finite numbers, on or inside the image's pixel matrix
 * ((0, 0) to (Columns, Rows)) when its size is known, never negative. Returns it as the report
 * holds it (Graphic Data is FL: the nearest 32-bit float).
 */
function imagePoint(field: string, value: unknown, size: { rows: number | undefined; columns: number | undefined }): [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new ValidationError(field, `must be [column, row], two finite numbers; got ${JSON.stringify(value)}`);
  }
  const [column, row] = value as [number, number];
  const beyond = (size.columns !== undefined && column > size.columns) || (size.rows !== undefined && row > size.rows);
  if (column < 0 || row < 0 || beyond) {
    const extent = size.columns !== undefined && size.rows !== undefined ? `${size.columns} columns x ${size.rows} rows, (0, 0) to (${size.columns}, ${size.rows})` : 'no negative coordinates';
    throw new ValidationError(field, `${at(value as number[])} lies outside the image (${extent})`);
  }
  // Rounding is monotonic, so a point inside the image stays inside (Rows and Columns are exact floats).
  return [Math.fround(column), Math.fround(row)];
}

/**
 * Checks a marked region (src/domain/heatmap.ts) against its image: a score in [0, 1], a centre
 * and a closed outline (at least 4 points, the last repeating the first) inside the image.
 */
export function checkMarkedRegion(field: string, value: unknown, size: { rows: number | undefined; columns: number | undefined }): MarkedRegion {
  if (!isRecord(value)) throw new ValidationError(field, 'must be a region: { score, center, outline }');
  const score = probability(`${field}.score`, value.score);
  const center = imagePoint(`${field}.center`, value.center, size);
  const outline = value.outline;
  if (!Array.isArray(outline) || outline.length < 4) {
    throw new ValidationError(`${field}.outline`, `must be a closed outline of at least 4 points (the last repeating the first); got ${Array.isArray(outline) ? `${outline.length} point(s)` : JSON.stringify(outline)}`);
  }
  if (outline.length > MAX_OUTLINE_POINTS) throw new ValidationError(`${field}.outline`, `has ${outline.length} points; at most ${MAX_OUTLINE_POINTS} can be written`);
  const points = outline.map((p, i) => imagePoint(`${field}.outline[${i}]`, p, size));
  const [first, last] = [points[0]!, points[points.length - 1]!];
  if (first[0] !== last[0] || first[1] !== last[1]) {
    throw new ValidationError(`${field}.outline`, `must be closed: its last point ${at(outline[outline.length - 1] as number[])} must repeat its first ${at(outline[0] as number[])}`);
  }
  return { score, center, outline: points };
}

/** Checks the marked regions of the input: each on a scored source, checked against that image's size; images without regions are left out. */
function markedRegions(input: ReportInput, order: Map<string, number>, sources: SourceImage[], images: ReportResults['images']): Pick<ReportResults, 'regions'> {
  if (input.regions === undefined) return {};
  if (!isRecord(input.regions)) throw new ValidationError('regions', 'must map SOP Instance UIDs to lists of marked regions');
  const regions: Array<[string, MarkedRegion[]]> = [];
  for (const [uid, list] of Object.entries(input.regions)) {
    const field = `regions['${uid}']`;
    if (!order.has(uid)) throw new ValidationError(field, 'is not the SOP Instance UID of a source image');
    if (!images[uid]) throw new ValidationError(field, "the image has no score: a region is written with the image's result");
    if (!Array.isArray(list)) throw new ValidationError(field, 'must be a list of marked regions');
    const source = sources[order.get(uid)!]!;
    if (list.length) regions.push([uid, list.map((region, i) => checkMarkedRegion(`${field}[${i}]`, region, source))]);
  }
  regions.sort(([a], [b]) => order.get(a)! - order.get(b)!);
  return regions.length ? { regions: Object.fromEntries(regions) } : {};
}

/**
 * Checks a report input completely and returns it in the form the builders use. Throws
 * ValidationError naming the field for: a source without the patient, study or SOP
 * attributes a report needs; sources from several patients or studies; probabilities that
 * are not finite numbers in [0, 1]; references to images that are not sources; no image;
 * a marked region that is not on a scored image, not closed, or not inside its image.
 * Patient identifiers never appear in the messages (they end up in logs).
 */
export function validateReportInput(input: ReportInput): ValidatedReport {
  if (!Array.isArray(input.sources) || input.sources.length === 0) throw new ValidationError('sources', 'must contain at least one image');
  const sources = input.sources.map((ds, i) => sourceImageOf(ds, `sources[${i}]`));
  const first = input.sources[0]!;
  const studyInstanceUid = requireUid(first, 'StudyInstanceUID', 'sources[0]');
  const patientId = text(first, 'PatientID');
  for (const [i, ds] of input.sources.entries()) {
    if (requireUid(ds, 'StudyInstanceUID', `sources[${i}]`) !== studyInstanceUid) {
      throw new ValidationError(`sources[${i}].StudyInstanceUID`, 'differs from that of sources[0]: a report covers exactly one study');
    }
    const id = text(ds, 'PatientID');
    if (!id) throw new ValidationError(`sources[${i}].PatientID`, 'is missing; a report must name its patient');
    if (id !== patientId) throw new ValidationError(`sources[${i}].PatientID`, 'differs from that of sources[0]: a report covers exactly one patient');
  }
  const order = new Map<string, number>();
  for (const [i, source] of sources.entries()) {
    if (order.has(source.sopInstanceUid)) throw new ValidationError(`sources[${i}].SOPInstanceUID`, 'appears twice among the sources');
    order.set(source.sopInstanceUid, i);
  }

  const threshold = probability('threshold', input.threshold);
  const scored = (p: number): ScoredResult => ({ probability: p, positive: p >= threshold });
  const imageEntries = Object.entries(input.imageProbabilities ?? {});
  if (imageEntries.length === 0) throw new ValidationError('imageProbabilities', 'must score at least one image');
  for (const [uid] of imageEntries) {
    if (!order.has(uid)) throw new ValidationError(`imageProbabilities['${uid}']`, 'is not the SOP Instance UID of a source image');
  }
  const images: Record<string, ScoredResult> = {};
  for (const [uid, p] of imageEntries.sort(([a], [b]) => order.get(a)! - order.get(b)!)) images[uid] = scored(probability(`imageProbabilities['${uid}']`, p));

  const breasts: ReportResults['breasts'] = {};
  for (const [side, breast] of Object.entries(input.breasts ?? {})) {
    if (!(BREAST_SIDES as readonly string[]).includes(side)) throw new ValidationError(`breasts.${side}`, `must be one of ${BREAST_SIDES.join(', ')}`);
    if (!breast) continue;
    const uids = checkReferences(`breasts.${side}.sopInstanceUids`, breast.sopInstanceUids, order);
    for (const uid of uids) {
      const laterality = sources[order.get(uid)!]!.laterality;
      if (laterality !== side) throw new ValidationError(`breasts.${side}.sopInstanceUids`, `image ${uid} shows laterality '${laterality}', not '${side}'`);
    }
    breasts[side as BreastSide] = { ...scored(probability(`breasts.${side}.probability`, breast.probability)), sopInstanceUids: uids };
  }

  if (!input.exam) throw new ValidationError('exam', 'is required');
  const examUids = checkReferences('exam.sopInstanceUids', input.exam.sopInstanceUids ?? Object.keys(images), order);
  const exam = { ...scored(probability('exam.probability', input.exam.probability)), sopInstanceUids: examUids };

  const algorithm = input.algorithm ?? ({} as AlgorithmIdentity);
  const device = input.device ?? ({} as DeviceObserver);
  const results: ReportResults = {
    images,
    breasts,
    exam,
    threshold,
    algorithm: {
      name: requiredLo('algorithm.name', algorithm.name),
      version: requiredLo('algorithm.version', algorithm.version),
      modelVersionId: requiredLo('algorithm.modelVersionId', algorithm.modelVersionId),
      modelSha256: requiredLo('algorithm.modelSha256', algorithm.modelSha256, /^[0-9a-f]{64}$/, '64 lowercase hexadecimal digits (SHA-256)'),
    },
    device: {
      manufacturer: requiredLo('device.manufacturer', device.manufacturer),
      modelName: requiredLo('device.modelName', device.modelName),
      softwareVersion: requiredLo('device.softwareVersion', device.softwareVersion),
      uid: requiredLo('device.uid', device.uid, /^(0|[1-9]\d*)(\.(0|[1-9]\d*))+$/, 'a DICOM UID'),
    },
    ...(input.evidence !== undefined ? { evidence: modelEvidence(input.evidence) } : {}),
    ...reportNotes(input, order, { images, breasts, exam }),
    ...markedRegions(input, order, sources, images),
  };

  const uids = input.uids ?? { seriesInstanceUid: newUid(), sopInstanceUid: newUid() };
  for (const key of ['seriesInstanceUid', 'sopInstanceUid'] as const) {
    if (!isDicomUid(uids[key] ?? '')) throw new ValidationError(`uids.${key}`, `must be a DICOM UID; got '${String(uids[key])}'`);
  }
  if (uids.seriesInstanceUid === uids.sopInstanceUid) throw new ValidationError('uids', 'the series and the report need different UIDs');
  const createdAt = input.createdAt ?? new Date();
  if (Number.isNaN(createdAt.getTime())) throw new ValidationError('createdAt', 'is not a valid date');

  const copied: NaturalizedDataset = { StudyInstanceUID: studyInstanceUid };
  for (const key of PATIENT_STUDY_TYPE2) copied[key] = first[key] ?? '';
  for (const key of COPIED_WHEN_PRESENT) if (first[key] !== undefined && first[key] !== null && first[key] !== '') copied[key] = first[key];
  // dcmjs decodes every character set to Unicode and always writes UTF-8, so the report
  // declares UTF-8 whenever its sources declared any character set (their names may hold
  // any character) or some copied text is not ASCII.
  const declared = input.sources.some((ds) => text(ds, 'SpecificCharacterSet') !== '');
  const nonAscii = /[\u0080-\uffff]/.test(JSON.stringify(copied)) || /[\u0080-\uffff]/.test(JSON.stringify(results));
  return {
    sources,
    copied,
    specificCharacterSet: declared || nonAscii ? 'ISO_IR 192' : undefined,
    studyInstanceUid,
    results,
    uids: { seriesInstanceUid: uids.seriesInstanceUid, sopInstanceUid: uids.sopInstanceUid },
    createdAt,
  };
}
