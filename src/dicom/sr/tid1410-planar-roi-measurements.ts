// TID 1410 Planar ROI Measurements and Qualitative Evaluations, one per region the model marks
// on an image (issue 16): the form of measurement group TID 1500 has for a measurement of a
// region on one image. Each group holds:
//   - its tracking identifier ("region <n> of image <SOP Instance UID>", n from 1 in the order
//     the input gave; the reader relies on it) and tracking UID (TID 4108),
//   - the finding site (breast, with the image's laterality) and the algorithm (TID 4019),
//   - the Image Region: the region's closed outline, a SCOORD POLYLINE SELECTED FROM the image
//     (its Original Source),
//   - the region's centre, a SCOORD POINT "Center" SELECTED FROM the image, as TID 4021 writes a
//     CAD finding's centre (TID 1410 is extensible; a reader that does not know the row skips it),
//   - one TID 300 measurement: the region's score (the highest cell probability in it), a NUM
//     "Probability of cancer" without units, with its Normality at the operating threshold.

import { ReportParseError, ValidationError, type Laterality } from '../../domain/index.js';
import type { MarkedRegion } from '../../domain/heatmap.js';
import { isDicomUid } from '../dicom-json.js';
import {
  ABNORMAL,
  BREAST,
  CENTER,
  FINDING_SITE,
  IMAGE_REGION,
  LATERALITY,
  MEASUREMENT_GROUP,
  NORMAL,
  NORMALITY,
  NO_UNITS,
  ORIGINAL_SOURCE,
  PROBABILITY_OF_CANCER,
  TRACKING_IDENTIFIER,
  TRACKING_UNIQUE_IDENTIFIER,
} from './codes.js';
import {
  codeContentItem,
  containerItem,
  findChildren,
  imageContentItem,
  imageReferenceOf,
  numContentItem,
  numValueOf,
  requireChild,
  scoordContentItem,
  scoordValueOf,
  textContentItem,
  textValueOf,
  uidrefContentItem,
  type ContentItem,
  type SopReference,
} from './content-items.js';
import { lateralityCode } from './tid1600-image-library.js';
import type { Tid4019AlgorithmIdentification } from './tid4019-algorithm-identification.js';

export interface RegionGroupInput {
  /** The image the region is marked on. */
  image: SopReference & { laterality: Laterality };
  /** 1-based, in the order of the image's regions. */
  index: number;
  region: MarkedRegion;
  trackingUid: string;
  /** The operating threshold: the region's Normality is Abnormal at or above it. */
  threshold: number;
  algorithm: Tid4019AlgorithmIdentification;
}

const IDENTIFIER = /^region (\d+) of image (\S+)$/;

/** Whether a measurement group is a region's (it has an Image Region), not a TID 1501 score group. */
export function isRegionGroup(group: ContentItem): boolean {
  return findChildren(group, IMAGE_REGION, 'SCOORD').length > 0;
}

export class Tid1410PlanarRoiMeasurements {
  static readonly TEMPLATE_ID = '1410';

  constructor(readonly group: RegionGroupInput) {
    const where = Tid1410PlanarRoiMeasurements.identifier(group.index, group.image.sopInstanceUid);
    if (!isDicomUid(group.trackingUid)) throw new ValidationError(`${where}.trackingUid`, `must be a DICOM UID; got '${group.trackingUid}'`);
  }

  static identifier(index: number, sopInstanceUid: string): string {
    return `region ${index} of image ${sopInstanceUid}`;
  }

  item(): ContentItem {
    const { image, index, region, trackingUid, threshold, algorithm } = this.group;
    const laterality = lateralityCode(image.laterality);
    const source = () => [imageContentItem('SELECTED FROM', ORIGINAL_SOURCE, image)];
    return containerItem(
      'CONTAINS',
      MEASUREMENT_GROUP,
      [
        textContentItem('HAS OBS CONTEXT', TRACKING_IDENTIFIER, Tid1410PlanarRoiMeasurements.identifier(index, image.sopInstanceUid)),
        uidrefContentItem('HAS OBS CONTEXT', TRACKING_UNIQUE_IDENTIFIER, trackingUid),
        codeContentItem('HAS CONCEPT MOD', FINDING_SITE, BREAST, laterality ? [codeContentItem('HAS CONCEPT MOD', LATERALITY, laterality)] : []),
        ...algorithm.items('HAS CONCEPT MOD'),
        scoordContentItem('CONTAINS', IMAGE_REGION, 'POLYLINE', region.outline, source()),
        scoordContentItem('CONTAINS', CENTER, 'POINT', [region.center], source()),
        numContentItem('CONTAINS', PROBABILITY_OF_CANCER, region.score, NO_UNITS, [
          codeContentItem('HAS PROPERTIES', NORMALITY, region.score >= threshold ? ABNORMAL : NORMAL),
        ]),
      ],
      Tid1410PlanarRoiMeasurements.TEMPLATE_ID,
    );
  }

  /** Reads a region group back: the image it is on (from its tracking identifier, checked against the Image Region's source), its position among that image's regions, and the region. */
  static parse(group: ContentItem, where: string): { sopInstanceUid: string; index: number; region: MarkedRegion } {
    const identifier = textValueOf(requireChild(group, TRACKING_IDENTIFIER, 'TEXT', where));
    const here = `${where}, group '${identifier}'`;
    const match = IDENTIFIER.exec(identifier);
    if (!match) throw new ReportParseError(`${here}: the tracking identifier of a region group must be 'region <n> of image <SOP Instance UID>'`);
    const sopInstanceUid = match[2]!;
    const shape = (concept: typeof IMAGE_REGION, graphicType: string) => {
      const item = requireChild(group, concept, 'SCOORD', here);
      const value = scoordValueOf(item, here);
      if (value.graphicType !== graphicType) throw new ReportParseError(`${here}: '${concept.meaning}' must be a ${graphicType}, not '${value.graphicType}'`);
      const image = findChildren(item, ORIGINAL_SOURCE, 'IMAGE')[0];
      if (!image || imageReferenceOf(image, here).sopInstanceUid !== sopInstanceUid) {
        throw new ReportParseError(`${here}: '${concept.meaning}' is not selected from image ${sopInstanceUid}`);
      }
      return value.points;
    };
    const outline = shape(IMAGE_REGION, 'POLYLINE');
    const [center] = shape(CENTER, 'POINT');
    const { value: score } = numValueOf(requireChild(group, PROBABILITY_OF_CANCER, 'NUM', here), here);
    return { sopInstanceUid, index: Number(match[1]), region: { score, center: center!, outline } };
  }
}
