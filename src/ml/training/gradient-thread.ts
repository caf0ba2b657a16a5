// A gradient thread (gradient-threads.ts): its own copy of the model on its own tfjs wasm
// backend (one core); for each request it takes the trained variables' values from the loop,
// computes the gradients of its shard's share of the batch loss and sends them back.

import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { weightedCrossEntropySum } from './loss.js';
import { trainingBackend } from './backend.js';
import { ownBuffer, type GradientReply, type GradientRequest, type GradientThreadInit } from './gradient-messages.js';

const port = parentPort!;
const init = workerData as GradientThreadInit;

async function start(): Promise<{ model: tf.LayersModel; variables: tf.Variable[]; classWeights: tf.Tensor1D }> {
  await trainingBackend();
  const model = await tf.models.modelFromJSON({ modelTopology: init.topology as tf.io.ModelJSON['modelTopology'] });
  const weights = init.weights.map((w) => tf.tensor(w.values, w.shape));
  model.setWeights(weights);
  tf.dispose(weights);
  const all = model.trainableWeights;
  const variables = init.trained.map((i) => all[i]!.read() as tf.Variable);
  return { model, variables, classWeights: tf.tensor1d(init.classWeights) };
}

function step(ready: Awaited<ReturnType<typeof start>>, request: GradientRequest): GradientReply {
  const { model, variables, classWeights } = ready;
  variables.forEach((v, i) => {
    const value = tf.tensor(request.values[i]!, v.shape);
    v.assign(value);
    value.dispose();
  });
  const { value, grads } = tf.variableGrads(
    () =>
      tf.tidy(() => {
        const x = tf.tensor4d(request.x, request.xShape);
        const y = tf.tensor2d(request.y, request.yShape);
        return weightedCrossEntropySum(model.apply(x, { training: init.training }) as tf.Tensor, y, classWeights).div(request.totalWeight) as tf.Scalar;
      }),
    variables,
  );
  // A variable the loss does not reach has no gradient: zeros (the loop's step skips nothing).
  const gradients = variables.map((v) => (grads[v.name] ? ownBuffer(grads[v.name]!.dataSync() as Float32Array) : new Float32Array(v.size)));
  const loss = value.dataSync()[0]!;
  value.dispose();
  tf.dispose(grads);
  return { type: 'gradients', id: request.id, loss, gradients };
}

start().then(
  (ready) => {
    port.postMessage({ type: 'ready' } satisfies GradientReply);
    port.on('message', (request: GradientRequest) => {
      let reply: GradientReply;
      try {
        reply = step(ready, request);
      } catch (error) {
        reply = { type: 'failed', id: request.id, error: (error as Error).message };
      }
      port.postMessage(reply, reply.type === 'gradients' ? reply.gradients.map((g) => g.buffer as ArrayBuffer) : []);
    });
  },
  (error: unknown) => port.postMessage({ type: 'ready', error: (error as Error).message } satisfies GradientReply),
);
