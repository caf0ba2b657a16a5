import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/index.js';
import {
  auc,
  bootstrapAucCi,
  chooseOperatingThreshold,
  crc32,
  evaluationReport,
  evaluationReportPerBreast,
  perBreast,
  roc,
  rocPng,
  seededRandom,
  sensitivityAtSpecificity,
  thresholdForSpecificity,
  trapezoidArea,
} from '../../src/training/evaluation/index.js';

/** Scores = label + Gaussian noise (sd 1), rounded to `decimals` so that ties occur. */
function synthetic(n: number, seed: number, decimals = 1): { scores: number[]; labels: (0 | 1)[] } {
  const random = seededRandom(seed);
  const scores: number[] = [];
  const labels: (0 | 1)[] = [];
  for (let i = 0; i < n; i++) {
    const label: 0 | 1 = i % 3 === 0 ? 1 : 0;
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    scores.push(Number((label + z).toFixed(decimals)));
    labels.push(label);
  }
  return { scores, labels };
}

/** Mann-Whitney by brute force over all pairs, ties 1/2 (the definition, independent of the code). */
function pairwiseAuc(scores: number[], labels: number[]): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      sum += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return sum / pairs;
}

describe('auc and roc', () => {
  it('is 1 for a perfect ranking, 0 reversed, 0.5 when all scores tie', () => {
    expect(auc([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0])).toBe(1);
    expect(auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])).toBe(0);
    expect(auc([0.5, 0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0, 0])).toBe(0.5);
    // All tied: one step from (0, 0) straight to (1, 1).
    expect(roc([0.5, 0.5, 0.5], [1, 0, 0])).toEqual([
      { fpr: 0, tpr: 0, threshold: Infinity },
      { fpr: 1, tpr: 1, threshold: 0.5 },
    ]);
  });

  it('counts a tie 1/2 on a hand-worked example, and the ROC has one diagonal step for it', () => {
    // Positives 0.8, 0.4, 0.35; negatives 0.1, 0.4. Pairs: 0.8>0.1, 0.8>0.4, 0.4>0.1, 0.4=0.4 (1/2),
    // 0.35>0.1, 0.35<0.4 -> 4.5 / 6.
    const scores = [0.1, 0.4, 0.35, 0.8, 0.4];
    const labels = [0, 0, 1, 1, 1];
    expect(auc(scores, labels)).toBe(0.75);
    const curve = roc(scores, labels);
    expect(curve).toEqual([
      { fpr: 0, tpr: 0, threshold: Infinity },
      { fpr: 0, tpr: 1 / 3, threshold: 0.8 },
      { fpr: 0.5, tpr: 2 / 3, threshold: 0.4 },
      { fpr: 0.5, tpr: 1, threshold: 0.35 },
      { fpr: 1, tpr: 1, threshold: 0.1 },
    ]);
    expect(trapezoidArea(curve)).toBeCloseTo(0.75, 15);
  });

  it('equals the brute-force Mann-Whitney and the trapezoid area under the ROC on random data with ties', () => {
    for (const seed of [1, 2, 3]) {
      const { scores, labels } = synthetic(300, seed);
      expect(new Set(scores).size).toBeLessThan(scores.length); // ties are present
      const a = auc(scores, labels);
      expect(a).toBeCloseTo(pairwiseAuc(scores, labels), 12);
      expect(trapezoidArea(roc(scores, labels))).toBeCloseTo(a, 12);
    }
  });

  it('refuses data it cannot score, naming the problem', () => {
    expect(() => auc([0.1, 0.2], [0, 0])).toThrow(/no positives/);
    expect(() => auc([0.1, 0.2], [1, 1])).toThrow(/no negatives/);
    expect(() => auc([0.1, Number.NaN], [0, 1])).toThrow(/scores\[1\].*finite/);
    expect(() => auc([0.1, 0.2, 0.3], [0, 1])).toThrow(/length 2 differs.*\(3\)/);
    expect(() => roc([0.1, 0.2], [0, 2])).toThrow(/labels\[1\]/);
    expect(() => auc([], [])).toThrow(ValidationError);
  });
});

describe('operating points', () => {
  // 10 negatives, 5 positives; the positive 0.3 ties with the negative 0.3.
  const negatives = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.95];
  const positives = [0.9, 0.75, 0.65, 0.3, 0.15];
  const scores = [...negatives, ...positives];
  const labels = [...negatives.map(() => 0), ...positives.map(() => 1)];

  it('takes the best achievable sensitivity at the required specificity, without interpolating', () => {
    // Specificity >= 0.9 allows one false positive: threshold 0.9 catches 0.9 only.
    expect(sensitivityAtSpecificity(scores, labels, 0.9)).toBe(0.2);
    expect(thresholdForSpecificity(scores, labels, 0.9)).toBe(0.9);
    // >= 0.8 allows two: threshold 0.85 (the point at 0.8 would add a third false positive).
    expect(sensitivityAtSpecificity(scores, labels, 0.8)).toBe(0.2);
    expect(thresholdForSpecificity(scores, labels, 0.8)).toBe(0.85);
    // >= 0.7 allows three: threshold 0.75 catches 0.9 and 0.75.
    expect(sensitivityAtSpecificity(scores, labels, 0.7)).toBe(0.4);
    expect(thresholdForSpecificity(scores, labels, 0.7)).toBe(0.75);
    // Specificity 1: the top score is a negative, so only "nothing positive" qualifies.
    expect(sensitivityAtSpecificity(scores, labels, 1)).toBe(0);
    expect(thresholdForSpecificity(scores, labels, 1)).toBe(Infinity);
    expect(thresholdForSpecificity(scores, labels, 0)).toBe(0.1);
    expect(() => sensitivityAtSpecificity(scores, labels, 1.2)).toThrow(/specificity/);
  });

  it('chooses a threshold on validation data by target specificity or by Youden\'s J', () => {
    expect(chooseOperatingThreshold(scores, labels, { targetSpecificity: 0.7 })).toEqual({ threshold: 0.75, sensitivity: 0.4, specificity: 0.7 });
    // J = 0.6 + 0.6 - 1 = 0.2 at 0.65 is the maximum (next best 0.1).
    const youden = chooseOperatingThreshold(scores, labels, { maximise: 'youden' });
    expect(youden.threshold).toBe(0.65);
    expect(youden.sensitivity).toBe(0.6);
    expect(youden.specificity).toBe(0.6);
  });
});

describe('bootstrapAucCi', () => {
  it('contains the AUC, is deterministic per seed and narrows with more data', () => {
    const small = synthetic(60, 7);
    const a = bootstrapAucCi(small.scores, small.labels, { samples: 500, seed: 42 });
    expect(a.auc).toBe(auc(small.scores, small.labels));
    expect(a.lower).toBeLessThan(a.auc);
    expect(a.upper).toBeGreaterThan(a.auc);
    expect(bootstrapAucCi(small.scores, small.labels, { samples: 500, seed: 42 })).toEqual(a);
    const other = bootstrapAucCi(small.scores, small.labels, { samples: 500, seed: 43 });
    expect([other.lower, other.upper]).not.toEqual([a.lower, a.upper]);

    const large = synthetic(1200, 7);
    const b = bootstrapAucCi(large.scores, large.labels, { samples: 500, seed: 42 });
    expect(b.upper - b.lower).toBeLessThan((a.upper - a.lower) / 2);
    // A 99% interval is wider than a 95% one on the same draws.
    const wide = bootstrapAucCi(small.scores, small.labels, { samples: 500, seed: 42, level: 0.99 });
    expect(wide.lower).toBeLessThanOrEqual(a.lower);
    expect(wide.upper).toBeGreaterThanOrEqual(a.upper);
  });

  it('keeps a group\'s images together: copies of one woman\'s image count as one unit', () => {
    const base = synthetic(40, 11);
    // Every woman has three identical images.
    const scores = [...base.scores, ...base.scores, ...base.scores];
    const labels = [...base.labels, ...base.labels, ...base.labels];
    const groups = scores.map((_, i) => `woman-${i % 40}`);
    const grouped = bootstrapAucCi(scores, labels, { samples: 400, seed: 5, groups });
    const once = bootstrapAucCi(base.scores, base.labels, { samples: 400, seed: 5 });
    // Drawing whole women from the tripled data is drawing images from the data once.
    expect([grouped.lower, grouped.upper]).toEqual([once.lower, once.upper]);
    expect(grouped.units).toBe(40);
    expect(grouped.unit).toBe('group');
    // Treating the 120 images as independent pretends to know more: a narrower interval.
    const naive = bootstrapAucCi(scores, labels, { samples: 400, seed: 5 });
    expect(naive.upper - naive.lower).toBeLessThan(0.75 * (grouped.upper - grouped.lower));
  });

  it('redraws resamples that lack a class, and says so', () => {
    // One positive among 8: 1 - (7/8)^8 = 66% of resamples hold it, the rest are redrawn.
    const ci = bootstrapAucCi([0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], [1, 0, 0, 0, 0, 0, 0, 0], { samples: 200, seed: 1 });
    expect(ci.redrawn).toBeGreaterThan(0);
    expect(ci.lower).toBe(1);
    expect(ci.upper).toBe(1);
    expect(() => bootstrapAucCi([0.1, 0.2], [0, 1], { groups: ['a'] })).toThrow(/groups/);
    // With both items in one woman every resample holds both classes.
    expect(bootstrapAucCi([0.1, 0.2], [0, 1], { groups: ['a', 'a'], samples: 10 }).redrawn).toBe(0);
  });
});

describe('per breast', () => {
  it('takes the maximum score and label over a breast\'s views', () => {
    const breasts = perBreast([
      { woman: 'a', laterality: 'L', score: 0.2, label: 0 },
      { woman: 'a', laterality: 'L', score: 0.7, label: 1 },
      { woman: 'a', laterality: 'R', score: 0.4, label: 0 },
      { woman: 'b', laterality: 'L', score: 0.9, label: 0 },
      { woman: 'a', laterality: 'R', score: 0.3, label: 0 },
      { woman: 'b', laterality: 'L', score: 0.1, label: 1 },
    ]);
    expect(breasts).toEqual([
      { woman: 'a', laterality: 'L', score: 0.7, label: 1, views: 2 },
      { woman: 'a', laterality: 'R', score: 0.4, label: 0, views: 2 },
      { woman: 'b', laterality: 'L', score: 0.9, label: 1, views: 2 },
    ]);
    expect(() => perBreast([{ woman: 'a', laterality: 'U' as 'L', score: 0.1, label: 0 }])).toThrow(/laterality/);
  });

  it('reports per-breast metrics resampling women', () => {
    const records = [
      { woman: 'a', laterality: 'L' as const, score: 0.2, label: 0 as const },
      { woman: 'a', laterality: 'L' as const, score: 0.8, label: 1 as const },
      { woman: 'a', laterality: 'R' as const, score: 0.3, label: 0 as const },
      { woman: 'b', laterality: 'L' as const, score: 0.1, label: 0 as const },
      { woman: 'b', laterality: 'R' as const, score: 0.6, label: 0 as const },
      { woman: 'c', laterality: 'R' as const, score: 0.7, label: 1 as const },
    ];
    const report = evaluationReportPerBreast(records, { samples: 100, seed: 3 });
    expect(report.unit).toBe('breast');
    expect(report.n).toBe(5);
    expect(report.positives).toBe(2);
    // Breast scores: positives 0.8, 0.7; negatives 0.3, 0.1, 0.6 -> perfect.
    expect(report.auc).toBe(1);
    expect(report.bootstrap).toMatchObject({ unit: 'group', units: 3 });
  });
});

describe('evaluationReport', () => {
  it('has the shape `mammocad evaluate --json` prints, with the threshold chosen on validation data', () => {
    const test = synthetic(90, 21);
    const validation = synthetic(90, 22);
    const report = evaluationReport(test, { samples: 300, seed: 9, validation, rule: { targetSpecificity: 0.9 } });
    expect(report.auc).toBe(auc(test.scores, test.labels));
    expect(report.auc_ci[0]).toBeLessThan(report.auc);
    expect(report.auc_ci[1]).toBeGreaterThan(report.auc);
    expect(report.n).toBe(90);
    expect(report.positives).toBe(30);
    expect(report['sensitivity_at_spec_0.8']).toBe(sensitivityAtSpecificity(test.scores, test.labels, 0.8));
    expect(report['sensitivity_at_spec_0.9']).toBe(sensitivityAtSpecificity(test.scores, test.labels, 0.9));
    expect(report.threshold).toBe(thresholdForSpecificity(validation.scores, validation.labels, 0.9));
    expect(report.sensitivity_at_threshold).not.toBeNull();
    expect(report.roc[0]).toEqual({ fpr: 0, tpr: 0, threshold: null });
    expect(report.roc.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
    // It survives JSON unchanged (no Infinity, no NaN).
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    // Without a threshold or validation data there is no operating threshold.
    expect(evaluationReport(test, { samples: 50 }).threshold).toBeNull();
  });
});

/** Splits a PNG into chunks, checking each CRC. */
function pngChunks(png: Buffer): { type: string; data: Buffer }[] {
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    expect(png.readUInt32BE(at + 8 + length)).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
    chunks.push({ type, data });
    at += 12 + length;
  }
  return chunks;
}

describe('rocPng', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('writes a valid PNG of the requested size with the curve drawn', () => {
    const { scores, labels } = synthetic(200, 4);
    const png = rocPng(roc(scores, labels), { width: 320, height: 240, title: 'Model v1 (test)' });
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const chunks = pngChunks(png);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    const ihdr = chunks[0]!.data;
    expect(ihdr.readUInt32BE(0)).toBe(320);
    expect(ihdr.readUInt32BE(4)).toBe(240);
    expect([ihdr[8], ihdr[9]]).toEqual([8, 2]);
    const raw = inflateSync(chunks[1]!.data);
    expect(raw.length).toBe(240 * (1 + 320 * 3));
    let blue = 0;
    let black = 0;
    for (let y = 0; y < 240; y++) {
      const row = y * (1 + 320 * 3);
      expect(raw[row]).toBe(0);
      for (let x = 0; x < 320; x++) {
        const [r, g, b] = [raw[row + 1 + x * 3], raw[row + 2 + x * 3], raw[row + 3 + x * 3]];
        if (r === 31 && g === 90 && b === 200) blue++;
        if (r === 0 && g === 0 && b === 0) black++;
      }
    }
    expect(blue).toBeGreaterThan(300); // the curve and the AUC text
    expect(black).toBeGreaterThan(300); // axes, ticks and labels
    expect([raw[1], raw[2], raw[3]]).toEqual([255, 255, 255]); // background
  });

  it('refuses sizes and points it cannot draw', () => {
    expect(() => rocPng([{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }], { width: 10 })).toThrow(/width/);
    expect(() => rocPng([{ fpr: 0, tpr: 0 }])).toThrow(/two points/);
    expect(() => rocPng([{ fpr: 0, tpr: 0 }, { fpr: 1.5, tpr: 1 }])).toThrow(/roc\[1\]/);
  });
});
