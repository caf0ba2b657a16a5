// `mammocad score`: scores DICOM files with the active model and prints one line per image, then
// per breast and per exam; `--heatmap DIR` also writes a picture per scored image
// (score-heatmap.ts). Exit code 1 when a file could not be scored.

import { mkdir } from 'node:fs/promises';
import { CommanderError, type Command } from 'commander';
import { MammocadError } from '../domain/index.js';
import { scoreFiles, type HeatMapSink } from '../pipeline/score-files.js';
import { EXIT, configFrom, withActiveModel } from './context.js';
import { print } from './output.js';
import { HEAT_MAP_PICTURE_MAX_SIZE, heatMapPictureWriter } from './score-heatmap.js';

export function registerScoreCommand(program: Command): Command {
  return program
    .command('score')
    .description('score DICOM files with the active model: one line per image, then per breast and per exam')
    .argument('<file...>', 'DICOM Part 10 files')
    .option('--heatmap <dir>', `also write, per scored image, <dir>/<SOP Instance UID>.png: the image (longest side at most ${HEAT_MAP_PICTURE_MAX_SIZE} pixels) with the model's heat map and, at or above its threshold, the regions it marks`)
    .option('--json', 'print one JSON object per line (with --heatmap, each image line names its picture in "heatMap")')
    .action(async (files: string[], opts: { json?: boolean; heatmap?: string }, cmd: Command) => scoreCommand(cmd, files, opts));
}

async function scoreCommand(command: Command, files: string[], opts: { json?: boolean; heatmap?: string }): Promise<void> {
  const json = Boolean(opts.json);
  const { config } = configFrom(command);
  const result = await withActiveModel(command, async (runtime, pkg) => {
    let heatMaps: HeatMapSink | undefined;
    if (opts.heatmap !== undefined) {
      // Before any file is scored: a model without heat maps gives no pictures, whatever the files.
      if (runtime.heatMapProblem !== null) throw new MammocadError('HEAT_MAPS_UNAVAILABLE', `--heatmap: model ${pkg.version}: ${runtime.heatMapProblem}`);
      await mkdir(opts.heatmap, { recursive: true });
      heatMaps = heatMapPictureWriter(opts.heatmap, runtime.members.reduce((sum, m) => sum + m.threshold, 0) / runtime.members.length);
    }
    return scoreFiles(files, runtime, config.selection, { checks: config.imageChecks, intendedUse: pkg.manifest.intendedUse ?? null }, { heatMaps, decodeAtModelResolution: config.worker.decodeAtModelResolution, decodeResolutionMargin: config.worker.decodeResolutionMargin });
  });
  for (const image of result.images) {
    const flags = image.flags.map((flag) => ` [${flag}]`).join('');
    const picture = image.heatMap ? ` -> ${image.heatMap}` : '';
    print(json, { level: 'image', ...image }, `${image.file}: ${image.status}${image.probability !== null ? ` p=${image.probability.toFixed(4)}` : ''}${image.reason ? ` (${image.reason})` : ''}${flags}${picture}`);
  }
  for (const breast of result.aggregate?.breasts ?? []) {
    print(json, { level: 'breast', ...breast, positive: breast.probability >= result.threshold }, `breast ${breast.laterality}: p=${breast.probability.toFixed(4)}`);
  }
  if (result.aggregate) {
    const exam = result.aggregate.exam;
    print(json, { level: 'exam', ...exam, positive: exam.probability >= result.threshold, threshold: result.threshold, models: result.models }, `exam: p=${exam.probability.toFixed(4)} (threshold ${result.threshold}, ${exam.probability >= result.threshold ? 'positive' : 'negative'})`);
  }
  if (result.images.some((i) => i.status === 'failed')) throw new CommanderError(EXIT.failed, 'mammocad.score', 'some files could not be scored');
}
