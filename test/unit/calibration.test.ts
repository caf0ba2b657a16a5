// Platt calibration and reliability: a miscalibrated score is pulled onto the observed rate,
// the ranking is untouched, and the reliability diagram draws.

import { describe, expect, it } from 'vitest';
import { applyCalibration, logit, sigmoid } from '../../src/ml/calibration.js';
import { crossFittedCalibration, fitPlatt, reliability, reliabilityPng, seededRandom } from '../../src/training/evaluation/index.js';

/** Labels drawn with P(malignant) = sigmoid(2 * logit(p)) from raw scores p: the raw scores are under-confident. */
function underConfident(n: number, seed: number): { scores: number[]; labels: number[] } {
  const random = seededRandom(seed);
  const scores: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = 0.05 + 0.9 * random();
    scores.push(p);
    labels.push(random() < sigmoid(2 * logit(p) - 0.5) ? 1 : 0);
  }
  return { scores, labels };
}

describe('Platt calibration', () => {
  it('recovers the slope and intercept that generated the labels', () => {
    const { scores, labels } = underConfident(20_000, 7);
    const fit = fitPlatt(scores, labels, 'test');
    expect(Math.abs(fit.a - 2)).toBeLessThan(0.12); // sampling error of 20,000 labels: about 0.05
    expect(Math.abs(fit.b + 0.5)).toBeLessThan(0.12);
    const before = reliability(scores, labels);
    const after = reliability(scores.map((s) => applyCalibration(fit, s)), labels);
    expect(after.ece).toBeLessThan(before.ece / 3);
    expect(after.logLoss).toBeLessThan(before.logLoss);
  });

  it('keeps the order of the scores (AUC unchanged) and stays finite at 0 and 1', () => {
    const fit = { method: 'platt' as const, a: 1.7, b: -0.3, fittedOn: 'test' };
    const raw = [0, 1e-12, 0.2, 0.5, 0.8, 1 - 1e-12, 1];
    const calibrated = raw.map((p) => applyCalibration(fit, p));
    for (let i = 1; i < raw.length; i++) expect(calibrated[i]!).toBeGreaterThanOrEqual(calibrated[i - 1]!);
    expect(calibrated.every((p) => p >= 0 && p <= 1 && Number.isFinite(p))).toBe(true);
  });

  it('does not run off to infinity on separable data (smoothed targets)', () => {
    const fit = fitPlatt([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [0, 0, 0, 1, 1, 1], 'test');
    expect(Number.isFinite(fit.a) && Number.isFinite(fit.b)).toBe(true);
    expect(applyCalibration(fit, 0.9)).toBeLessThan(1);
  });

  it('refuses input it cannot fit', () => {
    expect(() => fitPlatt([0.2, 0.4], [0, 0], 'test')).toThrow(/both/);
    expect(() => fitPlatt([0.2, 1.4], [0, 1], 'test')).toThrow(/probabilities/);
    expect(() => fitPlatt([0.2], [0, 1], 'test')).toThrow(/labels/);
  });

  it('cross-fits by fold: each fold is calibrated by the others only', () => {
    const { scores, labels } = underConfident(4_000, 11);
    const records = scores.map((score, i) => ({ score, label: labels[i]!, fold: i % 4 }));
    const crossed = crossFittedCalibration(records);
    expect(crossed.crossFitted).toBe(true);
    const fold0 = records.filter((r) => r.fold !== 0);
    const expected = applyCalibration(fitPlatt(fold0.map((r) => r.score), fold0.map((r) => r.label), ''), records[0]!.score);
    expect(crossed.scores[0]).toBeCloseTo(expected, 12);
    expect(crossFittedCalibration(records.map((r) => ({ ...r, fold: 0 }))).crossFitted).toBe(false);
  });
});

describe('reliability', () => {
  it('bins predictions and weighs the calibration error by the bins', () => {
    const r = reliability([0.05, 0.05, 0.95, 0.95], [0, 1, 1, 1], 10);
    expect(r.bins[0]).toMatchObject({ n: 2, meanPredicted: 0.05, observed: 0.5 });
    expect(r.bins[9]).toMatchObject({ n: 2, meanPredicted: 0.95, observed: 1 });
    expect(r.bins[5]).toMatchObject({ n: 0, meanPredicted: null, observed: null });
    expect(r.ece).toBeCloseTo(0.5 * 0.45 + 0.5 * 0.05, 12);
  });

  it('draws a PNG with both series', () => {
    const { scores, labels } = underConfident(500, 3);
    const png = reliabilityPng([
      { label: 'raw', reliability: reliability(scores, labels) },
      { label: 'calibrated', reliability: reliability(scores.map((s) => applyCalibration(fitPlatt(scores, labels, ''), s)), labels) },
    ]);
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(400);
    expect(() => reliabilityPng([])).toThrow(/series/);
  });
});
