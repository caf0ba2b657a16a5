// Turns a Keras 2 topology (the `model_config` JSON of a saved model) into one that tfjs-layers
// deserialises to a model the ONNX exporter translates, or refuses it saying why. tfjs reads
// Keras's own JSON (snake_case keys, inbound_nodes with kwargs), so the conversion is small:
//
//  - Dropout and the other noise layers are the identity at inference; the exporter does not
//    know them, so they are cut out and their consumers take the layer's input instead.
//  - Initializers are dropped: the saved weights replace whatever they would draw, and Keras
//    versions name their distributions differently ("normal", "untruncated_normal", ...), which
//    tfjs would refuse for nothing.
//  - BatchNormalization's axis is an integer in Keras 2.1 and a one-element list in tf.keras;
//    tfjs takes the integer.
//  - An input whose height and width are open ([None, None, None, 3]) is fixed at the paper's
//    1152x896: the authors built their backbones with an open input (Keras applications with
//    include_top=False) and trained the whole-image models at that size, and the ONNX model
//    needs a fixed one.
//
// Everything else must be a layer the exporter translates (src/ml/onnx/export-onnx.ts); the
// refusal lists every other layer at once, so one run tells an admin what the model lacks.

import { PAPER_INPUT_HEIGHT, PAPER_INPUT_WIDTH } from '../architectures/index.js';
import { SUPPORTED_LAYERS } from '../onnx/index.js';
import { KerasImportError } from './keras-import-error.js';

/** Keras layer classes the import accepts: exactly those exportToOnnx translates. */
export const SUPPORTED_KERAS_LAYERS = SUPPORTED_LAYERS;

/** Layers that only act while training; at inference each passes its input through unchanged. */
export const INFERENCE_IDENTITY_LAYERS = ['Dropout', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout'] as const;

/** The model classes of a functional topology (Keras 2 writes "Model", tf.keras 2.4+ "Functional"). */
const FUNCTIONAL_CLASSES = ['Model', 'Functional'];

/** A reference to a layer's output in inbound_nodes and output_layers: [layer, node, tensor, kwargs?]. */
type TensorRef = [string, number, number, ...unknown[]];

interface KerasLayerConfig {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: TensorRef[][];
}

export interface ImportableTopology {
  /** The Keras JSON to hand to tf.models.modelFromJSON: `{class_name, config}`. */
  modelTopology: { class_name: string; config: Record<string, unknown> };
  /** The model's input, from the InputLayer's batch_input_shape. */
  input: { height: number; width: number; channels: 1 | 3 };
  /** True when the file left the height and width open and they were fixed at the paper's size. */
  inputSizeFixed: boolean;
  /** Names of the layers cut out as the identity at inference. */
  removedLayers: string[];
}

/** Checks and converts `modelConfig` (see the header); throws KerasImportError naming the problem. */
export function importableTopology(file: string, modelConfig: unknown): ImportableTopology {
  const root = modelConfig as { class_name?: unknown; config?: { layers?: unknown; input_layers?: unknown; output_layers?: unknown } } | null;
  const className = String(root?.class_name);
  if (className === 'Sequential') {
    throw new KerasImportError(file, 'is a Sequential model; only functional models (class Model or Functional) are supported, as the authors saved theirs');
  }
  if (!FUNCTIONAL_CLASSES.includes(className) || !Array.isArray(root?.config?.layers)) {
    throw new KerasImportError(file, `model_config is not a Keras functional model (class_name ${className}, expected Model or Functional with config.layers)`);
  }
  const config = root.config;
  const layers = config.layers as KerasLayerConfig[];
  const inputs = config.input_layers as TensorRef[];
  const outputs = config.output_layers as TensorRef[];
  if (!Array.isArray(inputs) || !Array.isArray(outputs) || inputs.length !== 1 || outputs.length !== 1) {
    throw new KerasImportError(file, 'the model must have exactly one input and one output');
  }

  refuseUnsupported(file, layers);
  const identities = new Map(
    layers.filter((layer) => isInferenceIdentity(layer.class_name)).map((layer) => [layer.name, singleInput(file, layer)]),
  );
  /** Follows cut-out layers back to the tensor that feeds them (chains of them too). */
  const resolve = (ref: TensorRef): TensorRef => {
    const replacement = identities.get(ref[0]);
    return replacement ? resolve(replacement) : ref;
  };
  const kept = layers
    .filter((layer) => !identities.has(layer.name))
    .map((layer) => ({
      ...layer,
      config: withoutTrainingOnlySettings(layer),
      inbound_nodes: (layer.inbound_nodes ?? []).map((node) => node.map(resolve)),
    }));
  const { input, inputSizeFixed } = fixInputShape(file, kept, inputs[0]![0]);

  return {
    // An output reference is [layer, node, tensor], without the kwargs an inbound reference may carry.
    modelTopology: { class_name: className, config: { ...config, layers: kept, output_layers: outputs.map((ref) => resolve(ref).slice(0, 3)) } },
    input,
    inputSizeFixed,
    removedLayers: [...identities.keys()],
  };
}

function isInferenceIdentity(className: string): boolean {
  return (INFERENCE_IDENTITY_LAYERS as readonly string[]).includes(className);
}

function refuseUnsupported(file: string, layers: KerasLayerConfig[]): void {
  const unsupported = layers.filter(
    (layer) => !(SUPPORTED_KERAS_LAYERS as readonly string[]).includes(layer.class_name) && !isInferenceIdentity(layer.class_name),
  );
  if (unsupported.length === 0) return;
  const nested = unsupported.filter((layer) => FUNCTIONAL_CLASSES.includes(layer.class_name) || layer.class_name === 'Sequential');
  const named = unsupported.map((layer) => `${layer.name} (${layer.class_name})`).join(', ');
  throw new KerasImportError(
    file,
    `unsupported layers: ${named}. Supported: ${SUPPORTED_KERAS_LAYERS.join(', ')}, and ${INFERENCE_IDENTITY_LAYERS.join(', ')} (dropped: ` +
      `the identity at inference)${nested.length > 0 ? '. A model nested as a layer must be flattened into one functional model before saving' : ''}`,
    { layer: unsupported.length === 1 ? unsupported[0]!.name : undefined },
  );
}

/** The one tensor a cut-out layer passes through. */
function singleInput(file: string, layer: KerasLayerConfig): TensorRef {
  const [node, ...others] = layer.inbound_nodes ?? [];
  if (!node || node.length !== 1 || others.length > 0) {
    throw new KerasImportError(file, `${layer.class_name} must be applied once to one input to be dropped`, { layer: layer.name });
  }
  return node[0]!;
}

/** A copy of the layer's config without initializers, with the batch-norm axis as tfjs takes it. */
function withoutTrainingOnlySettings(layer: KerasLayerConfig): Record<string, unknown> {
  const config = Object.fromEntries(Object.entries(layer.config).filter(([key]) => !key.endsWith('_initializer')));
  const axis = config.axis;
  if (layer.class_name === 'BatchNormalization' && Array.isArray(axis) && axis.length === 1) config.axis = axis[0];
  return config;
}

/** The model's input size; an open height and width are set to the paper's in the (copied) InputLayer config. */
function fixInputShape(file: string, layers: KerasLayerConfig[], inputName: string): Pick<ImportableTopology, 'input' | 'inputSizeFixed'> {
  const input = layers.find((layer) => layer.name === inputName);
  const shape = input?.config.batch_input_shape;
  if (input?.class_name !== 'InputLayer' || !Array.isArray(shape)) {
    throw new KerasImportError(file, `the model's input ${inputName} is not an InputLayer with a batch_input_shape`);
  }
  const [, height, width, channels] = shape as Array<number | null>;
  const open = height === null && width === null;
  const fixed = typeof height === 'number' && typeof width === 'number';
  if (shape.length !== 4 || !(open || fixed) || (channels !== 1 && channels !== 3)) {
    throw new KerasImportError(
      file,
      `input shape [${shape.map((d) => d ?? 'None').join(', ')}] is not supported: expected [None, height, width, 1 or 3], height and width both fixed or both open`,
      { layer: inputName },
    );
  }
  if (open) input.config.batch_input_shape = [null, PAPER_INPUT_HEIGHT, PAPER_INPUT_WIDTH, channels];
  return { input: { height: height ?? PAPER_INPUT_HEIGHT, width: width ?? PAPER_INPUT_WIDTH, channels }, inputSizeFixed: open };
}
