// Scores training images with a model package exactly as the service scores studies: the
// package's onnxruntime graph, its own pre-processing and test-time flips (createModelRuntime),
// the image as the decoder would hand it out. Used for the trainer's out-of-fold predictions
// and by `mammocad evaluate`, which for image folders adds the shortcut checks (AUC per machine
// and site, of age alone, within age bands) and can write every image's probability as CSV.

import type { ModelPackage } from '../../ml/registry/index.js';
import { createModelRuntime } from '../../ml/runtime/index.js';
import type { DatasetSkip, TrainingDataset, TrainingImage } from '../datasets/dataset.js';
import { DEFAULT_GROUP_COLUMNS, evaluationReport, groupedEvaluation, type EvaluationReport, type GroupedEvaluation } from '../evaluation/index.js';
import { canonicalOf } from './training-data.js';

export interface ImageScore {
  image: TrainingImage;
  score: number;
}

/** Told after every image, scored or skipped (the CLI draws its progress line from it). */
export type ScoringProgress = (done: number, total: number) => void;

/** P(malignant) per image; images that cannot be decoded are skipped with the reason. */
export async function scoreImages(
  pkg: ModelPackage,
  images: readonly TrainingImage[],
  options: { threads?: number; betweenImages?: () => Promise<void>; progress?: ScoringProgress } = {},
): Promise<{ scores: ImageScore[]; skipped: DatasetSkip[] }> {
  const runtime = await createModelRuntime([pkg], options.threads ? { intraOpThreads: options.threads } : {});
  const scores: ImageScore[] = [];
  const skipped: DatasetSkip[] = [];
  try {
    for (const [index, image] of images.entries()) {
      let grey;
      try {
        grey = await canonicalOf(image);
      } catch (error) {
        skipped.push({ item: image.id, reason: `cannot be decoded (${image.source}): ${(error as Error).message}` });
        options.progress?.(index + 1, images.length);
        continue;
      }
      const [score] = await runtime.score([grey]);
      scores.push({ image, score: score! });
      options.progress?.(index + 1, images.length);
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

function reportOf(pkg: ModelPackage, scores: readonly ImageScore[], options: { seed?: number; samples?: number }): EvaluationReport {
  return evaluationReport(
    { scores: scores.map((s) => s.score), labels: scores.map((s) => s.image.label), groups: scores.map((s) => s.image.womanId) },
    { threshold: pkg.threshold, seed: options.seed ?? 20191, ...(options.samples ? { samples: options.samples } : {}) },
  );
}

/** Scores the images and reports per image (woman-clustered bootstrap, the package's threshold). */
export async function evaluatePackage(
  pkg: ModelPackage,
  images: readonly TrainingImage[],
  options: { seed?: number; samples?: number; threads?: number; progress?: ScoringProgress } = {},
): Promise<{ evaluation: DatasetEvaluation; report: EvaluationReport; scores: ImageScore[]; skipped: DatasetSkip[] }> {
  const { scores, skipped } = await scoreImages(pkg, images, options);
  const report = reportOf(pkg, scores, options);
  return { evaluation: summarise(report), report, scores, skipped };
}

/** The summary with the shortcut checks and the number of images left out (by the reader or the decoder). */
export type GroupedDatasetEvaluation = DatasetEvaluation & GroupedEvaluation & { skipped: number };

/**
 * Scores a data set once and reports the summary, the AUC per value of each grouping column
 * some image has (default machine_id and site_id), the AUC of age alone and the AUC within
 * 10-year age bands, every CI by woman. `skipped` lists what the reader and the scoring left out.
 */
export async function evaluateWithGroups(
  pkg: ModelPackage,
  dataset: TrainingDataset,
  options: { seed?: number; samples?: number; threads?: number; groupColumns?: readonly string[]; progress?: ScoringProgress } = {},
): Promise<{ evaluation: GroupedDatasetEvaluation; scores: ImageScore[]; skipped: DatasetSkip[] }> {
  const scored = await scoreImages(pkg, dataset.images, options);
  const skipped = [...dataset.skipped, ...scored.skipped];
  const grouped = groupedEvaluation(
    scored.scores.map((s) => ({ score: s.score, label: s.image.label, woman: s.image.womanId, attributes: s.image.attributes })),
    { seed: options.seed ?? 20191, ...(options.samples ? { samples: options.samples } : {}), ...(options.groupColumns ? { groupColumns: options.groupColumns } : {}) },
  );
  return { evaluation: { ...summarise(reportOf(pkg, scored.scores, options)), ...grouped, skipped: skipped.length }, scores: scored.scores, skipped };
}

/** A CSV field, quoted when it holds a delimiter, a quote or a line break (RFC 4180). */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * Every scored image as one CSV row: id, file, woman, laterality, view, label, probability (full
 * precision, so it reads back as the same number), inverted (as the reader found it; blank when
 * the data set does not say), then the grouping columns and age where some image has them.
 */
export function scoresCsv(scores: readonly ImageScore[], groupColumns: readonly string[] = DEFAULT_GROUP_COLUMNS): string {
  const extra = [...groupColumns, 'age'].filter((c, i, all) => all.indexOf(c) === i && scores.some((s) => s.image.attributes[c] !== undefined));
  const header = ['id', 'file', 'woman', 'laterality', 'view', 'label', 'probability', 'inverted', ...extra];
  const lines = scores.map(({ image, score }) =>
    [image.id, image.source, image.womanId, image.laterality, image.view, String(image.label), String(score), image.attributes.inverted ?? '', ...extra.map((c) => image.attributes[c] ?? '')]
      .map(csvField)
      .join(','),
  );
  return `${[header.join(','), ...lines].join('\n')}\n`;
}
