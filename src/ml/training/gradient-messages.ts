// The messages between a training loop and its gradient threads (gradient-threads.ts and
// gradient-thread.ts): plain data, copied by the structured clone.

export interface GradientThreadInit {
  /** model.toJSON(): the layers and their configuration, names included. */
  topology: unknown;
  /** Every weight of the model (model.getWeights() order): the frozen ones stay as sent. */
  weights: Array<{ shape: number[]; values: Float32Array }>;
  /** Indexes into model.trainableWeights of the variables the loop trains, in its order. */
  trained: number[];
  /** BN in training mode (false: frozen, inference statistics). */
  training: boolean;
  classWeights: number[];
}

/** One shard of one batch, with the trained variables' values as the loop holds them now. */
export interface GradientRequest {
  type: 'step';
  id: number;
  values: Float32Array[];
  x: Float32Array;
  xShape: [number, number, number, number];
  y: Float32Array;
  yShape: [number, number];
  /** The whole batch's sum of example weights: each shard's loss is divided by it. */
  totalWeight: number;
}

export type GradientReply =
  | { type: 'ready'; error?: string }
  | { type: 'gradients'; id: number; loss: number; gradients: Float32Array[] }
  | { type: 'failed'; id: number; error: string };

/**
 * A typed array with a buffer of its own: a view into the wasm heap (or any larger buffer) is
 * copied out, so that posting it neither clones nor detaches more than its values.
 */
export function ownBuffer(values: Float32Array): Float32Array {
  return values.byteOffset === 0 && values.byteLength === values.buffer.byteLength && values.buffer instanceof ArrayBuffer ? values : values.slice();
}
