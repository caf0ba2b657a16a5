// Exports a tfjs LayersModel (the architectures of src/ml/architectures) to ONNX bytes for
// onnxruntime: the model trains in tfjs and runs in onnxruntime, 6-10x faster than tfjs's wasm
// backend here (scripts/bench/ml.ts).
//
// The ONNX model takes NCHW float32 "input" [batch, C, H, W] (H and W fixed, batch dynamic)
// and gives "probabilities" [batch, classes]. tfjs is NHWC, so kernels are transposed
// (HWIO -> OIHW) and channel axes move to 1; the input needs no transpose because the ONNX
// model is NCHW from its first node.
//
// A model that ends the method's way (global average pooling straight into the dense softmax)
// also gives "heatmap" [batch, classes, h, w]: the class logits of every cell of the feature map
// that is pooled, i.e. the dense layer applied to each cell (a class activation map, as a 1x1
// convolution with the dense kernel). The pooling is an average and the dense layer is affine,
// so the mean of the cells' logits is the image's logit vector exactly (up to float rounding):
// with two classes, the cells' malignant-minus-benign logits average to the image's
// log(p / (1 - p)). The branch leaves the probabilities' nodes untouched.
//
// Supported layers are exactly those the architectures use: InputLayer, Conv2D (with or
// without bias, linear or ReLU), DepthwiseConv2D (a grouped Conv, one group per input channel),
// BatchNormalization (folded into the convolution before it, else a BatchNormalization node),
// Activation (relu, relu6, softmax, linear), Add, ZeroPadding2D, MaxPooling2D,
// GlobalAveragePooling2D and Dense. Anything else is refused, naming the layer.
// Kept whole: one exporter walks the layers, and every layer's conversion needs its state (names, folded BN).

import type * as tf from '@tensorflow/tfjs';
import { MammocadError } from '../../domain/errors.js';
import {
  type OnnxAttribute,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
  encodeModel,
  floatAttribute,
  floatTensor,
  floatValueInfo,
  int64Tensor,
  intAttribute,
  intsAttribute,
  node,
  stringAttribute,
} from './onnx-graph.js';

export const ONNX_INPUT_NAME = 'input';
export const ONNX_OUTPUT_NAME = 'probabilities';
/** The per-cell class logits [batch, classes, h, w] (see the header). */
export const ONNX_HEAT_MAP_NAME = 'heatmap';
const BATCH_DIMENSION = 'batch';
/** Channel axis of ONNX's NCHW (and of [N, C] after pooling). */
const CHANNEL_AXIS = 1;

/** Layer classes the exporter translates (the Keras import accepts exactly these). */
export const SUPPORTED_LAYERS = [
  'InputLayer',
  'Conv2D',
  'DepthwiseConv2D',
  'BatchNormalization',
  'Activation',
  'Add',
  'ZeroPadding2D',
  'MaxPooling2D',
  'GlobalAveragePooling2D',
  'Dense',
] as const;

/** A model the exporter cannot translate faithfully; `layer` names the culprit when there is one. */
export class OnnxExportError extends MammocadError {
  readonly layer: string | null;
  constructor(problem: string, layer?: { name: string; className: string }) {
    super('ONNX_EXPORT_UNSUPPORTED', layer ? `layer ${layer.name} (${layer.className}): ${problem}` : problem);
    this.layer = layer?.name ?? null;
  }
}

export interface OnnxExportOptions {
  /** Stored in the ONNX model's doc_string (e.g. the model version). */
  docString?: string;
  /**
   * The "heatmap" output: true requires it (refused when the model does not end in global
   * average pooling followed by the dense softmax), false leaves it out, undefined (default)
   * adds it whenever the model ends that way.
   */
  heatMap?: boolean;
}

/** One layer as the model's serialised configuration describes it. */
interface LayerEntry {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** Names of the layers whose outputs this layer takes. */
  inputs: string[];
}

/** The ONNX tensor that holds a layer's output, and its rank (4: NCHW, 2: [N, C]). */
interface OnnxValue {
  name: string;
  rank: number;
}

type Shape = ReadonlyArray<number | null>;

/** Serialises `model` as ONNX (opset 13). Throws OnnxExportError for anything it cannot translate. */
export function exportToOnnx(model: tf.LayersModel, options: OnnxExportOptions = {}): Uint8Array {
  return new OnnxExporter(model).export(options);
}

/** Explicit [begin, end] padding of one spatial axis, as tfjs computes it. */
function paddingFor(padding: 'same' | 'valid', inputSize: number, kernel: number, stride: number): [number, number] {
  if (padding === 'valid') return [0, 0];
  // 'same' as TensorFlow defines it: the output has ceil(input / stride) positions, and an odd
  // padding puts the extra row or column at the end. Explicit pads state that exactly; a
  // symmetric guess is off by one pixel (errors of 3e-2 in the feasibility study).
  const outputSize = Math.ceil(inputSize / stride);
  const total = Math.max((outputSize - 1) * stride + kernel - inputSize, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

/** HWIO (tfjs) to OIHW (ONNX), optionally scaling each output channel (batch-norm folding). */
function kernelToOihw(hwio: Float32Array, shape: number[], scale?: Float64Array): Float32Array {
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const oihw = new Float32Array(hwio.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const from = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) {
          oihw[((o * cin + i) * kh + y) * kw + x] = hwio[from + o]! * (scale ? scale[o]! : 1);
        }
      }
    }
  }
  return oihw;
}

/** Where a model's heat map comes from: the pooled feature map (a layer's output) and the dense layer after the pooling. */
export interface HeatMapHead {
  /** The layer whose output the global average pooling takes: the top's last feature map. */
  features: string;
  pooling: string;
  /** The final dense (softmax) layer. */
  dense: string;
  /** The feature map's grid: the heat map's resolution over the input. */
  rows: number;
  columns: number;
}

/**
 * The layers a class activation map is computed from, or why the model has none: it must end in
 * a Dense softmax whose only input is a GlobalAveragePooling2D over a fixed-size feature map.
 */
export function heatMapHeadOf(model: tf.LayersModel): HeatMapHead | string {
  const dense = model.outputs.length === 1 ? model.outputs[0]!.sourceLayer : undefined;
  if (dense?.getClassName() !== 'Dense') return 'its output layer is not a Dense layer';
  const inbound = dense.inboundNodes;
  const pooling = inbound.length === 1 && inbound[0]!.inboundLayers.length === 1 ? inbound[0]!.inboundLayers[0]! : undefined;
  if (pooling?.getClassName() !== 'GlobalAveragePooling2D') return `its output layer ${dense.name} does not take a GlobalAveragePooling2D directly`;
  const pooled = pooling.inboundNodes.length === 1 && pooling.inboundNodes[0]!.inboundLayers.length === 1 ? pooling.inboundNodes[0]!.inboundLayers[0]! : undefined;
  const shape = pooled?.outputShape as Shape | undefined;
  if (!pooled || !shape || shape.length !== 4 || typeof shape[1] !== 'number' || typeof shape[2] !== 'number') {
    return `the feature map ${pooling.name} pools has no fixed [height, width]`;
  }
  return { features: pooled.name, pooling: pooling.name, dense: dense.name, rows: shape[1], columns: shape[2] };
}

/** A row-major [rows, columns] matrix transposed to [columns, rows]. */
function transpose2d(values: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = values[r * columns + c]!;
  return out;
}

class OnnxExporter {
  private readonly layers: LayerEntry[];
  private readonly outputLayer: string;
  /** For each layer, the layers that take its output; the model's output counts as a consumer. */
  private readonly consumers = new Map<string, string[]>();
  private readonly values = new Map<string, OnnxValue>();
  /** Batch normalisations folded into the convolution before them: nothing left to emit. */
  private readonly folded = new Set<string>();
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private inputDims: number[] = [];

  constructor(private readonly model: tf.LayersModel) {
    const config = model.getConfig() as {
      layers: Array<{ name: string; className: string; config: Record<string, unknown>; inboundNodes?: unknown[][] }>;
      inputLayers?: unknown[];
      outputLayers?: Array<[string, number, number]>;
    };
    if (!config.inputLayers || !config.outputLayers) {
      throw new OnnxExportError(`model ${model.name} is not a functional model (tf.model); Sequential models are not supported`);
    }
    if (config.inputLayers.length !== 1 || config.outputLayers.length !== 1) {
      throw new OnnxExportError(`model ${model.name} must have one input and one output`);
    }
    this.layers = config.layers.map((layer) => ({
      name: layer.name,
      className: layer.className,
      config: layer.config,
      inputs: this.inboundLayerNames(layer.name, layer.className, layer.inboundNodes ?? []),
    }));
    for (const layer of this.layers) {
      for (const input of layer.inputs) this.consumers.set(input, [...(this.consumers.get(input) ?? []), layer.name]);
    }
    this.outputLayer = config.outputLayers[0]![0];
    this.consumers.set(this.outputLayer, [...(this.consumers.get(this.outputLayer) ?? []), '(model output)']);
  }

  export(options: OnnxExportOptions): Uint8Array {
    for (const layer of this.layers) {
      if (!this.folded.has(layer.name)) this.convert(layer);
    }
    const last = this.values.get(this.outputLayer)!;
    const producer = this.nodes.find((n) => n.output?.[0] === last.name);
    if (producer?.opType !== 'Softmax' || last.rank !== 2) {
      throw new OnnxExportError(`model ${this.model.name} must end in a softmax over classes, to give "${ONNX_OUTPUT_NAME}"`);
    }
    producer.output = [ONNX_OUTPUT_NAME];
    const classes = (this.model.outputs[0]!.shape as Shape)[1] as number;
    const outputs = [floatValueInfo(ONNX_OUTPUT_NAME, [BATCH_DIMENSION, classes])];
    if (options.heatMap !== false) {
      const head = heatMapHeadOf(this.model);
      if (typeof head === 'string') {
        if (options.heatMap === true) throw new OnnxExportError(`model ${this.model.name} cannot give a heat map: ${head}`);
      } else {
        outputs.push(this.heatMap(head));
      }
    }
    return encodeModel({
      name: this.model.name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: [floatValueInfo(ONNX_INPUT_NAME, [BATCH_DIMENSION, ...this.inputDims])],
      outputs,
      docString: options.docString,
    });
  }

  /**
   * The dense layer applied to every cell of the pooled feature map: a 1x1 convolution whose
   * kernel [classes, C, 1, 1] is the dense kernel [C, classes] transposed, with the dense bias.
   */
  private heatMap(head: HeatMapHead): OnnxValueInfo {
    const features = this.values.get(head.features)!;
    const [kernel, bias] = this.weights(this.layers.find((layer) => layer.name === head.dense)!);
    const [channels, classes] = kernel!.shape as [number, number];
    const inputs = [features.name, this.addInitializer(`${head.dense}/heatmap_kernel`, [classes, channels, 1, 1], transpose2d(kernel!.values, channels, classes))];
    if (bias) inputs.push(this.addInitializer(`${head.dense}/heatmap_bias`, [classes], bias.values));
    this.nodes.push(node('Conv', `${head.dense}/heatmap`, inputs, [ONNX_HEAT_MAP_NAME], [intsAttribute('kernel_shape', [1, 1])]));
    return floatValueInfo(ONNX_HEAT_MAP_NAME, [BATCH_DIMENSION, classes, head.rows, head.columns]);
  }

  private inboundLayerNames(name: string, className: string, inboundNodes: unknown[][]): string[] {
    if (inboundNodes.length > 1) {
      throw new OnnxExportError('a layer applied more than once (shared weights) is not supported', { name, className });
    }
    return (inboundNodes[0] ?? []).map((inbound) => {
      const [layerName, nodeIndex, tensorIndex] = inbound as [string, number, number];
      if (nodeIndex !== 0 || tensorIndex !== 0) {
        throw new OnnxExportError(`input from ${layerName} node ${nodeIndex} tensor ${tensorIndex} is not supported`, { name, className });
      }
      return layerName;
    });
  }

  private convert(layer: LayerEntry): void {
    switch (layer.className) {
      case 'InputLayer':
        return this.inputLayer(layer);
      case 'Conv2D':
        return this.conv2d(layer);
      case 'DepthwiseConv2D':
        return this.conv2d(layer, true);
      case 'BatchNormalization':
        return this.batchNormalization(layer);
      case 'Activation':
        return this.setOutput(layer, this.activation(layer, String(layer.config.activation), this.input(layer), layer.name));
      case 'Add':
        return this.add(layer);
      case 'ZeroPadding2D':
        return this.zeroPadding(layer);
      case 'MaxPooling2D':
        return this.maxPooling(layer);
      case 'GlobalAveragePooling2D':
        return this.globalAveragePooling(layer);
      case 'Dense':
        return this.dense(layer);
      default:
        throw new OnnxExportError(`unsupported layer type; supported: ${SUPPORTED_LAYERS.join(', ')}`, layer);
    }
  }

  // --- helpers -------------------------------------------------------------------------------

  private input(layer: LayerEntry, index = 0): OnnxValue {
    return this.values.get(layer.inputs[index]!)!;
  }

  /** The NHWC shape of the layer's (first) input, as tfjs inferred it. */
  private inputShape(layer: LayerEntry): Shape {
    return this.model.getLayer(layer.inputs[0]!).outputShape as Shape;
  }

  private setOutput(layer: LayerEntry, value: OnnxValue): void {
    this.values.set(layer.name, value);
  }

  private weights(layer: LayerEntry): Array<{ shape: number[]; values: Float32Array }> {
    // dataSync may return the backend's own buffer (cpu backend): read only, never written.
    return this.model.getLayer(layer.name).getWeights().map((w) => ({ shape: w.shape, values: w.dataSync() as Float32Array }));
  }

  private requireChannelsLast(layer: LayerEntry): void {
    if (layer.config.dataFormat !== undefined && layer.config.dataFormat !== 'channelsLast') {
      throw new OnnxExportError(`dataFormat ${String(layer.config.dataFormat)} is not supported (channelsLast only)`, layer);
    }
  }

  private padding(layer: LayerEntry): 'same' | 'valid' {
    const padding = layer.config.padding;
    if (padding !== 'same' && padding !== 'valid') throw new OnnxExportError(`padding ${String(padding)} is not supported (same, valid)`, layer);
    return padding;
  }

  private requireRank(layer: LayerEntry, value: OnnxValue, rank: number): void {
    if (value.rank !== rank) throw new OnnxExportError(`expects a rank-${rank} input, got rank ${value.rank}`, layer);
  }

  /**
   * Emits `activation` on `preActivation` and returns the layer's output named `output`. A
   * linear activation emits nothing: the layer's output is then the pre-activation tensor.
   */
  private activation(layer: LayerEntry, activation: string, preActivation: OnnxValue, output: string): OnnxValue {
    switch (activation) {
      case 'linear':
        return preActivation;
      case 'relu':
        this.nodes.push(node('Relu', `${layer.name}/relu`, [preActivation.name], [output]));
        return { name: output, rank: preActivation.rank };
      case 'relu6': {
        // Clip takes its bounds as inputs from opset 11 on.
        const low = this.addInitializer(`${layer.name}/relu6_min`, [], new Float32Array([0]));
        const high = this.addInitializer(`${layer.name}/relu6_max`, [], new Float32Array([6]));
        this.nodes.push(node('Clip', `${layer.name}/relu6`, [preActivation.name, low, high], [output]));
        return { name: output, rank: preActivation.rank };
      }
      case 'softmax':
        // tfjs normalises over the last (channel) axis, which is axis 1 in ONNX's layout.
        this.nodes.push(node('Softmax', `${layer.name}/softmax`, [preActivation.name], [output], [intAttribute('axis', CHANNEL_AXIS)]));
        return { name: output, rank: preActivation.rank };
      default:
        throw new OnnxExportError(`activation ${activation} is not supported (relu, relu6, softmax, linear)`, layer);
    }
  }

  /** Emits `opType` and then the layer's activation; returns the layer's output. */
  private opWithActivation(layer: LayerEntry, opType: string, inputs: string[], rank: number, attributes: OnnxAttribute[], output: string): OnnxValue {
    const activation = String(layer.config.activation ?? 'linear');
    const preActivation = activation === 'linear' ? output : `${output}/preactivation`;
    this.nodes.push(node(opType, layer.name, inputs, [preActivation], attributes));
    return this.activation(layer, activation, { name: preActivation, rank }, output);
  }

  private addInitializer(name: string, dims: number[], values: Float32Array): string {
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  /** The batch normalisation to fold into this convolution, if it is the convolution's only consumer. */
  private foldableBatchNorm(layer: LayerEntry): LayerEntry | null {
    const consumers = this.consumers.get(layer.name) ?? [];
    if (consumers.length !== 1 || layer.config.activation !== 'linear') return null;
    const next = this.layers.find((l) => l.name === consumers[0]);
    return next?.className === 'BatchNormalization' && this.isChannelAxis(next) ? next : null;
  }

  private isChannelAxis(batchNorm: LayerEntry): boolean {
    const axis = batchNorm.config.axis;
    return axis === -1 || axis === 3 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === 3));
  }

  /** Per-channel scale and shift of an inference-mode batch normalisation: y = x * scale + shift. */
  private batchNormAffine(layer: LayerEntry): { scale: Float64Array; shift: Float64Array } {
    const weights = this.weights(layer);
    // tfjs creates gamma (if `scale`), beta (if `center`), moving mean, moving variance, in that order.
    const gamma = layer.config.scale !== false ? weights.shift()!.values : null;
    const beta = layer.config.center !== false ? weights.shift()!.values : null;
    const [mean, variance] = weights.map((w) => w.values);
    const epsilon = Number(layer.config.epsilon);
    const channels = mean!.length;
    const scale = new Float64Array(channels);
    const shift = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      scale[c] = (gamma ? gamma[c]! : 1) / Math.sqrt(variance![c]! + epsilon);
      shift[c] = (beta ? beta[c]! : 0) - mean![c]! * scale[c]!;
    }
    return { scale, shift };
  }

  // --- layers --------------------------------------------------------------------------------

  private inputLayer(layer: LayerEntry): void {
    const shape = layer.config.batchInputShape as Shape;
    if (shape.length !== 4 || shape.slice(1).some((d) => d === null)) {
      throw new OnnxExportError(`input must be [batch, height, width, channels] with fixed height, width and channels; got [${shape.join(', ')}]`, layer);
    }
    const [, height, width, channels] = shape as number[];
    this.inputDims = [channels!, height!, width!];
    this.setOutput(layer, { name: ONNX_INPUT_NAME, rank: 4 });
  }

  /**
   * Conv2D, or DepthwiseConv2D as ONNX's grouped Conv: one group per input channel, each with
   * `depthMultiplier` outputs, which is tfjs's output order (channel c, multiplier q -> c * m + q),
   * so the depthwise kernel [kh, kw, cin, m] is the OIHW kernel [cin * m, 1, kh, kw].
   */
  private conv2d(layer: LayerEntry, depthwise = false): void {
    this.requireChannelsLast(layer);
    const { strides, dilationRate, useBias } = layer.config as { strides: number[]; dilationRate: number | number[]; useBias: boolean };
    const padding = this.padding(layer);
    if ([dilationRate].flat().some((d) => d !== 1)) throw new OnnxExportError('dilated convolutions are not supported', layer);
    const input = this.input(layer);
    this.requireRank(layer, input, 4);
    const [, inHeight, inWidth] = this.inputShape(layer) as number[];
    const [kernel, bias] = this.weights(layer);
    const [kh, kw, kernelIn, kernelOut] = kernel!.shape as [number, number, number, number];
    // A depthwise kernel is laid out as a standard one with one input channel per group.
    const [cin, cout, group] = depthwise ? [1, kernelIn * kernelOut, kernelIn] : [kernelIn, kernelOut, 1];

    const batchNorm = this.foldableBatchNorm(layer);
    const affine = batchNorm ? this.batchNormAffine(batchNorm) : null;
    // Folding: BN(conv(x) + b) = conv(x) * scale + (b * scale + shift), per output channel.
    let biasValues: Float32Array | null = useBias ? bias!.values : null;
    if (affine) {
      biasValues = new Float32Array(cout);
      for (let o = 0; o < cout; o++) biasValues[o] = (useBias ? bias!.values[o]! : 0) * affine.scale[o]! + affine.shift[o]!;
    }
    const weightName = this.addInitializer(`${layer.name}/kernel`, [cout, cin, kh, kw], kernelToOihw(kernel!.values, [kh, kw, cin, cout], affine?.scale));
    const inputs = [input.name, weightName];
    if (biasValues) inputs.push(this.addInitializer(`${layer.name}/bias`, [cout], biasValues));

    const [top, bottom] = paddingFor(padding, inHeight!, kh, strides[0]!);
    const [left, right] = paddingFor(padding, inWidth!, kw, strides[1]!);
    const attributes = [intsAttribute('kernel_shape', [kh, kw]), intsAttribute('strides', strides), intsAttribute('pads', [top, left, bottom, right])];
    if (group > 1) attributes.push(intAttribute('group', group));
    // A folded batch normalisation's output is this convolution's output.
    const output = batchNorm ? batchNorm.name : layer.name;
    const value = this.opWithActivation(layer, 'Conv', inputs, 4, attributes, output);
    this.setOutput(layer, value);
    if (batchNorm) {
      this.folded.add(batchNorm.name);
      this.values.set(batchNorm.name, value);
    }
  }

  private batchNormalization(layer: LayerEntry): void {
    const input = this.input(layer);
    if (!this.isChannelAxis(layer) || (input.rank !== 4 && input.rank !== 2)) {
      throw new OnnxExportError('only normalisation over the channel axis is supported', layer);
    }
    const { scale, shift } = this.batchNormAffine(layer);
    // Emitted as the equivalent affine BatchNormalization (mean 0, variance 1, epsilon 0), so
    // folded and unfolded layers share one formula.
    const channels = scale.length;
    const inputs = [
      input.name,
      this.addInitializer(`${layer.name}/scale`, [channels], Float32Array.from(scale)),
      this.addInitializer(`${layer.name}/shift`, [channels], Float32Array.from(shift)),
      this.addInitializer(`${layer.name}/mean`, [channels], new Float32Array(channels)),
      this.addInitializer(`${layer.name}/variance`, [channels], new Float32Array(channels).fill(1)),
    ];
    this.nodes.push(node('BatchNormalization', layer.name, inputs, [layer.name], [floatAttribute('epsilon', 0)]));
    this.setOutput(layer, { name: layer.name, rank: input.rank });
  }

  private add(layer: LayerEntry): void {
    const inputs = layer.inputs.map((_, i) => this.input(layer, i));
    // ONNX Add is binary; chain it for more inputs.
    let sum = inputs[0]!;
    inputs.slice(1).forEach((next, i) => {
      const output = i === inputs.length - 2 ? layer.name : `${layer.name}/partial${i + 1}`;
      this.nodes.push(node('Add', `${layer.name}/${i + 1}`, [sum.name, next.name], [output]));
      sum = { name: output, rank: next.rank };
    });
    this.setOutput(layer, sum);
  }

  private zeroPadding(layer: LayerEntry): void {
    this.requireChannelsLast(layer);
    const input = this.input(layer);
    this.requireRank(layer, input, 4);
    const [[top, bottom], [left, right]] = layer.config.padding as [[number, number], [number, number]];
    // Pad's pads are all begins then all ends, over N, C, H, W.
    const pads = `${layer.name}/pads`;
    this.initializers.push(int64Tensor(pads, [8], [0, 0, top, left, 0, 0, bottom, right]));
    this.nodes.push(node('Pad', layer.name, [input.name, pads], [layer.name]));
    this.setOutput(layer, { name: layer.name, rank: 4 });
  }

  private maxPooling(layer: LayerEntry): void {
    this.requireChannelsLast(layer);
    const input = this.input(layer);
    this.requireRank(layer, input, 4);
    const { poolSize, strides } = layer.config as { poolSize: number[]; strides: number[] };
    // auto_pad rather than explicit pads (SAME_UPPER pads as tfjs 'same' does, extra at the
    // end; padded positions never win the max in either). Explicit pads would let
    // onnxruntime's Pad fusion (1.30) merge a preceding ZeroPadding2D into them, and MaxPool
    // pads act as -infinity, not zero: ResNet50's pool1_pad would survive that only because
    // its input is non-negative.
    const autoPad = this.padding(layer) === 'same' ? 'SAME_UPPER' : 'VALID';
    const attributes = [intsAttribute('kernel_shape', poolSize), intsAttribute('strides', strides), stringAttribute('auto_pad', autoPad)];
    this.nodes.push(node('MaxPool', layer.name, [input.name], [layer.name], attributes));
    this.setOutput(layer, { name: layer.name, rank: 4 });
  }

  private globalAveragePooling(layer: LayerEntry): void {
    this.requireChannelsLast(layer);
    if (layer.config.keepDims === true) throw new OnnxExportError('keepDims is not supported', layer);
    const input = this.input(layer);
    this.requireRank(layer, input, 4);
    // GlobalAveragePool keeps [N, C, 1, 1]; tfjs gives [N, C].
    const pooled = `${layer.name}/pooled`;
    this.nodes.push(node('GlobalAveragePool', layer.name, [input.name], [pooled]));
    this.nodes.push(node('Flatten', `${layer.name}/flatten`, [pooled], [layer.name], [intAttribute('axis', 1)]));
    this.setOutput(layer, { name: layer.name, rank: 2 });
  }

  private dense(layer: LayerEntry): void {
    const input = this.input(layer);
    this.requireRank(layer, input, 2);
    const [kernel, bias] = this.weights(layer);
    // Gemm computes input [N, in] x kernel [in, out] + bias: tfjs's kernel layout needs no transpose.
    const inputs = [input.name, this.addInitializer(`${layer.name}/kernel`, kernel!.shape, kernel!.values)];
    if (layer.config.useBias) inputs.push(this.addInitializer(`${layer.name}/bias`, bias!.shape, bias!.values));
    this.setOutput(layer, this.opWithActivation(layer, 'Gemm', inputs, 2, [], layer.name));
  }
}
