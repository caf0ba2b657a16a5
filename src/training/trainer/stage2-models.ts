// The pieces of stage 2's first phase (docs/method.md: top layers only, backbone frozen; or the
// top with the backbone's last layers, "partly fine-tuned", when a first trained layer is named):
//  - the backbone cut out of the whole-image model as an onnxruntime graph, so its feature maps
//    of every whole image are computed ONCE (onnxruntime is several times faster than tfjs here);
//  - a "top model": the whole-image model's top layers (blocks, pooling, softmax) as a tfjs
//    model of their own whose input is the feature map, trained on the cached features. Its
//    layers carry the same names as the whole model's, so the trained weights go back by name.
// The exporter only writes graphs that end in a softmax, so the cut is made on the exported
// whole model: the tensor that feeds its first top layer becomes a second graph output.

import * as tf from '@tensorflow/tfjs';
import onnxProto from 'onnx-proto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { TOP_LAYER_PREFIX } from '../../ml/architectures/index.js';
import { exportToOnnx } from '../../ml/onnx/index.js';
import { ValidationError } from '../../domain/errors.js';
import type { ImageBatch } from '../../ml/preprocess/index.js';

const { onnx } = onnxProto;

/** A Keras-format layer entry of model.toJSON (only what is read here). */
interface KerasLayer {
  class_name: string;
  name: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes: Array<Array<[string, number, number, Record<string, unknown>]>>;
}

interface KerasTopology {
  class_name: string;
  config: { name: string; layers: KerasLayer[]; input_layers: Array<[string, number, number]>; output_layers: Array<[string, number, number]> };
  [key: string]: unknown;
}

export const FEATURES_INPUT = 'backbone_features';

const isTop = (name: string) => name.startsWith(TOP_LAYER_PREFIX);

/** The top layers' names that hold weights (what moves between the top model and the whole model). */
export function topLayerNames(model: tf.LayersModel): string[] {
  return model.layers.filter((l) => isTop(l.name) && l.weights.length > 0).map((l) => l.name);
}

/** The layers a trained part takes weights from: every layer with weights (all of a top model's layers are trained). */
export function trainedLayerNames(top: tf.LayersModel): string[] {
  return top.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
}

/**
 * The names of the layers phase 1 trains: the top's, and with `trainFrom` also the backbone's
 * from that layer on (tfjs keeps a functional model's layers in topological order).
 */
export function tailLayers(whole: tf.LayersModel, trainFrom?: string): Set<string> {
  if (trainFrom === undefined) return new Set(whole.layers.filter((l) => isTop(l.name)).map((l) => l.name));
  const index = whole.layers.findIndex((l) => l.name === trainFrom);
  if (index <= 0) throw new ValidationError('training config stage2.phase1.trainFrom', `${whole.name} has no backbone layer named ${trainFrom}`);
  if (isTop(trainFrom)) throw new ValidationError('training config stage2.phase1.trainFrom', `${trainFrom} is a top layer: name a backbone layer (the top trains anyway)`);
  return new Set(whole.layers.slice(index).map((l) => l.name));
}

/**
 * Builds the model phase 1 trains: the whole-image model's tail (`tail`: top layers, and any
 * backbone layers after the cut) as a model of its own whose input is the feature map [h, w, c]
 * where the tail begins.
 */
export async function createTopModel(whole: tf.LayersModel, tail: ReadonlySet<string> = tailLayers(whole)): Promise<tf.LayersModel> {
  const topology = whole.toJSON(null, false) as unknown as KerasTopology;
  const layers = topology.config.layers;
  const inTail = (name: string) => tail.has(name);
  const topEntries = layers.filter((l) => inTail(l.name));
  const feeding = new Set(topEntries.flatMap((l) => l.inbound_nodes.flat().map((n) => n[0])).filter((name) => !inTail(name)));
  if (feeding.size !== 1) {
    throw new ValidationError('training config stage2.phase1.trainFrom', `whole-image model ${whole.name}: the trained layers must read one backbone tensor; they read ${[...feeding].join(', ') || 'none'} (cut between blocks, not inside one)`);
  }
  const backboneOutput = [...feeding][0]!;
  const [, h, w, c] = whole.getLayer(backboneOutput).outputShape as [null, number, number, number];
  const inputLayer: KerasLayer = {
    class_name: 'InputLayer',
    name: FEATURES_INPUT,
    config: { name: FEATURES_INPUT, batch_input_shape: [null, h, w, c], dtype: 'float32', sparse: false },
    inbound_nodes: [],
  };
  const rewired = topEntries.map((l) => ({
    ...l,
    inbound_nodes: l.inbound_nodes.map((node) => node.map((n) => (n[0] === backboneOutput ? ([FEATURES_INPUT, 0, 0, n[3]] as typeof n) : n))),
  }));
  const config = {
    ...topology,
    config: { ...topology.config, name: `${whole.name}_top_only`, layers: [inputLayer, ...rewired], input_layers: [[FEATURES_INPUT, 0, 0]] },
  };
  const top = await tf.models.modelFromJSON({ modelTopology: config as unknown as tf.io.ModelJSON['modelTopology'] });
  copyLayers(whole, top, trainedLayerNames(top));
  return top;
}

/** Copies the named layers' weights (values, not shared buffers) from one model to another. */
export function copyLayers(from: tf.LayersModel, to: tf.LayersModel, names: readonly string[]): void {
  for (const name of names) {
    const values = from.getLayer(name).getWeights().map((t) => t.clone());
    to.getLayer(name).setWeights(values);
    tf.dispose(values);
  }
}

/** The name of the ONNX tensor that feeds the first trained layer (the backbone's output, or the cut). */
function backboneTensorName(model: onnxProto.onnx.ModelProto, trainFrom?: string): string {
  const first = model.graph!.node!.find((n) => (trainFrom === undefined ? isTop(n.name ?? '') : n.name === trainFrom));
  if (!first?.input?.[0]) throw new Error(`exported whole-image model: no node for ${trainFrom ?? 'the top layers'} found`);
  return first.input[0];
}

/**
 * An onnxruntime session over the exported whole-image model that also hands out the
 * backbone's feature map (NCHW); the features are returned NHWC, as the tfjs top model takes them.
 */
export class BackboneFeatures {
  private constructor(
    private readonly session: InferenceSession,
    private readonly featureName: string,
  ) {}

  static async open(whole: tf.LayersModel, threads: number, trainFrom?: string): Promise<BackboneFeatures> {
    const model = onnx.ModelProto.decode(exportToOnnx(whole));
    const featureName = backboneTensorName(model, trainFrom);
    model.graph!.output!.push({ name: featureName, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } });
    const bytes = onnx.ModelProto.encode(model).finish();
    const session = await InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
    return new BackboneFeatures(session, featureName);
  }

  /** Feature maps of a batch, one Float32Array [h, w, c] per image, and their shape. */
  async compute(batch: ImageBatch): Promise<{ maps: Float32Array[]; shape: [number, number, number] }> {
    const input = new Tensor('float32', batch.data, batch.shape);
    const out = await this.session.run({ input }, [this.featureName]);
    input.dispose();
    const value = out[this.featureName]!;
    const [n, c, h, w] = value.dims as [number, number, number, number];
    const data = value.data as Float32Array;
    const maps: Float32Array[] = [];
    for (let i = 0; i < n; i++) {
      const nhwc = new Float32Array(h * w * c);
      for (let ch = 0; ch < c; ch++) {
        for (let p = 0; p < h * w; p++) nhwc[p * c + ch] = data[((i * c + ch) * h * w) + p]!;
      }
      maps.push(nhwc);
    }
    value.dispose();
    return { maps, shape: [h, w, c] };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
