// Types of stage-1 patch sampling (docs/method.md, "Patch sampling (stage 1)").
//
// Coordinates, everywhere in src/training/patches: { row, column } in pixels, origin top-left,
// row down, column right, with the CENTRE of pixel (r, c) at exactly (r, c) (so pixel (r, c)
// covers [r - 0.5, r + 0.5) x [c - 0.5, c + 0.5)). "Stored" coordinates are those of the image
// as its dataset stores it (before any flip or resize); "input" coordinates are those of the
// model input that src/ml/preprocess produces from it.
//
// The image interface here (PatchSourceImage) is deliberately small, so a common training-image
// type (src/training/datasets) can be adapted to it in a few lines; see mias.ts for MIAS.

import type { PATCH_CLASSES } from '../../ml/architectures/index.js';

export interface Point {
  row: number;
  column: number;
}

export type LesionType = 'mass' | 'calcification';
export type Pathology = 'benign' | 'malignant';
/** The 5 classes of the patch model, in the model's output order (PATCH_CLASSES). */
export type PatchClassName = (typeof PATCH_CLASSES)[number];

/**
 * A lesion region. 'ellipse': centre and radii along rows and columns (a circle in stored
 * coordinates becomes an ellipse in the input when the resize is not isotropic, e.g. 'stretch').
 * 'box': the rectangle [top, bottom] x [left, right] in continuous coordinates (a mask's
 * bounding box of pixels r0..r1, c0..c1 is top r0 - 0.5, bottom r1 + 0.5, ...).
 */
export type Region =
  | { shape: 'ellipse'; centre: Point; radiusRows: number; radiusColumns: number }
  | { shape: 'box'; top: number; left: number; bottom: number; right: number };

/** What a lesion is, as the patch classes need it. */
export interface LesionLabel {
  lesionType: LesionType;
  pathology: Pathology;
  /** The dataset's own class, kept for provenance (e.g. MIAS 'SPIC'). */
  sourceClass?: string;
}

/** A lesion in stored-image coordinates. */
export interface StoredRoi extends LesionLabel {
  region: Region;
}

/** A lesion in model-input coordinates. */
export interface InputRoi extends LesionLabel {
  region: Region;
}

/** Pixels as a dataset reader gives them: row-major, top row first, higher = brighter. */
export interface StoredPixels {
  width: number;
  height: number;
  pixels: Float32Array | Uint8Array | Uint16Array;
  /** [row, column] spacing in mm, or null when unknown (the spec's fallback applies). */
  pixelSpacingMm: readonly [number, number] | null;
}

/** A training image as patch sampling needs it (adapt any dataset's image type to this). */
export interface PatchSourceImage {
  id: string;
  womanId: string;
  /** The image-level label (any malignant lesion); used to stratify the split by woman. */
  malignant: boolean;
  /** Located lesions that become patch classes (unlabelled or excluded ones: see `avoidRegions`). */
  rois: StoredRoi[];
  /**
   * Regions that are abnormal but give no lesion patches (e.g. a class mapped to 'exclude'):
   * background and hard-negative patches keep away from them like from any ROI.
   */
  avoidRegions?: Region[];
  /**
   * True when the image has abnormalities without a location (MIAS NOTE 3: widely distributed
   * calcifications): no background patch is taken from it, since none can be known to be normal.
   */
  hasUnlocatedLesions?: boolean;
  loadPixels(): Promise<StoredPixels>;
}

/** Where a patch came from. */
export interface PatchProvenance {
  imageId: string;
  womanId: string;
  /** 'lesion-centre': S1; 'lesion': S10 lesion patch; 'background'; 'hard-negative': blob detector. */
  kind: 'lesion-centre' | 'lesion' | 'background' | 'hard-negative';
  /** Index into the image's ROIs for lesion patches, null otherwise. */
  roiIndex: number | null;
  /** Centre of the patch as cut (after clamping inside the image), input coordinates. */
  centre: Point;
  /** The centre that was asked for (before clamping). */
  requestedCentre: Point;
  /** Top-left pixel of the patch in the input. */
  top: number;
  left: number;
  /**
   * Lesion patches: the overlap with their ROI. Background: the largest overlap with any ROI or
   * avoided region (0 when there is none). Overlap = max(patch∩ROI / ROI, patch∩ROI / patch).
   */
  overlap: number;
  /** Fraction of the patch's pixels inside the breast mask. */
  breastFraction: number;
}

export interface Patch {
  /** size x size values, row-major, one grey plane of the model input (channels are copies of it). */
  pixels: Float32Array;
  size: number;
  /** Index into PATCH_CLASSES. */
  label: number;
  className: PatchClassName;
  provenance: PatchProvenance;
}
