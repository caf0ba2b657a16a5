// `mammocad convert`: public data sets to DICOM. `convert mias` writes each mini-MIAS image as a
// DICOM Digital Mammography file, one patient and study per woman, with the same UIDs on every
// run; progress on stderr.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { buildFilmMammogram } from '../dicom/convert/mias-to-dicom.js';
import { MIAS_PIXEL_SPACING_MM, readMiasDataset, readMiasPixels } from '../training/datasets/mias.js';
import { print, writeWhole } from './output.js';
import { ProgressReporter } from './progress-reporter.js';

export function registerConvertCommands(program: Command): Command {
  const convert = program.command('convert').description('convert public data sets to DICOM');
  convert
    .command('mias')
    .description('write each mini-MIAS image (PGM + labels.txt) as a DICOM Digital Mammography "For Presentation" file: one patient and study per woman, OUT/<woman>/<image id>.dcm')
    .argument('<dir>', 'the mini-MIAS folder (labels.txt and the .pgm files), e.g. <sharedDataDir>/mias')
    .argument('<out>', 'output folder')
    .option('--json', 'print one JSON object per file, then a summary')
    .action(async (dir: string, out: string, opts: { json?: boolean }) => convertMiasCommand(dir, out, Boolean(opts.json)));
  for (const command of convert.commands) command.exitOverride();
  return convert;
}

/** mini-MIAS -> one DICOM MG file per image, OUT/<woman>/<image id>.dcm; a re-run writes the same UIDs. */
async function convertMiasCommand(dir: string, out: string, json: boolean): Promise<void> {
  const dataset = await readMiasDataset(dir);
  const progress = new ProgressReporter({ label: 'convert mias', unit: 'images', enabled: !json });
  let malignant = 0;
  let done = 0;
  await progress.track({ done: 0, total: dataset.images.length }, async () => {
    for (const [womanId, images] of [...dataset.women].sort(([a], [b]) => a.localeCompare(b))) {
      await mkdir(path.join(out, womanId), { recursive: true });
      for (const [index, image] of images.entries()) {
        const pgm = await readMiasPixels(image);
        const built = buildFilmMammogram({
          imageId: image.id, patientId: `MIAS-${womanId}`, patientName: `MIAS^${womanId}`, laterality: image.laterality, view: image.view,
          instanceNumber: index + 1, rows: pgm.height, columns: pgm.width, pixels: pgm.pixels, pixelSpacingMm: MIAS_PIXEL_SPACING_MM, collection: 'mini-MIAS',
        });
        const file = path.join(out, womanId, `${image.id}.dcm`);
        writeWhole(file, built.bytes);
        if (image.malignant) malignant++;
        const { bytes: _bytes, ...uids } = built;
        // Through the progress line: on a terminal, stdout's lines and the redrawn line share the screen.
        print(json, { level: 'file', file, imageId: image.id, womanId, laterality: image.laterality, view: image.view, imageClass: image.imageClass, ...uids }, `${file}: ${image.laterality} ${image.view}, ${image.imageClass}`, progress);
        progress.update({ done: ++done, phase: `${womanId} ${image.id}` });
      }
    }
  });
  const summary = { level: 'summary', dir, out, images: dataset.images.length, women: dataset.women.size, malignantImages: malignant };
  print(json, summary, `wrote ${summary.images} images of ${summary.women} women (${malignant} malignant) under ${out}`);
}
