// The pointing game on mini-MIAS (issue 16): does the model look where the lesion is? For every
// abnormal image with a lesion centre, the hottest cell of the heat map (its centre, in the
// stored image) is a hit when it lies inside a lesion's circle (MIAS gives each lesion a centre
// and the radius of a circle enclosing it), and again with the radius grown by half a cell,
// since a cell of the default model's map is 128 x 128 pixels (25.6 mm) of a mini-MIAS film.
//
// Each image travels the service's path: the PGM is written as the DICOM file `mammocad convert
// mias` writes, read and decoded as the service decodes a PACS instance, then scored with
// runtime.scoreWithHeatMaps (the package's own pre-processing and test-time flips). The image
// checks are not applied: a film is outside the default model's intended use, and the service
// would skip it; here we want to see where the model looks all the same.
//
// Chance: what a pointer dropped at random in the breast would score, per image the share of
// the breast (pixels above min + 10% of the grey range, the decoder's tissue test; film labels
// included) inside the lesion circles, averaged over the images; and, since the pointer can only
// land on cell centres, the share of the breast's cells (cell centre in the breast) whose centre
// is inside a circle. A pointer with no model at all is played too: the brightest cell (highest
// mean grey on the same grid), since masses are dense and a map that follows density alone would
// score that well. Hit rates get a 95% Wilson interval by image (mini-MIAS's abnormal images are
// nearly all one per woman).
//
//   npx tsx scripts/pointing-game.ts [--model models/default] [--data ../shared/data/mias] [--threads 2] [--limit N] [--json]

import path from 'node:path';
import { parseArgs } from 'node:util';
import type { HeatMap } from '../src/domain/index.js';
import { buildFilmMammogram } from '../src/dicom/convert/mias-to-dicom.js';
import { readPart10 } from '../src/dicom/part10.js';
import { decodeImage } from '../src/dicom/pixels/decode-image.js';
import { readPackage } from '../src/ml/registry/index.js';
import { createModelRuntime } from '../src/ml/runtime/index.js';
import { MIAS_PIXEL_SPACING_MM, readMiasDataset, readMiasPixels, type MiasImage } from '../src/training/datasets/mias.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default' },
    data: { type: 'string', default: path.join(process.env.MAMMOCAD_SHARED_DATA_DIR ?? '../shared/data', 'mias') },
    threads: { type: 'string', default: '2' },
    /** Only the first N images (a quick check of the script). */
    limit: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const threads = Number(args.threads);
if (!(Number.isInteger(threads) && threads >= 1)) throw new Error(`--threads must be a positive integer; got ${args.threads}`);
const limit = args.limit === undefined ? undefined : Number(args.limit);
if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new Error(`--limit must be a positive integer; got ${args.limit}`);

/** The decoder's tissue test: above min + this share of the grey range is breast (or a film label). */
const TISSUE_SHARE = 0.1;
const Z95 = 1.959963984540054;

/** A lesion circle in the SCOORD convention of the heat map: (column, row), pixel centres at + 0.5. */
interface Circle {
  x: number;
  y: number;
  radius: number;
  severity: 'B' | 'M';
}

interface ImageResult {
  id: string;
  imageClass: MiasImage['imageClass'];
  probability: number;
  /** Centre of the hottest cell (column, row) and its value. */
  hottest: { x: number; y: number; value: number };
  /** Cell size in pixels (columns, rows). */
  cell: { width: number; height: number };
  circles: Circle[];
  /** The hottest cell's centre lies in the breast mask (computed for images with circles only; else null). */
  hottestInBreast: boolean | null;
  /** Centre (column, row) of the cell with the highest mean grey value on the map's grid (images with circles only; else null). */
  brightest: { x: number; y: number } | null;
}

/** 95% Wilson score interval of k hits in n. */
function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z95 / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

function hottestCell(map: HeatMap): ImageResult['hottest'] {
  let best = 0;
  for (let i = 1; i < map.values.length; i++) if (map.values[i]! > map.values[best]!) best = i;
  const r = Math.floor(best / map.columns);
  const c = best % map.columns;
  return { x: ((c + 0.5) * map.imageColumns) / map.columns, y: ((r + 0.5) * map.imageRows) / map.rows, value: map.values[best]! };
}

/** The centre of the cell of `map`'s grid with the highest mean grey value of the stored pixels. */
function brightestCell(pixels: Uint8Array, width: number, height: number, map: HeatMap): { x: number; y: number } {
  const sums = new Float64Array(map.rows * map.columns);
  const counts = new Float64Array(map.rows * map.columns);
  for (let y = 0; y < height; y++) {
    const r = Math.min(map.rows - 1, Math.floor(((y + 0.5) * map.rows) / height));
    for (let x = 0; x < width; x++) {
      const cell = r * map.columns + Math.min(map.columns - 1, Math.floor(((x + 0.5) * map.columns) / width));
      sums[cell]! += pixels[y * width + x]!;
      counts[cell]!++;
    }
  }
  let best = 0;
  for (let i = 1; i < sums.length; i++) if (sums[i]! / counts[i]! > sums[best]! / counts[best]!) best = i;
  return { x: (((best % map.columns) + 0.5) * width) / map.columns, y: ((Math.floor(best / map.columns) + 0.5) * height) / map.rows };
}

const inside = (x: number, y: number, circles: readonly Circle[], grow: number) => circles.some((c) => Math.hypot(x - c.x, y - c.y) <= c.radius + grow);

/** Breast mask of the stored pixels (see the header). */
function breastMask(pixels: Uint8Array): Uint8Array {
  let min = 255;
  let max = 0;
  for (const v of pixels) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const cut = min + TISSUE_SHARE * (max - min);
  return pixels.map((v) => (v > cut ? 1 : 0));
}

/** One image's chance rates (see the header): share of the breast's area, share of its cells. */
interface Chance {
  area: number;
  cells: number;
}

/** The chance rates of one image for the circles as given and grown by `grow`. */
function chanceOf(mask: Uint8Array, width: number, height: number, map: HeatMap, circles: readonly Circle[], grow: number): Chance {
  let breast = 0;
  let hit = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (mask[y * width + x] !== 1) continue;
      breast++;
      if (inside(x + 0.5, y + 0.5, circles, grow)) hit++;
    }
  }
  let breastCells = 0;
  let hitCells = 0;
  for (let r = 0; r < map.rows; r++) {
    for (let c = 0; c < map.columns; c++) {
      const x = ((c + 0.5) * map.imageColumns) / map.columns;
      const y = ((r + 0.5) * map.imageRows) / map.rows;
      if (mask[Math.min(height - 1, Math.floor(y)) * width + Math.min(width - 1, Math.floor(x))] !== 1) continue;
      breastCells++;
      if (inside(x, y, circles, grow)) hitCells++;
    }
  }
  return { area: breast ? hit / breast : 0, cells: breastCells ? hitCells / breastCells : 0 };
}

interface GameResult {
  images: number;
  hits: number;
  rate: number;
  ci95: [number, number];
  hitsGrown: number;
  rateGrown: number;
  ci95Grown: [number, number];
  /** Mean over the images of the circles' share of the breast area (radius, radius + half a cell). */
  chanceArea: number;
  chanceAreaGrown: number;
  /** Mean over the images of the share of the breast's cells whose centre is inside a circle. */
  chanceCells: number;
  chanceCellsGrown: number;
}

const mean = (values: readonly number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0);

const started = Date.now();
const pkg = await readPackage(args.model);
const dataset = await readMiasDataset(args.data);
const images = limit === undefined ? dataset.images : dataset.images.slice(0, limit);
const runtime = await createModelRuntime([pkg], { intraOpThreads: threads });
if (runtime.heatMapProblem !== null) throw new Error(`${pkg.version}: ${runtime.heatMapProblem}`);

const results: ImageResult[] = [];
/** Per image with circles: the chance rates of its malignant circles (null without any) and of all its circles. */
const chances = new Map<string, Record<'malignant' | 'abnormal', { plain: Chance; grown: Chance } | null>>();
try {
  for (const [index, image] of images.entries()) {
    const pgm = await readMiasPixels(image);
    // The DICOM file `mammocad convert mias` writes, decoded as the service decodes a PACS instance.
    const built = buildFilmMammogram({
      imageId: image.id, patientId: `MIAS-${image.womanId}`, patientName: `MIAS^${image.womanId}`, laterality: image.laterality, view: image.view,
      instanceNumber: 1, rows: pgm.height, columns: pgm.width, pixels: pgm.pixels, pixelSpacingMm: MIAS_PIXEL_SPACING_MM, collection: 'mini-MIAS',
    });
    const decoded = await decodeImage(readPart10(built.bytes, image.id));
    const [scored] = await runtime.scoreWithHeatMaps([decoded]);
    const map = scored!.heatMap!;
    if (map.imageColumns !== pgm.width || map.imageRows !== pgm.height) throw new Error(`${image.id}: the heat map spans ${map.imageColumns} x ${map.imageRows}, not the image's ${pgm.width} x ${pgm.height}`);
    const circles: Circle[] = image.lesions.flatMap((lesion) =>
      lesion.centre && lesion.radiusPx !== null ? [{ x: lesion.centre.column + 0.5, y: lesion.centre.row + 0.5, radius: lesion.radiusPx, severity: lesion.severity }] : [],
    );
    const cell = { width: map.imageColumns / map.columns, height: map.imageRows / map.rows };
    const hottest = hottestCell(map);
    const result: ImageResult = { id: image.id, imageClass: image.imageClass, probability: scored!.probability, hottest, cell, circles, hottestInBreast: null, brightest: null };
    results.push(result);
    if (circles.length > 0) {
      const mask = breastMask(pgm.pixels);
      result.brightest = brightestCell(pgm.pixels, pgm.width, pgm.height, map);
      result.hottestInBreast = mask[Math.min(pgm.height - 1, Math.floor(hottest.y)) * pgm.width + Math.min(pgm.width - 1, Math.floor(hottest.x))] === 1;
      const grow = Math.max(cell.width, cell.height) / 2;
      const malignantCircles = circles.filter((c) => c.severity === 'M');
      const both = (set: Circle[]) => ({ plain: chanceOf(mask, pgm.width, pgm.height, map, set, 0), grown: chanceOf(mask, pgm.width, pgm.height, map, set, grow) });
      chances.set(image.id, { malignant: malignantCircles.length ? both(malignantCircles) : null, abnormal: both(circles) });
    }
    if (!args.json && ((index + 1) % 20 === 0 || index + 1 === images.length)) {
      process.stderr.write(`pointing game: ${index + 1}/${images.length} images, ${Math.round((Date.now() - started) / 1000)} s\n`);
    }
  }
} finally {
  await runtime.dispose();
}

/** The game over the images that have circles of `which` kind. */
function game(which: 'malignant' | 'abnormal'): GameResult & { withoutCentre: number; hottestInBreast: number; brightestCell: { hits: number; rate: number; hitsGrown: number; rateGrown: number } } {
  const eligible = results.filter((r) => (which === 'malignant' ? r.imageClass === 'malignant' : r.imageClass !== 'normal'));
  const played = eligible.filter((r) => chances.get(r.id)?.[which]);
  const circlesOf = (r: ImageResult) => (which === 'malignant' ? r.circles.filter((c) => c.severity === 'M') : r.circles);
  const hits = played.filter((r) => inside(r.hottest.x, r.hottest.y, circlesOf(r), 0)).length;
  const hitsGrown = played.filter((r) => inside(r.hottest.x, r.hottest.y, circlesOf(r), Math.max(r.cell.width, r.cell.height) / 2)).length;
  const chance = played.map((r) => chances.get(r.id)![which]!);
  const brightHits = played.filter((r) => inside(r.brightest!.x, r.brightest!.y, circlesOf(r), 0)).length;
  const brightHitsGrown = played.filter((r) => inside(r.brightest!.x, r.brightest!.y, circlesOf(r), Math.max(r.cell.width, r.cell.height) / 2)).length;
  return {
    images: played.length,
    withoutCentre: eligible.length - played.length,
    hottestInBreast: played.filter((r) => r.hottestInBreast).length,
    hits,
    rate: played.length ? hits / played.length : 0,
    ci95: wilson(hits, played.length),
    hitsGrown,
    rateGrown: played.length ? hitsGrown / played.length : 0,
    ci95Grown: wilson(hitsGrown, played.length),
    chanceArea: mean(chance.map((c) => c.plain.area)),
    chanceAreaGrown: mean(chance.map((c) => c.grown.area)),
    chanceCells: mean(chance.map((c) => c.plain.cells)),
    chanceCellsGrown: mean(chance.map((c) => c.grown.cells)),
    brightestCell: {
      hits: brightHits,
      rate: played.length ? brightHits / played.length : 0,
      hitsGrown: brightHitsGrown,
      rateGrown: played.length ? brightHitsGrown / played.length : 0,
    },
  };
}

const first = results[0]!;
const summary = {
  model: { version: pkg.version, packageHash: pkg.packageHash, threshold: pkg.threshold },
  data: path.resolve(args.data),
  imagesScored: results.length,
  grid: { cellPixels: [first.cell.width, first.cell.height], halfCellPixels: Math.max(first.cell.width, first.cell.height) / 2 },
  malignant: game('malignant'),
  abnormal: game('abnormal'),
  chanceDefinition: 'mean over images of the lesion circles\' share of the breast (pixels above min + 10% of the grey range); chanceCells: share of the breast\'s heat-map cells whose centre lies in a circle',
  meanProbability: {
    malignant: mean(results.filter((r) => r.imageClass === 'malignant').map((r) => r.probability)),
    benign: mean(results.filter((r) => r.imageClass === 'benign').map((r) => r.probability)),
    normal: mean(results.filter((r) => r.imageClass === 'normal').map((r) => r.probability)),
  },
  perImage: results
    .filter((r) => r.circles.length > 0)
    .map((r) => ({
      id: r.id,
      imageClass: r.imageClass,
      probability: Number(r.probability.toFixed(4)),
      hottest: [Math.round(r.hottest.x), Math.round(r.hottest.y)],
      hottestValue: Number(r.hottest.value.toFixed(4)),
      hottestInBreast: r.hottestInBreast,
      brightest: r.brightest ? [Math.round(r.brightest.x), Math.round(r.brightest.y)] : null,
      nearestCentrePx: Math.round(Math.min(...r.circles.map((c) => Math.hypot(r.hottest.x - c.x, r.hottest.y - c.y)))),
      radii: r.circles.map((c) => c.radius),
    })),
  seconds: Math.round((Date.now() - started) / 1000),
};
if (args.json) {
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} else {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const line = (name: string, g: ReturnType<typeof game>) =>
    [
      `${name}: ${g.images} images with a lesion centre (${g.withoutCentre} without one, left out); hottest cell's centre in the breast on ${g.hottestInBreast}`,
      `  hottest cell inside the circle:               ${g.hits}/${g.images} = ${pct(g.rate)} (95% CI ${pct(g.ci95[0])}-${pct(g.ci95[1])}); chance ${pct(g.chanceArea)} of the breast area, ${pct(g.chanceCells)} of its cells`,
      `  inside the circle grown by half a cell (${summary.grid.halfCellPixels} px): ${g.hitsGrown}/${g.images} = ${pct(g.rateGrown)} (95% CI ${pct(g.ci95Grown[0])}-${pct(g.ci95Grown[1])}); chance ${pct(g.chanceAreaGrown)} of the area, ${pct(g.chanceCellsGrown)} of the cells`,
      `  the brightest cell instead (no model): ${g.brightestCell.hits}/${g.images} = ${pct(g.brightestCell.rate)}; grown ${g.brightestCell.hitsGrown}/${g.images} = ${pct(g.brightestCell.rateGrown)}`,
    ].join('\n');
  process.stdout.write(
    [
      `pointing game on ${results.length} mini-MIAS images with ${summary.model.version} (package hash ${summary.model.packageHash}), cells ${first.cell.width} x ${first.cell.height} px`,
      line('malignant images', summary.malignant),
      line('abnormal images (benign and malignant)', summary.abnormal),
      `mean probability: malignant ${summary.meanProbability.malignant.toFixed(3)}, benign ${summary.meanProbability.benign.toFixed(3)}, normal ${summary.meanProbability.normal.toFixed(3)}`,
      `${summary.seconds} s`,
      JSON.stringify({ ...summary, perImage: undefined }),
    ].join('\n') + '\n',
  );
}
