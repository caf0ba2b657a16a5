import { describe, expect, it } from 'vitest';
import type { PreprocessingSpec } from '../../src/ml/model-manifest.js';
import { DEFAULT_PREPROCESSING } from '../../src/ml/preprocess/index.js';
import { countClasses, preparePatchImage, samplePatchDataset } from '../../src/training/patches/dataset.js';
import { storedToInput } from '../../src/training/patches/geometry.js';
import type { PatchSourceImage, StoredRoi } from '../../src/training/patches/types.js';

// Small films (0.2 mm, 320 x 256) into a 288 x 224 input, 48-pixel patches: fast, same code path.
const SPEC: PreprocessingSpec = { ...DEFAULT_PREPROCESSING, inputHeight: 288, inputWidth: 224, channels: 3 };
const OPTIONS = { spec: SPEC, sample: { patchSize: 48 } };

function source(id: string, womanId: string, side: 'L' | 'R', rois: StoredRoi[], extra: Partial<PatchSourceImage> = {}): PatchSourceImage {
  const [height, width] = [320, 256];
  let loads = 0;
  return {
    id,
    womanId,
    malignant: rois.some((r) => r.pathology === 'malignant'),
    rois,
    get loads() {
      return loads;
    },
    loadPixels: async () => {
      loads++;
      const pixels = new Uint8Array(width * height).fill(5);
      for (let r = 0; r < height; r++) {
        for (let c = 0; c < width; c++) {
          const fromWall = side === 'L' ? c : width - 1 - c;
          if (((r - height / 2) / (height * 0.48)) ** 2 + (fromWall / (width * 0.75)) ** 2 <= 1) pixels[r * width + c] = 80 + ((r * 7 + c * 13) % 40);
        }
      }
      return { width, height, pixels, pixelSpacingMm: [0.2, 0.2] };
    },
    ...extra,
  } as PatchSourceImage;
}

const roi = (row: number, column: number, radius: number, lesionType: StoredRoi['lesionType'], pathology: StoredRoi['pathology']): StoredRoi => ({
  lesionType,
  pathology,
  region: { shape: 'ellipse', centre: { row, column }, radiusRows: radius, radiusColumns: radius },
});

/** 6 women, 2 films each; women 1-2 have a malignant lesion. */
function images(): PatchSourceImage[] {
  return [
    source('a1', 'w1', 'L', [roi(150, 60, 15, 'mass', 'malignant')]),
    source('a2', 'w1', 'R', []),
    source('b1', 'w2', 'L', []),
    source('b2', 'w2', 'R', [roi(120, 200, 5, 'calcification', 'malignant'), roi(220, 210, 12, 'mass', 'benign')]),
    source('c1', 'w3', 'L', [roi(100, 50, 6, 'calcification', 'benign')]),
    source('c2', 'w3', 'R', []),
    ...['w4', 'w5', 'w6'].flatMap((w) => [source(`${w}L`, w, 'L', []), source(`${w}R`, w, 'R', [])]),
  ];
}

describe('preparePatchImage', () => {
  it('pre-processes once, keeps channel 0 and maps the ROIs with the canonical flip', async () => {
    const s = source('b2', 'w2', 'R', [roi(120, 200, 5, 'calcification', 'malignant')]);
    const prepared = await preparePatchImage(s, SPEC);
    expect((s as unknown as { loads: number }).loads).toBe(1);
    expect([prepared.width, prepared.height, prepared.pixels.length]).toEqual([224, 288, 224 * 288]);
    expect(prepared.geometry).toMatchObject({ flipped: true, content: { width: 224, height: 280 } });
    expect(prepared.rois[0]!.region).toEqual({ shape: 'ellipse', centre: storedToInput(prepared.geometry, { row: 120, column: 200 }), radiusRows: 4.375, radiusColumns: 4.375 });
    // The flipped ROI lands on the left half, where the breast now is.
    expect((prepared.rois[0]!.region as { centre: { column: number } }).centre.column).toBeLessThan(112);
    expect(prepared.breastMask!.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.3 * 224 * 280);
  });
});

describe('samplePatchDataset', () => {
  it('counts patches per class and per split, and splits by woman, stratified', async () => {
    const data = await samplePatchDataset(images(), { ...OPTIONS, set: 'S10', seed: 3, validationFraction: 0.34 });
    expect(data.counts.total).toEqual({ background: 120, calc_benign: 10, calc_malignant: 10, mass_benign: 10, mass_malignant: 10 });
    expect(countClasses(data.train)).toEqual(data.counts.train);
    const sum = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
    expect(sum(data.counts.train) + sum(data.counts.validation)).toBe(160);
    // 1 of the 2 positive women and 1 of the 4 negative ones validate.
    expect(data.validationWomen).toHaveLength(2);
    expect(data.validationWomen.filter((w) => w === 'w1' || w === 'w2')).toHaveLength(1);
    for (const p of data.validation) expect(data.validationWomen).toContain(p.provenance.womanId);
    for (const p of data.train) expect(data.validationWomen).not.toContain(p.provenance.womanId);
    expect(data.images.filter((i) => i.split === 'validation').map((i) => i.womanId).sort()).toEqual([...data.validationWomen, ...data.validationWomen].sort());
  });

  it('is deterministic for a seed and independent of the order of the images', async () => {
    const a = await samplePatchDataset(images(), { ...OPTIONS, seed: 9 });
    const b = await samplePatchDataset(images().reverse(), { ...OPTIONS, seed: 9 });
    const key = (d: typeof a) =>
      [...d.train, ...d.validation]
        .map((p) => `${p.provenance.imageId} ${p.provenance.kind} ${p.provenance.top} ${p.provenance.left}`)
        .sort()
        .join('\n');
    expect(key(b)).toBe(key(a));
    expect(b.validationWomen).toEqual(a.validationWomen);
    const c = await samplePatchDataset(images(), { ...OPTIONS, seed: 10 });
    expect(key(c)).not.toBe(key(a));
  });

  it('S1: one patch per ROI, no background', async () => {
    const data = await samplePatchDataset(images(), { ...OPTIONS, set: 'S1', seed: 1 });
    expect(data.counts.total).toEqual({ background: 0, calc_benign: 1, calc_malignant: 1, mass_benign: 1, mass_malignant: 1 });
  });

  it('takes no background from an image with unlocated lesions', async () => {
    const data = await samplePatchDataset([source('x1', 'w1', 'L', [], { hasUnlocatedLesions: true, malignant: true }), source('x2', 'w1', 'R', [])], { ...OPTIONS, seed: 1, validationFraction: 0.5 });
    expect(data.images.map((i) => i.patches)).toEqual([0, 10]);
  });
});
