// Probability calibration carried by a model package: the network's probability (after the
// test-time flips are averaged) is mapped to a calibrated one before anything else sees it.
// Platt scaling on the logit, p' = sigmoid(a * logit(p) + b): monotone (so AUC and ranking are
// unchanged), two numbers, fitted by the trainer on out-of-fold predictions of women the model
// never saw (src/training/evaluation/calibration.ts).

export interface PlattCalibration {
  method: 'platt';
  /** Slope on the logit of the raw probability. */
  a: number;
  /** Intercept. */
  b: number;
  /** What it was fitted on, for people (e.g. "out-of-fold predictions of 2555 images, 722 women; prevalence 34%"). */
  fittedOn: string;
}

/** Raw probabilities are clamped this far from 0 and 1 before the logit, so the map stays finite. */
export const LOGIT_EPSILON = 1e-7;

export function logit(p: number): number {
  const q = Math.min(1 - LOGIT_EPSILON, Math.max(LOGIT_EPSILON, p));
  return Math.log(q / (1 - q));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** The calibrated probability of a raw one. */
export function applyCalibration(calibration: PlattCalibration, p: number): number {
  return sigmoid(calibration.a * logit(p) + calibration.b);
}
