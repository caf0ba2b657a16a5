// `mammocad evaluate --dataset image-folder` as an operator runs it, on a folder of twelve real
// RSNA screening JPEGs copied at test time from ../shared/data/rsna-screening into a temporary
// folder (research data: never into the repository), with the shipped default model of a fresh
// install: the JSON keys scripts read, the skipped rows, the shortcut checks, and a scores CSV
// whose probabilities are those of the scoring path itself.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readPackage } from '../../src/ml/registry/index.js';
import { parseCsv } from '../../src/training/datasets/csv.js';
import { readImageFolderDataset } from '../../src/training/datasets/image-folder.js';
import { scoreImages } from '../../src/training/trainer/score-dataset.js';
import { ROOT, runCli } from '../support/cli.js';
import { SHARED_DATA_DIR, needsSharedData } from '../support/shared-data.js';

const RSNA = path.join(SHARED_DATA_DIR, 'rsna-screening');
const SUMMARY_KEYS = ['auc', 'auc_ci', 'n', 'positives', 'sensitivity_at_spec_0.8', 'sensitivity_at_spec_0.9', 'threshold'];

/** Rows of the real manifest: per machine, the first `per` cancer and non-cancer images, one per woman. */
function pickRows(): { header: string; rows: string[] } {
  const [header, ...lines] = readFileSync(path.join(RSNA, 'manifest.csv'), 'utf8').trim().split('\n') as [string, ...string[]];
  const column = (name: string) => header.split(',').indexOf(name);
  const [woman, label, machine] = [column('patient_id'), column('malignant'), column('machine_id')];
  const wanted: Record<string, number> = { '49': 3, '29': 2, '21': 1 };
  const women = new Set<string>();
  const taken = new Map<string, number>();
  const rows: string[] = [];
  for (const line of lines) {
    const fields = line.split(',');
    const key = `${fields[machine]}:${fields[label]}`;
    if (!(fields[machine]! in wanted) || women.has(fields[woman]!) || (taken.get(key) ?? 0) >= wanted[fields[machine]!]!) continue;
    women.add(fields[woman]!);
    taken.set(key, (taken.get(key) ?? 0) + 1);
    rows.push(line);
  }
  return { header, rows };
}

describe('mammocad evaluate on an image folder (needs ../shared/data/rsna-screening)', needsSharedData('rsna-screening'), () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-cli-image-folder-'));
  // The copies of research images do not outlive the test.
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('prints the summary, the AUC per machine and site, of age alone and within age bands, and writes every probability', async () => {
    const dir = path.join(work, 'rsna-12');
    mkdirSync(path.join(dir, 'images'), { recursive: true });
    const { header, rows } = pickRows();
    expect(rows).toHaveLength(12);
    for (const row of rows) copyFileSync(path.join(RSNA, row.split(',')[0]!), path.join(dir, row.split(',')[0]!));
    // Two rows the reader must skip, and count: a file that is not there, a label that is not 0/1.
    const missing = rows[0]!.replace(/^images\/[^,]+/, 'images/not-there.jpg');
    const badLabel = rows[1]!.split(',').map((f, i) => (i === header.split(',').indexOf('malignant') ? 'yes' : i === 0 ? 'images/other.jpg' : f)).join(',');
    writeFileSync(path.join(dir, 'manifest.csv'), [header, ...rows, missing, badLabel].join('\n'));

    const scoresFile = path.join(work, 'out.csv');
    // A fresh install: no version registered, so the shipped default package scores.
    const env = { MAMMOCAD_DATA_DIR: path.join(work, 'data'), MAMMOCAD_DEFAULT_MODEL_DIR: path.join(ROOT, 'models', 'default') };
    const result = await runCli(['evaluate', '--dataset', 'image-folder', '--dir', dir, '--json', '--scores', scoresFile], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/skipped .*manifest\.csv line 14: image file .*not-there\.jpg does not exist/);
    expect(result.stderr).toMatch(/skipped .*manifest\.csv line 15: malignant must be 0 or 1; got 'yes'/);

    const report = JSON.parse(result.stdout) as Record<string, unknown> & {
      n: number;
      positives: number;
      skipped: number;
      auc_by_group: Record<string, Record<string, { n: number; positives: number; auc: number | null }>>;
      age_only_auc: { n: number; auc: number; without_age: number };
      age_stratified_auc: { bands: { band: string; n: number }[]; n: number; auc: number | null };
    };
    expect(Object.keys(report).sort()).toEqual([...SUMMARY_KEYS, 'age_only_auc', 'age_stratified_auc', 'auc_by_group', 'skipped'].sort());
    expect(report).toMatchObject({ n: 12, positives: 6, skipped: 2 });
    expect(Object.keys(report.auc_by_group).sort()).toEqual(['machine_id', 'site_id']);
    expect(Object.fromEntries(Object.entries(report.auc_by_group.machine_id!).map(([m, g]) => [m, [g.n, g.positives]]))).toEqual({ '21': [2, 1], '29': [4, 2], '49': [6, 3] });
    expect(report.age_only_auc).toMatchObject({ n: 12, without_age: 0 });
    expect(report.age_stratified_auc.bands.reduce((sum, b) => sum + b.n, 0)).toBe(12);

    // The CSV: one row per scored image; its probabilities are the scoring path's own.
    const csv = parseCsv(readFileSync(scoresFile, 'utf8'), scoresFile);
    expect(csv.header).toEqual(['id', 'file', 'woman', 'laterality', 'view', 'label', 'probability', 'inverted', 'machine_id', 'site_id', 'age']);
    expect(csv.rows).toHaveLength(12);
    const dataset = await readImageFolderDataset(dir);
    const { scores } = await scoreImages(await readPackage(path.join(ROOT, 'models', 'default')), dataset.images);
    const expected = new Map(scores.map((s) => [s.image.id, s.score]));
    for (const { values } of csv.rows) {
      expect(Number(values.probability)).toBeCloseTo(expected.get(values.id!)!, 6);
      // Machine 29 stores MONOCHROME1: exactly its images were found inverted.
      expect(values.inverted).toBe(values.machine_id === '29' ? 'true' : 'false');
    }
    expect(csv.rows.filter((r) => r.values.label === '1')).toHaveLength(6);
  }, 300_000);
});
