// The backbones a model can be built on, and the options every model factory shares (input
// size, channels, width), validated in one place so that a bad option fails with its name
// before tfjs builds anything.

import type * as tf from '@tensorflow/tfjs';
import { ValidationError } from '../../domain/errors.js';
import { BACKBONE_STRIDES } from './names.js';
import { mobileNetV1Backbone } from './mobilenet-v1.js';
import { resnet50Backbone } from './resnet50.js';
import { vgg16Backbone } from './vgg16.js';
import { yaroslavNetBackbone } from './yaroslavnet.js';

import { BACKBONE_NAMES, type BackboneName } from './names.js';

export { BACKBONE_NAMES, type BackboneName };

interface Backbone {
  /** Applies the backbone's convolutional part; returns its last feature map. */
  build(input: tf.SymbolicTensor, filtersScale: number): tf.SymbolicTensor;
  /** Input pixels per feature-map position: an input smaller than this has no feature map. */
  stride: number;
}

export const BACKBONES: Record<BackboneName, Backbone> = {
  resnet50: { build: resnet50Backbone, stride: BACKBONE_STRIDES.resnet50 },
  vgg16: { build: vgg16Backbone, stride: BACKBONE_STRIDES.vgg16 },
  yaroslavnet: { build: yaroslavNetBackbone, stride: BACKBONE_STRIDES.yaroslavnet },
  mobilenet: { build: mobileNetV1Backbone, stride: BACKBONE_STRIDES.mobilenet },
};

/** The paper's whole-image input, height x width (DDSM images resized). */
export const PAPER_INPUT_HEIGHT = 1152;
export const PAPER_INPUT_WIDTH = 896;

export interface BackboneOptions {
  backbone: BackboneName;
  /** Input height and width in pixels (whole image: 1152 x 896 in the paper; patch: 224). */
  inputHeight: number;
  inputWidth: number;
  /** 1 (grey) or 3 (grey replicated, for ImageNet-initialised backbones). */
  channels: number;
  /** Fraction of the published filter counts, in (0, 1] (default 1): small copies for tests. */
  filtersScale?: number;
}

/**
 * Checks the shared options. `headStride` is the downsampling the layers after the backbone
 * need on top of the backbone's own (2 for a 2x2 max pool), which sets the smallest input.
 */
export function validateBackboneOptions<T extends BackboneOptions>(options: T, headStride = 1): T & { filtersScale: number } {
  if (!BACKBONE_NAMES.includes(options.backbone)) {
    throw new ValidationError('backbone', `must be one of ${BACKBONE_NAMES.join(', ')}; got ${String(options.backbone)}`);
  }
  const minimumSize = BACKBONES[options.backbone].stride * headStride;
  for (const field of ['inputHeight', 'inputWidth'] as const) {
    const value = options[field];
    if (!Number.isInteger(value) || value < minimumSize) {
      throw new ValidationError(field, `must be an integer of at least ${minimumSize} for ${options.backbone}; got ${value}`);
    }
  }
  if (!Number.isInteger(options.channels) || options.channels < 1) {
    throw new ValidationError('channels', `must be a positive integer; got ${options.channels}`);
  }
  const filtersScale = options.filtersScale ?? 1;
  if (!(filtersScale > 0 && filtersScale <= 1)) {
    throw new ValidationError('filtersScale', `must be in (0, 1]; got ${filtersScale}`);
  }
  return { ...options, filtersScale };
}
