// An untrained whole-image model package with a given pre-processing, for tests that compare two
// scoring paths on real images: a seeded random MobileNet (narrow, so it builds and runs in
// seconds) whose output layer is calibrated on the images themselves, so its probabilities
// spread over (0, 1) on them instead of saturating, where any two paths would "agree" on 0 and 1.

import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createWholeImageModel, type TopName } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import type { PreprocessingSpec } from '../../src/ml/model-manifest.js';
import { exportToOnnx } from '../../src/ml/onnx/index.js';
import { preprocessImage, type GreyImage } from '../../src/ml/preprocess/index.js';
import { writePackage } from '../../src/ml/registry/index.js';
import { trainingBackend } from '../../src/ml/training/backend.js';

export interface RandomMobileNetOptions {
  version: string;
  preprocessing: PreprocessingSpec;
  /** Images the output layer is calibrated on, prepared with `preprocessing` here. */
  calibration: readonly GreyImage[];
  seed: number;
  filtersScale: number;
  top: TopName;
  topFiltersScale?: number;
}

/** Writes the package into `<parent>/<version>` (writePackage) and returns its folder. */
export async function writeRandomMobileNetPackage(parent: string, options: RandomMobileNetOptions): Promise<string> {
  const { preprocessing: spec } = options;
  await trainingBackend();
  const model = createWholeImageModel({
    backbone: 'mobilenet',
    top: options.top,
    inputHeight: spec.inputHeight,
    inputWidth: spec.inputWidth,
    channels: spec.channels,
    filtersScale: options.filtersScale,
    ...(options.topFiltersScale === undefined ? {} : { topFiltersScale: options.topFiltersScale }),
  });
  // preprocessImage gives CHW planes; tfjs takes NHWC.
  const calibration = tf.tidy(() =>
    tf.stack(options.calibration.map((image) => tf.tensor3d(preprocessImage(image, spec).data, [spec.channels, spec.inputHeight, spec.inputWidth]).transpose([1, 2, 0]))),
  );
  try {
    randomizeWeights(model, options.seed, calibration);
    const onnx = exportToOnnx(model, { docString: `mammocad ${options.version}: random weights, for tests` });
    const dir = path.join(parent, options.version);
    await writePackage(
      dir,
      {
        format: 'mammocad-model/1',
        version: options.version,
        name: `UNTRAINED (random weights): MobileNet v1 x${options.filtersScale} + ${options.top} top, for tests`,
        architecture: `mobilenet@${options.filtersScale}+${options.top}-top`,
        classes: ['not_malignant', 'malignant'],
        positiveClass: 'malignant',
        preprocessing: spec,
        threshold: 0.5,
        provenance: { source: 'imported', createdAt: new Date().toISOString(), notes: 'random weights: its probabilities mean nothing' },
      },
      { 'model.onnx': onnx },
    );
    return dir;
  } finally {
    calibration.dispose();
    model.dispose();
  }
}
