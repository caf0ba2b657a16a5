// Stage-1 patch sampling from a pre-processed image (docs/method.md, "Patch sampling (stage 1)"):
// patches are cut from the model input itself, so a lesion has in a patch the size and
// orientation it will have for the whole-image model.
//
//   S1:  one patch centred on each ROI.
//   S10: `patchesPerRoi` patches per ROI whose centre is drawn uniformly inside the ROI and whose
//        overlap with it (max of patch∩ROI / ROI and patch∩ROI / patch, as the authors' code)
//        exceeds `lesionOverlap` (code default 0.75; the paper says 0.9); plus
//        `backgroundPerImage` patches drawn uniformly over the image whose overlap with every ROI
//        (and avoided region) is below `backgroundOverlap` (0.35) and of which at least
//        `minBreastFraction` of the pixels are breast; plus optional hard negatives (blobs, blobs.ts).
// A patch near a border is moved inside the image (clamped), never padded; its overlap is
// measured where it was actually cut.

import { PATCH_CLASSES } from '../../ml/architectures/patch-model.js';
import type { InputRoi, LesionLabel, Patch, PatchClassName, PatchProvenance, Point, Region } from './types.js';
import { regionCentre } from './geometry.js';
import { detectBlobs } from './blobs.js';
import { ValidationError } from '../../domain/errors.js';

export { boxBlur, detectBlobs, type Blob, type BlobOptions } from './blobs.js';

/** A pre-processed image: one grey plane of the model input, its ROIs and breast mask. */
export interface SampleImage {
  id: string;
  womanId: string;
  width: number;
  height: number;
  /** height x width, row-major (channel 0 of the model input; the others are copies). */
  pixels: Float32Array;
  rois: InputRoi[];
  /** Abnormal regions that give no lesion patches but must stay out of background patches. */
  avoidRegions?: Region[];
  /**
   * 1 = breast, height x width. Default: pixels above the plane's minimum, which is exact for
   * 'window-then-breast-zscore' (background and padding are all clipped to the window's low end).
   */
  breastMask?: Uint8Array;
  /** No background or hard-negative patch from this image (it has lesions without a location). */
  noBackground?: boolean;
}

export interface SampleOptions {
  /** Patch side in input pixels: 224 (paper) by default; the authors' code default is 256. */
  patchSize: number;
  /** S10: lesion patches per ROI. */
  patchesPerRoi: number;
  /** S10: background patches per image. */
  backgroundPerImage: number;
  /** A lesion patch is kept when its overlap with its ROI is above this (code 0.75; paper 0.9). */
  lesionOverlap: number;
  /** A background patch is kept when its overlap with every ROI is below this. */
  backgroundOverlap: number;
  /** Background and hard-negative patches: at least this fraction of their pixels is breast. */
  minBreastFraction: number;
  /** Hard negatives (blob detector) per image, added to the background class. */
  hardNegativesPerImage: number;
  /** Draws per wanted patch before giving up on it (the shortfall is reported). */
  maxTries: number;
}

export const DEFAULT_SAMPLE_OPTIONS: Readonly<SampleOptions> = {
  patchSize: 224,
  patchesPerRoi: 10,
  backgroundPerImage: 10,
  lesionOverlap: 0.75,
  backgroundOverlap: 0.35,
  minBreastFraction: 0.5,
  hardNegativesPerImage: 0,
  maxTries: 200,
};

export interface SampleResult {
  patches: Patch[];
  /** Patches wanted but not found within maxTries draws: per kind. */
  shortfall: { lesion: number; background: number; hardNegative: number };
}

/** A patch's square in input coordinates: pixels top..top+size-1, left..left+size-1. */
export interface PatchBox {
  top: number;
  left: number;
  size: number;
}

/** The class of a lesion: index into PATCH_CLASSES and its name. */
export function lesionClass(label: LesionLabel): { label: number; className: PatchClassName } {
  const className: PatchClassName = `${label.lesionType === 'calcification' ? 'calc' : 'mass'}_${label.pathology}`;
  return { label: PATCH_CLASSES.indexOf(className), className };
}

export const BACKGROUND_CLASS = { label: PATCH_CLASSES.indexOf('background'), className: 'background' as PatchClassName };

export function resolveOptions(options: Partial<SampleOptions> = {}): SampleOptions {
  const o = { ...DEFAULT_SAMPLE_OPTIONS, ...options };
  const positiveInt = ['patchSize', 'patchesPerRoi', 'backgroundPerImage', 'hardNegativesPerImage', 'maxTries'] as const;
  for (const key of positiveInt) {
    if (!Number.isInteger(o[key]) || o[key] < (key === 'patchSize' || key === 'maxTries' ? 1 : 0)) throw new ValidationError(key, `must be a non-negative integer; got ${o[key]}`);
  }
  for (const key of ['lesionOverlap', 'backgroundOverlap', 'minBreastFraction'] as const) {
    if (!(o[key] >= 0 && o[key] <= 1)) throw new ValidationError(key, `must lie in [0, 1]; got ${o[key]}`);
  }
  return o;
}

/**
 * The box of a patch of `size` centred (as nearly as pixels allow) on `centre`, moved inside a
 * width x height image. The centre of a box is top + (size - 1) / 2.
 */
export function clampedBox(centre: Point, size: number, width: number, height: number): PatchBox {
  if (size > width || size > height) throw new ValidationError('patchSize', `${size} does not fit in a ${width}x${height} image`);
  const top = Math.min(height - size, Math.max(0, Math.round(centre.row - (size - 1) / 2)));
  const left = Math.min(width - size, Math.max(0, Math.round(centre.column - (size - 1) / 2)));
  return { top, left, size };
}

export function boxCentre(box: PatchBox): Point {
  return { row: box.top + (box.size - 1) / 2, column: box.left + (box.size - 1) / 2 };
}

/** Copies the patch's pixels out of a plane. */
export function cutPatch(pixels: Float32Array, width: number, box: PatchBox): Float32Array {
  const out = new Float32Array(box.size * box.size);
  for (let y = 0; y < box.size; y++) {
    const from = (box.top + y) * width + box.left;
    out.set(pixels.subarray(from, from + box.size), y * box.size);
  }
  return out;
}

/** Step of the row integration of ellipse areas, in pixels. */
const ELLIPSE_STEP = 0.25;

/** Area of a region and of its intersection with a patch box (continuous, in pixels²). */
export function regionAreas(region: Region, box: PatchBox): { region: number; intersection: number } {
  const top = box.top - 0.5;
  const bottom = box.top + box.size - 0.5;
  const left = box.left - 0.5;
  const right = box.left + box.size - 0.5;
  if (region.shape === 'box') {
    const h = Math.max(0, region.bottom - region.top);
    const w = Math.max(0, region.right - region.left);
    const ih = Math.max(0, Math.min(bottom, region.bottom) - Math.max(top, region.top));
    const iw = Math.max(0, Math.min(right, region.right) - Math.max(left, region.left));
    return { region: h * w, intersection: ih * iw };
  }
  // Ellipse: midpoint rule over rows; the region's own area uses the same chords, so a patch
  // that contains the whole ellipse gives exactly 1.
  const { centre, radiusRows: ry, radiusColumns: rx } = region;
  if (!(ry > 0 && rx > 0)) return { region: 0, intersection: 0 };
  const steps = Math.max(8, Math.ceil((2 * ry) / ELLIPSE_STEP));
  const h = (2 * ry) / steps;
  let area = 0;
  let inside = 0;
  for (let i = 0; i < steps; i++) {
    const y = centre.row - ry + (i + 0.5) * h;
    const t = (y - centre.row) / ry;
    const half = rx * Math.sqrt(Math.max(0, 1 - t * t));
    const chord = 2 * half * h;
    area += chord;
    if (y < top || y >= bottom) continue;
    const lo = centre.column - half;
    const hi = centre.column + half;
    // A whole chord adds exactly what it added to the area (no rounding in hi - lo).
    inside += lo >= left && hi <= right ? chord : Math.max(0, Math.min(right, hi) - Math.max(left, lo)) * h;
  }
  return { region: area, intersection: inside };
}

/** max(patch∩ROI / ROI, patch∩ROI / patch), with both parts. */
export function patchOverlap(region: Region, box: PatchBox): { ofRoi: number; ofPatch: number; overlap: number } {
  const { region: area, intersection } = regionAreas(region, box);
  const ofRoi = area > 0 ? intersection / area : 0;
  const ofPatch = intersection / (box.size * box.size);
  return { ofRoi, ofPatch, overlap: Math.max(ofRoi, ofPatch) };
}

/** Whether a position lies inside a region (boundary included). */
export function insideRegion(region: Region, p: Point): boolean {
  if (region.shape === 'box') return p.row >= region.top && p.row <= region.bottom && p.column >= region.left && p.column <= region.right;
  const dy = (p.row - region.centre.row) / region.radiusRows;
  const dx = (p.column - region.centre.column) / region.radiusColumns;
  return dy * dy + dx * dx <= 1 + 1e-9;
}

/** A position drawn uniformly inside a region. */
function drawInside(region: Region, random: () => number): Point {
  if (region.shape === 'box') return { row: region.top + random() * (region.bottom - region.top), column: region.left + random() * (region.right - region.left) };
  const radius = Math.sqrt(random());
  const angle = 2 * Math.PI * random();
  return { row: region.centre.row + radius * region.radiusRows * Math.sin(angle), column: region.centre.column + radius * region.radiusColumns * Math.cos(angle) };
}

function defaultBreastMask(image: SampleImage): Uint8Array {
  let min = Infinity;
  for (let i = 0; i < image.pixels.length; i++) if (image.pixels[i]! < min) min = image.pixels[i]!;
  const mask = new Uint8Array(image.pixels.length);
  for (let i = 0; i < image.pixels.length; i++) mask[i] = image.pixels[i]! > min ? 1 : 0;
  return mask;
}

/** Summed-area table of a mask: (height + 1) x (width + 1). */
function integralOf(mask: Uint8Array, width: number, height: number): Float64Array {
  const w1 = width + 1;
  const table = new Float64Array(w1 * (height + 1));
  for (let y = 0; y < height; y++) {
    let rowSum = 0;
    for (let x = 0; x < width; x++) {
      rowSum += mask[y * width + x]!;
      table[(y + 1) * w1 + x + 1] = table[y * w1 + x + 1]! + rowSum;
    }
  }
  return table;
}

function boxSum(table: Float64Array, width: number, box: PatchBox): number {
  const w1 = width + 1;
  const t = box.top;
  const l = box.left;
  const b = box.top + box.size;
  const r = box.left + box.size;
  return table[b * w1 + r]! - table[t * w1 + r]! - table[b * w1 + l]! + table[t * w1 + l]!;
}

function checkImage(image: SampleImage, options: SampleOptions): void {
  if (image.pixels.length !== image.width * image.height) throw new ValidationError('pixels', `${image.pixels.length} values for ${image.width}x${image.height}`);
  if (image.breastMask && image.breastMask.length !== image.pixels.length) throw new ValidationError('breastMask', `${image.breastMask.length} values for ${image.width}x${image.height}`);
  if (options.patchSize > image.width || options.patchSize > image.height) throw new ValidationError('patchSize', `${options.patchSize} does not fit in a ${image.width}x${image.height} image`);
}

/** Shared context of one image's sampling. */
class ImageSampler {
  readonly breast: Float64Array;
  readonly avoid: Region[];
  constructor(
    readonly image: SampleImage,
    readonly options: SampleOptions,
  ) {
    checkImage(image, options);
    this.breast = integralOf(image.breastMask ?? defaultBreastMask(image), image.width, image.height);
    this.avoid = [...image.rois.map((r) => r.region), ...(image.avoidRegions ?? [])];
  }

  box(centre: Point): PatchBox {
    return clampedBox(centre, this.options.patchSize, this.image.width, this.image.height);
  }

  breastFraction(box: PatchBox): number {
    return boxSum(this.breast, this.image.width, box) / (box.size * box.size);
  }

  /** Largest overlap of the box with any ROI or avoided region. */
  maxOverlap(box: PatchBox): number {
    let worst = 0;
    for (const region of this.avoid) worst = Math.max(worst, patchOverlap(region, box).overlap);
    return worst;
  }

  /** A background candidate passes: below the overlap limit everywhere and mostly breast. */
  backgroundOk(box: PatchBox): { ok: boolean; overlap: number; breastFraction: number } {
    const breastFraction = this.breastFraction(box);
    if (breastFraction < this.options.minBreastFraction) return { ok: false, overlap: NaN, breastFraction };
    const overlap = this.maxOverlap(box);
    return { ok: overlap < this.options.backgroundOverlap, overlap, breastFraction };
  }

  patch(box: PatchBox, requested: Point, cls: { label: number; className: PatchClassName }, rest: Pick<PatchProvenance, 'kind' | 'roiIndex' | 'overlap'>): Patch {
    return {
      pixels: cutPatch(this.image.pixels, this.image.width, box),
      size: box.size,
      label: cls.label,
      className: cls.className,
      provenance: {
        imageId: this.image.id,
        womanId: this.image.womanId,
        ...rest,
        centre: boxCentre(box),
        requestedCentre: requested,
        top: box.top,
        left: box.left,
        breastFraction: this.breastFraction(box),
      },
    };
  }
}

/** S1: one patch centred on each ROI (clamped inside the image near a border). */
export function sampleS1(image: SampleImage, options: Partial<SampleOptions> = {}): Patch[] {
  const sampler = new ImageSampler(image, resolveOptions(options));
  return image.rois.map((roi, roiIndex) => {
    const centre = regionCentre(roi.region);
    const box = sampler.box(centre);
    return sampler.patch(box, centre, lesionClass(roi), { kind: 'lesion-centre', roiIndex, overlap: patchOverlap(roi.region, box).overlap });
  });
}

/** S10 (or S30 with patchesPerRoi 30): lesion, background and hard-negative patches of one image. */
export function sampleS10(image: SampleImage, random: () => number, options: Partial<SampleOptions> = {}): SampleResult {
  const o = resolveOptions(options);
  const sampler = new ImageSampler(image, o);
  const patches: Patch[] = [];
  const shortfall = { lesion: 0, background: 0, hardNegative: 0 };

  image.rois.forEach((roi, roiIndex) => {
    const cls = lesionClass(roi);
    for (let n = 0; n < o.patchesPerRoi; n++) {
      let found = false;
      for (let tries = 0; tries < o.maxTries && !found; tries++) {
        const requested = drawInside(roi.region, random);
        const box = sampler.box(requested);
        const { overlap } = patchOverlap(roi.region, box);
        if (overlap > o.lesionOverlap) {
          patches.push(sampler.patch(box, requested, cls, { kind: 'lesion', roiIndex, overlap }));
          found = true;
        }
      }
      if (!found) shortfall.lesion++;
    }
  });

  if (image.noBackground) return { patches, shortfall };

  const half = (o.patchSize - 1) / 2;
  for (let n = 0; n < o.backgroundPerImage; n++) {
    let found = false;
    for (let tries = 0; tries < o.maxTries && !found; tries++) {
      // Uniform over the positions where the whole patch fits: no clamping needed.
      const requested = { row: half + Math.floor(random() * (image.height - o.patchSize + 1)), column: half + Math.floor(random() * (image.width - o.patchSize + 1)) };
      const box = sampler.box(requested);
      const check = sampler.backgroundOk(box);
      if (check.ok) {
        patches.push(sampler.patch(box, requested, BACKGROUND_CLASS, { kind: 'background', roiIndex: null, overlap: check.overlap }));
        found = true;
      }
    }
    if (!found) shortfall.background++;
  }

  if (o.hardNegativesPerImage > 0) {
    const chosen: Point[] = [];
    for (const blob of detectBlobs(image.pixels, image.width, image.height)) {
      if (chosen.length >= o.hardNegativesPerImage) break;
      // Keep hard negatives apart: at least half a patch between any two.
      if (chosen.some((p) => Math.hypot(p.row - blob.row, p.column - blob.column) < o.patchSize / 2)) continue;
      const box = sampler.box(blob);
      const check = sampler.backgroundOk(box);
      if (!check.ok) continue;
      chosen.push(blob);
      patches.push(sampler.patch(box, { row: blob.row, column: blob.column }, BACKGROUND_CLASS, { kind: 'hard-negative', roiIndex: null, overlap: check.overlap }));
    }
    shortfall.hardNegative = o.hardNegativesPerImage - chosen.length;
  }
  return { patches, shortfall };
}
