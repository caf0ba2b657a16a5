// Training support for the tfjs models: the wasm backend with the gradient kernels it lacks
// (and faster or fixed replacements for some it has).
export { type TrainingBackend, trainingBackend } from './backend.js';
export { MAX_CHUNK_BYTES, TARGET_CHUNK_ROWS, WASM_TRAINING_KERNELS, registerWasmTrainingKernels } from './wasm-kernels.js';
export { ownBuffer } from './gradient-messages.js';
export { GradientThreads, type Shard, type ShardGradients } from './gradient-threads.js';
export { exampleWeights, weightedCrossEntropySum } from './loss.js';
