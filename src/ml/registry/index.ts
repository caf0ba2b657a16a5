// Model packages: writing, verifying, importing and listing them (see model-package.ts).
export {
  importPackage,
  listPackages,
  readPackage,
  verifyPackage,
  writePackage,
  type FileCheck,
  type FileStatus,
  type ModelPackage,
  type PackageListing,
  type PackageProblem,
  type PackageVerification,
} from './model-package.js';
export { beatsChance, ciBeatsChance, headlineEvaluation, modelEvidence, type HeadlineEvaluation, type ModelEvidence } from './model-evidence.js';
export { modelManifestSchema } from './manifest.schema.js';
export { PROBABILITIES_OUTPUT, type Dimension, type OnnxSignature, type TensorSignature } from './onnx-signature.js';
