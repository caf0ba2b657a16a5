// The validation figures of a training run, read from its state while it runs or after it
// finished: the AUC of the predictions so far (validation women of the folds scored), with the
// shortcut checks beside it (per machine and site, age alone, within 10-year age bands) from the
// data set's manifest columns. How the ablation rows of docs/training.md were computed, the same
// way for every row.
//
//   npx tsx scripts/run-report.ts RUN_DIR DATASET_DIR [--scores SCORES.csv] [--json]
//
// RUN_DIR is <data dir>/training/<run id>; DATASET_DIR an image folder (manifest.csv + images).
// With --scores (the CSV of `mammocad evaluate --scores`), another model's probabilities are
// reported on the same images: a row of the ablation table for a model the run did not train.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCsv } from '../src/training/datasets/csv.js';
import { readImageFolderDataset } from '../src/training/datasets/image-folder.js';
import { evaluationReport, groupedEvaluation } from '../src/training/evaluation/index.js';
import { RUN_STATE_FILE, type RunState } from '../src/training/trainer/index.js';

const args = process.argv.slice(2);
const scoresAt = args.indexOf('--scores');
const scoresFile = scoresAt >= 0 ? args[scoresAt + 1] : undefined;
const [runDir, datasetDir] = args.filter((a, i) => !a.startsWith('--') && (scoresAt < 0 || i !== scoresAt + 1));
if (!runDir || !datasetDir) {
  process.stderr.write('usage: npx tsx scripts/run-report.ts RUN_DIR DATASET_DIR [--json]\n');
  process.exit(2);
}
const state = JSON.parse(await readFile(path.join(runDir, RUN_STATE_FILE), 'utf8')) as RunState;
if (state.oof.length === 0) {
  process.stderr.write(`${runDir}: no fold has been scored yet (${state.log.length} epochs done)\n`);
  process.exit(1);
}
if (scoresFile) {
  // Another model's probabilities for the same images (column `id`, `probability`).
  const table = parseCsv(await readFile(scoresFile, 'utf8'), scoresFile, { required: ['id', 'probability'] });
  const byImage = new Map(table.rows.map((r) => [r.values.id!, Number(r.values.probability)]));
  for (const o of state.oof) {
    const p = byImage.get(o.imageId);
    if (p === undefined || !Number.isFinite(p)) throw new Error(`${scoresFile}: no probability for image ${o.imageId}`);
    o.score = p;
  }
}
const dataset = await readImageFolderDataset(datasetDir);
const byId = new Map(dataset.images.map((i) => [i.id, i]));
const missing = state.oof.filter((o) => !byId.has(o.imageId));
if (missing.length > 0) throw new Error(`${missing.length} scored images are not in ${datasetDir} (first: ${missing[0]!.imageId}): another data set?`);
const bootstrap = { seed: 12345, samples: 2000 };
const overall = evaluationReport({ scores: state.oof.map((o) => o.score), labels: state.oof.map((o) => o.label), groups: state.oof.map((o) => o.womanId) }, bootstrap);
const shortcuts = groupedEvaluation(
  state.oof.map((o) => ({ score: o.score, label: o.label, woman: o.womanId, attributes: byId.get(o.imageId)!.attributes })),
  bootstrap,
);
const lastEpochs = state.log.filter((r) => r.valAuc !== null).map((r) => ({ unit: r.unit, epoch: r.epoch, valAuc: r.valAuc, seconds: r.seconds }));
const report = {
  run: state.runId,
  ...(scoresFile ? { scores: scoresFile } : {}),
  version: state.version,
  folds: [...new Set(state.oof.map((o) => o.fold + 1))],
  auc: overall.auc,
  auc_ci: overall.auc_ci,
  n: overall.n,
  positives: overall.positives,
  'sensitivity_at_spec_0.8': overall['sensitivity_at_spec_0.8'],
  'sensitivity_at_spec_0.9': overall['sensitivity_at_spec_0.9'],
  ...shortcuts,
  epochs: lastEpochs,
  timings: state.timings,
};
if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify(report)}\n`);
} else {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(3));
  const ci = (c: [number, number] | null) => (c ? ` (${f(c[0])}-${f(c[1])})` : '');
  const lines = [
    `${scoresFile ? `${scoresFile} on the validation images of ` : ''}${report.run} (${report.version}): folds ${report.folds.join(', ')}, ${report.n} images, ${report.positives} malignant`,
    `  AUC ${f(report.auc)}${ci(report.auc_ci)}; sensitivity at 80% / 90% specificity ${f(report['sensitivity_at_spec_0.8'])} / ${f(report['sensitivity_at_spec_0.9'])}`,
    `  age alone ${f(shortcuts.age_only_auc?.auc)}${ci(shortcuts.age_only_auc?.auc_ci ?? null)}; within age bands ${f(shortcuts.age_stratified_auc?.auc)}${ci(shortcuts.age_stratified_auc?.auc_ci ?? null)}`,
    ...Object.entries(shortcuts.auc_by_group).map(([column, groups]) => `  ${column}: ${Object.entries(groups).map(([value, g]) => `${value} ${f(g.auc)} (n ${g.n}, ${g.positives}+)`).join('; ')}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
