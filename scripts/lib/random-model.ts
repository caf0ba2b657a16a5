// A model package with random weights: YaroslavNet-style backbone + ResNet top at the paper's
// 1152x896 input. It runs the pipeline end to end at the real cost of inference, and its
// probabilities mean nothing: for load tests, and for the demo until a trained default model
// ships (its manifest and name say so).

import { createWholeImageModel } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { exportToOnnx } from '../../src/ml/onnx/index.js';
import { writePackage } from '../../src/ml/registry/index.js';
import { DEFAULT_PREPROCESSING } from '../../src/ml/preprocess/presets.js';

export async function writeRandomModel(dir: string, version: string, purpose: string): Promise<void> {
  const model = createWholeImageModel({ backbone: 'yaroslavnet', top: 'resnet', inputHeight: 1152, inputWidth: 896, channels: 1 });
  try {
    randomizeWeights(model, 42);
    const onnx = exportToOnnx(model, { docString: `mammocad ${version}: random weights, ${purpose}` });
    await writePackage(
      dir,
      {
        format: 'mammocad-model/1',
        version,
        name: `UNTRAINED (random weights): YaroslavNet + ResNet top, ${purpose}`,
        architecture: 'yaroslavnet+resnet-top',
        classes: ['not_malignant', 'malignant'],
        positiveClass: 'malignant',
        preprocessing: { ...DEFAULT_PREPROCESSING, channels: 1, testTimeFlips: ['none'] },
        threshold: 0.5,
        provenance: { source: 'imported', createdAt: new Date().toISOString(), notes: `random weights: its probabilities mean nothing; ${purpose}` },
      },
      { 'model.onnx': onnx },
    );
  } finally {
    model.dispose();
  }
}
