// What a model.onnx takes and gives, read from the ONNX protobuf without creating an inference
// session (cheap, and it works on a host where the model's operators or execution provider are
// unavailable). The registry compares it with the manifest before a package is accepted.

import onnxProto from 'onnx-proto';
import type { PreprocessingSpec } from '../model-manifest.js';

const { onnx } = onnxProto;

/** Name of the output the runtime reads when a model has several. */
export const PROBABILITIES_OUTPUT = 'probabilities';
/**
 * Name of the optional per-cell class logits [N, classes, h, w] (src/ml/onnx/export-onnx.ts);
 * models exported before heat maps lack it and score as before, without heat maps.
 */
export const HEAT_MAP_OUTPUT = 'heatmap';

/** A dimension: its size when fixed, its symbolic name (e.g. "batch") when not, null when not stated. */
export type Dimension = number | string | null;

export interface TensorSignature {
  name: string;
  /** ONNX element type name, e.g. "FLOAT". */
  elementType: string;
  shape: Dimension[];
}

export interface OnnxSignature {
  /** The graph's one input that is not an initializer (older exporters list weights as inputs too). */
  input: TensorSignature;
  /** The output named "probabilities", or the graph's only output. */
  output: TensorSignature;
  /** The output named "heatmap", when the model has one (absent otherwise). */
  heatMap?: TensorSignature;
}

/** Reads the signature; throws an Error whose message is the problem (the caller adds the package and file). */
export function readOnnxSignature(bytes: Uint8Array): OnnxSignature {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new Error(`not an ONNX model (protobuf: ${(error as Error).message})`);
  }
  const graph = model.graph;
  if (!graph?.node?.length) throw new Error('not an ONNX model (no graph nodes)');
  const graphInputs = graph.input ?? [];
  const graphOutputs = graph.output ?? [];

  const weights = new Set((graph.initializer ?? []).map((tensor) => tensor.name));
  const inputs = graphInputs.filter((value) => !weights.has(value.name));
  if (inputs.length !== 1) throw new Error(`the model must have exactly one input; it has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`);
  const output = graphOutputs.find((value) => value.name === PROBABILITIES_OUTPUT) ?? (graphOutputs.length === 1 ? graphOutputs[0] : undefined);
  if (!output) {
    throw new Error(`the model must have one output or one named "${PROBABILITIES_OUTPUT}"; it has ${graphOutputs.map((o) => o.name).join(', ') || 'none'}`);
  }
  const heatMap = output.name === HEAT_MAP_OUTPUT ? undefined : graphOutputs.find((value) => value.name === HEAT_MAP_OUTPUT);
  return { input: tensorSignature(inputs[0]!), output: tensorSignature(output), ...(heatMap ? { heatMap: tensorSignature(heatMap) } : {}) };
}

/**
 * Why the signature does not fit the manifest, or null when it does: a float NCHW input with
 * the spec's channels and size (a symbolic height or width means the model takes any size),
 * and a float [N, classes] output.
 */
export function signatureProblem(signature: OnnxSignature, spec: PreprocessingSpec, classes: number): string | null {
  const { input, output } = signature;
  if (input.elementType !== 'FLOAT') return `input "${input.name}" is ${input.elementType}; the runtime feeds FLOAT`;
  if (input.shape.length !== 4) return `input "${input.name}" has shape ${showShape(input.shape)}; expected [N, C, H, W]`;
  const expected: Array<[string, Dimension, number]> = [
    ['channels', input.shape[1]!, spec.channels],
    ['height', input.shape[2]!, spec.inputHeight],
    ['width', input.shape[3]!, spec.inputWidth],
  ];
  for (const [what, actual, wanted] of expected) {
    if (typeof actual === 'number' && actual !== wanted) {
      return `input "${input.name}" has shape ${showShape(input.shape)}: ${what} ${actual}, but the manifest's preprocessing gives ${wanted} (expected [N, ${spec.channels}, ${spec.inputHeight}, ${spec.inputWidth}])`;
    }
  }
  if (typeof input.shape[1] !== 'number') return `input "${input.name}" has shape ${showShape(input.shape)}: the channel count must be fixed`;
  if (output.elementType !== 'FLOAT') return `output "${output.name}" is ${output.elementType}; expected FLOAT probabilities`;
  if (output.shape.length !== 2 || output.shape[1] !== classes) {
    return `output "${output.name}" has shape ${showShape(output.shape)}; expected [N, ${classes}] (one probability per class)`;
  }
  const heatMap = signature.heatMap;
  if (heatMap) {
    const [, mapClasses, rows, columns] = heatMap.shape;
    if (heatMap.elementType !== 'FLOAT' || heatMap.shape.length !== 4 || mapClasses !== classes || !isPositiveSize(rows) || !isPositiveSize(columns)) {
      return `output "${heatMap.name}" is ${heatMap.elementType} ${showShape(heatMap.shape)}; expected FLOAT [N, ${classes}, rows, columns] (class logits per cell, fixed grid)`;
    }
  }
  return null;
}

function isPositiveSize(dimension: Dimension | undefined): boolean {
  return typeof dimension === 'number' && Number.isInteger(dimension) && dimension > 0;
}

function tensorSignature(value: onnxProto.onnx.IValueInfoProto): TensorSignature {
  const tensor = value.type?.tensorType;
  const name = value.name ?? '';
  if (!tensor) return { name, elementType: 'not a tensor', shape: [] };
  const elementType = onnx.TensorProto.DataType[tensor.elemType ?? 0] ?? `type ${tensor.elemType}`;
  const shape = (tensor.shape?.dim ?? []).map((dim): Dimension => {
    if (dim.dimValue !== null && dim.dimValue !== undefined) return toNumber(dim.dimValue);
    return dim.dimParam || null;
  });
  return { name, elementType, shape };
}

/** int64 fields decode as Long objects when the `long` package is installed, else as numbers. */
function toNumber(value: number | { toNumber(): number }): number {
  return typeof value === 'number' ? value : value.toNumber();
}

function showShape(shape: Dimension[]): string {
  return `[${shape.map((d) => d ?? '?').join(', ')}]`;
}
