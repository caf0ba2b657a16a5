// The manifest of a model package: everything needed to run a model exactly as it was trained,
// and to verify that the files on disk are the ones that were trained. A package is a folder:
//   manifest.json   this structure
//   model.onnx      the inference graph (NCHW float input, softmax output), run by onnxruntime-node
//   tfjs/           model.json + weight shards (tfjs layers format), for further training
//   report/         optional training report (metrics, ROC, plots)
//
// The types are documented here; src/ml/registry/manifest.schema.ts validates them (with a
// compile-time check that the two agree) and src/ml/preprocess implements the pre-processing.

import type { JsonValue } from '../domain/index.js';
import type { PlattCalibration } from './calibration.js';

export type ResizeMethod = 'area' | 'bilinear' | 'bicubic';
export type TestTimeFlip = 'none' | 'horizontal' | 'vertical' | 'both';

/**
 * How grey values become model inputs. Every method first maps a pixel to a normalised value v,
 * then the model sees `v * scale - mean`.
 *  - 'window-then-breast-zscore': clip to a window, then v = (x - breast mean) / breast std.
 *  - 'minmax': v = (x - image min) / (image max - image min), in [0, 1].
 *  - 'paper-uint16': v = x, the stored value; with scale 255/65535 and mean 52.18 (DDSM) or 44.33
 *    (INbreast) this is the paper's scaling, for models imported from the authors' Keras code.
 */
export type IntensitySpec =
  | {
      method: 'window-then-breast-zscore';
      /** Use the image's own window (center/width) when it has one; otherwise `windowPercentiles`. */
      useImageWindow: boolean;
      /** Percentiles [low, high] (0-100) of the breast pixels that bound the window. */
      windowPercentiles: [number, number];
      /** A pixel is breast when it lies more than this fraction of the image's grey range above its minimum. */
      breastThreshold: number;
      mean: number;
      scale: number;
    }
  | { method: 'minmax'; mean: number; scale: number }
  | { method: 'paper-uint16'; mean: number; scale: number };

/** How pixels are prepared for this model; the same code path serves training and inference. */
export interface PreprocessingSpec {
  /** Model input height and width in pixels (paper: 1152 x 896). */
  inputHeight: number;
  inputWidth: number;
  /** Physical pixel size the image is resampled to before fitting the input, in mm (null: plain resize). */
  targetPixelSpacingMm: number | null;
  /** Spacing assumed when an image does not state one (digitised film: 0.2 mm). */
  fallbackPixelSpacingMm: number;
  /**
   * 'pad': keep the aspect ratio and pad right and bottom with the background (the breast is on
   * the left). 'stretch': resize straight to the input size, as the paper's code did; only with
   * `targetPixelSpacingMm` null.
   */
  fit: 'pad' | 'stretch';
  resize: ResizeMethod;
  intensity: IntensitySpec;
  /** 1 (grey) or 3 (grey replicated, for ImageNet backbones). */
  channels: 1 | 3;
  /**
   * true: the model sees the breast on the left (the decoder's orientation). false: images the
   * decoder mirrored are mirrored back, so the model sees the detector's own orientation.
   */
  canonicalFlip: boolean;
  /** Test-time augmentation: average over these flips (the paper: 4 flips). */
  testTimeFlips: TestTimeFlip[];
}

/**
 * The input a model was trained for: the kind of mammogram ('digital' detectors or
 * 'digitised-film' scans), DICOM's For Presentation or For Processing images, the views, and in
 * words what the training images went through before the pre-processing spec (a square resize of
 * the source export, inverted backgrounds, ...).
 */
export interface IntendedUse {
  imaging: 'digital' | 'digitised-film';
  presentation: 'for-presentation' | 'for-processing';
  views: string[];
  notes: string;
  /**
   * The pixel sizes (mm, [min, max]) the model was trained on or tolerates; an image whose
   * header states a spacing outside it is outside the intended use. Absent: not declared.
   */
  pixelSpacingMm?: [number, number];
  /**
   * For research use only (e.g. trained on data licensed for research only): without the
   * site's research mode its results are never written into the PACS (report-policy.ts).
   */
  researchUseOnly?: boolean;
}

/**
 * Where a package keeps the training distribution of the out-of-distribution statistic
 * (docs/ood.md), and the threshold above which an image is flagged.
 */
export interface OutOfDistributionSpec {
  /** The reference file, relative to the package folder and listed in `files` (normally "ood-reference.json"). */
  file: string;
  /** The statistic and its version, as the file states them (e.g. "input-histogram-nn-jsd", 1). */
  statistic: string;
  version: number;
  /** Flag an image whose statistic is above this; 1 is the training images' 99th percentile. */
  threshold: number;
}

export interface ModelFileEntry {
  /** Relative to the package folder, '/'-separated (e.g. "tfjs/group1-shard1of4.bin"). */
  path: string;
  /** Lower-case hex. */
  sha256: string;
  bytes: number;
}

export interface ModelManifest {
  format: 'mammocad-model/1';
  /** Unique version string, e.g. "yaroslav-s2-20261126-1"; also the package's folder name in the model directory. */
  version: string;
  name: string;
  /** e.g. "resnet50+resnet[512-512-1024]x2", "vgg16+vgg512x1", "yaroslavnet+resnet-top". */
  architecture: string;
  /** Output classes in the order of the model's output (two: not malignant, malignant). */
  classes: string[];
  /** P(malignant) is the probability of this class. */
  positiveClass: string;
  preprocessing: PreprocessingSpec;
  /** Operating threshold on P(malignant), chosen on validation data. */
  threshold: number;
  /** Where the model came from: trained here, imported from Keras, ... */
  provenance: { source: 'trained' | 'keras-import' | 'imported'; createdAt: string; notes?: string };
  trainingData?: { datasets: string[]; images: number; women: number; positives: number };
  /** What the model was trained on and is meant for; inputs outside it are outside its evidence. */
  intendedUse?: IntendedUse;
  /** The out-of-distribution reference, if the package has one (older packages do not: no statistic). */
  outOfDistribution?: OutOfDistributionSpec;
  /**
   * Maps the network's probability (flips averaged) to a calibrated one (src/ml/calibration.ts);
   * the threshold is on the calibrated scale. Absent: the network's probability as it is.
   */
  calibration?: PlattCalibration;
  metrics?: { [key: string]: JsonValue };
  /** Every file of the package except manifest.json, with its digest. model.onnx is required. */
  files: ModelFileEntry[];
}

/** The model graph every package must contain. */
export const MODEL_FILE = 'model.onnx';
export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'mammocad-model/1';
