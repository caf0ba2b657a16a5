// Calibration of a model's probabilities on validation data, and how well calibrated they are.
//
// Method: Platt scaling on the logit of the raw probability (Platt 1999; on logits it is the
// "temperature plus bias" family), fitted by Newton's method on the log loss with Platt's
// smoothed targets ((N+ + 1)/(N+ + 2) for positives, 1/(N- + 2) for negatives) so a small or
// separable validation set does not produce an infinite slope. Two parameters: it cannot
// overfit 600-2,500 predictions, and being monotone it leaves the AUC and the ranking alone.
//
// Reliability: predictions in ten equal-width bins of probability, the mean prediction against
// the observed share of malignant images per bin, and the expected calibration error (ECE:
// the bins' |mean - observed| weighted by their counts).

import { ValidationError } from '../../domain/index.js';
import { applyCalibration, logit, sigmoid, type PlattCalibration } from '../../ml/calibration.js';

export interface ReliabilityBin {
  /** Bin edges [from, to). */
  from: number;
  to: number;
  n: number;
  meanPredicted: number | null;
  observed: number | null;
}

export interface Reliability {
  bins: ReliabilityBin[];
  /** Expected calibration error. */
  ece: number;
  /** Mean log loss. */
  logLoss: number;
  /** Brier score. */
  brier: number;
}

function checkInput(scores: readonly number[], labels: readonly number[]): void {
  if (scores.length !== labels.length) throw new ValidationError('calibration', `${scores.length} scores but ${labels.length} labels`);
  if (scores.some((s) => !(s >= 0 && s <= 1))) throw new ValidationError('calibration', 'scores must be probabilities in [0, 1]');
  if (labels.some((l) => l !== 0 && l !== 1)) throw new ValidationError('calibration', 'labels must be 0 or 1');
  if (!labels.includes(0) || !labels.includes(1)) throw new ValidationError('calibration', 'needs both malignant and other images');
}

/** Fits Platt scaling (a, b) on raw probabilities and 0/1 labels. */
export function fitPlatt(scores: readonly number[], labels: readonly number[], fittedOn: string): PlattCalibration {
  checkInput(scores, labels);
  const positives = labels.filter((l) => l === 1).length;
  const negatives = labels.length - positives;
  const hi = (positives + 1) / (positives + 2);
  const lo = 1 / (negatives + 2);
  const x = scores.map(logit);
  const t = labels.map((l) => (l === 1 ? hi : lo));
  let a = 1;
  let b = 0;
  for (let iteration = 0; iteration < 100; iteration++) {
    // Gradient and Hessian of the mean log loss in (a, b); a tiny ridge keeps the Hessian invertible.
    let ga = 0, gb = 0, haa = 1e-9, hab = 0, hbb = 1e-9;
    for (let i = 0; i < x.length; i++) {
      const p = sigmoid(a * x[i]! + b);
      const r = p - t[i]!;
      const w = p * (1 - p);
      ga += r * x[i]!;
      gb += r;
      haa += w * x[i]! * x[i]!;
      hab += w * x[i]!;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(Math.abs(det) > 0)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (Math.abs(da) < 1e-10 && Math.abs(db) < 1e-10) break;
  }
  if (!Number.isFinite(a) || !Number.isFinite(b)) throw new ValidationError('calibration', 'Platt scaling did not converge');
  return { method: 'platt', a, b, fittedOn };
}

/** Reliability of probabilities against 0/1 labels, in `bins` equal-width bins. */
export function reliability(scores: readonly number[], labels: readonly number[], bins = 10): Reliability {
  checkInput(scores, labels);
  const sums = Array.from({ length: bins }, () => ({ n: 0, predicted: 0, observed: 0 }));
  let logLoss = 0;
  let brier = 0;
  scores.forEach((s, i) => {
    const bin = sums[Math.min(bins - 1, Math.floor(s * bins))]!;
    bin.n++;
    bin.predicted += s;
    bin.observed += labels[i]!;
    const q = Math.min(1 - 1e-12, Math.max(1e-12, s));
    logLoss -= labels[i] === 1 ? Math.log(q) : Math.log(1 - q);
    brier += (s - labels[i]!) ** 2;
  });
  const result = sums.map((b, k) => ({
    from: k / bins,
    to: (k + 1) / bins,
    n: b.n,
    meanPredicted: b.n ? b.predicted / b.n : null,
    observed: b.n ? b.observed / b.n : null,
  }));
  const ece = result.reduce((sum, b) => sum + (b.n ? (b.n / scores.length) * Math.abs(b.meanPredicted! - b.observed!) : 0), 0);
  return { bins: result, ece, logLoss: logLoss / scores.length, brier: brier / scores.length };
}

/**
 * Calibrated out-of-fold probabilities with each fold's calibration fitted on the other folds
 * only, so the reliability of the calibrated scores is measured on predictions the calibration
 * never saw. With a single fold, the calibration is fitted on that fold itself (say so).
 */
export function crossFittedCalibration(records: readonly { score: number; label: number; fold: number }[]): { scores: number[]; crossFitted: boolean } {
  const folds = [...new Set(records.map((r) => r.fold))];
  const usable = (rest: readonly { label: number }[]) => rest.some((r) => r.label === 1) && rest.some((r) => r.label === 0);
  if (folds.length < 2 || folds.some((f) => !usable(records.filter((r) => r.fold !== f)))) {
    const whole = fitPlatt(records.map((r) => r.score), records.map((r) => r.label), 'in-sample');
    return { scores: records.map((r) => applyCalibration(whole, r.score)), crossFitted: false };
  }
  const byFold = new Map(
    folds.map((f) => {
      const rest = records.filter((r) => r.fold !== f);
      return [f, fitPlatt(rest.map((r) => r.score), rest.map((r) => r.label), `folds other than ${f}`)];
    }),
  );
  return { scores: records.map((r) => applyCalibration(byFold.get(r.fold)!, r.score)), crossFitted: true };
}
