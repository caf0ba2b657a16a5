// Writes the regions the model marks (issue 16) as a Grayscale Softcopy Presentation State
// (GSPS, PS3.3 A.33.1; SOP Class 1.2.840.10008.5.1.4.1.1.11.1): the way every PACS viewer can
// show marks on the images themselves, where an SR shows them only to SR-aware software.
//
// One instance for a study's scored images, in a series of its own (Modality PR):
//   - Patient, General Study (copied from the images, as the SR builder does), General Series,
//     Presentation Series, General Equipment (Manufacturer mammocad), SOP Common;
//   - Presentation State Identification: Content Label MAMMOCAD (RESEARCH_ONLY for a report
//     marked for research use, whose Content and Series Description then start with "RESEARCH
//     USE ONLY", like the SR's Series Description);
//   - Presentation State Relationship: every scored image, by series;
//   - Displayed Area: each image whole, scaled to fit (grouped by matrix and pixel spacing);
//   - Graphic Annotation on the layer MAMMOCAD: per marked image, each region's outline as a
//     closed POLYLINE in PIXEL units (not filled) and a text with its score at the top of it;
//   - the grayscale pipeline, which a presentation state replaces entirely (PS3.4 N.2): the
//     images' rescale (Modality LUT), each image's first window (Softcopy VOI LUT; the stored
//     range when it has none), and a Presentation LUT Shape of IDENTITY (INVERSE for
//     MONOCHROME1 images), so the images look as their own attributes say.
// Shutters, masks, overlays and spatial transformations are not used, so their modules carry
// nothing. The input is the SR's (ReportInput), validated the same way; dcmjs only serialises.

import { ValidationError } from '../../domain/index.js';
import { integerAttribute, type NaturalizedDataset } from '../part10.js';
import { SOP_CLASS } from '../sop-classes.js';
import { validateReportInput, type ReportInput } from '../sr/report-input.js';
import { REPORT_MANUFACTURER, dicomDateTime, writePart10 } from '../sr/sr-document.js';
import { newUid } from '../sr/uids.js';
import { isDicomUid } from '../dicom-json.js';

export const PRESENTATION_STATE_SOP_CLASS_UID = SOP_CLASS.grayscaleSoftcopyPresentationState;
/** The graphic layer every mark is on (CS: at most 16 characters). */
export const GRAPHIC_LAYER = 'MAMMOCAD';
export const PRESENTATION_DESCRIPTION = 'mammocad marked regions';
/** Content and Series Description of a presentation state for research use only (LO: at most 64 characters). */
export const RESEARCH_PRESENTATION_DESCRIPTION = `RESEARCH USE ONLY - ${PRESENTATION_DESCRIPTION}`;
const CONTENT_LABEL = 'MAMMOCAD';
const RESEARCH_CONTENT_LABEL = 'RESEARCH_ONLY';
/** After the SR's series (9001), so viewers list it after the images and the report. */
const PRESENTATION_SERIES_NUMBER = 9002;
/** White: marks stand out on a mammogram's grey. */
const LAYER_GRAYSCALE = 0xffff;

export interface PresentationStateOptions {
  /** UIDs reserved for the presentation state (a retry must reuse them); new ones when absent. */
  uids?: { seriesInstanceUid: string; sopInstanceUid: string };
  /** When it is written (Presentation Creation Date/Time); the report's createdAt, or now, when absent. */
  createdAt?: Date;
}

export interface BuiltPresentationState {
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  /** The scored images it applies to, in source order. */
  referencedSopInstanceUids: string[];
  /** How many regions it marks, on how many images. */
  regionCount: number;
  annotatedImageCount: number;
  /** The Part 10 file. */
  bytes: Uint8Array;
}

interface ImageReference {
  ReferencedSOPClassUID: string;
  ReferencedSOPInstanceUID: string;
}

const text = (ds: NaturalizedDataset, key: string): string => {
  const value = Array.isArray(ds[key]) ? (ds[key] as unknown[])[0] : ds[key];
  return typeof value === 'string' ? value.trim() : typeof value === 'number' ? String(value) : '';
};

/** A decimal attribute's values (DS arrives as numbers or strings; WADO metadata may give one value unwrapped). */
function numbers(value: unknown): number[] {
  const values = Array.isArray(value) ? value : value === undefined || value === null || value === '' ? [] : [value];
  return values.map((v) => (typeof v === 'string' ? Number(v.trim()) : typeof v === 'number' ? v : Number.NaN));
}

/** The score as the annotation shows it: two decimals, enough to read on the image. */
const scoreText = (score: number, research: boolean) => `mammocad ${score.toFixed(2)}${research ? ' RESEARCH USE ONLY' : ''}`;

/**
 * Builds the presentation state that marks the regions of `input` on its scored images, or null
 * when no image has a marked region (there is nothing to show). Throws ValidationError, before
 * anything is written, for an input the SR builder would refuse, for an image whose pixel
 * matrix (Rows, Columns) is unknown, and for images one presentation state cannot show
 * faithfully together: different rescales, MONOCHROME1 mixed with MONOCHROME2, or a Modality
 * LUT Sequence.
 */
export function buildPresentationState(input: ReportInput, options: PresentationStateOptions = {}): BuiltPresentationState | null {
  const report = validateReportInput(input);
  const regions = report.results.regions ?? {};
  if (Object.keys(regions).length === 0) return null;

  const uids = options.uids ?? { seriesInstanceUid: newUid(), sopInstanceUid: newUid() };
  for (const key of ['seriesInstanceUid', 'sopInstanceUid'] as const) {
    if (!isDicomUid(uids[key] ?? '')) throw new ValidationError(`uids.${key}`, `must be a DICOM UID; got '${String(uids[key])}'`);
  }
  if (uids.seriesInstanceUid === uids.sopInstanceUid) throw new ValidationError('uids', 'the series and the presentation state need different UIDs');
  const taken = [report.uids.seriesInstanceUid, report.uids.sopInstanceUid];
  if (taken.includes(uids.seriesInstanceUid) || taken.includes(uids.sopInstanceUid)) throw new ValidationError('uids', "are the report's: the presentation state needs UIDs of its own");
  const createdAt = options.createdAt ?? input.createdAt ?? new Date();
  if (Number.isNaN(createdAt.getTime())) throw new ValidationError('createdAt', 'is not a valid date');

  const datasets = new Map(input.sources.map((ds) => [text(ds, 'SOPInstanceUID'), ds]));
  const scored = report.sources.filter((source) => report.results.images[source.sopInstanceUid]);
  const reference = (source: (typeof scored)[number]): ImageReference => ({ ReferencedSOPClassUID: source.sopClassUid, ReferencedSOPInstanceUID: source.sopInstanceUid });
  for (const source of scored) {
    if (source.rows === undefined || source.columns === undefined) {
      throw new ValidationError(`sources['${source.sopInstanceUid}']`, 'has no Rows and Columns: a presentation state needs the size of every image it applies to');
    }
  }
  const images = scored.map((source) => ({ source, dataset: datasets.get(source.sopInstanceUid)!, reference: reference(source) }));
  const research = report.results.researchUse !== undefined;
  const sides = new Set(images.map(({ source }) => source.laterality));
  const { date, time, offset } = dicomDateTime(createdAt);

  // Presentation State Relationship: the images, by series.
  const series = new Map<string, ImageReference[]>();
  for (const { source, reference } of images) series.set(source.seriesInstanceUid, [...(series.get(source.seriesInstanceUid) ?? []), reference]);

  // Displayed Area: each image whole, scaled to fit; images of one size and spacing share an item.
  const areas = new Map<string, { item: NaturalizedDataset; references: ImageReference[] }>();
  for (const { source, dataset, reference } of images) {
    const spacing = [dataset.PixelSpacing, dataset.ImagerPixelSpacing].map(numbers).find((s) => s.length === 2 && s.every((v) => Number.isFinite(v) && v > 0));
    const key = `${source.columns}x${source.rows} ${spacing?.join('\\') ?? ''}`;
    const area = areas.get(key) ?? {
      item: {
        DisplayedAreaTopLeftHandCorner: [1, 1],
        DisplayedAreaBottomRightHandCorner: [source.columns, source.rows],
        PresentationSizeMode: 'SCALE TO FIT',
        // Spacing gives the pixels' aspect ratio; without it they are taken as square.
        ...(spacing ? { PresentationPixelSpacing: spacing } : { PresentationPixelAspectRatio: [1, 1] }),
      },
      references: [],
    };
    area.references.push(reference);
    areas.set(key, area);
  }

  // Graphic Annotation: per marked image, the outlines and a score at the top of each.
  const annotations = images
    .filter(({ source }) => regions[source.sopInstanceUid])
    .map(({ source, reference }) => {
      const marked = regions[source.sopInstanceUid]!;
      return {
        ReferencedImageSequence: [reference],
        GraphicLayer: GRAPHIC_LAYER,
        TextObjectSequence: marked.map((region) => {
          const top = Math.min(...region.outline.map(([, row]) => row));
          const columns = region.outline.map(([column]) => column);
          return {
            AnchorPointAnnotationUnits: 'PIXEL',
            UnformattedTextValue: scoreText(region.score, research),
            AnchorPoint: [(Math.min(...columns) + Math.max(...columns)) / 2, top],
            AnchorPointVisibility: 'N',
          };
        }),
        GraphicObjectSequence: marked.map((region) => ({
          GraphicAnnotationUnits: 'PIXEL',
          GraphicDimensions: 2,
          NumberOfGraphicPoints: region.outline.length,
          GraphicData: region.outline.flatMap(([column, row]) => [column, row]),
          GraphicType: 'POLYLINE',
          // The outline is closed (its last point repeats the first), so whether it is filled must be said.
          GraphicFilled: 'N',
        })),
      };
    });

  const dataset: NaturalizedDataset = {
    // SOP Common
    ...(report.specificCharacterSet ? { SpecificCharacterSet: report.specificCharacterSet } : {}),
    SOPClassUID: PRESENTATION_STATE_SOP_CLASS_UID,
    SOPInstanceUID: uids.sopInstanceUid,
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    TimezoneOffsetFromUTC: offset,
    // Patient, General Study, and the institution of General Equipment: from the images
    ...report.copied,
    // General Series, Presentation Series
    Modality: 'PR',
    SeriesInstanceUID: uids.seriesInstanceUid,
    SeriesNumber: PRESENTATION_SERIES_NUMBER,
    SeriesDate: date,
    SeriesTime: time,
    SeriesDescription: research ? RESEARCH_PRESENTATION_DESCRIPTION : PRESENTATION_DESCRIPTION,
    // Type 2C for a paired body part without Image Laterality: the side when every image is of one, else empty.
    Laterality: sides.size === 1 && (sides.has('L') || sides.has('R')) ? [...sides][0] : '',
    // General Equipment: what wrote it
    Manufacturer: REPORT_MANUFACTURER,
    ManufacturerModelName: report.results.device.modelName,
    SoftwareVersions: report.results.device.softwareVersion,
    DeviceUID: report.results.device.uid,
    // Presentation State Identification
    InstanceNumber: 1,
    ContentLabel: research ? RESEARCH_CONTENT_LABEL : CONTENT_LABEL,
    ContentDescription: research ? RESEARCH_PRESENTATION_DESCRIPTION : PRESENTATION_DESCRIPTION,
    PresentationCreationDate: date,
    PresentationCreationTime: time,
    ContentCreatorName: '',
    // Presentation State Relationship
    ReferencedSeriesSequence: [...series].map(([SeriesInstanceUID, ReferencedImageSequence]) => ({ SeriesInstanceUID, ReferencedImageSequence })),
    // Displayed Area
    DisplayedAreaSelectionSequence: [...areas.values()].map(({ item, references }) => ({ ReferencedImageSequence: references, ...item })),
    // Graphic Annotation, Graphic Layer
    GraphicAnnotationSequence: annotations,
    GraphicLayerSequence: [
      {
        GraphicLayer: GRAPHIC_LAYER,
        GraphicLayerOrder: 1,
        GraphicLayerRecommendedDisplayGrayscaleValue: LAYER_GRAYSCALE,
        GraphicLayerDescription: research ? RESEARCH_PRESENTATION_DESCRIPTION : PRESENTATION_DESCRIPTION,
      },
    ],
    // Modality LUT, Softcopy VOI LUT, Softcopy Presentation LUT
    ...grayscalePipeline(images.map(({ source, dataset, reference }) => ({ uid: source.sopInstanceUid, dataset, reference }))),
  };
  return {
    sopClassUid: PRESENTATION_STATE_SOP_CLASS_UID,
    sopInstanceUid: uids.sopInstanceUid,
    seriesInstanceUid: uids.seriesInstanceUid,
    studyInstanceUid: report.studyInstanceUid,
    referencedSopInstanceUids: images.map(({ source }) => source.sopInstanceUid),
    regionCount: Object.values(regions).reduce((sum, list) => sum + list.length, 0),
    annotatedImageCount: annotations.length,
    bytes: writePart10(dataset),
  };
}

/**
 * The grayscale pipeline of the images, which a presentation state replaces (without a Softcopy
 * VOI LUT the VOI transformation is identity): their common rescale, each image's first window
 * (the full stored range when it has none), and the Presentation LUT Shape their photometric
 * interpretation implies.
 */
function grayscalePipeline(images: Array<{ uid: string; dataset: NaturalizedDataset; reference: ImageReference }>): NaturalizedDataset {
  const field = (uid: string) => `sources['${uid}']`;
  // Modality LUT: one for all images, so they must agree (a missing rescale is the identity).
  let rescale: { slope: number; intercept: number; type: string } | undefined;
  let declared = false;
  for (const { uid, dataset } of images) {
    if (dataset.ModalityLUTSequence !== undefined) throw new ValidationError(`${field(uid)}.ModalityLUTSequence`, 'a Modality LUT Sequence is not supported in a presentation state mammocad writes');
    declared ||= dataset.RescaleSlope !== undefined || dataset.RescaleIntercept !== undefined;
    const mine = { slope: numbers(dataset.RescaleSlope)[0] ?? 1, intercept: numbers(dataset.RescaleIntercept)[0] ?? 0, type: text(dataset, 'RescaleType') || 'US' };
    if (!Number.isFinite(mine.slope) || !Number.isFinite(mine.intercept)) throw new ValidationError(`${field(uid)}.RescaleSlope`, 'the rescale slope and intercept must be numbers');
    if (rescale && (rescale.slope !== mine.slope || rescale.intercept !== mine.intercept)) {
      throw new ValidationError(`${field(uid)}.RescaleSlope`, 'the images are rescaled differently; one presentation state applies one rescale to all of them');
    }
    rescale ??= mine;
  }
  // Presentation LUT: MONOCHROME1 images show low values bright, so their P-values are inverted.
  const photometric = new Set(images.map(({ dataset }) => text(dataset, 'PhotometricInterpretation') || 'MONOCHROME2'));
  if (photometric.has('MONOCHROME1') && photometric.size > 1) {
    throw new ValidationError('sources', 'mixes MONOCHROME1 and MONOCHROME2 images; one presentation state shows them with one Presentation LUT');
  }
  // Softcopy VOI LUT: each image's window; images with the same window share an item.
  const windows = new Map<string, { item: NaturalizedDataset; references: ImageReference[] }>();
  for (const { dataset, reference } of images) {
    const window = windowOf(dataset, rescale!);
    if (!window) continue;
    const key = JSON.stringify(window);
    const entry = windows.get(key) ?? { item: window, references: [] };
    entry.references.push(reference);
    windows.set(key, entry);
  }
  return {
    ...(declared ? { RescaleIntercept: rescale!.intercept, RescaleSlope: rescale!.slope, RescaleType: rescale!.type } : {}),
    ...(windows.size ? { SoftcopyVOILUTSequence: [...windows.values()].map(({ item, references }) => ({ ReferencedImageSequence: references, ...item })) } : {}),
    PresentationLUTShape: photometric.has('MONOCHROME1') ? 'INVERSE' : 'IDENTITY',
  };
}

/** An image's first window (center, width, function), or one over its whole stored range; undefined when neither can be had. */
function windowOf(dataset: NaturalizedDataset, rescale: { slope: number; intercept: number }): NaturalizedDataset | undefined {
  const center = numbers(dataset.WindowCenter)[0];
  const width = numbers(dataset.WindowWidth)[0];
  const fn = text(dataset, 'VOILUTFunction');
  if (center !== undefined && width !== undefined && Number.isFinite(center) && Number.isFinite(width) && width >= 1) {
    return { WindowCenter: center, WindowWidth: width, ...(fn ? { VOILUTFunction: fn } : {}) };
  }
  const bits = integerAttribute(dataset.BitsStored);
  if (bits === undefined || bits < 1 || bits > 32) return undefined;
  const signed = integerAttribute(dataset.PixelRepresentation) === 1;
  const [low, high] = signed ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
  const ends = [low * rescale.slope + rescale.intercept, high * rescale.slope + rescale.intercept];
  const [min, max] = [Math.min(...ends), Math.max(...ends)];
  return { WindowCenter: (min + max + 1) / 2, WindowWidth: Math.max(1, max - min + 1) };
}
