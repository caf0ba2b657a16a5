// A tiny two-stage training setup for tests: 11 mini-MIAS images (4 malignant women), a 128x96
// input, a YaroslavNet at 1/8 of its filters, 64-pixel patches, one or two epochs per phase.

import { copyFile, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { sharedFile } from './shared-data.js';
import { parseTrainingConfig, type TrainingConfig, type TrainingConfigInputFile } from '../../src/training/trainer/index.js';

export const TINY_IMAGES = ['mdb023', 'mdb058', 'mdb072', 'mdb090', 'mdb032', 'mdb063', 'mdb003', 'mdb004', 'mdb007', 'mdb009', 'mdb011'];

/** A MIAS folder with the tiny subset (links to the shared files) and the label file. */
export async function tinyMiasDir(root: string, ids: readonly string[] = TINY_IMAGES): Promise<string> {
  const dir = path.join(root, 'mias');
  await mkdir(dir, { recursive: true });
  await copyFile(sharedFile('mias', 'labels.txt'), path.join(dir, 'labels.txt'));
  for (const id of ids) await symlink(sharedFile('mias', `${id}.pgm`), path.join(dir, `${id}.pgm`));
  return dir;
}

export function tinyConfigInput(miasDir: string, overrides: Partial<TrainingConfigInputFile> = {}): TrainingConfigInputFile {
  return {
    seed: 7,
    dataset: { kind: 'mias', dir: miasDir },
    model: { backbone: 'yaroslavnet', filtersScale: 0.125, inputHeight: 128, inputWidth: 96 },
    stage1: {
      patchSize: 64,
      set: 'S10',
      patchesPerRoi: 4,
      backgroundPerImage: 2,
      batchSize: 16,
      phases: { lastLayer: { epochs: 1, learningRate: 1e-2 }, topLayers: { epochs: 1, learningRate: 1e-2 }, allLayers: { epochs: 1, learningRate: 1e-3 } },
    },
    stage2: { top: 'resnet', phase1: { epochs: 10, learningRate: 1e-3, batchSize: 8 } },
    folds: 2,
    bootstrapSamples: 200,
    ...overrides,
  };
}

export function tinyConfig(miasDir: string, overrides: Partial<TrainingConfigInputFile> = {}): TrainingConfig {
  return parseTrainingConfig(tinyConfigInput(miasDir, overrides));
}
