// mini-MIAS in the shared training form (dataset.ts): the reader in mias.ts stays as it is; this
// maps its records. MIAS gives each lesion a centre and an enclosing radius, so its regions are
// circles; calcification clusters are CALC, every other class is a mass-like finding except the
// architectural distortions and asymmetries, which are 'other'.

import { MIAS_IMAGE_SIZE, MIAS_PIXEL_SPACING_MM, readMiasPixels, type MiasDataset, type MiasImage, type MiasLesion } from './mias.js';
import { knownRegion, regionFromCircle, trainingDataset, type LesionType, type TrainingDataset, type TrainingImage, type TrainingLesion } from './dataset.js';

const MIAS_LESION_TYPES: Record<MiasLesion['abnormality'], LesionType> = {
  CALC: 'calcification',
  CIRC: 'mass',
  SPIC: 'mass',
  MISC: 'mass',
  ARCH: 'other',
  ASYM: 'other',
};

function miasLesion(lesion: MiasLesion): TrainingLesion {
  const region = lesion.centre && lesion.radiusPx !== null ? regionFromCircle(lesion.centre, lesion.radiusPx, MIAS_IMAGE_SIZE, MIAS_IMAGE_SIZE) : null;
  return {
    type: MIAS_LESION_TYPES[lesion.abnormality],
    pathology: lesion.severity === 'M' ? 'malignant' : 'benign',
    attributes: { class: lesion.abnormality, severity: lesion.severity },
    region: knownRegion(region),
  };
}

export function miasTrainingImage(image: MiasImage): TrainingImage {
  return {
    id: image.id,
    womanId: image.womanId,
    laterality: image.laterality,
    view: image.view,
    malignant: image.malignant,
    label: image.malignant ? 1 : 0,
    imageClass: image.imageClass,
    lesions: image.lesions.map(miasLesion),
    attributes: { tissue: image.tissue },
    source: image.file,
    loadPixels: async () => {
      const pgm = await readMiasPixels(image);
      return { width: pgm.width, height: pgm.height, pixels: pgm.pixels, pixelSpacingMm: [MIAS_PIXEL_SPACING_MM, MIAS_PIXEL_SPACING_MM] };
    },
  };
}

/** The MIAS folder read by readMiasDataset, in the shared form (nothing is skipped: the reader refuses bad input). */
export function miasTrainingDataset(dataset: MiasDataset): TrainingDataset {
  return trainingDataset('mini-MIAS', dataset.images.map(miasTrainingImage), []);
}
