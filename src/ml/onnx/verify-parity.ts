// Checks an exported ONNX model against the tfjs model it came from: both run the same input
// and the largest difference of their probabilities is reported. Run it after every export
// (a wrong padding or a mis-folded batch normalisation shows as a difference of 1e-2, not as
// an error) before a model package is trusted.

import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from './export-onnx.js';

export interface ParityReport {
  /** Largest absolute difference between the two models' probabilities. */
  maxAbsDiff: number;
  /** Probabilities [batch x classes], row-major, from tfjs and from onnxruntime. */
  tfjs: Float32Array;
  onnx: Float32Array;
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
    let maxAbsDiff = 0;
    for (let i = 0; i < expected.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(expected[i]! - actual[i]!));
    return { maxAbsDiff, tfjs: expected, onnx: actual };
  } finally {
    await session.release();
  }
}
