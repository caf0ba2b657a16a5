// Compares two models on the images both have predictions for: per-image AUC of each, the
// difference (B - A) with a 95% bootstrap interval by woman, and the share of resamples where B
// is above A (src/training/evaluation/paired.ts). Inputs are report/out-of-fold.json files (a
// package's, or a run's predictions written the same way): arrays of
// { imageId, womanId, label, score }.
//
//   npx tsx scripts/compare-predictions.ts A.json B.json [--samples 2000] [--seed 12345] [--json]
//
// e.g. the shipped default's fold-1 predictions against a candidate's on the same women:
//   npx tsx scripts/compare-predictions.ts models/default/report/out-of-fold.json \
//     var/default-model/training/default-rsna-3/package/report/out-of-fold.json

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pairedAucDifference, type PairedImage } from '../src/training/evaluation/index.js';

interface Prediction {
  imageId: string;
  womanId: string;
  label: 0 | 1;
  score: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { samples: { type: 'string', default: '2000' }, seed: { type: 'string', default: '12345' }, json: { type: 'boolean', default: false } },
});
if (positionals.length !== 2) {
  process.stderr.write('usage: npx tsx scripts/compare-predictions.ts A.json B.json [--samples N] [--seed S] [--json]\n');
  process.exit(2);
}
function wholeNumber(option: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`${option} must be a whole number; got ${text}`);
  return Number(text);
}
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Prediction[];
const [a, b] = positionals.map(read) as [Prediction[], Prediction[]];
for (const [file, predictions] of [[positionals[0], a], [positionals[1], b]] as const) {
  const ids = new Set(predictions.map((p) => p.imageId));
  if (ids.size !== predictions.length) throw new Error(`${file}: ${predictions.length - ids.size} image ids appear more than once`);
}
const bById = new Map(b.map((p) => [p.imageId, p]));
const paired: PairedImage[] = [];
for (const p of a) {
  const q = bById.get(p.imageId);
  if (!q) continue;
  if (q.label !== p.label || q.womanId !== p.womanId) throw new Error(`image ${p.imageId}: the two files disagree on its label or woman`);
  paired.push({ woman: p.womanId, label: p.label, a: p.score, b: q.score });
}
const result = { a: positionals[0], b: positionals[1], onlyA: a.length - paired.length, onlyB: b.length - paired.length, ...pairedAucDifference(paired, { samples: wholeNumber('--samples', values.samples), seed: wholeNumber('--seed', values.seed) }) };
if (values.json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const f = (x: number) => x.toFixed(3);
  process.stdout.write(
    `${result.images} images of ${result.women} women in both (${result.onlyA} only in A, ${result.onlyB} only in B)\n` +
      `AUC A ${f(result.aucA)}, B ${f(result.aucB)}; B - A ${result.difference >= 0 ? '+' : ''}${f(result.difference)} (95% CI ${f(result.ci[0])} to ${f(result.ci[1])}), B above A in ${(100 * result.shareAbove).toFixed(1)}% of ${result.samples} resamples of the women\n`,
  );
}
