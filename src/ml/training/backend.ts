// Sets tfjs up for training on the wasm backend: the backend's binaries from the installed
// package, then the gradient kernels it lacks (wasm-kernels.ts).
//
// In Node, tfjs-backend-wasm runs single-threaded: its threaded build needs blob-URL workers,
// which Node lacks, so it loads tfjs-backend-wasm-simd.wasm and all kernels run on the calling
// thread (one core). Run several trainings in separate processes to use more cores.

import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

export interface TrainingBackend {
  /** Always 'wasm'. */
  name: string;
  /** Kernels registered by this call (empty when an earlier call registered them). */
  registeredKernels: string[];
}

/**
 * Makes 'wasm' the active tfjs backend with the training kernels registered; safe to call more
 * than once. Call it (and await it) before building or loading the models to train.
 */
export async function trainingBackend(): Promise<TrainingBackend> {
  const registeredKernels = registerWasmTrainingKernels();
  // engine.backendName and engine.registry do not start a backend (tf.getBackend() and
  // tf.findBackend() would, before the wasm paths are set).
  const engine = tf.engine();
  if (engine.backendName !== 'wasm') {
    // In Node the binaries are read from the package's dist folder, given as a file path; the
    // paths can be set only before the backend's first initialisation.
    if (!('wasm' in engine.registry)) {
      const packageDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
      setWasmPaths(`${path.join(packageDir, 'dist')}${path.sep}`);
    }
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialise');
  }
  await tf.ready();
  return { name: tf.getBackend(), registeredKernels };
}
