// TID 1500 Measurement Report, mammocad's default report (Comprehensive SR), laid out as the
// IHE AI Results profile recommends for AI output:
//
//   CONTAINER Imaging Measurement Report                       (TID 1500)
//     HAS CONCEPT MOD  Language = English (United States)       (TID 1204)
//     HAS OBS CONTEXT  Observer Type = Device, Device Observer UID, Name, Manufacturer, Model Name
//                                                               (TID 1002, TID 1004)
//     HAS CONCEPT MOD  Procedure reported = Screening mammography
//     CONTAINS TEXT    Comment = the research-use statement, when the report is marked so
//     CONTAINS TEXT    Comment = "Image not scored: <reason>", one per source that was not scored,
//       INFERRED FROM  IMAGE: that source
//     CONTAINS         Image Library > Image Library Group > one IMAGE per source (TID 1600-1603)
//     CONTAINS         Imaging Measurements
//       CONTAINS       Measurement Group per image, per breast, for the exam (TID 1501, see there);
//                      after each image's group, one per region marked on it (TID 1410, see there)
//
// TID 1500 is extensible (PS3.16 §6.2.5: added items may go wherever they fit), so the two
// kinds of Comment sit right under the root, before the results, where every viewer shows them.

import { ReportParseError, ValidationError, type BreastSide } from '../../domain/index.js';
import { SOP_CLASS } from '../sop-classes.js';
import {
  COMMENT,
  ENGLISH_US,
  IMAGE_LIBRARY,
  IMAGING_MEASUREMENTS,
  IMAGING_MEASUREMENT_REPORT,
  LANGUAGE_OF_CONTENT,
  MEASUREMENT_GROUP,
  PROCEDURE_REPORTED,
  SCREENING_MAMMOGRAPHY,
  sameCode,
} from './codes.js';
import {
  childrenOf,
  codeContentItem,
  conceptOf,
  containerItem,
  findChildren,
  imageContentItem,
  imageReferenceOf,
  requireChild,
  textContentItem,
  textValueOf,
  valueTypeOf,
  type ContentItem,
  type SopReference,
} from './content-items.js';
import type { ReportResults, ScopedResult, ScoredResult, ValidatedReport } from './report-input.js';
import { Tid1002ObserverContext } from './tid1002-observer-context.js';
import { Tid1410PlanarRoiMeasurements, isRegionGroup } from './tid1410-planar-roi-measurements.js';
import { Tid1501MeasurementGroup, type GroupScope } from './tid1501-measurement-group.js';
import { Tid1600ImageLibrary, type LibraryEntry } from './tid1600-image-library.js';
import { Tid4019AlgorithmIdentification } from './tid4019-algorithm-identification.js';
import { uidFromName } from './uids.js';

/** How a Comment on an image that was not scored begins; the reason follows. */
const NOT_SCORED = 'Image not scored: ';

/** What a template's parser reads from a report's content tree. */
export interface ParsedReportContent {
  results: ReportResults;
  library: LibraryEntry[];
}

/** The root content item's attributes, without a relationship (it has no parent). */
export function rootOf(item: ContentItem): ContentItem {
  const { RelationshipType: _relationship, ...root } = item;
  return root;
}

/** Software Versions of the General Equipment module: where the device's version is in both report types. */
export function softwareVersionOf(dataset: ContentItem): string {
  const value = dataset.SoftwareVersions;
  return String((Array.isArray(value) ? value[0] : value) ?? '').trim();
}

export class Tid1500MeasurementReport {
  static readonly TEMPLATE_ID = '1500';
  static readonly SOP_CLASS_UID = SOP_CLASS.comprehensiveSr;

  readonly observer: Tid1002ObserverContext;
  readonly library: Tid1600ImageLibrary;
  /** The measurement groups in the order written: each image's score group followed by its region groups, then the breasts and the exam. */
  readonly groups: Array<Tid1501MeasurementGroup | Tid1410PlanarRoiMeasurements>;

  constructor(readonly report: ValidatedReport) {
    const { results, sources, uids } = report;
    const byUid = new Map(sources.map((source) => [source.sopInstanceUid, source]));
    const referencesOf = (sopInstanceUids: string[]): SopReference[] =>
      sopInstanceUids.map((uid) => {
        const source = byUid.get(uid);
        if (!source) throw new ValidationError('references', `image ${uid} is not a source`);
        return source;
      });
    const algorithm = new Tid4019AlgorithmIdentification(results.algorithm, results.threshold, results.evidence);
    const group = (scope: GroupScope, name: string, result: ScoredResult, images: string[], notes?: string[]) =>
      new Tid1501MeasurementGroup({ scope, trackingUid: uidFromName(`${uids.sopInstanceUid} ${name}`), result, sources: referencesOf(images), algorithm, notes });

    this.observer = new Tid1002ObserverContext(results.device);
    this.library = new Tid1600ImageLibrary(sources);
    const regionGroups = (uid: string) =>
      (results.regions?.[uid] ?? []).map(
        (region, i) =>
          new Tid1410PlanarRoiMeasurements({
            image: byUid.get(uid)!,
            index: i + 1,
            region,
            trackingUid: uidFromName(`${uids.sopInstanceUid} ${Tid1410PlanarRoiMeasurements.identifier(i + 1, uid)}`),
            threshold: results.threshold,
            algorithm,
          }),
      );
    this.groups = [
      ...Object.entries(results.images).flatMap(([uid, result]) => [
        group({ level: 'image', sopInstanceUid: uid, laterality: byUid.get(uid)?.laterality ?? 'U' }, `image ${uid}`, result, [uid], results.imageFlags?.[uid]),
        ...regionGroups(uid),
      ]),
      ...(['L', 'R'] as const).flatMap((side) => {
        const breast = results.breasts[side];
        return breast ? [group({ level: 'breast', side }, `breast ${side}`, breast, breast.sopInstanceUids)] : [];
      }),
      group({ level: 'exam' }, 'exam', results.exam, results.exam.sopInstanceUids),
    ];
  }

  /** The Comments under the root: the research-use statement, then each image that was not scored with a reference to it. */
  notes(): ContentItem[] {
    const { results, sources } = this.report;
    const byUid = new Map(sources.map((source) => [source.sopInstanceUid, source]));
    return [
      ...(results.researchUse ? [textContentItem('CONTAINS', COMMENT, results.researchUse.statement)] : []),
      ...Object.entries(results.skippedImages ?? {}).map(([uid, reason]) => ({
        ...textContentItem('CONTAINS', COMMENT, `${NOT_SCORED}${reason}`),
        ContentSequence: [imageContentItem('INFERRED FROM', undefined, byUid.get(uid)!)],
      })),
    ];
  }

  /** The document's root content item (the SR Document Content module's attributes). */
  content(): ContentItem {
    return rootOf(
      containerItem(
        'CONTAINS',
        IMAGING_MEASUREMENT_REPORT,
        [
          codeContentItem('HAS CONCEPT MOD', LANGUAGE_OF_CONTENT, ENGLISH_US),
          ...this.observer.items(),
          codeContentItem('HAS CONCEPT MOD', PROCEDURE_REPORTED, SCREENING_MAMMOGRAPHY),
          ...this.notes(),
          this.library.item(),
          containerItem('CONTAINS', IMAGING_MEASUREMENTS, this.groups.map((g) => g.item())),
        ],
        Tid1500MeasurementReport.TEMPLATE_ID,
      ),
    );
  }

  /** Reads the results back from a report's data set (its root content item and General Equipment). */
  static parse(dataset: ContentItem, where: string): ParsedReportContent {
    if (!sameCode(conceptOf(dataset), IMAGING_MEASUREMENT_REPORT)) throw new ReportParseError(`${where}: the document title is not '${IMAGING_MEASUREMENT_REPORT.meaning}'`);
    const observer = Tid1002ObserverContext.parse(dataset, where);
    const library = Tid1600ImageLibrary.parse(requireChild(dataset, IMAGE_LIBRARY, 'CONTAINER', where), where);
    const measurements = requireChild(dataset, IMAGING_MEASUREMENTS, 'CONTAINER', where);
    const allGroups = findChildren(measurements, MEASUREMENT_GROUP, 'CONTAINER');
    const groups = allGroups.filter((g) => !isRegionGroup(g)).map((g) => Tid1501MeasurementGroup.parse(g, where).group);
    const exam = groups.find((g) => g.scope.level === 'exam');
    if (!exam) throw new ReportParseError(`${where}: no measurement group for the exam`);
    const scoped = (g: (typeof groups)[number]): ScopedResult => ({ ...g.result, sopInstanceUids: g.sources.map((s) => s.sopInstanceUid) });
    const results: ReportResults = {
      images: {},
      breasts: {},
      exam: scoped(exam),
      threshold: exam.algorithm.threshold,
      algorithm: exam.algorithm.algorithm,
      device: { ...observer.device, softwareVersion: softwareVersionOf(dataset) },
    };
    if (exam.algorithm.evidence) results.evidence = exam.algorithm.evidence;
    const imageFlags: Record<string, string[]> = {};
    for (const g of groups) {
      if (g.scope.level === 'image') {
        results.images[g.scope.sopInstanceUid] = g.result;
        if (g.notes?.length) imageFlags[g.scope.sopInstanceUid] = g.notes;
      }
      if (g.scope.level === 'breast') results.breasts[g.scope.side as BreastSide] = scoped(g);
    }
    const comments = findChildren(dataset, COMMENT, 'TEXT');
    const statement = comments.find((c) => !childrenOf(c).some((child) => valueTypeOf(child) === 'IMAGE'));
    if (statement) results.researchUse = { statement: textValueOf(statement) };
    if (Object.keys(imageFlags).length) results.imageFlags = imageFlags;
    const skipped: Record<string, string> = {};
    for (const comment of comments) {
      const image = childrenOf(comment).find((child) => valueTypeOf(child) === 'IMAGE');
      if (!image) continue;
      const text = textValueOf(comment);
      skipped[imageReferenceOf(image, where).sopInstanceUid] = text.startsWith(NOT_SCORED) ? text.slice(NOT_SCORED.length) : text;
    }
    if (Object.keys(skipped).length) results.skippedImages = skipped;
    const regions = readRegions(allGroups.filter(isRegionGroup), library, where);
    if (regions) results.regions = regions;
    return { results, library };
  }
}

/** The region groups' regions per image, images in library order, each image's regions in the order of their numbers. */
function readRegions(groups: ContentItem[], library: LibraryEntry[], where: string): ReportResults['regions'] {
  if (groups.length === 0) return undefined;
  const parsed = groups.map((g) => Tid1410PlanarRoiMeasurements.parse(g, where));
  const order = new Map(library.map((entry, i) => [entry.sopInstanceUid, i]));
  const unknown = parsed.find((p) => !order.has(p.sopInstanceUid));
  if (unknown) throw new ReportParseError(`${where}: region ${unknown.index} is on image ${unknown.sopInstanceUid}, which is not in the Image Library`);
  parsed.sort((a, b) => order.get(a.sopInstanceUid)! - order.get(b.sopInstanceUid)! || a.index - b.index);
  const regions: NonNullable<ReportResults['regions']> = {};
  for (const { sopInstanceUid, region } of parsed) (regions[sopInstanceUid] ??= []).push(region);
  return regions;
}
