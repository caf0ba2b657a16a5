import { describe, expect, it } from 'vitest';
import { ageBand, auc, compareAgeBands, groupedEvaluation, stratifiedAuc, type ScoredRecord } from '../../src/training/evaluation/index.js';

// Women with cancer older, as on the RSNA screening set: within [40,50) one positive among three
// negatives, within [60,70) three positives and one negative.
//   [40,50): negatives 41, 44, 48; positive 46      -> 46 beats 41 and 44, not 48: 2 of 3 pairs
//   [60,70): positives 61, 64, 68; negative 66      -> only 68 beats 66: 1 of 3 pairs
//   overall: positives 46, 61, 64, 68 over negatives 41, 44, 48, 66: 2 + 3 + 3 + 4 = 12 of 16
const AGES = [41, 44, 48, 46, 61, 64, 68, 66];
const LABELS = [0, 0, 0, 1, 1, 1, 1, 0];
const BANDS = AGES.map((a) => ageBand(a).name);

describe('stratifiedAuc', () => {
  it('with score = age, drops from the overall AUC to the within-band ordering (hand-computed)', () => {
    expect(auc(AGES, LABELS)).toBe(12 / 16);
    const result = stratifiedAuc({ scores: AGES, labels: LABELS, strata: BANDS }, { samples: 200 });
    expect(result.strata).toEqual([
      { stratum: '[40,50)', n: 4, positives: 1, pairs: 3, auc: 2 / 3 },
      { stratum: '[60,70)', n: 4, positives: 3, pairs: 3, auc: 1 / 3 },
    ]);
    expect(result.auc).toBeCloseTo(3 / 6, 12);
    expect(result).toMatchObject({ n: 8, positives: 4, pairs: 6 });
  });

  it('pools by pairs, not by a plain mean of the bands', () => {
    // Band a: one pair, ordered right (AUC 1). Band b: positives 0.1, 0.4 against negatives
    // 0.3, 0.5: only 0.4 > 0.3 of four pairs (AUC 0.25). Pooled (1 + 1) / 5 = 0.4; the mean would be 0.625.
    const result = stratifiedAuc({ scores: [0.9, 0.2, 0.1, 0.4, 0.3, 0.5], labels: [1, 0, 1, 1, 0, 0], strata: ['a', 'a', 'b', 'b', 'b', 'b'] }, { samples: 200 });
    expect(result.strata.map((s) => [s.stratum, s.auc, s.pairs])).toEqual([
      ['a', 1, 1],
      ['b', 0.25, 4],
    ]);
    expect(result.auc).toBeCloseTo(0.4, 12);
    expect(result.auc).not.toBeCloseTo((1 + 0.25) / 2, 3);
  });

  it('counts ties 1/2 and leaves one-class strata out of the pooled value', () => {
    const result = stratifiedAuc({ scores: [0.5, 0.5, 0.7, 0.1, 0.2], labels: [1, 0, 1, 0, 0], strata: ['x', 'x', 'y', 'y', 'z'] }, { samples: 200 });
    expect(result.strata).toEqual([
      { stratum: 'x', n: 2, positives: 1, pairs: 1, auc: 0.5 },
      { stratum: 'y', n: 2, positives: 1, pairs: 1, auc: 1 },
      { stratum: 'z', n: 1, positives: 0, pairs: 0, auc: null },
    ]);
    expect(result.auc).toBeCloseTo(0.75, 12);
    expect(stratifiedAuc({ scores: [1, 2], labels: [1, 0], strata: ['p', 'q'] })).toMatchObject({ auc: null, auc_ci: null, pairs: 0, bootstrap: null });
  });

  it('bootstraps by woman: the CI holds the estimate, is the same for a seed, and counts women as units', () => {
    const n = 60;
    const scores = Array.from({ length: n }, (_, i) => ((i * 37) % 61) / 61 + (i % 3 === 0 ? 0.3 : 0));
    const labels = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const strata = Array.from({ length: n }, (_, i) => (i < 30 ? 'young' : 'old'));
    const groups = Array.from({ length: n }, (_, i) => `w${Math.floor(i / 2)}`);
    const a = stratifiedAuc({ scores, labels, strata, groups }, { samples: 500, seed: 3 });
    const b = stratifiedAuc({ scores, labels, strata, groups }, { samples: 500, seed: 3 });
    expect(a.auc_ci).toEqual(b.auc_ci);
    expect(a.bootstrap).toMatchObject({ samples: 500, seed: 3, units: 30 });
    const [lower, upper] = a.auc_ci!;
    expect(lower).toBeLessThan(a.auc!);
    expect(upper).toBeGreaterThan(a.auc!);
    expect(upper).toBeLessThanOrEqual(1);
  });

  it('refuses mismatched lengths and labels other than 0/1', () => {
    expect(() => stratifiedAuc({ scores: [1, 2], labels: [1], strata: ['a', 'a'] })).toThrow(/one entry per item/);
    expect(() => stratifiedAuc({ scores: [1, 2], labels: [1, 2], strata: ['a', 'a'] })).toThrow(/labels\[1\]/);
  });

  it('names age bands and orders them by age, not as text', () => {
    expect(ageBand(49.9)).toEqual({ from: 40, to: 50, name: '[40,50)' });
    expect(ageBand(50)).toMatchObject({ name: '[50,60)' });
    expect(ageBand(7, 5)).toMatchObject({ name: '[5,10)' });
    expect(['[100,110)', '[90,100)', '[40,50)'].sort(compareAgeBands)).toEqual(['[40,50)', '[90,100)', '[100,110)']);
  });
});

describe('groupedEvaluation', () => {
  const record = (score: number, label: 0 | 1, woman: string, attributes: Record<string, string>): ScoredRecord => ({ score, label, woman, attributes });
  const records: ScoredRecord[] = [
    record(0.9, 1, 'a', { machine_id: '49', site_id: '1', age: '66' }),
    record(0.2, 0, 'b', { machine_id: '49', site_id: '1', age: '41' }),
    record(0.6, 1, 'c', { machine_id: '49', site_id: '2', age: '44' }),
    record(0.7, 0, 'd', { machine_id: '49', site_id: '2', age: '62' }),
    record(0.4, 0, 'e', { machine_id: '210', site_id: '2', age: 'unknown' }),
    record(0.5, 0, 'f', { machine_id: '210', site_id: '2' }),
    record(0.3, 1, 'g', { site_id: '1', age: '68' }),
  ];

  it('reports AUC per machine and per site (null for one class, blanks as their own group)', () => {
    const result = groupedEvaluation(records, { samples: 200 });
    expect(Object.keys(result.auc_by_group)).toEqual(['machine_id', 'site_id']);
    const machines = result.auc_by_group.machine_id!;
    expect(Object.keys(machines)).toEqual(['49', '210', '(blank)']);
    // Machine 49: positives 0.9, 0.6 over negatives 0.2, 0.7: 3 of 4 pairs.
    expect(machines['49']).toMatchObject({ n: 4, positives: 2, auc: 0.75 });
    expect(machines['49']!.auc_ci).toHaveLength(2);
    expect(machines['210']).toEqual({ n: 2, positives: 0, auc: null, auc_ci: null });
    // Site 1: positives 0.9, 0.3 over 0.2: 2 of 2. Site 2: 0.6 over 0.7, 0.4, 0.5: 2 of 3.
    expect(result.auc_by_group.site_id!['1']).toMatchObject({ n: 3, positives: 2, auc: 1 });
    expect(result.auc_by_group.site_id!['2']!.auc).toBeCloseTo(2 / 3, 12);
  });

  it('scores age alone and within age bands, leaving out and counting images without a usable age', () => {
    const result = groupedEvaluation(records, { samples: 200 });
    // Ages 66, 68, 44 (positive) over 41, 62 (negative): 2 + 2 + 1 = 5 of 6 pairs.
    expect(result.age_only_auc).toMatchObject({ n: 5, positives: 3, without_age: 2 });
    expect(result.age_only_auc!.auc).toBeCloseTo(5 / 6, 12);
    // [40,50): 0.6 over 0.2 (1 of 1); [60,70): 0.9 and 0.3 over 0.7 (1 of 2). Pooled 2 / 3.
    const stratified = result.age_stratified_auc!;
    expect(stratified.bands).toEqual([
      { band: '[40,50)', n: 2, positives: 1, pairs: 1, auc: 1 },
      { band: '[60,70)', n: 3, positives: 2, pairs: 2, auc: 0.5 },
    ]);
    expect(stratified).toMatchObject({ n: 5, positives: 3, pairs: 3, band_years: 10, without_age: 2 });
    expect(stratified.auc).toBeCloseTo(2 / 3, 12);
  });

  it('gives no age figures when no image has an age, and no group of a column no image has', () => {
    const result = groupedEvaluation(
      records.map((r) => ({ ...r, attributes: { site_id: r.attributes.site_id! } })),
      { samples: 100 },
    );
    expect(result).toMatchObject({ age_only_auc: null, age_stratified_auc: null });
    expect(Object.keys(result.auc_by_group)).toEqual(['site_id']);
  });
});
