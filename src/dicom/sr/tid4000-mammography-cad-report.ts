// TID 4000 Mammography CAD Document Root, for mammography workstations that read CAD SR
// (Mammography CAD SR IOD, SOP Class 1.2.840.10008.5.1.4.1.1.88.50). The family was made
// for detectors that mark lesions; mammocad's classifier scores whole images, so its results
// are written as findings on the "Selected region" that is the whole image, without spatial
// coordinates, and each finding references its image in the library by reference:
//
//   CONTAINER Mammography CAD Report                                            (TID 4000)
//     HAS CONCEPT MOD  Language = English (United States)                        (TID 1204)
//     CONTAINS         Image Library: one IMAGE per source, with laterality, view, study date/time
//                                                                                (TID 4020)
//     CONTAINS CODE    CAD Processing and Findings Summary = All algorithms succeeded;
//                      with findings (exam positive) | without findings (exam negative)
//                                                                                (TID 4001)
//       HAS PROPERTIES TEXT Impression Description = the research-use statement, with the
//                      algorithm (TID 4019), when the report is marked so        (TID 4002)
//       INFERRED FROM  Individual Impression/Recommendation (Rendering Intent)   (TID 4003)
//         CONTAINS     TEXT Impression Description = "Image <UID> not scored: <reason>", one
//                      line per source not scored, with the algorithm, when any  (TID 4002)
//         CONTAINS     Composite Feature: the exam                               (TID 4004)
//           INFERRED FROM  Composite Feature: each breast                        (TID 4004)
//             INFERRED FROM  Single Image Finding: each image of that breast     (TID 4006)
//             INFERRED FROM  Single Image Finding: each region marked on such an image,
//                            after that image's finding                          (TID 4006)
//           INFERRED FROM  Single Image Finding: scored images of no breast, and their
//                          regions                                               (TID 4006)
//     CONTAINS CODE    Summary of Detections = Succeeded
//       INFERRED FROM  Successful Detections > Detection Performed = Selected region,
//                      with the algorithm and a reference to each scored image   (TID 4015, 4017)
//     CONTAINS CODE    Summary of Analyses = Not Attempted
//
// Every finding and feature carries Rendering Intent (Presentation Required when positive at
// the operating threshold, Presentation Optional when negative), the algorithm (TID 4019)
// and its Probability of cancer in percent, as the CAD templates express it. A Single Image
// Finding whose image the input flagged carries the flags as its Selected Region Description
// (one line each), the text row of a "Selected region" finding.
//
// A region the model marks on an image (issue 16) is a Single Image Finding of its own on the
// "Selected region" that it outlines: Rendering Intent (Presentation Required at or above the
// threshold), the algorithm, its score as Probability of cancer in percent, and the TID 4021
// Mammography CAD Geometry: Center (SCOORD POINT) and Outline (SCOORD POLYLINE, closed), each
// SELECTED FROM the image's Image Library entry by reference (R-SELECTED FROM). The reader tells
// a region's finding from the image's by its Center.
//
// TID 4000 is not extensible, so nothing can be added under its root: the research-use
// statement and the images not scored go into the Impression Description rows of the TID 4002
// bodies that TID 4001 (overall) and TID 4003 (individual) allow. TID 4002 has one Impression
// Description and requires the algorithm (TID 4019) with it.

import { ReportParseError, ValidationError, type BreastSide } from '../../domain/index.js';
import { SOP_CLASS } from '../sop-classes.js';
import type { MarkedRegion } from '../../domain/heatmap.js';
import {
  ALL_SUCCEEDED_WITHOUT_FINDINGS,
  ALL_SUCCEEDED_WITH_FINDINGS,
  CAD_PROCESSING_AND_FINDINGS_SUMMARY,
  CENTER,
  COMPOSITE_FEATURE,
  DETECTION_PERFORMED,
  ENGLISH_US,
  IMAGE_LIBRARY,
  IMPRESSION_DESCRIPTION,
  INDIVIDUAL_IMPRESSION_RECOMMENDATION,
  LANGUAGE_OF_CONTENT,
  MAMMOGRAPHY_CAD_REPORT,
  NOT_ATTEMPTED,
  OUTLINE,
  PERCENT,
  PRESENTATION_OPTIONAL,
  PRESENTATION_REQUIRED,
  PROBABILITY_OF_CANCER,
  RENDERING_INTENT,
  SELECTED_REGION,
  SELECTED_REGION_DESCRIPTION,
  SINGLE_IMAGE_FINDING,
  SUCCEEDED,
  SUCCESSFUL_DETECTIONS,
  SUMMARY_OF_ANALYSES,
  SUMMARY_OF_DETECTIONS,
  sameCode,
  type Code,
} from './codes.js';
import {
  childrenOf,
  codeContentItem,
  codeValueOf,
  conceptOf,
  containerItem,
  findChildren,
  numContentItem,
  numValueOf,
  referenceContentItem,
  referencedPositionOf,
  requireChild,
  scoordContentItem,
  scoordValueOf,
  textContentItem,
  textValueOf,
  valueTypeOf,
  type ContentItem,
  type RelationshipType,
} from './content-items.js';
import type { ReportResults, ScoredResult, ScopedResult, ValidatedReport } from './report-input.js';
import { rootOf, softwareVersionOf, type ParsedReportContent } from './tid1500-report.js';
import { imageLibraryEntry, parseImageLibraryEntry, type LibraryEntry } from './tid1600-image-library.js';
import { Tid4019AlgorithmIdentification } from './tid4019-algorithm-identification.js';

/** Where the Image Library sits among the root's children (after the language), and so the first part of each entry's position. */
const LIBRARY_POSITION = [1, 2] as const;

const intentOf = (result: ScoredResult): Code => (result.positive ? PRESENTATION_REQUIRED : PRESENTATION_OPTIONAL);

/** Lines of a multi-line text (UT allows CR LF between lines). */
const LINE_BREAK = '\r\n';
const lines = (text: string) => text.split(/\r?\n/).filter((line) => line.trim() !== '');
/** One line of the Individual Impression's description per image not scored. */
const NOT_SCORED = /^Image (\S+) not scored: (.*)$/;

export class Tid4000MammographyCadReport {
  static readonly TEMPLATE_ID = '4000';
  static readonly SOP_CLASS_UID = SOP_CLASS.mammographyCadSr;

  readonly algorithm: Tid4019AlgorithmIdentification;

  constructor(readonly report: ValidatedReport) {
    const { images, breasts, exam } = report.results;
    // The tree has one Single Image Finding per scored image and builds breast and exam
    // results from them, so those results must cover scored images only, and the exam all of them.
    for (const [side, breast] of Object.entries(breasts)) {
      const unscored = breast?.sopInstanceUids.find((uid) => !images[uid]);
      if (unscored) throw new ValidationError(`breasts.${side}.sopInstanceUids`, `image ${unscored} has no image-level score, which a Mammography CAD report needs`);
    }
    const scored = Object.keys(images);
    if (exam.sopInstanceUids.length !== scored.length || scored.some((uid) => !exam.sopInstanceUids.includes(uid))) {
      throw new ValidationError('exam.sopInstanceUids', 'in a Mammography CAD report the exam result covers every scored image');
    }
    this.algorithm = new Tid4019AlgorithmIdentification(report.results.algorithm, report.results.threshold, report.results.evidence);
  }

  /** The document's root content item (the SR Document Content module's attributes). */
  content(): ContentItem {
    const { sources, results } = this.report;
    const positions = new Map(sources.map((source, i) => [source.sopInstanceUid, [...LIBRARY_POSITION, i + 1]]));
    const referenceTo = (uid: string) => referenceContentItem('INFERRED FROM', positions.get(uid)!);
    const probability = (result: ScoredResult) => numContentItem('HAS PROPERTIES', PROBABILITY_OF_CANCER, result.probability * 100, PERCENT);
    const finding = (relationship: RelationshipType, concept: Code, result: ScoredResult, inferredFrom: ContentItem[], description: ContentItem[] = []) =>
      codeContentItem(relationship, concept, SELECTED_REGION, [
        codeContentItem('HAS CONCEPT MOD', RENDERING_INTENT, intentOf(result)),
        ...this.algorithm.items('HAS CONCEPT MOD'),
        probability(result),
        ...description,
        ...inferredFrom,
      ]);
    const flags = (uid: string) => {
      const texts = results.imageFlags?.[uid];
      return texts?.length ? [textContentItem('HAS PROPERTIES', SELECTED_REGION_DESCRIPTION, texts.join(LINE_BREAK))] : [];
    };
    const selectedFrom = (uid: string) => [referenceContentItem('SELECTED FROM', positions.get(uid)!)];
    const regionFinding = (uid: string, region: MarkedRegion) =>
      codeContentItem('INFERRED FROM', SINGLE_IMAGE_FINDING, SELECTED_REGION, [
        codeContentItem('HAS CONCEPT MOD', RENDERING_INTENT, region.score >= results.threshold ? PRESENTATION_REQUIRED : PRESENTATION_OPTIONAL),
        ...this.algorithm.items('HAS CONCEPT MOD'),
        numContentItem('HAS PROPERTIES', PROBABILITY_OF_CANCER, region.score * 100, PERCENT),
        scoordContentItem('HAS PROPERTIES', CENTER, 'POINT', [region.center], selectedFrom(uid)),
        scoordContentItem('HAS PROPERTIES', OUTLINE, 'POLYLINE', region.outline, selectedFrom(uid)),
      ]);
    // Each image's finding, then a finding for each region marked on it.
    const singleImageFindings = (uid: string) => [
      finding('INFERRED FROM', SINGLE_IMAGE_FINDING, results.images[uid]!, [referenceTo(uid)], flags(uid)),
      ...(results.regions?.[uid] ?? []).map((region) => regionFinding(uid, region)),
    ];

    const inBreast = new Set<string>();
    const breastFeatures = (['L', 'R'] as const).flatMap((side) => {
      const breast = results.breasts[side];
      if (!breast) return [];
      breast.sopInstanceUids.forEach((uid) => inBreast.add(uid));
      return [finding('INFERRED FROM', COMPOSITE_FEATURE, breast, breast.sopInstanceUids.flatMap(singleImageFindings))];
    });
    const looseFindings = Object.keys(results.images).filter((uid) => !inBreast.has(uid)).flatMap(singleImageFindings);
    const examFeature = finding('CONTAINS', COMPOSITE_FEATURE, results.exam, [...breastFeatures, ...looseFindings]);

    // TID 4002 bodies: an Impression Description with the algorithm that made the impression.
    const body = (relationship: RelationshipType, description: string) => [
      textContentItem(relationship, IMPRESSION_DESCRIPTION, description),
      ...this.algorithm.items(relationship),
    ];
    const skipped = Object.entries(results.skippedImages ?? {}).map(([uid, reason]) => `Image ${uid} not scored: ${reason}`);
    const summary = codeContentItem('CONTAINS', CAD_PROCESSING_AND_FINDINGS_SUMMARY, results.exam.positive ? ALL_SUCCEEDED_WITH_FINDINGS : ALL_SUCCEEDED_WITHOUT_FINDINGS, [
      ...(results.researchUse ? body('HAS PROPERTIES', results.researchUse.statement) : []),
      containerItem('INFERRED FROM', INDIVIDUAL_IMPRESSION_RECOMMENDATION, [
        codeContentItem('HAS CONCEPT MOD', RENDERING_INTENT, intentOf(results.exam)),
        ...(skipped.length ? body('CONTAINS', skipped.join(LINE_BREAK)) : []),
        examFeature,
      ]),
    ]);
    const detections = codeContentItem('CONTAINS', SUMMARY_OF_DETECTIONS, SUCCEEDED, [
      containerItem('INFERRED FROM', SUCCESSFUL_DETECTIONS, [
        codeContentItem('CONTAINS', DETECTION_PERFORMED, SELECTED_REGION, [...this.algorithm.items('HAS CONCEPT MOD'), ...Object.keys(results.images).map(referenceTo)]),
      ]),
    ]);
    return rootOf(
      containerItem(
        'CONTAINS',
        MAMMOGRAPHY_CAD_REPORT,
        [
          codeContentItem('HAS CONCEPT MOD', LANGUAGE_OF_CONTENT, ENGLISH_US),
          containerItem('CONTAINS', IMAGE_LIBRARY, sources.map((source) => imageLibraryEntry(source, false))),
          summary,
          detections,
          codeContentItem('CONTAINS', SUMMARY_OF_ANALYSES, NOT_ATTEMPTED),
        ],
        Tid4000MammographyCadReport.TEMPLATE_ID,
      ),
    );
  }

  /** Reads the results back; the device comes from the General Equipment module, as TID 4000 has no observer context. */
  static parse(dataset: ContentItem, where: string): ParsedReportContent {
    if (!sameCode(conceptOf(dataset), MAMMOGRAPHY_CAD_REPORT)) throw new ReportParseError(`${where}: the document title is not '${MAMMOGRAPHY_CAD_REPORT.meaning}'`);
    const rootChildren = childrenOf(dataset);
    const libraryIndex = rootChildren.findIndex((item) => sameCode(conceptOf(item), IMAGE_LIBRARY) && valueTypeOf(item) === 'CONTAINER');
    if (libraryIndex < 0) throw new ReportParseError(`${where}: no Image Library`);
    const library: LibraryEntry[] = [];
    const byPosition = new Map<string, LibraryEntry>();
    childrenOf(rootChildren[libraryIndex]!).forEach((item, i) => {
      if (valueTypeOf(item) !== 'IMAGE') return;
      const entry = parseImageLibraryEntry(item, where);
      library.push(entry);
      byPosition.set([1, libraryIndex + 1, i + 1].join('.'), entry);
    });
    const order = new Map(library.map((entry, i) => [entry.sopInstanceUid, i]));
    const inLibraryOrder = (uids: string[]) => [...uids].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));

    const readFinding = (item: ContentItem, here: string) => {
      const { value } = numValueOf(requireChild(item, PROBABILITY_OF_CANCER, 'NUM', here), here);
      const intent = codeValueOf(requireChild(item, RENDERING_INTENT, 'CODE', here), here);
      return { probability: value / 100, positive: sameCode(intent, PRESENTATION_REQUIRED), algorithm: Tid4019AlgorithmIdentification.parse(item, here) };
    };
    const images: ReportResults['images'] = {};
    const flags = new Map<string, string[]>();
    const regions = new Map<string, MarkedRegion[]>();
    // A region's geometry: a SCOORD of the finding, SELECTED FROM (by reference) an image of the library.
    const geometry = (item: ContentItem, concept: Code, graphicType: string, here: string) => {
      const scoord = requireChild(item, concept, 'SCOORD', here);
      const { graphicType: type, points } = scoordValueOf(scoord, here);
      if (type !== graphicType) throw new ReportParseError(`${here}: '${concept.meaning}' must be a ${graphicType}, not '${type}'`);
      const position = childrenOf(scoord).map(referencedPositionOf).find((p) => p !== undefined);
      const entry = position && byPosition.get(position.join('.'));
      if (!entry) throw new ReportParseError(`${here}: '${concept.meaning}' is not selected from an image of the Image Library`);
      return { uid: entry.sopInstanceUid, points };
    };
    const readRegion = (item: ContentItem) => {
      const here = `${where}, Single Image Finding of a region`;
      const center = geometry(item, CENTER, 'POINT', here);
      const outline = geometry(item, OUTLINE, 'POLYLINE', here);
      if (outline.uid !== center.uid) throw new ReportParseError(`${here}: its Center and Outline are on different images`);
      const { value } = numValueOf(requireChild(item, PROBABILITY_OF_CANCER, 'NUM', here), here);
      const list = regions.get(center.uid) ?? [];
      list.push({ score: value / 100, center: center.points[0]!, outline: outline.points });
      regions.set(center.uid, list);
    };
    /** Reads a Single Image Finding: the image's result (returns its image), or a region marked on it (returns undefined). */
    const readSingle = (item: ContentItem): string | undefined => {
      if (findChildren(item, CENTER, 'SCOORD').length > 0) {
        readRegion(item);
        return undefined;
      }
      const here = `${where}, Single Image Finding`;
      const position = childrenOf(item).map(referencedPositionOf).find((p) => p !== undefined);
      const entry = position && byPosition.get(position.join('.'));
      if (!entry) throw new ReportParseError(`${here}: does not reference an image of the Image Library`);
      const { probability, positive } = readFinding(item, here);
      images[entry.sopInstanceUid] = { probability, positive };
      const description = findChildren(item, SELECTED_REGION_DESCRIPTION, 'TEXT')[0];
      if (description) flags.set(entry.sopInstanceUid, lines(textValueOf(description)));
      return entry.sopInstanceUid;
    };

    const summary = requireChild(dataset, CAD_PROCESSING_AND_FINDINGS_SUMMARY, 'CODE', where);
    const impression = requireChild(summary, INDIVIDUAL_IMPRESSION_RECOMMENDATION, 'CONTAINER', where);
    const examItem = requireChild(impression, COMPOSITE_FEATURE, 'CODE', `${where}, exam`);
    const exam = readFinding(examItem, `${where}, exam`);
    const breasts: ReportResults['breasts'] = {};
    for (const feature of findChildren(examItem, COMPOSITE_FEATURE, 'CODE')) {
      const uids = inLibraryOrder(
        findChildren(feature, SINGLE_IMAGE_FINDING, 'CODE')
          .map(readSingle)
          .filter((uid): uid is string => uid !== undefined),
      );
      const sides = new Set(uids.map((uid) => library[order.get(uid)!]!.laterality));
      const side = [...sides][0];
      if (sides.size !== 1 || (side !== 'L' && side !== 'R')) throw new ReportParseError(`${where}: a breast's Composite Feature must reference images of one side (L or R)`);
      const { probability, positive } = readFinding(feature, `${where}, breast ${side}`);
      breasts[side as BreastSide] = { probability, positive, sopInstanceUids: uids };
    }
    findChildren(examItem, SINGLE_IMAGE_FINDING, 'CODE').forEach(readSingle);

    const examResult: ScopedResult = { probability: exam.probability, positive: exam.positive, sopInstanceUids: inLibraryOrder(Object.keys(images)) };
    const equipment = (key: string) => String((Array.isArray(dataset[key]) ? (dataset[key] as unknown[])[0] : dataset[key]) ?? '').trim();
    const orderedImages: ReportResults['images'] = {};
    for (const uid of examResult.sopInstanceUids) orderedImages[uid] = images[uid]!;
    const results: ReportResults = {
      images: orderedImages,
      breasts,
      exam: examResult,
      threshold: exam.algorithm.threshold,
      algorithm: exam.algorithm.algorithm,
      device: { manufacturer: equipment('Manufacturer'), modelName: equipment('ManufacturerModelName'), softwareVersion: softwareVersionOf(dataset), uid: equipment('DeviceUID') },
    };
    if (exam.algorithm.evidence) results.evidence = exam.algorithm.evidence;
    const statement = findChildren(summary, IMPRESSION_DESCRIPTION, 'TEXT')[0];
    if (statement) results.researchUse = { statement: textValueOf(statement) };
    const imageFlags = examResult.sopInstanceUids.filter((uid) => flags.get(uid)?.length).map((uid) => [uid, flags.get(uid)!] as const);
    if (imageFlags.length) results.imageFlags = Object.fromEntries(imageFlags);
    const skippedText = findChildren(impression, IMPRESSION_DESCRIPTION, 'TEXT')[0];
    const skipped = skippedText ? lines(textValueOf(skippedText)).map((line) => NOT_SCORED.exec(line)) : [];
    if (skipped.some((match) => !match)) throw new ReportParseError(`${where}: the Individual Impression's description has a line that is not 'Image <UID> not scored: <reason>'`);
    if (skipped.length) results.skippedImages = Object.fromEntries(skipped.map((match) => [match![1]!, match![2]!]));
    const unscored = [...regions.keys()].find((uid) => !images[uid]);
    if (unscored) throw new ReportParseError(`${where}: a region is marked on image ${unscored}, which has no Single Image Finding of its own`);
    const marked = examResult.sopInstanceUids.filter((uid) => regions.has(uid)).map((uid) => [uid, regions.get(uid)!] as const);
    if (marked.length) results.regions = Object.fromEntries(marked);
    return { library, results };
  }
}
