// mini-MIAS images as patch sources: the abnormality classes mapped to the paper's 5 patch
// classes, and the reader's lesions (already in top-left row/column: mias.ts converts the file's
// bottom-left origin) turned into circular ROIs.
//
// Class mapping (MIAS class + severity -> lesion type + pathology):
//   CALC                         -> calcification (benign / malignant by severity)
//   CIRC, SPIC, MISC             -> mass: circumscribed, spiculated and "other, ill-defined"
//                                   masses are masses by definition.
//   ARCH (architectural distortion), ASYM (asymmetry) -> mass, by default. The paper's patch
//     classes come from CBIS-DDSM, which has only two lesion types, mass and calcification, and
//     files architectural distortions and asymmetries as MASS lesions (mass shapes
//     ARCHITECTURAL_DISTORTION, ASYMMETRIC_BREAST_TISSUE, FOCAL_ASYMMETRIC_DENSITY); so a model
//     of the paper's kind learnt them as masses. Neither is a calcification finding. Option
//     'exclude' keeps them out of the lesion classes instead (an asymmetry is defined by the
//     OTHER breast, so a single-breast patch of it is a weak example; docs/method.md), while
//     background patches still keep away from them.
// Severity: B -> benign, M -> malignant. NORM rows carry no lesion. Lesions without a centre
// (NOTE 3: widely distributed calcifications) give no patches, and their image no background.

import type { MiasClass, MiasImage, MiasSeverity } from '../datasets/mias.js';
import { MIAS_PIXEL_SPACING_MM, readMiasPixels } from '../datasets/mias.js';
import type { LesionLabel, PatchSourceImage, Region, StoredRoi } from './types.js';

export type MiasAbnormality = Exclude<MiasClass, 'NORM'>;

export interface MiasPatchOptions {
  /** How ARCH and ASYM findings are used (see the header). Default 'mass'. */
  distortionAndAsymmetry: 'mass' | 'exclude';
}

const LESION_TYPE: Record<MiasAbnormality, LesionLabel['lesionType']> = {
  CALC: 'calcification',
  CIRC: 'mass',
  SPIC: 'mass',
  MISC: 'mass',
  ARCH: 'mass',
  ASYM: 'mass',
};

/** The lesion label of a MIAS abnormality, or null when the options exclude it. */
export function miasLesionLabel(abnormality: MiasAbnormality, severity: MiasSeverity, options: Partial<MiasPatchOptions> = {}): LesionLabel | null {
  const mode = options.distortionAndAsymmetry ?? 'mass';
  if ((abnormality === 'ARCH' || abnormality === 'ASYM') && mode === 'exclude') return null;
  return { lesionType: LESION_TYPE[abnormality], pathology: severity === 'M' ? 'malignant' : 'benign', sourceClass: abnormality };
}

/** A MIAS image as a patch source: circle ROIs in stored (top-left) coordinates. */
export function miasPatchSource(image: MiasImage, options: Partial<MiasPatchOptions> = {}): PatchSourceImage {
  const rois: StoredRoi[] = [];
  const avoidRegions: Region[] = [];
  let hasUnlocatedLesions = false;
  for (const lesion of image.lesions) {
    if (lesion.centre === null || lesion.radiusPx === null) {
      hasUnlocatedLesions = true;
      continue;
    }
    const region: Region = { shape: 'ellipse', centre: { ...lesion.centre }, radiusRows: lesion.radiusPx, radiusColumns: lesion.radiusPx };
    const label = miasLesionLabel(lesion.abnormality, lesion.severity, options);
    if (label) rois.push({ ...label, region });
    else avoidRegions.push(region);
  }
  return {
    id: image.id,
    womanId: image.womanId,
    malignant: image.malignant,
    rois,
    avoidRegions,
    hasUnlocatedLesions,
    loadPixels: async () => {
      const pgm = await readMiasPixels(image);
      return { width: pgm.width, height: pgm.height, pixels: pgm.pixels, pixelSpacingMm: [MIAS_PIXEL_SPACING_MM, MIAS_PIXEL_SPACING_MM] };
    },
  };
}
