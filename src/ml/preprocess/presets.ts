// Ready-made pre-processing specs: the project's default for models trained here, and the
// paper's, for models imported from the authors' Keras code (docs/method.md).

import type { PreprocessingSpec } from '../model-manifest.js';

/** The paper's whole-image input (height x width), about 0.2 mm per pixel on DDSM film scans. */
const PAPER_INPUT = { inputHeight: 1152, inputWidth: 896 } as const;
/** Pixel size of digitised film as the datasets ship it (mini-MIAS: 200 um); about the paper's scale on DDSM. */
const FILM_PIXEL_SPACING_MM = 0.2;
/** The paper's mean subtraction, in 0..255 units after scaling 16-bit values by 255/65535. */
export const PAPER_DATASET_MEANS = { ddsm: 52.18, inbreast: 44.33 } as const;
const UINT16_TO_UINT8 = 255 / 65535;

/**
 * Models trained here: 0.2 mm pixels in the paper's input size (a 230 x 179 mm field; larger
 * fields shrink to fit), area resampling, window then breast z-score, 3 channels for ImageNet
 * backbones, the paper's 4 test-time flips.
 */
export const DEFAULT_PREPROCESSING: PreprocessingSpec = {
  ...PAPER_INPUT,
  targetPixelSpacingMm: FILM_PIXEL_SPACING_MM,
  fallbackPixelSpacingMm: FILM_PIXEL_SPACING_MM,
  fit: 'pad',
  resize: 'area',
  intensity: {
    method: 'window-then-breast-zscore',
    useImageWindow: true,
    windowPercentiles: [0.5, 99.5],
    breastThreshold: 0.1,
    mean: 0,
    scale: 1,
  },
  channels: 3,
  canonicalFlip: true,
  testTimeFlips: ['none', 'horizontal', 'vertical', 'both'],
};

/**
 * The paper's pre-processing: stored values resized (bicubic, aspect ratio not kept) to
 * 1152x896, scaled by 255/65535, minus the training set's mean, grey in 3 channels, 4 flips.
 * The paper's images kept their scanned orientation, hence canonicalFlip false.
 */
export function paperPreprocessing(datasetMean: number): PreprocessingSpec {
  return {
    ...PAPER_INPUT,
    targetPixelSpacingMm: null,
    fallbackPixelSpacingMm: FILM_PIXEL_SPACING_MM,
    fit: 'stretch',
    resize: 'bicubic',
    intensity: { method: 'paper-uint16', mean: datasetMean, scale: UINT16_TO_UINT8 },
    channels: 3,
    canonicalFlip: false,
    testTimeFlips: ['none', 'horizontal', 'vertical', 'both'],
  };
}
