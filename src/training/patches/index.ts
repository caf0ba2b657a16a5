// Stage-1 patch sampling (docs/method.md, "Patch sampling (stage 1)"): patches cut from the
// model input exactly as the whole-image model will see it, their classes, and augmentation.
export * from './types.js';
export * from './geometry.js';
export * from './sample.js';
export * from './dataset.js';
export * from './augment.js';
export * from './mias.js';
