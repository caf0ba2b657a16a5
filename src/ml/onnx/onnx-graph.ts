// Small constructors for ONNX protobuf messages (onnx-proto, protobufjs): tensors, attributes,
// nodes, graph inputs and outputs, and the encoded model. The exporter and the benchmark's
// micro-graphs are written with them, so both speak the same ONNX dialect.

import { endianness } from 'node:os';
import onnxProto from 'onnx-proto';

// onnx-proto is CommonJS; its namespace is a property of the default export under ESM.
const { onnx } = onnxProto;

export type OnnxNode = onnxProto.onnx.INodeProto;
export type OnnxTensor = onnxProto.onnx.ITensorProto;
export type OnnxAttribute = onnxProto.onnx.IAttributeProto;
export type OnnxValueInfo = onnxProto.onnx.IValueInfoProto;

/** Opset 13 (ONNX 1.8) has every operator the exporter needs, with axes of Softmax and pads of Pad as today. */
export const ONNX_OPSET_VERSION = 13;
/** The IR version that goes with opset 13. */
const ONNX_IR_VERSION = 7;
const PRODUCER_NAME = 'mammocad';

// ONNX raw tensor data is little-endian; the typed arrays are copied byte for byte.
if (endianness() !== 'LE') throw new Error('ONNX export writes raw little-endian tensors; this machine is big-endian');

export function floatTensor(name: string, dims: readonly number[], values: Float32Array): OnnxTensor {
  return {
    name,
    dims: [...dims],
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): OnnxTensor {
  return { name, dims: [...dims], dataType: onnx.TensorProto.DataType.INT64, int64Data: [...values] };
}

export const intAttribute = (name: string, value: number): OnnxAttribute => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
export const intsAttribute = (name: string, values: readonly number[]): OnnxAttribute => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints: [...values],
});
export const stringAttribute = (name: string, value: string): OnnxAttribute => ({
  name,
  type: onnx.AttributeProto.AttributeType.STRING,
  s: new TextEncoder().encode(value),
});
export const floatAttribute = (name: string, value: number): OnnxAttribute => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value });

export function node(opType: string, name: string, inputs: readonly string[], outputs: readonly string[], attribute: OnnxAttribute[] = []): OnnxNode {
  return { opType, name, input: [...inputs], output: [...outputs], attribute };
}

/** A float32 graph input or output; a string dimension is symbolic (e.g. the batch size). */
export function floatValueInfo(name: string, dims: ReadonlyArray<number | string>): OnnxValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface OnnxGraphParts {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  docString?: string;
}

/** The serialised ModelProto (opset 13), ready for onnxruntime or a file. */
export function encodeModel(parts: OnnxGraphParts): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    producerName: PRODUCER_NAME,
    opsetImport: [{ domain: '', version: ONNX_OPSET_VERSION }],
    docString: parts.docString ?? '',
    graph: {
      name: parts.name,
      node: parts.nodes,
      initializer: parts.initializers,
      input: parts.inputs,
      output: parts.outputs,
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
