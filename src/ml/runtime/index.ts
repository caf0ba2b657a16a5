// Inference on onnxruntime-node: model packages in, P(malignant) per image out (and heat maps).
export { createModelRuntime, type DetailedScore, type HeatMapScore, type ModelRuntime, type ModelRuntimeOptions, type RunTiming, type RuntimeMember } from './model-runtime.js';
export { createThreadedModelRuntime, type ThreadedModelRuntime, type ThreadedRuntimeOptions } from './threaded-runtime.js';
export { ModelSession, type SessionSettings } from './model-session.js';
export { sessionCacheStats } from './session-cache.js';
