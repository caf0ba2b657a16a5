// A model package with random weights: a backbone (YaroslavNet-style by default; ResNet50, the
// paper's, or VGG16 on request) + ResNet top at the paper's 1152x896 input. It runs the pipeline
// end to end at the real cost of inference (YaroslavNet ~0.15 s, ResNet50 ~0.8 s per image on
// 2 cores), and its probabilities mean nothing: for load tests, and for the demo until a trained
// default model ships (its manifest, name and ONNX doc string say so, whatever the backbone).

import { createWholeImageModel, type BackboneName } from '../../src/ml/architectures/index.js';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { exportToOnnx } from '../../src/ml/onnx/index.js';
import { writePackage } from '../../src/ml/registry/index.js';
import { DEFAULT_PREPROCESSING } from '../../src/ml/preprocess/presets.js';

const BACKBONE_LABELS: Record<BackboneName, string> = { yaroslavnet: 'YaroslavNet', resnet50: 'ResNet50', vgg16: 'VGG16', mobilenet: 'MobileNet v1' };

/**
 * Writes an UNTRAINED package. YaroslavNet takes grey (1 channel); ResNet50 and VGG16 take the
 * grey image in 3 channels, as their ImageNet-initialised versions do (and as `npm run bench:ml`
 * times them). One test-time flip, so each image costs one inference.
 */
export async function writeRandomModel(dir: string, version: string, purpose: string, backbone: BackboneName = 'yaroslavnet'): Promise<void> {
  const channels = backbone === 'yaroslavnet' ? 1 : 3;
  const label = BACKBONE_LABELS[backbone];
  // The default package is byte-for-byte what it was before backbones could be chosen (the demo's).
  const weights = backbone === 'yaroslavnet' ? 'random weights' : `random weights (${label} backbone)`;
  const model = createWholeImageModel({ backbone, top: 'resnet', inputHeight: 1152, inputWidth: 896, channels });
  try {
    randomizeWeights(model, 42);
    const onnx = exportToOnnx(model, { docString: `mammocad ${version}: ${weights}, ${purpose}` });
    await writePackage(
      dir,
      {
        format: 'mammocad-model/1',
        version,
        name: `UNTRAINED (random weights): ${label} + ResNet top, ${purpose}`,
        architecture: `${backbone}+resnet-top`,
        classes: ['not_malignant', 'malignant'],
        positiveClass: 'malignant',
        preprocessing: { ...DEFAULT_PREPROCESSING, channels, testTimeFlips: ['none'] },
        threshold: 0.5,
        provenance: { source: 'imported', createdAt: new Date().toISOString(), notes: `${weights}: its probabilities mean nothing; ${purpose}` },
      },
      { 'model.onnx': onnx },
    );
  } finally {
    model.dispose();
  }
}
