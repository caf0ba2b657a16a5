// TID 1600 Image Library (with TID 1601 entries and the TID 1602/1603 descriptors of
// projection radiography): every source image, with what a reader needs to know of it
// without opening it: modality, laterality, view, study date and time, orientation. The
// Mammography CAD report's library (TID 4020 entries) uses the same descriptors, less
// modality and target region.

import { ReportParseError, ValidationError, type Laterality } from '../../domain/index.js';
import {
  BREAST,
  IMAGE_LATERALITY,
  IMAGE_LIBRARY,
  IMAGE_LIBRARY_GROUP,
  IMAGE_VIEW,
  IMAGE_VIEW_MODIFIER,
  LEFT,
  MAMMOGRAPHY_MODALITY,
  MODALITY,
  PATIENT_ORIENTATION_COLUMN,
  PATIENT_ORIENTATION_ROW,
  RIGHT,
  RIGHT_AND_LEFT,
  STUDY_DATE,
  STUDY_TIME,
  TARGET_REGION,
  sameCode,
  type Code,
} from './codes.js';
import {
  childrenOf,
  codeContentItem,
  codeValueOf,
  containerItem,
  dateContentItem,
  findChildren,
  imageContentItem,
  imageReferenceOf,
  textContentItem,
  timeContentItem,
  valueTypeOf,
  type ContentItem,
  type SopReference,
} from './content-items.js';
import type { SourceImage } from './report-input.js';

/** What the reader learns of a source image from the library. */
export interface LibraryEntry extends SopReference {
  laterality: Laterality;
  view: Code | undefined;
}

const LATERALITY_CODES: Partial<Record<Laterality, Code>> = { L: LEFT, R: RIGHT, B: RIGHT_AND_LEFT };

export function lateralityCode(laterality: Laterality): Code | undefined {
  return LATERALITY_CODES[laterality];
}

export function lateralityFromCode(code: Code | undefined): Laterality {
  for (const [laterality, known] of Object.entries(LATERALITY_CODES)) if (sameCode(code, known)) return laterality as Laterality;
  return 'U';
}

/**
 * One library entry: an IMAGE item (no concept name) with HAS ACQ CONTEXT descriptors.
 * `general` adds the TID 1602 rows (Modality, Target Region) that TID 4020 does not have.
 */
export function imageLibraryEntry(source: SourceImage, general: boolean): ContentItem {
  const descriptors: ContentItem[] = [];
  if (general) {
    if (source.modality === 'MG') descriptors.push(codeContentItem('HAS ACQ CONTEXT', MODALITY, MAMMOGRAPHY_MODALITY));
    descriptors.push(codeContentItem('HAS ACQ CONTEXT', TARGET_REGION, BREAST));
  }
  const laterality = lateralityCode(source.laterality);
  if (laterality) descriptors.push(codeContentItem('HAS ACQ CONTEXT', IMAGE_LATERALITY, laterality));
  if (source.viewCode) {
    const modifiers = source.viewModifiers.map((modifier) => codeContentItem('HAS CONCEPT MOD', IMAGE_VIEW_MODIFIER, modifier));
    descriptors.push(codeContentItem('HAS ACQ CONTEXT', IMAGE_VIEW, source.viewCode, modifiers));
  }
  if (source.studyDate) descriptors.push(dateContentItem('HAS ACQ CONTEXT', STUDY_DATE, source.studyDate));
  if (source.studyTime) descriptors.push(timeContentItem('HAS ACQ CONTEXT', STUDY_TIME, source.studyTime));
  if (source.patientOrientation) {
    descriptors.push(textContentItem('HAS ACQ CONTEXT', PATIENT_ORIENTATION_ROW, source.patientOrientation[0]));
    descriptors.push(textContentItem('HAS ACQ CONTEXT', PATIENT_ORIENTATION_COLUMN, source.patientOrientation[1]));
  }
  return imageContentItem('CONTAINS', undefined, source, descriptors);
}

/** Reads a library entry (TID 1601 or TID 4020) back. */
export function parseImageLibraryEntry(item: ContentItem, where: string): LibraryEntry {
  const reference = imageReferenceOf(item, where);
  const laterality = findChildren(item, IMAGE_LATERALITY, 'CODE')[0];
  const view = findChildren(item, IMAGE_VIEW, 'CODE')[0];
  return {
    ...reference,
    laterality: laterality ? lateralityFromCode(codeValueOf(laterality, where)) : 'U',
    view: view ? codeValueOf(view, where) : undefined,
  };
}

export class Tid1600ImageLibrary {
  static readonly TEMPLATE_ID = '1600';

  constructor(readonly sources: readonly SourceImage[]) {
    if (sources.length === 0) throw new ValidationError('sources', 'an image library lists at least one image');
  }

  /** The CONTAINS CONTAINER "Image Library" with one group holding every source image. */
  item(): ContentItem {
    const entries = this.sources.map((source) => imageLibraryEntry(source, true));
    return containerItem('CONTAINS', IMAGE_LIBRARY, [containerItem('CONTAINS', IMAGE_LIBRARY_GROUP, entries)], Tid1600ImageLibrary.TEMPLATE_ID);
  }

  /** The entries of every group of an Image Library container. */
  static parse(library: ContentItem, where: string): LibraryEntry[] {
    const groups = findChildren(library, IMAGE_LIBRARY_GROUP, 'CONTAINER');
    if (groups.length === 0) throw new ReportParseError(`${where}: the Image Library has no Image Library Group`);
    return groups.flatMap((group) => childrenOf(group).filter((item) => valueTypeOf(item) === 'IMAGE').map((item) => parseImageLibraryEntry(item, where)));
  }
}
