// The checks an image passes before a model scores it, so that no probability is ever given for
// an image that cannot support one (docs/image-checks.md: each check, its threshold and why):
//
//  1. Plausibility: is this a mammogram at all? From the header, before any pixel data is
//     fetched: the pixel matrix and the physical field of view. From the decoded pixels: the
//     grey levels and stored depth actually used, a blank, saturated or constant image, and a
//     breast region found. An implausible image is skipped ("implausible image: ...").
//  2. Intended use: is it what the active model was made for (its manifest's intendedUse):
//     digital or digitised film, For Presentation or For Processing, the views, the pixel sizes?
//     Outside it, the image is skipped or scored with a flag ("outside the model's intended
//     use: ..."), as imageChecks.outsideIntendedUse says.
//
// Everything reads a naturalised data set (WADO-RS metadata or a file's attributes) and the
// decoder's output, so the PACS pipeline and `mammocad score FILE` decide alike.
// One module: the image checks read as one list of rules; splitting it would scatter them.

import { IMAGE_CHECK_DEFAULTS, type Config } from '../config/config.schema.js';
import type { JsonValue } from '../domain/index.js';
import type { NaturalizedDataset } from '../dicom/part10.js';
import type { DecodedImage } from '../dicom/pixels/decode-image.js';
import { FOR_PROCESSING_CLASSES, SOP_CLASS } from '../dicom/sop-classes.js';
import type { IntendedUse } from '../ml/model-manifest.js';
import { intendedUseSchema } from '../ml/registry/manifest.schema.js';

export type ImageChecksConfig = Config['imageChecks'];
export type PlausibilityThresholds = ImageChecksConfig['plausibility'];

/** What a skip reason for an implausible image starts with. */
export const IMPLAUSIBLE_PREFIX = 'implausible image: ';
/** What a skip reason or flag for an image outside the model's intended use starts with. */
export const OUTSIDE_INTENDED_USE_PREFIX = "outside the model's intended use: ";

export interface ImageCheckOptions {
  checks: ImageChecksConfig;
  /** The active model's declared intended use; null (none declared, or an ensemble): not checked. */
  intendedUse: IntendedUse | null;
}

export const DEFAULT_IMAGE_CHECK_OPTIONS: ImageCheckOptions = { checks: IMAGE_CHECK_DEFAULTS, intendedUse: null };

export type PlausibilityCheck = 'matrix' | 'field-of-view' | 'constant' | 'blank' | 'saturated' | 'grey-levels' | 'stored-depth' | 'breast-region';
export type IntendedUseCheck = 'imaging' | 'presentation' | 'view' | 'pixel-spacing';

export interface Problem<C extends string> {
  check: C;
  /** What and the value, e.g. "pixel matrix 1 x 2 (rows x columns) is below 256 x 256". */
  text: string;
}

export interface HeaderVerdict {
  /** Why the image must not be scored ("implausible image: ..." or "outside the model's intended use: ..."), or null. */
  skip: string | null;
  /** Texts the score must carry ("outside the model's intended use: ..." when configured to score and flag). */
  flags: string[];
  /** What could not be checked (no pixel spacing, imaging kind unknown to a model without a declaration, ...). */
  notes: string[];
  plausibility: Problem<PlausibilityCheck>[];
  intendedUse: Problem<IntendedUseCheck>[];
}

export interface PixelVerdict {
  skip: string | null;
  plausibility: Problem<PlausibilityCheck>[];
  /** The measurements behind the verdict (for logs and docs/image-checks.md). */
  measured: PixelMeasurements;
}

// Attribute reading -----------------------------------------------------------------------------

function numbers(value: unknown): number[] {
  const parts = Array.isArray(value) ? value : typeof value === 'string' ? value.split('\\') : value === undefined || value === null ? [] : [value];
  return parts.map((part) => (typeof part === 'string' ? (part.trim() === '' ? NaN : Number(part.trim())) : typeof part === 'number' ? part : NaN));
}

function firstNumber(value: unknown): number | null {
  const [first] = numbers(value);
  return first !== undefined && Number.isFinite(first) ? first : null;
}

function text(ds: NaturalizedDataset, key: string): string {
  const value = ds[key];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first.trim().toUpperCase() : '';
}

function positivePair(value: unknown): [number, number] | null {
  const parts = numbers(value);
  if (parts.length !== 2) return null;
  const [row, column] = parts as [number, number];
  return row > 0 && column > 0 && Number.isFinite(row) && Number.isFinite(column) ? [row, column] : null;
}

function firstItem(value: unknown): NaturalizedDataset | null {
  const item = Array.isArray(value) ? (value[0] as unknown) : value;
  return item !== null && typeof item === 'object' && !Array.isArray(item) ? (item as NaturalizedDataset) : null;
}

const mm = (value: number) => Number(value.toPrecision(4)).toString();
const percent = (share: number) => `${Number((share * 100).toPrecision(3))}%`;

/** The spacing of the pixels in the patient (or on the scanned film), [row, column] mm, and where it came from. */
export interface PhysicalSpacing {
  mm: [number, number];
  source: string;
}

/**
 * The pixel spacing that measures the imaged object: Pixel Spacing (0028,0030) when present
 * (PS3.3 10.7.1.1: the distance in the patient, equal to Imager Pixel Spacing unless corrected
 * for magnification or calibrated); else Imager Pixel Spacing (0018,1164), which is measured at
 * the detector's front plane and "shall never be adjusted" for magnification (PS3.3 C.8.11.4),
 * divided by Estimated Radiographic Magnification Factor (0018,1114; SID / SOD, PS3.3 C.8.11.5)
 * when the header gives one; else Nominal Scanned Pixel Spacing (0018,2010) of a scanned film
 * (PS3.3 C.8.6.2). A Breast Projection X-Ray Image's Pixel Spacing is read from its Shared
 * Functional Groups. Null when the header gives none.
 */
export function physicalSpacing(ds: NaturalizedDataset): PhysicalSpacing | null {
  const pixel = positivePair(ds.PixelSpacing);
  if (pixel) return { mm: pixel, source: 'Pixel Spacing' };
  // A multi-frame Breast Projection X-Ray Image (the class some vendors store 2D and synthesised
  // 2D views in) keeps Pixel Spacing in the Pixel Measures functional group (PS3.3 C.7.6.16.2.1,
  // A.74), not at the top level.
  const measured = positivePair(firstItem(firstItem(ds.SharedFunctionalGroupsSequence)?.PixelMeasuresSequence)?.PixelSpacing);
  if (measured) return { mm: measured, source: 'Pixel Spacing (Shared Functional Groups)' };
  const imager = positivePair(ds.ImagerPixelSpacing);
  if (imager) {
    const magnification = firstNumber(ds.EstimatedRadiographicMagnificationFactor);
    if (magnification !== null && magnification > 0) {
      return { mm: [imager[0] / magnification, imager[1] / magnification], source: `Imager Pixel Spacing / Estimated Radiographic Magnification Factor ${mm(magnification)}` };
    }
    return { mm: imager, source: 'Imager Pixel Spacing' };
  }
  const scanned = positivePair(ds.NominalScannedPixelSpacing);
  if (scanned) return { mm: scanned, source: 'Nominal Scanned Pixel Spacing' };
  return null;
}

export type ImagingKind = 'digital' | 'digitised-film' | 'unknown';

/**
 * Digital (a detector's image) or digitised film, from the header, with the attribute that
 * decided. Film first, from whichever attribute says so: Conversion Type DF (Digitized Film) or SI
 * (Scanned Image) of the SC Equipment Module (PS3.3 C.8.6.1); Detector Type FILM (DX Detector,
 * PS3.3 C.8.11.4); Modality RG ("radiographic imaging (conventional film/screen)", PS3.3
 * C.7.3.1.1.1); a Secondary Capture with Nominal Scanned Pixel Spacing (a scan). Then digital:
 * Detector Type DIRECT, SCINTILLATOR or STORAGE; Conversion Type DI (Digital Interface: sent by
 * the modality itself); a DX-family or CR storage class (MG, DX, breast projection X-ray, CR: a
 * detector or a storage phosphor plate). Anything else (a Secondary Capture of a video, a
 * workstation, a drawing, or with no Conversion Type) is unknown.
 */
export function imagingKind(ds: NaturalizedDataset): { kind: ImagingKind; evidence: string } {
  const conversion = text(ds, 'ConversionType');
  const detector = text(ds, 'DetectorType');
  const modality = text(ds, 'Modality');
  const sopClass = typeof ds.SOPClassUID === 'string' ? ds.SOPClassUID.trim() : '';
  if (conversion === 'DF') return { kind: 'digitised-film', evidence: 'Conversion Type DF (digitized film)' };
  if (conversion === 'SI') return { kind: 'digitised-film', evidence: 'Conversion Type SI (scanned image)' };
  if (detector === 'FILM') return { kind: 'digitised-film', evidence: 'Detector Type FILM' };
  if (modality === 'RG') return { kind: 'digitised-film', evidence: 'Modality RG (conventional film/screen radiography)' };
  if (sopClass === SOP_CLASS.secondaryCapture && positivePair(ds.NominalScannedPixelSpacing)) {
    return { kind: 'digitised-film', evidence: 'a Secondary Capture with Nominal Scanned Pixel Spacing (a scan)' };
  }
  if (detector === 'DIRECT' || detector === 'SCINTILLATOR' || detector === 'STORAGE') return { kind: 'digital', evidence: `Detector Type ${detector}` };
  if (conversion === 'DI') return { kind: 'digital', evidence: 'Conversion Type DI (digital interface)' };
  const digitalClasses: Record<string, string> = {
    [SOP_CLASS.digitalMammographyForPresentation]: 'Digital Mammography X-Ray Image storage class',
    [SOP_CLASS.digitalMammographyForProcessing]: 'Digital Mammography X-Ray Image storage class',
    [SOP_CLASS.digitalXRayForPresentation]: 'Digital X-Ray Image storage class',
    [SOP_CLASS.digitalXRayForProcessing]: 'Digital X-Ray Image storage class',
    [SOP_CLASS.breastProjectionXRayForPresentation]: 'Breast Projection X-Ray Image storage class',
    [SOP_CLASS.breastProjectionXRayForProcessing]: 'Breast Projection X-Ray Image storage class',
    [SOP_CLASS.computedRadiography]: 'Computed Radiography Image storage class',
  };
  const byClass = digitalClasses[sopClass];
  if (byClass) return { kind: 'digital', evidence: byClass };
  if (sopClass === SOP_CLASS.secondaryCapture) return { kind: 'unknown', evidence: `a Secondary Capture with Conversion Type ${conversion || '(none)'}` };
  return { kind: 'unknown', evidence: `SOP class ${sopClass || '(none)'}` };
}

// Plausibility ------------------------------------------------------------------------------------

/** The header's part of the plausibility checks: pixel matrix and field of view. */
export function headerPlausibility(ds: NaturalizedDataset, thresholds: PlausibilityThresholds): { problems: Problem<PlausibilityCheck>[]; notes: string[] } {
  const problems: Problem<PlausibilityCheck>[] = [];
  const notes: string[] = [];
  const rows = firstNumber(ds.Rows);
  const columns = firstNumber(ds.Columns);
  const { minMatrix } = thresholds;
  if (rows !== null && columns !== null) {
    if (rows < minMatrix || columns < minMatrix) {
      problems.push({ check: 'matrix', text: `pixel matrix ${rows} x ${columns} (rows x columns) is below ${minMatrix} x ${minMatrix}` });
    }
    const spacing = physicalSpacing(ds);
    if (spacing) {
      const [low, high] = thresholds.fieldOfViewMm;
      const height = rows * spacing.mm[0];
      const width = columns * spacing.mm[1];
      if (height < low || height > high || width < low || width > high) {
        problems.push({
          check: 'field-of-view',
          text: `field of view ${mm(height)} x ${mm(width)} mm (${rows} x ${columns} pixels of ${mm(spacing.mm[0])} x ${mm(spacing.mm[1])} mm, ${spacing.source}) is outside ${low}-${high} mm per side`,
        });
      }
    } else {
      notes.push('no pixel spacing in the header (Pixel Spacing, Imager Pixel Spacing, Nominal Scanned Pixel Spacing): field of view not checked');
    }
  } else {
    notes.push('no Rows or Columns in the header: pixel matrix checked after decoding');
  }
  return { problems, notes };
}

export interface PixelMeasurements {
  /** The stored pixel matrix (a reduced-resolution decode measures fewer pixels of the same image). */
  width: number;
  height: number;
  min: number;
  max: number;
  /** Distinct grey values counted, up to the threshold (counting stops there). */
  greyLevels: number;
  /** (max - min) in stored values / (2^BitsStored - 1). */
  usedDepthFraction: number;
  shareAtMin: number;
  shareAtMax: number;
  /** The background's grey level (the mode of the darker of Otsu's two classes). */
  background: number;
  /** Share of the image the largest connected region above the breast threshold covers. */
  breastShare: number;
}

/** Cells per side of the grid the breast region is found on (a breast spans hundreds of them). */
const REGION_GRID = 256;

/** Measures what the pixel checks judge; one pass for the range, one for the rest. */
export function measurePixels(
  image: Pick<DecodedImage, 'width' | 'height' | 'pixels' | 'bitsStored'> & Partial<Pick<DecodedImage, 'sourceWidth' | 'sourceHeight'>>,
  rescaleSlope: number,
  thresholds: PlausibilityThresholds,
): PixelMeasurements {
  const { width, height, pixels } = image;
  const n = pixels.length;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = pixels[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!(min <= max)) min = max = 0; // no pixels, or none finite
  const cell = Math.max(1, Math.ceil(Math.max(width, height) / REGION_GRID));
  const gridWidth = Math.ceil(width / cell);
  const gridHeight = Math.ceil(height / cell);
  const sums = new Float64Array(gridWidth * gridHeight);
  const levels = new Set<number>();
  const wantedLevels = thresholds.minGreyLevels;
  // The value last added: runs of one value (the background) do not each cost a set look-up.
  let lastLevel = NaN;
  let atMin = 0;
  let atMax = 0;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const gridRow = Math.floor(y / cell) * gridWidth;
    for (let gx = 0, x = 0; gx < gridWidth; gx++) {
      // This row's pixels of one grid cell, summed here and added to the cell once.
      const end = Math.min(width, x + cell);
      let sum = 0;
      for (; x < end; x++) {
        const v = pixels[row + x]!;
        sum += v;
        if (v === min) atMin++;
        if (v === max) atMax++;
        if (v !== lastLevel && levels.size < wantedLevels) {
          levels.add(v);
          lastLevel = v;
        }
      }
      sums[gridRow + gx]! += sum;
    }
  }
  // A cell's pixel count follows from its place: full cells, narrower ones at the right and bottom edges.
  const means = new Float64Array(sums.length);
  for (let gy = 0; gy < gridHeight; gy++) {
    const cellRows = Math.min(cell, height - gy * cell);
    for (let gx = 0; gx < gridWidth; gx++) means[gy * gridWidth + gx] = sums[gy * gridWidth + gx]! / (cellRows * Math.min(cell, width - gx * cell));
  }
  // The pre-processing's breast rule (above the background by a fraction of the grey range),
  // with the background's own level: the mode of the darker of Otsu's two classes, not the
  // minimum (a film's base is well above its darkest pixel).
  const background = backgroundMode(means, min, otsuThreshold(means, min, max));
  const cut = background + thresholds.breastThreshold * (max - background);
  const foreground = new Uint8Array(sums.length);
  for (let c = 0; c < sums.length; c++) foreground[c] = means[c]! > cut ? 1 : 0;
  const largest = max > min ? largestComponent(foreground, gridWidth, gridHeight) : 0;
  const storedLevels = 2 ** image.bitsStored - 1;
  const slope = Math.abs(rescaleSlope) > 0 ? Math.abs(rescaleSlope) : 1;
  return {
    width: image.sourceWidth ?? width,
    height: image.sourceHeight ?? height,
    min,
    max,
    greyLevels: levels.size,
    usedDepthFraction: storedLevels > 0 ? (max - min) / slope / storedLevels : 0,
    shareAtMin: n ? atMin / n : 1,
    shareAtMax: n ? atMax / n : 1,
    background,
    breastShare: foreground.length ? largest / foreground.length : 0,
  };
}

const OTSU_BINS = 256;

/** Otsu's threshold: the split of the histogram that maximises the variance between the two classes. */
export function otsuThreshold(values: Float64Array, min: number, max: number): number {
  if (!(max > min)) return max;
  const histogram = new Float64Array(OTSU_BINS);
  const scale = OTSU_BINS / (max - min);
  for (const v of values) histogram[Math.min(OTSU_BINS - 1, Math.max(0, Math.floor((v - min) * scale)))]!++;
  const total = values.length;
  let sumAll = 0;
  for (let b = 0; b < OTSU_BINS; b++) sumAll += b * histogram[b]!;
  let below = 0;
  let sumBelow = 0;
  let best = -1;
  let bestBin = 0;
  for (let b = 0; b < OTSU_BINS - 1; b++) {
    below += histogram[b]!;
    sumBelow += b * histogram[b]!;
    const above = total - below;
    if (below === 0 || above === 0) continue;
    const difference = sumBelow / below - (sumAll - sumBelow) / above;
    const between = below * above * difference * difference;
    if (between > best) {
      best = between;
      bestBin = b;
    }
  }
  return min + (bestBin + 1) / scale;
}

/** The most frequent level below `below` (the background class's mode). */
function backgroundMode(values: Float64Array, min: number, below: number): number {
  if (!(below > min)) return min;
  const histogram = new Float64Array(OTSU_BINS);
  const scale = OTSU_BINS / (below - min);
  for (const v of values) if (v < below) histogram[Math.min(OTSU_BINS - 1, Math.max(0, Math.floor((v - min) * scale)))]!++;
  let best = 0;
  for (let b = 1; b < OTSU_BINS; b++) if (histogram[b]! > histogram[best]!) best = b;
  return min + best / scale;
}

/** Size of the largest 4-connected region of 1s. */
function largestComponent(mask: Uint8Array, width: number, height: number): number {
  const seen = new Uint8Array(mask.length);
  const stack = new Int32Array(mask.length);
  let largest = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    let top = 0;
    let size = 0;
    stack[top++] = start;
    seen[start] = 1;
    while (top > 0) {
      const p = stack[--top]!;
      size++;
      const x = p % width;
      const neighbours = [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, p >= width ? p - width : -1, p + width < width * height ? p + width : -1];
      for (const q of neighbours) {
        if (q >= 0 && mask[q] && !seen[q]) {
          seen[q] = 1;
          stack[top++] = q;
        }
      }
    }
    if (size > largest) largest = size;
  }
  return largest;
}

/** The decoded pixels' part of the plausibility checks. */
export function pixelPlausibility(m: PixelMeasurements, thresholds: PlausibilityThresholds): Problem<PlausibilityCheck>[] {
  const problems: Problem<PlausibilityCheck>[] = [];
  const { minMatrix } = thresholds;
  if (m.height < minMatrix || m.width < minMatrix) {
    problems.push({ check: 'matrix', text: `pixel matrix ${m.height} x ${m.width} (rows x columns) is below ${minMatrix} x ${minMatrix}` });
  }
  if (m.min === m.max) {
    problems.push({ check: 'constant', text: `constant image (every pixel is ${m.min})` });
    return problems;
  }
  if (m.shareAtMin > thresholds.maxExtremeShare) {
    problems.push({ check: 'blank', text: `mostly blank: ${percent(m.shareAtMin)} of the pixels are at the minimum value ${m.min} (at most ${percent(thresholds.maxExtremeShare)})` });
  }
  if (m.shareAtMax > thresholds.maxExtremeShare) {
    problems.push({ check: 'saturated', text: `mostly saturated: ${percent(m.shareAtMax)} of the pixels are at the maximum value ${m.max} (at most ${percent(thresholds.maxExtremeShare)})` });
  }
  if (m.greyLevels < thresholds.minGreyLevels) {
    problems.push({ check: 'grey-levels', text: `only ${m.greyLevels} distinct grey levels (at least ${thresholds.minGreyLevels})` });
  }
  if (m.usedDepthFraction < thresholds.minUsedDepthFraction) {
    problems.push({
      check: 'stored-depth',
      text: `the grey range ${m.min}-${m.max} spans ${percent(m.usedDepthFraction)} of the stored bit depth (at least ${percent(thresholds.minUsedDepthFraction)})`,
    });
  }
  const [low, high] = thresholds.breastShare;
  if (m.breastShare < low || m.breastShare > high) {
    problems.push({
      check: 'breast-region',
      text: `the breast region (the largest connected area brighter than the background by ${percent(thresholds.breastThreshold)} of the grey range) covers ${percent(m.breastShare)} of the image (expected ${percent(low)}-${percent(high)})`,
    });
  }
  return problems;
}

const implausible = (problems: Problem<string>[]) => `${IMPLAUSIBLE_PREFIX}${problems.map((p) => p.text).join('; ')}`;
const outside = (problems: Problem<string>[]) => `${OUTSIDE_INTENDED_USE_PREFIX}${problems.map((p) => p.text).join('; ')}`;

// Intended use ----------------------------------------------------------------------------------

const IMAGING_WORDS: Record<IntendedUse['imaging'], string> = { digital: 'digital mammograms', 'digitised-film': 'digitised film mammograms' };

/** How the image departs from the model's declared intended use (empty: within it, or nothing declared). */
export function intendedUseProblems(ds: NaturalizedDataset, view: string | null, intendedUse: IntendedUse | null): { problems: Problem<IntendedUseCheck>[]; notes: string[] } {
  const problems: Problem<IntendedUseCheck>[] = [];
  const notes: string[] = [];
  if (!intendedUse) return { problems, notes };
  const { kind, evidence } = imagingKind(ds);
  if (kind === 'unknown') {
    problems.push({ check: 'imaging', text: `whether the image is digital or digitised film cannot be told from the header (${evidence}); the model is for ${IMAGING_WORDS[intendedUse.imaging]}` });
  } else if (kind !== intendedUse.imaging) {
    problems.push({ check: 'imaging', text: `${kind === 'digital' ? 'a digital mammogram' : 'a digitised film'} (${evidence}); the model is for ${IMAGING_WORDS[intendedUse.imaging]}` });
  }
  const sopClass = typeof ds.SOPClassUID === 'string' ? ds.SOPClassUID.trim() : '';
  const forProcessing = text(ds, 'PresentationIntentType') === 'FOR PROCESSING' || FOR_PROCESSING_CLASSES.includes(sopClass);
  const presentation = forProcessing ? 'for-processing' : 'for-presentation';
  if (presentation !== intendedUse.presentation) {
    problems.push({ check: 'presentation', text: `a ${forProcessing ? 'For Processing' : 'For Presentation'} image; the model is for ${intendedUse.presentation === 'for-processing' ? 'For Processing' : 'For Presentation'} images` });
  }
  if (view !== null && !intendedUse.views.includes(view)) {
    problems.push({ check: 'view', text: `view ${view}; the model is for ${intendedUse.views.join(', ')}` });
  }
  if (intendedUse.pixelSpacingMm) {
    const [low, high] = intendedUse.pixelSpacingMm;
    const spacing = physicalSpacing(ds);
    const inRange = (pair: [number, number]) => pair.every((s) => s >= low && s <= high);
    // MG Pixel Spacing may be the detector's pitch (equal to Imager Pixel Spacing) or calibrated
    // to the breast (Imager Pixel Spacing / Estimated Radiographic Magnification Factor, 5-15%
    // smaller), as the vendor chose (PS3.3 10.7.1.1, C.8.11.4): Hologic 0.07 mm detectors write
    // 0.065, GE headers without Pixel Spacing give 0.1 over the factor. A declared range cannot
    // know which convention its training headers followed, so the detector-plane pitch (Imager
    // Pixel Spacing) within the range also counts as within it.
    const detector = positivePair(ds.ImagerPixelSpacing);
    if (!spacing) {
      notes.push(`no pixel spacing in the header: the model's pixel-size range ${low}-${high} mm not checked`);
    } else if (!inRange(spacing.mm) && !(detector && inRange(detector))) {
      const atDetector = detector && spacing.source !== 'Imager Pixel Spacing' ? `, ${mm(detector[0])} x ${mm(detector[1])} mm at the detector (Imager Pixel Spacing)` : '';
      problems.push({ check: 'pixel-spacing', text: `pixel spacing ${mm(spacing.mm[0])} x ${mm(spacing.mm[1])} mm (${spacing.source}${atDetector}); the model is for ${low}-${high} mm` });
    }
  }
  return { problems, notes };
}

/** The intended use declared in a model version's manifest (ModelVersionRecord.manifest), or null. */
export function intendedUseOf(manifest: JsonValue | null | undefined): IntendedUse | null {
  if (manifest === null || manifest === undefined || typeof manifest !== 'object' || Array.isArray(manifest)) return null;
  const parsed = intendedUseSchema.safeParse(manifest.intendedUse);
  return parsed.success ? parsed.data : null;
}

// Verdicts --------------------------------------------------------------------------------------

/**
 * Everything the header decides, before the pixel data is fetched: implausible (skip), outside
 * the intended use (skip or flag, by configuration), or go on to decoding.
 */
export function checkHeader(ds: NaturalizedDataset, view: string | null, options: ImageCheckOptions): HeaderVerdict {
  const plausibility = headerPlausibility(ds, options.checks.plausibility);
  const intended = intendedUseProblems(ds, view, options.intendedUse);
  const notes = [...plausibility.notes, ...intended.notes];
  const verdict = { flags: [] as string[], notes, plausibility: plausibility.problems, intendedUse: intended.problems };
  if (plausibility.problems.length) return { skip: implausible(plausibility.problems), ...verdict };
  if (intended.problems.length) {
    const reason = outside(intended.problems);
    return options.checks.outsideIntendedUse === 'skip' ? { skip: reason, ...verdict } : { ...verdict, skip: null, flags: [reason] };
  }
  return { skip: null, ...verdict };
}

/** Everything the decoded pixels decide, right after decoding: implausible (skip) or go on. */
export function checkPixels(decoded: Parameters<typeof measurePixels>[0], ds: NaturalizedDataset, options: ImageCheckOptions): PixelVerdict {
  const measured = measurePixels(decoded, firstNumber(ds.RescaleSlope) ?? 1, options.checks.plausibility);
  const plausibility = pixelPlausibility(measured, options.checks.plausibility);
  return { skip: plausibility.length ? implausible(plausibility) : null, plausibility, measured };
}

/** The flag text of an out-of-distribution image (docs/ood.md). */
export function outOfDistributionFlag(statistic: number): string {
  return `out of distribution: the image's intensity statistic is ${statistic.toFixed(2)} (flagged above 1, the 99th percentile of the training images)`;
}
