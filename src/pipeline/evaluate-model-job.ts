// The "evaluate" job: how well a model version does on the outcomes clinicians recorded. It
// compares the version's stored predictions with the labels (malignant = positive; benign and
// normal = negative), per image and per breast, with a bootstrap CI that resamples women, and
// appends the result to the version's metrics, where the API shows it next to other versions.
// Labelled images the version never scored are counted, not guessed: rescore them first.

import type { Logger } from 'pino';
import { NotFoundError, ValidationError, type JobRecord, type JsonValue } from '../domain/index.js';
import type { Store } from '../store/index.js';
import { decisiveLabels } from '../training/datasets/decisive-labels.js';
import { evaluationReport, evaluationReportPerBreast, type EvaluationReport, type ImageRecord } from '../training/evaluation/index.js';
import type { JobContext } from './job-worker.js';

export const EVALUATE_MODEL_JOB = 'evaluate';

/** How many evaluations a version keeps in its metrics (oldest dropped). */
const KEEP_EVALUATIONS = 20;

// decisiveLabels moved to src/training (training reads labels too, and may not import pipeline).
export { decisiveLabels };

const positive = (value: string): 0 | 1 => (value === 'malignant' ? 1 : 0);

function tryReport(make: () => EvaluationReport): EvaluationReport | { skipped: string } {
  try {
    return make();
  } catch (error) {
    if (error instanceof ValidationError) return { skipped: error.message };
    throw error;
  }
}

export class EvaluateModelJob {
  constructor(private readonly deps: { store: Store; logger: Logger }) {}

  readonly handle = async (job: JobRecord, context: JobContext): Promise<JsonValue> => {
    const { store } = this.deps;
    const { version, requestedBy } = job.payload as { version: string; requestedBy?: string };
    const model = await store.modelVersions.findByVersion(version);
    if (!model) throw new NotFoundError('model version', version);
    await context.progress({ phase: 'reading labels' });
    const labels = decisiveLabels(await store.labels.labelledResults(model.id));
    const scored = labels.filter((l) => l.probability !== null);
    const images = scored.filter((l) => l.scope === 'image');
    const breasts = scored.filter((l) => l.scope === 'breast');
    const options = { threshold: model.threshold, seed: 20191 };

    const imageReport = tryReport(() =>
      evaluationReport({ scores: images.map((l) => l.probability!), labels: images.map((l) => positive(l.value)), groups: images.map((l) => l.woman) }, options, 'image'),
    );
    // Breast results: breast labels against breast-level predictions where clinicians labelled
    // breasts, otherwise image labels combined per breast (maximum over views).
    const breastReport = tryReport(() =>
      breasts.length > 0
        ? evaluationReport({ scores: breasts.map((l) => l.probability!), labels: breasts.map((l) => positive(l.value)), groups: breasts.map((l) => l.woman) }, options, 'breast')
        : evaluationReportPerBreast(
            images.filter((l) => l.laterality === 'L' || l.laterality === 'R').map((l): ImageRecord => ({ woman: l.woman, laterality: l.laterality as 'L' | 'R', score: l.probability!, label: positive(l.value) })),
            options,
          ),
    );
    const headline = 'auc' in imageReport ? imageReport : 'auc' in breastReport ? breastReport : null;
    if (!headline) {
      throw new ValidationError('labels', `model ${version} cannot be evaluated on the recorded labels: ${'skipped' in imageReport ? imageReport.skipped : ''}; ${'skipped' in breastReport ? breastReport.skipped : ''}`);
    }
    const evaluation = {
      at: new Date().toISOString(),
      by: requestedBy ?? null,
      data: { labels: labels.length, scored: scored.length, notScoredByThisVersion: labels.length - scored.length },
      auc: headline.auc,
      auc_ci: headline.auc_ci,
      unit: headline.unit,
      roc: headline.roc,
      image: imageReport,
      breast: breastReport,
    } as unknown as JsonValue;
    const metrics = (model.metrics && typeof model.metrics === 'object' && !Array.isArray(model.metrics) ? model.metrics : {}) as Record<string, JsonValue>;
    const previous = Array.isArray(metrics.evaluations) ? metrics.evaluations : [];
    await store.modelVersions.updateMetrics(version, { ...metrics, evaluations: [...previous, evaluation].slice(-KEEP_EVALUATIONS) });
    this.deps.logger.info({ version, n: headline.n, auc: headline.auc }, 'model version evaluated on recorded labels');
    return { version, unit: headline.unit, auc: headline.auc, auc_ci: headline.auc_ci, n: headline.n, notScoredByThisVersion: labels.length - scored.length };
  };
}
