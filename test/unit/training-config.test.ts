// The training configuration refuses, before any training, what the models would refuse only
// after stage 1 had run; it fills the defaults and keeps what the file says.

import { describe, expect, it } from 'vitest';
import { parseTrainingConfig } from '../../src/training/trainer/config.js';

const base = { dataset: { kind: 'mias', dir: '/data/mias' } };

describe('training configuration', () => {
  it("refuses an input too small for the backbone with the chosen top, naming the field", () => {
    // yaroslavnet: stride 64; the VGG top's 2x2 pool needs 128.
    expect(() => parseTrainingConfig({ ...base, model: { inputHeight: 128, inputWidth: 96 }, stage1: { patchSize: 64 }, stage2: { top: 'vgg' } })).toThrow(
      /training config model\.inputWidth: must be at least 128 for yaroslavnet with the vgg top; got 96/,
    );
    expect(parseTrainingConfig({ ...base, model: { inputHeight: 128, inputWidth: 96 }, stage1: { patchSize: 64 }, stage2: { top: 'resnet' } }).model.inputWidth).toBe(96);
    expect(() => parseTrainingConfig({ ...base, model: { backbone: 'resnet50', inputHeight: 31, inputWidth: 64 }, stage1: { patchSize: 32 } })).toThrow(/model\.inputHeight: must be at least 32 for resnet50/);
  });

  it('refuses a patch smaller than the backbone stride or larger than the input', () => {
    expect(() => parseTrainingConfig({ ...base, stage1: { patchSize: 48 } })).toThrow(/training config stage1\.patchSize: must be at least 64 for yaroslavnet; got 48/);
    expect(() => parseTrainingConfig({ ...base, model: { inputHeight: 256, inputWidth: 192 }, stage1: { patchSize: 224 } })).toThrow(/stage1\.patchSize: must fit the 256x192 input; got 224/);
  });

  it('keeps hard negatives when given and leaves them to the sampler otherwise', () => {
    expect(parseTrainingConfig({ ...base, stage1: { hardNegativesPerImage: 5 } }).stage1.hardNegativesPerImage).toBe(5);
    expect(parseTrainingConfig(base).stage1.hardNegativesPerImage).toBeUndefined();
    expect(() => parseTrainingConfig({ ...base, stage1: { hardNegativesPerImage: -1 } })).toThrow(/training config stage1\.hardNegativesPerImage/);
  });
});
