// `mammocad evaluate`: a model package (the active one by default) on a data set: per-image AUC
// with a bootstrap CI by woman, sensitivity at 80/90% specificity; image folders add the
// shortcut checks (per group, age alone, within age bands). Progress on stderr.

import type { Command } from 'commander';
import { MammocadError } from '../domain/index.js';
import { readPackage } from '../ml/registry/index.js';
import type { DatasetEvaluation, ImageScore } from '../training/trainer/score-dataset.js';
import { withModels } from './context.js';
import { checkDatasetKind, readDataset } from './options.js';
import { print, reportSkipped, writeWhole } from './output.js';
import { ProgressReporter } from './progress-reporter.js';

interface EvaluateOptions {
  model?: string;
  dataset: string;
  dir: string;
  scores?: string;
  json?: boolean;
}

export function registerEvaluateCommand(program: Command): Command {
  return program
    .command('evaluate')
    .description('evaluate a model package on a data set: per-image AUC with a bootstrap CI by woman, sensitivity at 80/90% specificity')
    .option('--model <version>', 'model version (default: the active one)')
    .requiredOption('--dataset <kind>', 'data set kind: mias, image-folder (manifest.csv + PNG/JPEG images; see docs/training.md), rsna-screening (an image folder)')
    .requiredOption('--dir <dir>', 'the data set folder')
    .option('--scores <file>', "write every image's probability as CSV (id, file, woman, laterality, view, label, probability, inverted, group columns)")
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: EvaluateOptions, cmd: Command) => evaluateCommand(cmd, opts));
}

/**
 * `mammocad evaluate`: a model package on a data set, per image, CI resampling women. Image
 * folders (rsna-screening is one) add the shortcut checks (per machine and site, age alone,
 * within age bands) and the count of images left out; mini-MIAS prints the summary only.
 */
async function evaluateCommand(command: Command, opts: EvaluateOptions): Promise<void> {
  checkDatasetKind(opts.dataset);
  // A fresh install evaluates the shipped default model, as it would score with it.
  const pkg = await withModels(command, async (models, config) => (opts.model ? readPackage((await models.show(opts.model)).path) : models.activeOrDefaultPackage(config.defaultModelDir)));
  if (!pkg) throw new MammocadError('NO_ACTIVE_MODEL', 'no model version is active: name one with --model VERSION');
  const { evaluatePackage, evaluateWithGroups, scoresCsv } = await import('../training/trainer/score-dataset.js');
  const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
  const ci = (c: [number, number] | null) => (c === null ? '' : ` [${f(c[0])}, ${f(c[1])}]`);
  let result: { evaluation: DatasetEvaluation; scores: ImageScore[] };
  let details: string[] = [];
  let json: object;
  const progress = new ProgressReporter({ label: 'evaluate', unit: 'images', enabled: !opts.json });
  // After the last image come the AUCs and their bootstrap CIs (seconds on a large set).
  const scoring = { progress: (done: number, total: number) => progress.update({ done, total, phase: done < total ? 'scoring' : 'AUC and bootstrap CI' }) };
  const dataset = await readDataset(opts.dataset, opts.dir);
  if (opts.dataset === 'mias') {
    const evaluated = await progress.track({ done: 0, total: dataset.images.length, phase: 'scoring' }, () => evaluatePackage(pkg, dataset.images, scoring));
    reportSkipped(evaluated.skipped);
    result = evaluated;
    json = evaluated.evaluation;
  } else {
    const evaluated = await progress.track({ done: 0, total: dataset.images.length, phase: 'scoring' }, () => evaluateWithGroups(pkg, dataset, scoring));
    reportSkipped(evaluated.skipped);
    const e = evaluated.evaluation;
    result = evaluated;
    json = e;
    details = [
      ...Object.entries(e.auc_by_group).flatMap(([column, values]) => [
        `  AUC by ${column}:`,
        ...Object.entries(values).map(([value, g]) => `    ${value}: ${f(g.auc)}${ci(g.auc_ci)} (${g.n} images, ${g.positives} malignant)`),
      ]),
      ...(e.age_only_auc ? [`  age alone: AUC ${f(e.age_only_auc.auc)}${ci(e.age_only_auc.auc_ci)} (${e.age_only_auc.without_age} images without age left out)`] : []),
      ...(e.age_stratified_auc ? [`  within ${e.age_stratified_auc.band_years}-year age bands: AUC ${f(e.age_stratified_auc.auc)}${ci(e.age_stratified_auc.auc_ci)}`] : []),
      `  ${e.skipped} image(s) skipped`,
    ];
  }
  // Written whole and renamed into place: a failed run never leaves a partial file under the name.
  if (opts.scores) writeWhole(opts.scores, scoresCsv(result.scores));
  const { evaluation } = result;
  print(
    Boolean(opts.json),
    json,
    [
      `model ${pkg.version} on ${dataset.name} (${evaluation.n} images, ${evaluation.positives} malignant)`,
      `  AUC ${f(evaluation.auc)} [${f(evaluation.auc_ci[0])}, ${f(evaluation.auc_ci[1])}]`,
      `  sensitivity at 80% specificity ${f(evaluation['sensitivity_at_spec_0.8'])}, at 90% ${f(evaluation['sensitivity_at_spec_0.9'])}`,
      `  threshold ${evaluation.threshold}`,
      ...details,
    ].join('\n'),
  );
}
