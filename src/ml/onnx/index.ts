// ONNX export of tfjs models: the bridge from training (tfjs) to inference (onnxruntime).
export {
  ONNX_HEAT_MAP_NAME,
  ONNX_INPUT_NAME,
  ONNX_OUTPUT_NAME,
  OnnxExportError,
  SUPPORTED_LAYERS,
  exportToOnnx,
  heatMapHeadOf,
  type HeatMapHead,
  type OnnxExportOptions,
} from './export-onnx.js';
export { ONNX_OPSET_VERSION } from './onnx-graph.js';
export { classActivationMap, compareWithOnnxRuntime, type ParityReport } from './verify-parity.js';
