// TID 1501 Measurement and Qualitative Evaluation Group, one per scored scope (an image, a
// breast, the exam). Each group holds:
//   - its tracking identifier and UID (the identifier names the scope: "image <SOP Instance
//     UID>", "breast L", "breast R" or "exam"; the reader relies on it),
//   - the finding site (breast, with laterality),
//   - the algorithm (TID 4019),
//   - one TID 300 measurement: the probability, a NUM without units, with its TID 310
//     Normality (Abnormal at or above the operating threshold, Normal below) and an
//     INFERRED FROM reference to every source image it was computed from,
//   - for an image, the flags the input gave for it (e.g. "outside the model's intended use:
//     ..."), each a CONTAINS TEXT Comment after the measurement (TID 1501 row "CONTAINS TEXT",
//     a qualitative evaluation as text), so a viewer shows them with the image's result.

import { ReportParseError, ValidationError, assertProbability, type BreastSide, type Laterality } from '../../domain/index.js';
import { isDicomUid } from '../dicom-json.js';
import {
  ABNORMAL,
  BREAST,
  COMMENT,
  FINDING_SITE,
  LATERALITY,
  MEASUREMENT_GROUP,
  NORMAL,
  NORMALITY,
  NO_UNITS,
  PROBABILITY_OF_CANCER,
  SOURCE_OF_MEASUREMENT,
  TRACKING_IDENTIFIER,
  TRACKING_UNIQUE_IDENTIFIER,
  sameCode,
} from './codes.js';
import {
  codeContentItem,
  codeValueOf,
  containerItem,
  findChildren,
  imageContentItem,
  imageReferenceOf,
  numContentItem,
  numValueOf,
  requireChild,
  textContentItem,
  textValueOf,
  uidrefContentItem,
  uidValueOf,
  type ContentItem,
  type SopReference,
} from './content-items.js';
import { Tid4019AlgorithmIdentification } from './tid4019-algorithm-identification.js';
import { lateralityCode, lateralityFromCode } from './tid1600-image-library.js';
import type { ScoredResult } from './report-input.js';

export type GroupScope = { level: 'image'; sopInstanceUid: string; laterality: Laterality } | { level: 'breast'; side: BreastSide } | { level: 'exam' };

export interface MeasurementGroupInput {
  scope: GroupScope;
  trackingUid: string;
  result: ScoredResult;
  /** The images the probability was computed from. */
  sources: SopReference[];
  algorithm: Tid4019AlgorithmIdentification;
  /** Notes on the result (image flags), written as Comment texts. */
  notes?: string[];
}

function trackingIdentifier(scope: GroupScope): string {
  switch (scope.level) {
    case 'image':
      return `image ${scope.sopInstanceUid}`;
    case 'breast':
      return `breast ${scope.side}`;
    case 'exam':
      return 'exam';
  }
}

function scopeLaterality(scope: GroupScope): Laterality {
  return scope.level === 'image' ? scope.laterality : scope.level === 'breast' ? scope.side : 'B';
}

export class Tid1501MeasurementGroup {
  static readonly TEMPLATE_ID = '1501';

  constructor(readonly group: MeasurementGroupInput) {
    assertProbability(`${trackingIdentifier(group.scope)}.probability`, group.result.probability);
    if (group.sources.length === 0) throw new ValidationError(trackingIdentifier(group.scope), 'a measurement references at least one source image');
    if (!isDicomUid(group.trackingUid)) throw new ValidationError(`${trackingIdentifier(group.scope)}.trackingUid`, `must be a DICOM UID; got '${group.trackingUid}'`);
  }

  item(): ContentItem {
    const { scope, result, sources, algorithm, trackingUid } = this.group;
    const laterality = lateralityCode(scopeLaterality(scope));
    const measurement = numContentItem('CONTAINS', PROBABILITY_OF_CANCER, result.probability, NO_UNITS, [
      codeContentItem('HAS PROPERTIES', NORMALITY, result.positive ? ABNORMAL : NORMAL),
      ...sources.map((source) => imageContentItem('INFERRED FROM', SOURCE_OF_MEASUREMENT, source)),
    ]);
    return containerItem(
      'CONTAINS',
      MEASUREMENT_GROUP,
      [
        textContentItem('HAS OBS CONTEXT', TRACKING_IDENTIFIER, trackingIdentifier(scope)),
        uidrefContentItem('HAS OBS CONTEXT', TRACKING_UNIQUE_IDENTIFIER, trackingUid),
        codeContentItem('HAS CONCEPT MOD', FINDING_SITE, BREAST, laterality ? [codeContentItem('HAS CONCEPT MOD', LATERALITY, laterality)] : []),
        ...algorithm.items('HAS CONCEPT MOD'),
        measurement,
        ...(this.group.notes ?? []).map((note) => textContentItem('CONTAINS', COMMENT, note)),
      ],
      Tid1501MeasurementGroup.TEMPLATE_ID,
    );
  }

  /** Reads a group back; the scope comes from its tracking identifier. */
  static parse(group: ContentItem, where: string): Tid1501MeasurementGroup {
    const identifier = textValueOf(requireChild(group, TRACKING_IDENTIFIER, 'TEXT', where));
    const here = `${where}, group '${identifier}'`;
    const site = requireChild(group, FINDING_SITE, 'CODE', here);
    const siteLaterality = findChildren(site, LATERALITY, 'CODE')[0];
    const scope = parseScope(identifier, siteLaterality ? lateralityFromCode(codeValueOf(siteLaterality, here)) : 'U', here);
    const measurement = requireChild(group, PROBABILITY_OF_CANCER, 'NUM', here);
    const { value } = numValueOf(measurement, here);
    const normality = codeValueOf(requireChild(measurement, NORMALITY, 'CODE', here), here);
    if (!sameCode(normality, ABNORMAL) && !sameCode(normality, NORMAL)) throw new ReportParseError(`${here}: unexpected Normality '${normality.meaning}'`);
    const sources = findChildren(measurement, SOURCE_OF_MEASUREMENT, 'IMAGE').map((image) => imageReferenceOf(image, here));
    const trackingUid = requireChild(group, TRACKING_UNIQUE_IDENTIFIER, 'UIDREF', here);
    try {
      return new Tid1501MeasurementGroup({
        scope,
        trackingUid: uidValueOf(trackingUid),
        result: { probability: value, positive: sameCode(normality, ABNORMAL) },
        sources,
        algorithm: Tid4019AlgorithmIdentification.parse(group, here),
        notes: findChildren(group, COMMENT, 'TEXT').map(textValueOf),
      });
    } catch (error) {
      if (error instanceof ValidationError) throw new ReportParseError(`${here}: ${error.message}`, { cause: error });
      throw error;
    }
  }
}

function parseScope(identifier: string, laterality: Laterality, where: string): GroupScope {
  const image = /^image (\S+)$/.exec(identifier);
  if (image) return { level: 'image', sopInstanceUid: image[1]!, laterality };
  const breast = /^breast ([LR])$/.exec(identifier);
  if (breast) return { level: 'breast', side: breast[1] as BreastSide };
  if (identifier === 'exam') return { level: 'exam' };
  throw new ReportParseError(`${where}: the tracking identifier names no image, breast or exam`);
}
