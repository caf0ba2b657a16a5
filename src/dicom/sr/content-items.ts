// SR content items (PS3.3 C.17.3), written and read in dcmjs's naturalised form (keyword ->
// value), so a content tree is plain data that dcmjs serialises as it is. The builders check
// each value against its value representation before anything is written; the readers accept
// what dcmjs makes of a Part 10 file or of DICOM JSON (numbers or strings, one-item arrays)
// and throw ReportParseError naming what is missing.

import { ReportParseError, ValidationError } from '../../domain/errors.js';
import { isDicomUid, isUidLike } from '../dicom-json.js';
import type { Code } from './codes.js';

export type RelationshipType =
  | 'CONTAINS'
  | 'HAS PROPERTIES'
  | 'HAS OBS CONTEXT'
  | 'HAS ACQ CONTEXT'
  | 'INFERRED FROM'
  | 'SELECTED FROM'
  | 'HAS CONCEPT MOD';

export type ValueType = 'CONTAINER' | 'CODE' | 'NUM' | 'TEXT' | 'UIDREF' | 'DATE' | 'TIME' | 'IMAGE' | 'SCOORD';

/** The SCOORD graphic types mammocad writes (PS3.3 C.18.6.1.2): a centre, and a closed outline. */
export type GraphicType = 'POINT' | 'POLYLINE';

/** A point in image pixel coordinates (column, row), (0, 0) at the top-left corner of the top-left pixel. */
export type ImagePoint = readonly [number, number];

/** One content item (or the document root), as dcmjs reads and writes it. */
export type ContentItem = Record<string, unknown>;

/** A reference to a composite object: what an IMAGE item points at. */
export interface SopReference {
  sopClassUid: string;
  sopInstanceUid: string;
}

const MAX_CODE_VALUE = 16; // SH
const MAX_LO = 64; // LO: code meanings
const MAX_DS = 16;

// Building --------------------------------------------------------------------------------------

/** Checks a value for a short-string VR (LO by default): not empty, not too long, no backslash (the value separator), no control characters. */
export function checkLo(field: string, value: string, max = MAX_LO): void {
  if (value.trim() === '') throw new ValidationError(field, 'must not be empty');
  if (value.length > max) throw new ValidationError(field, `must be at most ${max} characters; got ${value.length}`);
  if ([...value].some((c) => c === '\\' || c.charCodeAt(0) < 0x20)) throw new ValidationError(field, 'must not contain backslashes or control characters');
}

/**
 * The longest note mammocad writes in a TEXT item (research-use statement, image flags, reasons
 * an image was not scored, the validation data set). TEXT values are UT, which holds up to
 * 2^32-2 bytes (PS3.5 Table 6.2-1); a note is meant to be read on a workstation, so mammocad
 * keeps it to one line of at most this many characters.
 */
export const MAX_NOTE = 1024;

/**
 * Checks a note for a TEXT item (UT): a non-empty string on one line (no control characters), at
 * most `max` characters. Returns it without surrounding spaces, as a reader gets it back.
 */
export function checkNote(field: string, value: unknown, max = MAX_NOTE): string {
  if (typeof value !== 'string' || value.trim() === '') throw new ValidationError(field, 'must be a non-empty string');
  if (value.length > max) throw new ValidationError(field, `must be at most ${max} characters; got ${value.length}`);
  if ([...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) throw new ValidationError(field, 'must be one line without control characters');
  return value.trim();
}

/** Checks a code before it goes into a Code Sequence item. */
export function checkCode(field: string, code: Code): void {
  checkLo(`${field}.value`, code.value, MAX_CODE_VALUE);
  checkLo(`${field}.scheme`, code.scheme, MAX_CODE_VALUE);
  checkLo(`${field}.meaning`, code.meaning);
}

function codeItem(code: Code): Record<string, string> {
  return { CodeValue: code.value, CodingSchemeDesignator: code.scheme, CodeMeaning: code.meaning };
}

function named(relationship: RelationshipType, valueType: ValueType, concept: Code | undefined, children: ContentItem[]): ContentItem {
  if (concept) checkCode(`concept '${concept.meaning}'`, concept);
  return {
    RelationshipType: relationship,
    ValueType: valueType,
    ...(concept ? { ConceptNameCodeSequence: [codeItem(concept)] } : {}),
    ...(children.length ? { ContentSequence: children } : {}),
  };
}

/** ContentTemplateSequence for a container that opens a DCMR template. */
export function templateOf(templateId: string): ContentItem[] {
  return [{ MappingResource: 'DCMR', TemplateIdentifier: templateId }];
}

export function containerItem(relationship: RelationshipType, concept: Code, children: ContentItem[], templateId?: string): ContentItem {
  return {
    ...named(relationship, 'CONTAINER', concept, children),
    ContinuityOfContent: 'SEPARATE',
    ...(templateId ? { ContentTemplateSequence: templateOf(templateId) } : {}),
  };
}

export function codeContentItem(relationship: RelationshipType, concept: Code, value: Code, children: ContentItem[] = []): ContentItem {
  checkCode(`value of '${concept.meaning}'`, value);
  return { ...named(relationship, 'CODE', concept, children), ConceptCodeSequence: [codeItem(value)] };
}

/**
 * A NUM item. Numeric Value is a decimal string of at most 16 characters; when that cannot
 * hold the number exactly, Floating Point Value carries the exact double as well (PS3.3
 * Table C.18.1-1), so a reader gets back the very number that was written.
 */
export function numContentItem(relationship: RelationshipType, concept: Code, value: number, unit: Code, children: ContentItem[] = []): ContentItem {
  if (!Number.isFinite(value)) throw new ValidationError(`value of '${concept.meaning}'`, `must be a finite number; got ${value}`);
  checkCode(`unit of '${concept.meaning}'`, unit);
  const decimal = decimalString(value);
  return {
    ...named(relationship, 'NUM', concept, children),
    MeasuredValueSequence: [
      {
        MeasurementUnitsCodeSequence: [codeItem(unit)],
        NumericValue: decimal,
        ...(Number(decimal) === value ? {} : { FloatingPointValue: value }),
      },
    ],
  };
}

export function textContentItem(relationship: RelationshipType, concept: Code, value: string): ContentItem {
  if (value.trim() === '') throw new ValidationError(`value of '${concept.meaning}'`, 'must not be empty');
  return { ...named(relationship, 'TEXT', concept, []), TextValue: value };
}

export function uidrefContentItem(relationship: RelationshipType, concept: Code, uid: string): ContentItem {
  if (!isDicomUid(uid)) throw new ValidationError(`value of '${concept.meaning}'`, `must be a DICOM UID; got '${uid}'`);
  return { ...named(relationship, 'UIDREF', concept, []), UID: uid };
}

export function dateContentItem(relationship: RelationshipType, concept: Code, date: string): ContentItem {
  if (!/^\d{8}$/.test(date)) throw new ValidationError(`value of '${concept.meaning}'`, `must be a DICOM date (YYYYMMDD); got '${date}'`);
  return { ...named(relationship, 'DATE', concept, []), Date: date };
}

export function timeContentItem(relationship: RelationshipType, concept: Code, time: string): ContentItem {
  if (!/^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$/.test(time)) throw new ValidationError(`value of '${concept.meaning}'`, `must be a DICOM time (HHMMSS.FFFFFF); got '${time}'`);
  return { ...named(relationship, 'TIME', concept, []), Time: time };
}

/** An IMAGE item; `concept` is absent for Image Library entries, which have no concept name. */
export function imageContentItem(relationship: RelationshipType, concept: Code | undefined, reference: SopReference, children: ContentItem[] = []): ContentItem {
  // A reference names an existing instance as it is stored, legacy leading-zero UIDs included.
  for (const [field, uid] of [['sopClassUid', reference.sopClassUid], ['sopInstanceUid', reference.sopInstanceUid]] as const) {
    if (!isUidLike(uid)) throw new ValidationError(`image reference ${field}`, `must be a DICOM UID; got '${uid}'`);
  }
  return {
    ...named(relationship, 'IMAGE', concept, children),
    ReferencedSOPSequence: [{ ReferencedSOPClassUID: reference.sopClassUid, ReferencedSOPInstanceUID: reference.sopInstanceUid }],
  };
}

/**
 * A SCOORD item (PS3.3 C.18.6): spatial coordinates on an image, which `children` name by a
 * SELECTED FROM relationship. Graphic Data is FL, so a reader gets the points back as 32-bit
 * floats; a POINT has one point, a POLYLINE at least two.
 */
export function scoordContentItem(relationship: RelationshipType, concept: Code, graphicType: GraphicType, points: readonly ImagePoint[], children: ContentItem[]): ContentItem {
  const field = `value of '${concept.meaning}'`;
  if (graphicType === 'POINT' ? points.length !== 1 : points.length < 2) throw new ValidationError(field, `a ${graphicType} needs ${graphicType === 'POINT' ? 'exactly one point' : 'at least two points'}; got ${points.length}`);
  if (points.some((p) => p.length !== 2 || !p.every(Number.isFinite))) throw new ValidationError(field, 'every point must be two finite numbers (column, row)');
  if (children.length === 0) throw new ValidationError(field, 'a SCOORD must name the image it is selected from');
  return { ...named(relationship, 'SCOORD', concept, children), GraphicType: graphicType, GraphicData: points.flatMap((p) => [p[0], p[1]]) };
}

/**
 * A by-reference relationship (PS3.3 C.17.3.2.5): the target is another item of the same
 * tree, named by its position (1 = root, then the 1-based index in each Content Sequence).
 */
export function referenceContentItem(relationship: RelationshipType, position: readonly number[]): ContentItem {
  if (position.length < 2 || position[0] !== 1 || position.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new ValidationError('referenced content item', `must be a position starting at the root (1); got ${position.join('.')}`);
  }
  return { RelationshipType: relationship, ReferencedContentItemIdentifier: [...position] };
}

/** The shortest decimal string (DS, at most 16 characters) that represents `value` as closely as DS allows. */
export function decimalString(value: number): string {
  const plain = String(value);
  if (plain.length <= MAX_DS && !/e/i.test(plain)) return plain;
  for (let digits = 15; digits > 0; digits--) {
    const candidate = trimZeros(value.toPrecision(digits));
    if (candidate.length <= MAX_DS) return candidate;
  }
  throw new ValidationError('numeric value', `${value} cannot be written as a decimal string`);
}

function trimZeros(text: string): string {
  if (/e/i.test(text)) return text.replace(/\.?0+e/i, 'e').replace('e+', 'e');
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

// Reading ---------------------------------------------------------------------------------------

function first(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}

function str(value: unknown): string {
  const v = first(value);
  return typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '';
}

function codeFrom(item: unknown): Code | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const fields = item as Record<string, unknown>;
  const value = str(fields.CodeValue) || str(fields.LongCodeValue) || str(fields.URNCodeValue);
  if (!value) return undefined;
  return { value, scheme: str(fields.CodingSchemeDesignator), meaning: str(fields.CodeMeaning) };
}

export function childrenOf(item: ContentItem): ContentItem[] {
  const sequence = item.ContentSequence;
  if (Array.isArray(sequence)) return sequence.filter((c): c is ContentItem => typeof c === 'object' && c !== null);
  return typeof sequence === 'object' && sequence !== null ? [sequence as ContentItem] : [];
}

export function conceptOf(item: ContentItem): Code | undefined {
  return codeFrom(first(item.ConceptNameCodeSequence));
}

export function valueTypeOf(item: ContentItem): string {
  return str(item.ValueType);
}

export function relationshipOf(item: ContentItem): string {
  return str(item.RelationshipType);
}

/** The template a container says it follows ('' when it says none). */
export function templateIdOf(item: ContentItem): string {
  return str((first(item.ContentTemplateSequence) as Record<string, unknown> | undefined)?.TemplateIdentifier);
}

/** The children with the given concept name (and value type, when given). */
export function findChildren(item: ContentItem, concept: Code, valueType?: ValueType): ContentItem[] {
  return childrenOf(item).filter((child) => {
    const name = conceptOf(child);
    return name?.value === concept.value && name.scheme === concept.scheme && (!valueType || valueTypeOf(child) === valueType);
  });
}

/** The one child with the given concept name; throws ReportParseError when there is none. */
export function requireChild(item: ContentItem, concept: Code, valueType: ValueType, where: string): ContentItem {
  const found = findChildren(item, concept, valueType)[0];
  if (!found) throw new ReportParseError(`${where}: no ${valueType} item '${concept.meaning}' (${concept.scheme} ${concept.value})`);
  return found;
}

export function codeValueOf(item: ContentItem, where: string): Code {
  const code = codeFrom(first(item.ConceptCodeSequence));
  if (!code) throw new ReportParseError(`${where}: CODE item '${conceptOf(item)?.meaning ?? '?'}' has no Concept Code Sequence`);
  return code;
}

export function textValueOf(item: ContentItem): string {
  return str(item.TextValue);
}

export function uidValueOf(item: ContentItem): string {
  return str(item.UID);
}

export function dateValueOf(item: ContentItem): string {
  return str(item.Date);
}

/** The number of a NUM item: Floating Point Value when present (exact), else Numeric Value. */
export function numValueOf(item: ContentItem, where: string): { value: number; unit: Code | undefined } {
  const measured = first(item.MeasuredValueSequence) as Record<string, unknown> | undefined;
  const floating = str(measured?.FloatingPointValue); // a number from a file, a string from some DICOM JSON
  const value = Number(floating || str(measured?.NumericValue) || NaN);
  if (!measured || !Number.isFinite(value)) {
    throw new ReportParseError(`${where}: NUM item '${conceptOf(item)?.meaning ?? '?'}' has no numeric value`);
  }
  return { value, unit: codeFrom(first(measured.MeasurementUnitsCodeSequence)) };
}

export function imageReferenceOf(item: ContentItem, where: string): SopReference {
  const ref = first(item.ReferencedSOPSequence) as Record<string, unknown> | undefined;
  const reference = { sopClassUid: str(ref?.ReferencedSOPClassUID), sopInstanceUid: str(ref?.ReferencedSOPInstanceUID) };
  if (!reference.sopClassUid || !reference.sopInstanceUid) throw new ReportParseError(`${where}: IMAGE item without a Referenced SOP Sequence`);
  return reference;
}

/** The graphic type and points (column, row) of a SCOORD item; throws ReportParseError when it has none or an odd number of values. */
export function scoordValueOf(item: ContentItem, where: string): { graphicType: string; points: Array<[number, number]> } {
  const raw = item.GraphicData;
  const values = (Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw]).map(Number);
  const name = conceptOf(item)?.meaning ?? '?';
  if (values.length === 0 || values.length % 2 !== 0 || !values.every(Number.isFinite)) {
    throw new ReportParseError(`${where}: SCOORD item '${name}' has no (column, row) pairs in its Graphic Data`);
  }
  const points: Array<[number, number]> = [];
  for (let i = 0; i < values.length; i += 2) points.push([values[i]!, values[i + 1]!]);
  return { graphicType: str(item.GraphicType), points };
}

/** The target position of a by-reference item, or undefined for an item that holds its own value. */
export function referencedPositionOf(item: ContentItem): number[] | undefined {
  const raw = item.ReferencedContentItemIdentifier;
  if (raw === undefined || raw === null) return undefined;
  const values = (Array.isArray(raw) ? raw : [raw]).map(Number);
  return values.length > 0 && values.every(Number.isInteger) ? values : undefined;
}
