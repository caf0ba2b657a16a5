// The exporter's "heatmap" output on small models (tfjs cpu backend): it is added when the
// model ends in global average pooling + dense softmax (and only then, or refused when required),
// it leaves the probabilities' graph exactly as it was, it agrees with tfjs, its cells' logits
// average to the image's logit (the class-activation-map identity), and the registry reads it
// from a package and refuses a malformed one.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomizeWeights } from '../../src/ml/architectures/random-weights.js';
import { ONNX_HEAT_MAP_NAME, ONNX_OUTPUT_NAME, OnnxExportError, compareWithOnnxRuntime, exportToOnnx } from '../../src/ml/onnx/index.js';
import { readPackage, verifyPackage } from '../../src/ml/registry/index.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';

const { onnx } = onnxProto;
const SEED = 4321;
const TOLERANCE = 1e-5;
const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

/** The method's shape at toy size: strided convolutions, BN, ReLU, a max pool, then GAP and the dense softmax. */
function smallWholeImageModel(classes = 2): tf.LayersModel {
  const input = tf.input({ name: 'input', shape: [32, 24, 3] });
  let x = apply(tf.layers.conv2d({ name: 'c1', filters: 6, kernelSize: 3, strides: 2, padding: 'same', useBias: false }), input);
  x = apply(tf.layers.batchNormalization({ name: 'bn1' }), x);
  x = apply(tf.layers.activation({ name: 'relu1', activation: 'relu' }), x);
  x = apply(tf.layers.conv2d({ name: 'c2', filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }), x);
  x = apply(tf.layers.maxPooling2d({ name: 'top_pool', poolSize: 2, strides: 2 }), x);
  x = apply(tf.layers.globalAveragePooling2d({ name: 'top_avg_pool' }), x);
  x = apply(tf.layers.dense({ name: 'top_predictions', units: classes, activation: 'softmax' }), x);
  return tf.model({ name: 'small', inputs: input, outputs: x });
}

function seededModel(classes = 2): { model: tf.LayersModel; input: tf.Tensor4D } {
  const model = smallWholeImageModel(classes);
  const input = tf.randomNormal([3, 32, 24, 3], 0, 1, 'float32', SEED) as tf.Tensor4D;
  randomizeWeights(model, SEED, input);
  return { model, input };
}

const dims = (info: onnxProto.onnx.IValueInfoProto) => info.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));

let work: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  work = await mkdtemp(path.join(tmpdir(), 'mammocad-heatmap-export-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the "heatmap" output', () => {
  it('is [batch, classes, h, w] over the pooled feature map, and agrees with tfjs', async () => {
    const { model, input } = seededModel();
    const bytes = exportToOnnx(model);
    const graph = onnx.ModelProto.decode(bytes).graph!;
    expect(graph.output!.map((o) => o.name)).toEqual([ONNX_OUTPUT_NAME, ONNX_HEAT_MAP_NAME]);
    // 32 x 24 -> 16 x 12 -> 8 x 6 -> max pool 4 x 3.
    expect(dims(graph.output![1]!)).toEqual(['batch', 2, 4, 3]);
    const tensors = tf.memory().numTensors;
    const report = await compareWithOnnxRuntime(model, bytes, input);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(report.maxAbsDiff).toBeLessThan(TOLERANCE);
    expect(report.heatMap!.tfjs).toHaveLength(3 * 2 * 4 * 3);
    expect(report.heatMap!.maxAbsDiff).toBeLessThan(TOLERANCE);
    // Cells that differ, or agreement on a constant would prove little.
    expect(new Set(Array.from(report.heatMap!.tfjs, (v) => v.toFixed(3))).size).toBeGreaterThan(10);
    input.dispose();
    model.dispose();
  });

  it("averages, cell by cell, to the image's logit: mean(z1 - z0) = log(p / (1 - p))", async () => {
    const { model, input } = seededModel();
    const report = await compareWithOnnxRuntime(model, exportToOnnx(model), input);
    const cells = 4 * 3;
    for (const [name, probabilities, map] of [
      ['onnxruntime', report.onnx, report.heatMap!.onnx],
      ['tfjs', report.tfjs, report.heatMap!.tfjs],
    ] as const) {
      for (let n = 0; n < 3; n++) {
        let mean = 0;
        for (let cell = 0; cell < cells; cell++) mean += (map[(n * 2 + 1) * cells + cell]! - map[n * 2 * cells + cell]!) / cells;
        const p = probabilities[n * 2 + 1]!;
        expect(p > 0.01 && p < 0.99, `${name} image ${n}: p = ${p} is not saturated`).toBe(true);
        expect(Math.abs(mean - Math.log(p / (1 - p))), `${name} image ${n}`).toBeLessThan(1e-5);
      }
    }
    input.dispose();
    model.dispose();
  });

  it('leaves the probabilities graph exactly as an export without it', () => {
    const { model, input } = seededModel();
    const without = exportToOnnx(model, { heatMap: false, docString: 'v1' });
    const withMap = onnx.ModelProto.decode(exportToOnnx(model, { docString: 'v1' }));
    expect(onnx.ModelProto.decode(without).graph!.output!.map((o) => o.name)).toEqual([ONNX_OUTPUT_NAME]);
    // Take the heat map's node, weights and output away: the same bytes.
    const graph = withMap.graph!;
    graph.node = graph.node!.filter((n) => !n.output!.includes(ONNX_HEAT_MAP_NAME));
    graph.initializer = graph.initializer!.filter((t) => !t.name!.includes('/heatmap_'));
    graph.output = graph.output!.filter((o) => o.name !== ONNX_HEAT_MAP_NAME);
    expect(Buffer.from(onnx.ModelProto.encode(withMap).finish()).equals(Buffer.from(without))).toBe(true);
    input.dispose();
    model.dispose();
  });

  it('is left out where the model does not end in pooling + dense, and refused there when required', () => {
    const input = tf.input({ name: 'input', shape: [8, 8, 2] });
    const pooled = apply(tf.layers.globalAveragePooling2d({ name: 'gap' }), apply(tf.layers.conv2d({ name: 'c', filters: 3, kernelSize: 3 }), input));
    const hidden = apply(tf.layers.dense({ name: 'hidden', units: 4, activation: 'relu' }), pooled);
    const model = tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'out', units: 2, activation: 'softmax' }), hidden) });
    expect(onnx.ModelProto.decode(exportToOnnx(model)).graph!.output!.map((o) => o.name)).toEqual([ONNX_OUTPUT_NAME]);
    expect(() => exportToOnnx(model, { heatMap: true })).toThrow(OnnxExportError);
    expect(() => exportToOnnx(model, { heatMap: true })).toThrow(/cannot give a heat map: its output layer out does not take a GlobalAveragePooling2D directly/);
    model.dispose();
  });

  it('gives every class a map when there are more than two', async () => {
    const { model, input } = seededModel(5);
    const report = await compareWithOnnxRuntime(model, exportToOnnx(model), input);
    expect(report.heatMap!.onnx).toHaveLength(3 * 5 * 4 * 3);
    expect(report.heatMap!.maxAbsDiff).toBeLessThan(TOLERANCE);
    input.dispose();
    model.dispose();
  });
});

describe('packages with the "heatmap" output', () => {
  it('are read with the output in their signature; packages without it have none', async () => {
    const { model, input } = seededModel();
    const spec = { inputHeight: 32, inputWidth: 24, channels: 3 as const };
    const withMap = await readPackage(await writeTestPackage(work, { version: 'with-map', model: exportToOnnx(model), preprocessing: spec }));
    const without = await readPackage(await writeTestPackage(work, { version: 'without-map', model: exportToOnnx(model, { heatMap: false }), preprocessing: spec }));
    expect(withMap.model.signature.heatMap).toEqual({ name: 'heatmap', elementType: 'FLOAT', shape: ['batch', 2, 4, 3] });
    expect(withMap.model.signature.output.name).toBe('probabilities');
    expect(without.model.signature).not.toHaveProperty('heatMap');
    input.dispose();
    model.dispose();
  });

  it('are refused when the output is not [N, classes, rows, columns]', async () => {
    const { model, input } = seededModel();
    const decoded = onnx.ModelProto.decode(exportToOnnx(model));
    decoded.graph!.output![1]!.type!.tensorType!.shape!.dim![1] = { dimValue: 3 };
    const dir = await writeTestPackage(work, { version: 'bad-map', model: onnx.ModelProto.encode(decoded).finish(), preprocessing: { inputHeight: 32, inputWidth: 24, channels: 3 } });
    const verification = await verifyPackage(dir);
    expect(verification.problems).toEqual([
      { file: 'model.onnx', problem: 'output "heatmap" is FLOAT [batch, 3, 4, 3]; expected FLOAT [N, 2, rows, columns] (class logits per cell, fixed grid)' },
    ]);
    input.dispose();
    model.dispose();
  });
});
