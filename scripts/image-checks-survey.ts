// Runs the image checks (src/pipeline/image-checks.ts) with the default thresholds over every
// real image of the shared data, as the service would see them: the RSNA screening exports
// wrapped as DICOM MG (test/support/image-folder-dicom.ts), the mini-MIAS films converted as
// digitised film (src/dicom/convert/mias-to-dicom.ts) and the two real DICOM samples. Each goes
// read -> header checks -> decode -> pixel checks, and the intended-use check against the default
// model's declaration. Prints the rejections by reason and the range of every measurement; the
// numbers are in docs/image-checks.md. Too slow for the test suite (~2,800 images).
//
//   npx tsx scripts/image-checks-survey.ts [--out var/image-checks-survey.json]

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { IMAGE_CHECK_DEFAULTS } from '../src/config/config.schema.js';
import { loadConfig, PROJECT_ROOT } from '../src/config/index.js';
import { buildFilmMammogram } from '../src/dicom/convert/mias-to-dicom.js';
import { readPart10 } from '../src/dicom/part10.js';
import { decodeImage } from '../src/dicom/pixels/decode-image.js';
import { selectView } from '../src/dicom/view-selection.js';
import type { ModelManifest } from '../src/ml/model-manifest.js';
import { checkHeader, checkPixels, imagingKind, physicalSpacing, type ImageCheckOptions, type PixelMeasurements } from '../src/pipeline/image-checks.js';
import { readImageFolderDataset } from '../src/training/datasets/image-folder.js';
import { MIAS_PIXEL_SPACING_MM, readMiasDataset, readMiasPixels } from '../src/training/datasets/mias.js';
import { folderImagesAsDicom } from '../test/support/image-folder-dicom.js';

interface Row {
  collection: string;
  id: string;
  kind: string;
  spacing: string | null;
  fieldOfViewMm: [number, number] | null;
  rejected: string[];
  outsideIntendedUse: string[];
  notes: string[];
  measured: PixelMeasurements | null;
}

const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1]! : path.join(PROJECT_ROOT, 'var', 'image-checks-survey.json');
const dataDir = loadConfig({}).config.sharedDataDir;
const defaultManifest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'models', 'default', 'manifest.json'), 'utf8')) as ModelManifest;
const options: ImageCheckOptions = { checks: IMAGE_CHECK_DEFAULTS, intendedUse: defaultManifest.intendedUse ?? null };
const rows: Row[] = [];

async function survey(collection: string, id: string, bytes: Uint8Array): Promise<void> {
  const file = readPart10(bytes, `${collection} ${id}`);
  const decision = selectView(file.dataset, { extraModalities: ['RG'], views: ['CC', 'MLO'], skipModifiers: [] });
  const header = checkHeader(file.dataset, decision.view, options);
  const spacing = physicalSpacing(file.dataset);
  const rowsN = Number(file.dataset.Rows);
  const columnsN = Number(file.dataset.Columns);
  const row: Row = {
    collection,
    id,
    kind: imagingKind(file.dataset).kind,
    spacing: spacing ? `${spacing.mm.join(' x ')} (${spacing.source})` : null,
    fieldOfViewMm: spacing ? [rowsN * spacing.mm[0], columnsN * spacing.mm[1]] : null,
    rejected: header.plausibility.map((p) => p.check),
    outsideIntendedUse: header.intendedUse.map((p) => p.check),
    notes: header.notes,
    measured: null,
  };
  // The pixels are checked whatever the header said, to measure every image.
  const decoded = await decodeImage(file);
  const pixels = checkPixels(decoded, file.dataset, options);
  row.rejected.push(...pixels.plausibility.map((p) => p.check));
  row.measured = pixels.measured;
  if (row.rejected.length) console.log(`${collection} ${id}: ${[header.skip, pixels.skip].filter(Boolean).join(' | ')}`);
  rows.push(row);
}

async function main(): Promise<void> {
  const started = Date.now();
  for (const name of ['clunie-mg-explicit-little.dcm', 'nema-wg04-mg1-j2ki.dcm']) {
    await survey('dicom', name, new Uint8Array(readFileSync(path.join(dataDir, 'dicom', name))));
  }
  const mias = await readMiasDataset(path.join(dataDir, 'mias'));
  for (const [index, image] of mias.images.entries()) {
    const pgm = await readMiasPixels(image);
    const built = buildFilmMammogram({
      imageId: image.id, patientId: `MIAS-${image.womanId}`, patientName: `MIAS^${image.womanId}`, laterality: image.laterality, view: image.view,
      instanceNumber: index + 1, rows: pgm.height, columns: pgm.width, pixels: pgm.pixels, pixelSpacingMm: MIAS_PIXEL_SPACING_MM, collection: 'mini-MIAS',
    });
    await survey('mini-MIAS', image.id, built.bytes);
  }
  console.log(`mini-MIAS: ${mias.images.length} images (${Math.round((Date.now() - started) / 1000)} s)`);
  const rsna = await readImageFolderDataset(path.join(dataDir, 'rsna-screening'));
  // Other views (e.g. AT) are skipped by the view selection before any check; the DICOM wrapper takes CC and MLO only.
  const otherViews = rsna.images.filter((i) => i.view !== 'CC' && i.view !== 'MLO');
  if (otherViews.length) console.log(`rsna-screening: ${otherViews.length} images of other views left out (${otherViews.map((i) => `${i.id} ${i.view}`).join(', ')})`);
  for (const [index, image] of rsna.images.filter((i) => i.view === 'CC' || i.view === 'MLO').entries()) {
    const [wrapped] = await folderImagesAsDicom([image], { encoding: 'native', collection: 'rsna-screening' });
    await survey('rsna-screening', image.id, wrapped!.bytes);
    if ((index + 1) % 250 === 0) console.log(`rsna-screening: ${index + 1} of ${rsna.images.length} (${Math.round((Date.now() - started) / 1000)} s)`);
  }

  const collections = [...new Set(rows.map((r) => r.collection))];
  const summary = collections.map((collection) => {
    const of = rows.filter((r) => r.collection === collection);
    const count = (list: (r: Row) => string[]) => {
      const counts: Record<string, number> = {};
      for (const r of of) for (const check of new Set(list(r))) counts[check] = (counts[check] ?? 0) + 1;
      return counts;
    };
    const measured = of.map((r) => r.measured!).filter(Boolean);
    const rangeOf = (pick: (m: PixelMeasurements) => number) => {
      const values = measured.map(pick).sort((a, b) => a - b);
      const at = (q: number) => values[Math.min(values.length - 1, Math.floor(q * values.length))]!;
      return { min: values[0], p1: at(0.01), median: at(0.5), p99: at(0.99), max: values.at(-1) };
    };
    const fov = of.map((r) => r.fieldOfViewMm).filter((f): f is [number, number] => f !== null).flat();
    return {
      collection,
      images: of.length,
      rejected: of.filter((r) => r.rejected.length).length,
      rejectedBy: count((r) => r.rejected),
      outsideIntendedUseOfDefaultModel: of.filter((r) => r.outsideIntendedUse.length).length,
      outsideBy: count((r) => r.outsideIntendedUse),
      kinds: count((r) => [r.kind]),
      withoutSpacing: of.filter((r) => r.spacing === null).length,
      fieldOfViewMm: fov.length ? { min: Math.min(...fov), max: Math.max(...fov) } : null,
      matrix: rangeOf((m) => Math.min(m.width, m.height)),
      greyLevelsCounted: rangeOf((m) => m.greyLevels),
      usedDepthFraction: rangeOf((m) => m.usedDepthFraction),
      shareAtMin: rangeOf((m) => m.shareAtMin),
      shareAtMax: rangeOf((m) => m.shareAtMax),
      breastShare: rangeOf((m) => m.breastShare),
    };
  });
  writeFileSync(out, JSON.stringify({ thresholds: IMAGE_CHECK_DEFAULTS, intendedUse: options.intendedUse, summary, rows }, null, 1));
  console.log(JSON.stringify(summary, null, 1));
  console.log(`${rows.length} images in ${Math.round((Date.now() - started) / 1000)} s; rows in ${out}`);
}

await main();
