// Checks an exported ONNX model against the tfjs model it came from: both run the same input
// and the largest difference of their probabilities is reported. Run it after every export
// (a wrong padding or a mis-folded batch normalisation shows as a difference of 1e-2, not as
// an error) before a model package is trusted. When the export has the "heatmap" output, the
// per-cell logits are compared too, against the dense layer applied to tfjs's pooled feature map.

import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { ONNX_HEAT_MAP_NAME, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, heatMapHeadOf } from './export-onnx.js';

export interface ParityReport {
  /** Largest absolute difference between the two models' probabilities. */
  maxAbsDiff: number;
  /** Probabilities [batch x classes], row-major, from tfjs and from onnxruntime. */
  tfjs: Float32Array;
  onnx: Float32Array;
  /**
   * The "heatmap" output against tfjs (per-cell class logits, [batch, classes, h, w] row-major);
   * null when the ONNX model has no such output.
   */
  heatMap: { maxAbsDiff: number; tfjs: Float32Array; onnx: Float32Array } | null;
}

/** Runs `input` (NHWC, as tfjs takes it) through `model` and through `onnxBytes` in onnxruntime. */
export async function compareWithOnnxRuntime(model: tf.LayersModel, onnxBytes: Uint8Array, input: tf.Tensor4D): Promise<ParityReport> {
  const expectedTensor = tf.tidy(() => model.predict(input) as tf.Tensor);
  const nchwTensor = tf.tidy(() => tf.transpose(input, [0, 3, 1, 2]));
  const [expected, nchw] = await Promise.all([expectedTensor.data() as Promise<Float32Array>, nchwTensor.data() as Promise<Float32Array>]);
  const nchwShape = nchwTensor.shape;
  tf.dispose([expectedTensor, nchwTensor]);

  const session = await ort.InferenceSession.create(onnxBytes);
  try {
    const outputs = await session.run({ [ONNX_INPUT_NAME]: new ort.Tensor('float32', nchw, nchwShape) });
    const actual = outputs[ONNX_OUTPUT_NAME]!.data as Float32Array;
    if (actual.length !== expected.length) {
      throw new Error(`onnxruntime gave ${actual.length} probabilities, tfjs ${expected.length}`);
    }
    const heatMapOutput = outputs[ONNX_HEAT_MAP_NAME];
    let heatMap: ParityReport['heatMap'] = null;
    if (heatMapOutput) {
      const reference = await classActivationMap(model, input);
      const onnx = heatMapOutput.data as Float32Array;
      if (onnx.length !== reference.length) throw new Error(`onnxruntime gave ${onnx.length} heat map values, tfjs ${reference.length}`);
      heatMap = { maxAbsDiff: maxAbsDiff(reference, onnx), tfjs: reference, onnx };
    }
    return { maxAbsDiff: maxAbsDiff(expected, actual), tfjs: expected, onnx: actual, heatMap };
  } finally {
    await session.release();
  }
}

/**
 * The class activation map in tfjs, NCHW like the ONNX output: the feature map the global
 * average pooling takes, with the final dense layer's kernel and bias applied to every cell.
 */
export async function classActivationMap(model: tf.LayersModel, input: tf.Tensor4D): Promise<Float32Array> {
  const head = heatMapHeadOf(model);
  if (typeof head === 'string') throw new Error(`model ${model.name} has no class activation map: ${head}`);
  // A second model over the same layers (sharing their weights): never dispose it.
  const features = tf.model({ inputs: model.inputs, outputs: model.getLayer(head.pooling).input as tf.SymbolicTensor });
  const [kernel, bias] = model.getLayer(head.dense).getWeights();
  const map = tf.tidy(() => {
    const cells = features.predict(input) as tf.Tensor4D;
    const [n, h, w, c] = cells.shape;
    let logits = tf.matMul(cells.reshape([n * h * w, c]), kernel as tf.Tensor2D);
    if (bias) logits = logits.add(bias);
    return logits.reshape([n, h, w, -1]).transpose([0, 3, 1, 2]);
  });
  const values = (await map.data()) as Float32Array;
  map.dispose();
  return values;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
