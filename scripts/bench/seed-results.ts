// Fills a database with scored studies for benchmarks and demos of the results search:
//
//   tsx scripts/bench/seed-results.ts --db file:var/bench.db --studies 25000 [--seed 1] [--search]
//
// Per study: a date within 2025 (2% undated), two CC images (L and R), and results of one
// registered model version: the exam, both breasts and one image, four predictions in all, so
// 25,000 studies make 100,000 predictions. About one study in ten carries a breast label. The
// data follow from --seed alone (ids included), so two runs with one seed seed the same rows;
// run it on an empty database (a second run with the same seed collides on study UIDs).
// Writes go through the repositories' bulkSeed methods (createMany in batches), not the
// per-study protocol of the scoring pipeline, which would take minutes at this size.
// With --search it also times one worklist query on the seeded data.

import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { BreastSide } from '../../src/domain/index.js';
import { openStore, type BulkPredictionInput, type BulkStudyInput, type LabelInput, type Store } from '../../src/store/index.js';
import { seededRandom } from '../../src/training/datasets/splits.js';

export interface SeedOptions {
  studies: number;
  seed: number;
  /** Studies written per transaction. */
  batchSize?: number;
}

export interface SeedSummary {
  modelVersionId: string;
  modelVersion: string;
  studies: number;
  images: number;
  predictions: number;
  labels: number;
  ms: number;
}

const THRESHOLD = 0.5;
const YEAR_START = Date.UTC(2025, 0, 1);
const DAY_MS = 86_400_000;

/** The project's seeded generator (mulberry32), so a seed always gives the same data. */
const generator = seededRandom;

/** A version-4-shaped UUID drawn from the generator (ids must be deterministic too). */
function uuid(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** Skewed towards low probabilities, as screening results are. */
function probability(random: () => number): number {
  return Math.round(random() ** 3 * 1e6) / 1e6;
}

/** Seeds `options.studies` scored studies into a store, or into the database at a URL (migrated first). */
export async function seedResults(target: Store | string, options: SeedOptions): Promise<SeedSummary> {
  const store = typeof target === 'string' ? await openStore({ databaseUrl: target }) : target;
  try {
    return await seedInto(store, options);
  } finally {
    if (typeof target === 'string') await store.close();
  }
}

async function seedInto(store: Store, { studies, seed, batchSize = 1000 }: SeedOptions): Promise<SeedSummary> {
  if (!Number.isInteger(studies) || studies < 1) throw new Error(`studies must be a positive integer; got ${studies}`);
  const started = performance.now();
  const random = generator(seed);
  const version = `bench-${seed}`;
  const model = await store.modelVersions.register({
    version,
    architecture: 'resnet50-top2',
    packageHash: `sha256:bench-${seed}`,
    path: `/models/${version}`,
    manifest: { seededBy: 'scripts/bench/seed-results.ts' },
    threshold: THRESHOLD,
  });
  // The search defaults to the active model; leave an installation's own choice alone.
  if (!(await store.modelVersions.findActive())) await store.modelVersions.activate(version, 'seed-results');

  const totals = { studies: 0, images: 0, predictions: 0, labels: 0 };
  for (let offset = 0; offset < studies; offset += batchSize) {
    const batch: BulkStudyInput[] = [];
    const predictions: BulkPredictionInput[] = [];
    const labels: LabelInput[] = [];
    for (let n = offset; n < Math.min(offset + batchSize, studies); n++) {
      const studyId = uuid(random);
      const studyUid = `1.2.826.0.1.3680043.10.1.7${seed}.${n + 1}`;
      const day = Math.floor(random() * 365);
      const studyDate = random() < 0.02 ? null : new Date(YEAR_START + day * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '');
      const images = (['L', 'R'] as const).map((side) => ({
        id: uuid(random),
        sopInstanceUid: `${studyUid}.1.${side === 'L' ? 1 : 2}`,
        seriesUid: `${studyUid}.1`,
        modality: 'MG',
        laterality: side,
        view: 'CC',
        status: 'scored' as const,
      }));
      batch.push({ id: studyId, studyUid, source: 'poll', studyDate, modalities: 'MG', status: 'scored', images });

      const breast = { L: probability(random), R: probability(random) };
      const exam = Math.max(breast.L, breast.R);
      const side: BreastSide = breast.L >= breast.R ? 'L' : 'R';
      const common = { studyId, modelVersionId: model.id, preprocessingHash: `bench-${seed}` };
      predictions.push(
        { ...common, level: 'exam', probability: exam, positive: exam >= THRESHOLD },
        { ...common, level: 'breast', laterality: 'L', probability: breast.L, positive: breast.L >= THRESHOLD },
        { ...common, level: 'breast', laterality: 'R', probability: breast.R, positive: breast.R >= THRESHOLD },
        // One image result per study (the side that decided the exam) keeps 4 results a study.
        { ...common, level: 'image', imageId: images[side === 'L' ? 0 : 1]!.id, laterality: side, probability: breast[side], positive: breast[side] >= THRESHOLD },
      );
      if (random() < 0.1) {
        const value = exam >= THRESHOLD ? (random() < 0.5 ? 'malignant' : 'benign') : 'normal';
        labels.push({ studyId, scope: 'breast', laterality: side, value, source: 'follow-up', author: 'seed-results' });
      }
    }
    const written = await store.studies.bulkSeed(batch);
    totals.studies += written.studies;
    totals.images += written.images;
    totals.predictions += await store.predictions.bulkSeed(predictions);
    if (labels.length) totals.labels += await store.labels.bulkSeed(labels);
  }
  return { modelVersionId: model.id, modelVersion: version, ...totals, ms: Math.round(performance.now() - started) };
}

/** Times the worklist's typical query: first page of 50 by score, in a date range, above a score. */
export async function timeSearch(store: Store, modelVersionId: string, runs = 5): Promise<{ firstMs: number; medianMs: number; items: number }> {
  const query = () =>
    store.search.search({ modelVersionId, studyDateFrom: '20250301', studyDateTo: '20250630', minScore: 0.3 }, 'SCORE_DESC', { first: 50 });
  const durations: number[] = [];
  let items = 0;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    items = (await query()).items.length;
    durations.push(performance.now() - started);
  }
  const sorted = [...durations].sort((a, b) => a - b);
  return { firstMs: round(durations[0]!), medianMs: round(sorted[Math.floor(sorted.length / 2)]!), items };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { db: { type: 'string' }, studies: { type: 'string', default: '25000' }, seed: { type: 'string', default: '1' }, search: { type: 'boolean', default: false } },
  });
  if (!values.db) throw new Error('usage: tsx scripts/bench/seed-results.ts --db URL [--studies N] [--seed N] [--search]');
  const store = await openStore({ databaseUrl: values.db });
  try {
    const summary = await seedResults(store, { studies: Number(values.studies), seed: Number(values.seed) });
    console.log(`seeded ${store.provider}: ${JSON.stringify(summary)}`);
    if (values.search) console.log(`search (first 50, SCORE_DESC, 2025-03..06, minScore 0.3): ${JSON.stringify(await timeSearch(store, summary.modelVersionId))}`);
  } finally {
    await store.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
