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
export { DEFAULT_REEXPORT_TOLERANCE, addHeatMapOutput, type HeatMapReexportOptions, type HeatMapReexportReport } from './heat-map-reexport.js';
export { modelManifestSchema } from './manifest.schema.js';
export { HEAT_MAP_OUTPUT, PROBABILITIES_OUTPUT, type Dimension, type OnnxSignature, type TensorSignature } from './onnx-signature.js';
