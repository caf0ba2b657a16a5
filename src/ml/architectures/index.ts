// Model architectures of the method (tfjs layers API, so they can be trained): the backbones,
// the 5-class patch classifier and the 2-class whole-image classifier.
export { BACKBONE_NAMES, PAPER_INPUT_HEIGHT, PAPER_INPUT_WIDTH, type BackboneName, type BackboneOptions } from './backbones.js';
export { countFlops } from './flops.js';
export { PATCH_CLASSES, PATCH_HEAD_PREFIX, createPatchModel, type PatchModelOptions } from './patch-model.js';
export { copyWeightsByName } from './weight-transfer.js';
export {
  TOP_LAYER_PREFIX,
  TOP_NAMES,
  WHOLE_IMAGE_CLASSES,
  createWholeImageModel,
  createWholeImageModelFromPatchModel,
  type TopName,
  type WholeImageModelOptions,
} from './whole-image-model.js';
export { initialWeights, randomizeWeights } from './random-weights.js';
