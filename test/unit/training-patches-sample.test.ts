import { describe, expect, it } from 'vitest';
import { PATCH_CLASSES } from '../../src/ml/architectures/patch-model.js';
import { seededRandom } from '../../src/training/datasets/splits.js';
import { miasLesionLabel, miasPatchSource } from '../../src/training/patches/mias.js';
import { miasImageFromRows, parseMiasLabels } from '../../src/training/datasets/mias.js';
import {
  clampedBox,
  detectBlobs,
  lesionClass,
  patchOverlap,
  sampleS1,
  sampleS10,
  type PatchBox,
  type SampleImage,
} from '../../src/training/patches/sample.js';
import type { InputRoi, Region } from '../../src/training/patches/types.js';

const W = 400;
const H = 320;

/** A plane with a gradient (so patches are distinguishable), the breast in the left 70%. */
function plane(): { pixels: Float32Array; mask: Uint8Array } {
  const pixels = new Float32Array(W * H);
  const mask = new Uint8Array(W * H);
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const breast = c < 0.7 * W;
      pixels[r * W + c] = breast ? r * 0.01 + c * 0.001 : -3;
      mask[r * W + c] = breast ? 1 : 0;
    }
  }
  return { pixels, mask };
}

const ellipse = (row: number, column: number, radius: number): Region => ({ shape: 'ellipse', centre: { row, column }, radiusRows: radius, radiusColumns: radius });

const ROIS: InputRoi[] = [
  { lesionType: 'mass', pathology: 'malignant', region: ellipse(100, 120, 30) },
  { lesionType: 'calcification', pathology: 'benign', region: ellipse(250, 200, 4) },
  // Bigger than a patch: lesion patches qualify by patch∩ROI / patch.
  { lesionType: 'mass', pathology: 'benign', region: ellipse(200, 90, 80) },
  // A box ROI (a mask's bounding box).
  { lesionType: 'calcification', pathology: 'malignant', region: { shape: 'box', top: 20, bottom: 50, left: 220, right: 260 } },
];

function image(extra: Partial<SampleImage> = {}): SampleImage {
  const { pixels, mask } = plane();
  return { id: 'img1', womanId: 'w1', width: W, height: H, pixels, rois: ROIS, breastMask: mask, ...extra };
}

/** Overlap by counting pixel centres: an independent check of patchOverlap. */
function countedOverlap(region: Region, box: PatchBox): number {
  let roi = 0;
  let both = 0;
  for (let r = -200; r < H + 200; r++) {
    for (let c = -200; c < W + 200; c++) {
      const inside =
        region.shape === 'box'
          ? r >= region.top && r < region.bottom && c >= region.left && c < region.right
          : ((r - region.centre.row) / region.radiusRows) ** 2 + ((c - region.centre.column) / region.radiusColumns) ** 2 <= 1;
      if (!inside) continue;
      roi++;
      if (r >= box.top && r < box.top + box.size && c >= box.left && c < box.left + box.size) both++;
    }
  }
  return Math.max(both / roi, both / (box.size * box.size));
}

const P = 64;

describe('patchOverlap', () => {
  it('agrees with pixel counting', () => {
    const boxes: PatchBox[] = [
      { top: 68, left: 88, size: P },
      { top: 100, left: 120, size: P },
      { top: 150, left: 40, size: P },
      { top: 0, left: 200, size: P },
      { top: 230, left: 180, size: 32 },
    ];
    for (const roi of ROIS) {
      for (const box of boxes) expect(patchOverlap(roi.region, box).overlap).toBeCloseTo(countedOverlap(roi.region, box), 1);
    }
    // A patch containing the whole ROI: exactly 1.
    expect(patchOverlap(ellipse(100, 100, 10), { top: 50, left: 50, size: 100 }).ofRoi).toBe(1);
  });
});

describe('sampleS1', () => {
  it('centres one patch on each ROI (exactly with an odd size; within half a pixel with an even one)', () => {
    const odd = sampleS1(image(), { patchSize: 65 });
    expect(odd).toHaveLength(ROIS.length);
    expect(odd.map((p) => p.provenance.centre)).toEqual([
      { row: 100, column: 120 },
      { row: 250, column: 200 },
      { row: 200, column: 90 },
      { row: 35, column: 240 },
    ]);
    const even = sampleS1(image(), { patchSize: P });
    for (const [i, p] of even.entries()) {
      const want = odd[i]!.provenance.centre;
      expect(Math.abs(p.provenance.centre.row - want.row)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(p.provenance.centre.column - want.column)).toBeLessThanOrEqual(0.5);
      expect(p.provenance).toMatchObject({ kind: 'lesion-centre', roiIndex: i, imageId: 'img1', womanId: 'w1' });
    }
    expect(even.map((p) => p.className)).toEqual(['mass_malignant', 'calc_benign', 'mass_benign', 'calc_malignant']);
    expect(even.map((p) => p.label)).toEqual(even.map((p) => PATCH_CLASSES.indexOf(p.className)));
  });

  it('clamps a patch near a border inside the image and cuts the pixels there', () => {
    const corner: InputRoi = { lesionType: 'mass', pathology: 'benign', region: ellipse(3, 5, 6) };
    const img = image({ rois: [corner] });
    const [p] = sampleS1(img, { patchSize: P });
    expect(p!.provenance).toMatchObject({ top: 0, left: 0, requestedCentre: { row: 3, column: 5 }, centre: { row: 31.5, column: 31.5 } });
    expect(p!.pixels[0]).toBe(img.pixels[0]);
    expect(p!.pixels[P * P - 1]).toBe(img.pixels[(P - 1) * W + P - 1]);
    expect(clampedBox({ row: H + 50, column: W + 50 }, P, W, H)).toEqual({ top: H - P, left: W - P, size: P });
  });
});

describe('sampleS10', () => {
  const run = (seed: number, extra: Partial<SampleImage> = {}, options = {}) => sampleS10(image(extra), seededRandom(seed), { patchSize: P, ...options });

  it('gives N patches per ROI meeting the overlap rule, and N background patches away from every ROI, in the breast', () => {
    const { patches, shortfall } = run(7);
    expect(shortfall).toEqual({ lesion: 0, background: 0, hardNegative: 0 });
    const lesion = patches.filter((p) => p.provenance.kind === 'lesion');
    const background = patches.filter((p) => p.provenance.kind === 'background');
    expect(lesion).toHaveLength(10 * ROIS.length);
    expect(background).toHaveLength(10);
    for (const p of lesion) {
      const roi = ROIS[p.provenance.roiIndex!]!;
      const box = { top: p.provenance.top, left: p.provenance.left, size: P };
      expect(patchOverlap(roi.region, box).overlap).toBeGreaterThan(0.75);
      expect(countedOverlap(roi.region, box)).toBeGreaterThan(0.7);
      expect(p.className).toBe(lesionClass(roi).className);
      expect(p.pixels).toHaveLength(P * P);
    }
    for (const p of background) {
      const box = { top: p.provenance.top, left: p.provenance.left, size: P };
      for (const roi of ROIS) expect(patchOverlap(roi.region, box).overlap).toBeLessThan(0.35);
      expect(p.provenance.breastFraction).toBeGreaterThanOrEqual(0.5);
      expect(p.className).toBe('background');
      expect(p.label).toBe(0);
    }
  });

  it('honours a stricter lesion threshold (the paper: 0.9)', () => {
    const { patches } = run(3, {}, { lesionOverlap: 0.9 });
    for (const p of patches.filter((q) => q.provenance.kind === 'lesion')) expect(p.provenance.overlap).toBeGreaterThan(0.9);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const a = run(11).patches;
    const b = run(11).patches;
    const c = run(12).patches;
    expect(a.map((p) => p.provenance)).toEqual(b.map((p) => p.provenance));
    expect(a.every((p, i) => p.pixels.every((v, j) => v === b[i]!.pixels[j]))).toBe(true);
    expect(a.map((p) => p.provenance.centre)).not.toEqual(c.map((p) => p.provenance.centre));
  });

  it('keeps background out of avoided regions and away from images with unlocated lesions', () => {
    const avoid: Region = { shape: 'box', top: 0, bottom: H, left: 0, right: 150 };
    for (const p of run(5, { rois: [], avoidRegions: [avoid] }).patches) expect(p.provenance.left).toBeGreaterThan(150 - 0.35 * P);
    expect(run(5, { noBackground: true }).patches.filter((p) => p.provenance.kind !== 'lesion')).toEqual([]);
  });

  it('reports a shortfall rather than loop when no background place qualifies', () => {
    const { shortfall, patches } = run(5, { breastMask: new Uint8Array(W * H) }, { maxTries: 20 });
    expect(shortfall.background).toBe(10);
    expect(patches.filter((p) => p.className === 'background')).toEqual([]);
  });

  it('adds hard negatives at bright blobs outside the ROIs', () => {
    const img = image({ rois: [ROIS[0]!] });
    // Two bright spots: one inside the mass ROI (must not be taken), one in normal tissue.
    for (const [r0, c0] of [
      [104, 120],
      [240, 64],
    ] as const) {
      for (let r = r0 - 5; r <= r0 + 5; r++) for (let c = c0 - 5; c <= c0 + 5; c++) img.pixels[r * W + c] = 20;
    }
    const blobs = detectBlobs(img.pixels, W, H);
    // On the detector's 8-pixel grid, the spots are its two strongest blobs.
    expect(blobs.slice(0, 2).map((b) => `${b.row},${b.column}`).sort()).toEqual(['104,120', '240,64']);
    const { patches } = sampleS10(img, seededRandom(1), { patchSize: P, hardNegativesPerImage: 1, backgroundPerImage: 0 });
    const hard = patches.filter((p) => p.provenance.kind === 'hard-negative');
    expect(hard).toHaveLength(1);
    expect(hard[0]!.provenance.requestedCentre).toEqual({ row: 240, column: 64 });
    expect(hard[0]!.className).toBe('background');
  });
});

describe('MIAS classes -> patch classes', () => {
  it('maps every class and severity', () => {
    const table = (['CALC', 'CIRC', 'SPIC', 'MISC', 'ARCH', 'ASYM'] as const).flatMap((abnormality) =>
      (['B', 'M'] as const).map((severity) => `${abnormality} ${severity} -> ${lesionClass(miasLesionLabel(abnormality, severity)!).className}`),
    );
    expect(table).toEqual([
      'CALC B -> calc_benign',
      'CALC M -> calc_malignant',
      'CIRC B -> mass_benign',
      'CIRC M -> mass_malignant',
      'SPIC B -> mass_benign',
      'SPIC M -> mass_malignant',
      'MISC B -> mass_benign',
      'MISC M -> mass_malignant',
      'ARCH B -> mass_benign',
      'ARCH M -> mass_malignant',
      'ASYM B -> mass_benign',
      'ASYM M -> mass_malignant',
    ]);
    expect(miasLesionLabel('ARCH', 'M', { distortionAndAsymmetry: 'exclude' })).toBeNull();
    expect(miasLesionLabel('ASYM', 'B', { distortionAndAsymmetry: 'exclude' })).toBeNull();
    expect(miasLesionLabel('SPIC', 'M', { distortionAndAsymmetry: 'exclude' })).toMatchObject({ lesionType: 'mass', pathology: 'malignant', sourceClass: 'SPIC' });
  });

  it('turns reader lesions into circle ROIs; excluded ones into avoided regions; NOTE 3 images give no background', () => {
    const rows = parseMiasLabels(['mdb239 D CALC M 645 755 40', 'mdb239 D ASYM B 567 808 25', 'mdb216 D CALC M *NOTE 3*'].join('\n'), 'labels.txt');
    const source = miasPatchSource(miasImageFromRows(rows.slice(0, 2), 'mdb239.pgm'), { distortionAndAsymmetry: 'exclude' });
    expect(source.rois).toEqual([{ lesionType: 'calcification', pathology: 'malignant', sourceClass: 'CALC', region: ellipse(1023 - 755, 645, 40) }]);
    expect(source.avoidRegions).toEqual([ellipse(1023 - 808, 567, 25)]);
    expect(source).toMatchObject({ id: 'mdb239', womanId: 'w120', malignant: true, hasUnlocatedLesions: false });
    expect(miasPatchSource(miasImageFromRows(rows.slice(2), 'mdb216.pgm'))).toMatchObject({ rois: [], hasUnlocatedLesions: true });
  });
});
