// Scores training images with a model package exactly as the service scores studies: the
// package's onnxruntime graph, its own pre-processing and test-time flips (createModelRuntime),
// the image as the decoder would hand it out. Used for the trainer's out-of-fold predictions
// and by `mammocad evaluate`.

import type { ModelPackage } from '../../ml/registry/index.js';
import { createModelRuntime } from '../../ml/runtime/index.js';
import type { DatasetSkip, TrainingImage } from '../datasets/dataset.js';
import { evaluationReport, type EvaluationReport } from '../evaluation/index.js';
import { canonicalOf } from './training-data.js';

export interface ImageScore {
  image: TrainingImage;
  score: number;
}

/** P(malignant) per image; images that cannot be decoded are skipped with the reason. */
export async function scoreImages(
  pkg: ModelPackage,
  images: readonly TrainingImage[],
  options: { threads?: number; betweenImages?: () => Promise<void> } = {},
): Promise<{ scores: ImageScore[]; skipped: DatasetSkip[] }> {
  const runtime = await createModelRuntime([pkg], options.threads ? { intraOpThreads: options.threads } : {});
  const scores: ImageScore[] = [];
  const skipped: DatasetSkip[] = [];
  try {
    for (const image of images) {
      let grey;
      try {
        grey = await canonicalOf(image);
      } catch (error) {
        skipped.push({ item: image.id, reason: `cannot be decoded (${image.source}): ${(error as Error).message}` });
        continue;
      }
      const [score] = await runtime.score([grey]);
      scores.push({ image, score: score! });
      await options.betweenImages?.();
    }
  } finally {
    await runtime.dispose();
  }
  return { scores, skipped };
}

/** The summary `mammocad evaluate` prints: per image, CI resampling women, at the package's threshold. */
export type DatasetEvaluation = Pick<EvaluationReport, 'auc' | 'auc_ci' | 'n' | 'positives' | 'sensitivity_at_spec_0.8' | 'sensitivity_at_spec_0.9' | 'threshold'>;

export function summarise(report: EvaluationReport): DatasetEvaluation {
  return {
    auc: report.auc,
    auc_ci: report.auc_ci,
    n: report.n,
    positives: report.positives,
    'sensitivity_at_spec_0.8': report['sensitivity_at_spec_0.8'],
    'sensitivity_at_spec_0.9': report['sensitivity_at_spec_0.9'],
    threshold: report.threshold,
  };
}

/** Scores the images and reports per image (woman-clustered bootstrap, the package's threshold). */
export async function evaluatePackage(
  pkg: ModelPackage,
  images: readonly TrainingImage[],
  options: { seed?: number; samples?: number; threads?: number } = {},
): Promise<{ evaluation: DatasetEvaluation; report: EvaluationReport; skipped: DatasetSkip[] }> {
  const { scores, skipped } = await scoreImages(pkg, images, options);
  const report = evaluationReport(
    { scores: scores.map((s) => s.score), labels: scores.map((s) => s.image.label), groups: scores.map((s) => s.image.womanId) },
    { threshold: pkg.threshold, seed: options.seed ?? 20191, ...(options.samples ? { samples: options.samples } : {}) },
  );
  return { evaluation: summarise(report), report, skipped };
}
