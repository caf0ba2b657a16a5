// Patch sampling on the real shared mini-MIAS films (read in place; test/support/shared-data.ts).
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PREPROCESSING } from '../../src/ml/preprocess/index.js';
import { readMiasDataset, type MiasImage } from '../../src/training/datasets/mias.js';
import { samplePatchDataset, type PatchDataset } from '../../src/training/patches/dataset.js';
import { inputGeometry, storedToInput } from '../../src/training/patches/geometry.js';
import { miasPatchSource } from '../../src/training/patches/mias.js';
import { patchOverlap } from '../../src/training/patches/sample.js';
import { needsSharedData, sharedFile } from '../support/shared-data.js';

// Four women (8 films), 5 lesions: w012 (mdb023 CIRC M), w066 (mdb132: two CIRC B),
// w105 (mdb209 CALC M), w110 (mdb219 CALC B).
const WOMEN = ['w012', 'w066', 'w105', 'w110'];

describe('S10 on mini-MIAS, 4 women', needsSharedData('mias'), () => {
  let images: MiasImage[];
  let dataset: PatchDataset;

  beforeAll(async () => {
    const mias = await readMiasDataset(path.dirname(sharedFile('mias', 'labels.txt')));
    images = mias.images.filter((i) => WOMEN.includes(i.womanId));
    dataset = await samplePatchDataset(images.map((i) => miasPatchSource(i)), { set: 'S10', seed: 1, validationFraction: 0.25 });
  }, 30_000);

  it('gives 10 patches per lesion and 10 background patches per film, split by woman', () => {
    expect(images).toHaveLength(8);
    expect(dataset.counts.total).toEqual({ background: 80, calc_benign: 10, calc_malignant: 10, mass_benign: 20, mass_malignant: 10 });
    expect(dataset.images.every((i) => i.shortfall.lesion === 0 && i.shortfall.background === 0)).toBe(true);
    // One positive woman and one negative one go to validation; no woman is on both sides.
    expect(dataset.validationWomen).toHaveLength(2);
    const trainWomen = new Set(dataset.train.map((p) => p.provenance.womanId));
    for (const w of dataset.validationWomen) expect(trainWomen.has(w)).toBe(false);
    expect(dataset.validationWomen.filter((w) => ['w012', 'w105'].includes(w))).toHaveLength(1);
    // Right breasts (odd numbers) were turned to the left, as the decoder does.
    expect(dataset.images.map((i) => [i.id, i.flipped])).toEqual(images.map((i) => [i.id, i.laterality === 'R']));
  });

  it("puts every lesion patch's centre within its ROI radius in input coordinates", () => {
    const patches = [...dataset.train, ...dataset.validation];
    const byId = new Map(images.map((i) => [i.id, i]));
    for (const p of patches.filter((q) => q.provenance.kind === 'lesion')) {
      const image = byId.get(p.provenance.imageId)!;
      const lesion = image.lesions[p.provenance.roiIndex!]!;
      const g = inputGeometry({ width: 1024, height: 1024, pixelSpacingMm: [0.2, 0.2] }, DEFAULT_PREPROCESSING, image.laterality === 'R');
      const centre = storedToInput(g, lesion.centre!);
      const radius = lesion.radiusPx! * (g.content.width / 1024);
      expect(Math.hypot(p.provenance.centre.row - centre.row, p.provenance.centre.column - centre.column)).toBeLessThanOrEqual(radius + Math.SQRT1_2);
      expect(p.provenance.overlap).toBeGreaterThan(0.75);
      expect(p.pixels).toHaveLength(224 * 224);
    }
    for (const p of patches.filter((q) => q.provenance.kind === 'background')) {
      expect(p.provenance.breastFraction).toBeGreaterThanOrEqual(0.5);
      const image = byId.get(p.provenance.imageId)!;
      const g = inputGeometry({ width: 1024, height: 1024, pixelSpacingMm: [0.2, 0.2] }, DEFAULT_PREPROCESSING, image.laterality === 'R');
      for (const lesion of image.lesions) {
        const centre = storedToInput(g, lesion.centre!);
        const r = lesion.radiusPx! * 0.875;
        const region = { shape: 'ellipse' as const, centre, radiusRows: r, radiusColumns: r };
        expect(patchOverlap(region, { top: p.provenance.top, left: p.provenance.left, size: 224 }).overlap).toBeLessThan(0.35);
      }
    }
  });
});
