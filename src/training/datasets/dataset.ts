// The one in-memory form every training data set takes (mini-MIAS, CBIS-DDSM, INbreast, the
// service's own labelled images), so the trainers and the splits never ask which one it was:
// images with their woman, breast, view, image-level label and lesions in the pixel
// coordinates of the stored image, pixels loaded on demand, and a record of what was left out.

import type { SplitItem } from './splits.js';

/** A pixel position in the stored image: origin top-left, row down, column right (may be fractional). */
export interface PixelPoint {
  row: number;
  column: number;
}

/** Inclusive pixel bounds (top <= bottom, left <= right). */
export interface PixelBox {
  top: number;
  left: number;
  bottom: number;
  right: number;
}

export type LesionType = 'mass' | 'calcification' | 'other';
export type LesionPathology = 'benign' | 'malignant';
/** The finer image class where the data set knows it. */
export type ImageClass = 'normal' | 'benign' | 'malignant';

/**
 * Where a lesion is. `centre` is the centre of `box` (as the authors' patch sampler takes the
 * centre of the ROI's bounding rectangle); `radiusPx` is the radius of the circle about the
 * centre that encloses the lesion (MIAS's own definition of its radius column).
 */
export interface LesionRegion {
  box: PixelBox;
  centre: PixelPoint;
  radiusPx: number;
  /** The drawn outline (INbreast), null when the region came from a mask or a circle. */
  outline: PixelPoint[] | null;
  /** What the region was made from: a drawn outline, a mask image, or a centre and radius. */
  from: 'outline' | 'mask' | 'circle';
}

export interface TrainingLesion {
  type: LesionType;
  /** Proven or declared pathology of the lesion; null when the data set gives it per image only (INbreast). */
  pathology: LesionPathology | null;
  /** The data set's own words for the lesion (class, shape, margins, pathology as written, ...). */
  attributes: Readonly<Record<string, string>>;
  /**
   * The lesion's region; null when the data set gives none (MIAS lesions without a centre).
   * CBIS-DDSM reads its mask file on the first call, so listing a data set stays cheap.
   */
  region(): Promise<LesionRegion | null>;
}

/** The grey pixels of an image as stored (not mirrored, not resized). */
export interface TrainingPixels {
  width: number;
  height: number;
  /** Row-major, top row first. */
  pixels: Float32Array | Uint16Array | Uint8Array;
  /** [row, column] spacing in mm; null when unknown. */
  pixelSpacingMm: [number, number] | null;
}

export interface TrainingImage extends SplitItem {
  /** Stable within its data set: the same image gets the same id on every read. */
  id: string;
  /** The woman (patient): every split keeps her images on one side. */
  womanId: string;
  laterality: 'L' | 'R';
  /** As the data set names it: 'CC', 'MLO', 'ML', ... */
  view: string;
  /** The image-level training label; `label` is the same as a number for the trainers. */
  malignant: boolean;
  label: 0 | 1;
  /** Normal / benign / malignant where the data set tells them apart; null otherwise. */
  imageClass: ImageClass | null;
  lesions: TrainingLesion[];
  /** The data set's own words for the image (BI-RADS, density, source split, ...). */
  attributes: Readonly<Record<string, string>>;
  /** Where the pixels come from (a file path or a SOP Instance UID), for messages. */
  source: string;
  loadPixels(): Promise<TrainingPixels>;
}

/** Something the reader left out, and why (never dropped silently). */
export interface DatasetSkip {
  /** What was left out: an image id, a label id, a CSV row. */
  item: string;
  reason: string;
}

export interface ClassCounts {
  images: number;
  malignant: number;
  notMalignant: number;
  women: number;
  /** Images per finer class; `unknown` where the data set does not say. */
  byClass: Record<ImageClass | 'unknown', number>;
}

export interface TrainingDataset {
  /** 'mini-MIAS', 'CBIS-DDSM', 'INbreast', 'labelled-images'. */
  name: string;
  /** Sorted by id. */
  images: TrainingImage[];
  skipped: DatasetSkip[];
  /** A data set with one class only is not refused here (the trainer refuses it), but it shows here. */
  classCounts: ClassCounts;
}

export function countClasses(images: readonly TrainingImage[]): ClassCounts {
  const byClass: ClassCounts['byClass'] = { normal: 0, benign: 0, malignant: 0, unknown: 0 };
  let malignant = 0;
  for (const image of images) {
    if (image.malignant) malignant++;
    byClass[image.imageClass ?? 'unknown']++;
  }
  return { images: images.length, malignant, notMalignant: images.length - malignant, women: new Set(images.map((i) => i.womanId)).size, byClass };
}

/** The data set record: images sorted by id, their class counts. */
export function trainingDataset(name: string, images: TrainingImage[], skipped: DatasetSkip[]): TrainingDataset {
  const sorted = [...images].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { name, images: sorted, skipped, classCounts: countClasses(sorted) };
}

function boxCentre(box: PixelBox): PixelPoint {
  return { row: (box.top + box.bottom) / 2, column: (box.left + box.right) / 2 };
}

function farthest(centre: PixelPoint, points: Iterable<PixelPoint>): number {
  let max = 0;
  for (const p of points) max = Math.max(max, Math.hypot(p.row - centre.row, p.column - centre.column));
  return max;
}

/** The region of a drawn outline (one point is a region too: a calcification marked by a dot). */
export function regionFromOutline(outline: PixelPoint[]): LesionRegion {
  if (outline.length === 0) throw new RangeError('an outline needs at least one point');
  const box: PixelBox = { top: Infinity, left: Infinity, bottom: -Infinity, right: -Infinity };
  for (const p of outline) {
    box.top = Math.min(box.top, p.row);
    box.bottom = Math.max(box.bottom, p.row);
    box.left = Math.min(box.left, p.column);
    box.right = Math.max(box.right, p.column);
  }
  const centre = boxCentre(box);
  return { box, centre, radiusPx: farthest(centre, outline), outline, from: 'outline' };
}

/** The smallest and largest of `values` (Infinity and -Infinity when there are none). */
export function valueRange(values: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/**
 * The region of the pixels of a mask image that are set: above the middle of its grey range, so
 * 0/1 and 0/255 masks both work (decodeImage has already turned MONOCHROME1 into MONOCHROME2
 * sense). Null when no pixel is set.
 */
export function regionFromMask(pixels: ArrayLike<number>, width: number, height: number): LesionRegion | null {
  const { min, max } = valueRange(pixels);
  if (!(max > min)) return null;
  const threshold = (min + max) / 2;
  const box: PixelBox = { top: Infinity, left: Infinity, bottom: -Infinity, right: -Infinity };
  for (let row = 0; row < height; row++) {
    for (let column = 0, i = row * width; column < width; column++, i++) {
      if (pixels[i]! <= threshold) continue;
      if (row < box.top) box.top = row;
      box.bottom = row;
      if (column < box.left) box.left = column;
      if (column > box.right) box.right = column;
    }
  }
  const centre = boxCentre(box);
  // The farthest set pixel from the centre is a corner-most one: scanning the box's set pixels is enough.
  let radius = 0;
  for (let row = box.top; row <= box.bottom; row++) {
    for (let column = box.left; column <= box.right; column++) {
      if (pixels[row * width + column]! > threshold) radius = Math.max(radius, Math.hypot(row - centre.row, column - centre.column));
    }
  }
  return { box, centre, radiusPx: radius, outline: null, from: 'mask' };
}

/** The region of a centre and radius (MIAS), the box clipped to the image. */
export function regionFromCircle(centre: PixelPoint, radiusPx: number, width: number, height: number): LesionRegion {
  return {
    box: {
      top: Math.max(0, centre.row - radiusPx),
      left: Math.max(0, centre.column - radiusPx),
      bottom: Math.min(height - 1, centre.row + radiusPx),
      right: Math.min(width - 1, centre.column + radiusPx),
    },
    centre,
    radiusPx,
    outline: null,
    from: 'circle',
  };
}

/** A lesion whose region is known when the data set is read. */
export function knownRegion(region: LesionRegion | null): () => Promise<LesionRegion | null> {
  return () => Promise.resolve(region);
}

/** Runs `load` once and keeps its promise (a failed load is retried on the next call). */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
