// `mammocad models ood-reference` on real files: the shipped default model (digital screening
// mammograms) gets a reference from 300 rsna-screening images; the rewritten package verifies
// and imports; scored through runtime.scoreDetailed, a digitised film (NEMA WG04 MG1, a DDSM
// scan) and a test object (D. Clunie's MG sample) are flagged, digital screening images of
// women not in the reference mostly are not. A package inside the model folder is refused.

import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/dicom/pixels/decode-image.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { OOD_REFERENCE_FILE } from '../../src/ml/ood/index.js';
import { readPackage, verifyPackage } from '../../src/ml/registry/index.js';
import { createModelRuntime } from '../../src/ml/runtime/index.js';
import { readImageFolderDataset } from '../../src/training/datasets/image-folder.js';
import { canonicalOf } from '../../src/training/trainer/training-data.js';
import { ROOT, runCli } from '../support/cli.js';
import { SHARED_DATA_DIR, needsSharedData, sharedFile } from '../support/shared-data.js';

const RSNA = path.join(SHARED_DATA_DIR, 'rsna-screening');
const DEFAULT_MODEL = path.join(ROOT, 'models', 'default');
const REFERENCE_ROWS = 300;

describe.skipIf(!existsSync(path.join(DEFAULT_MODEL, 'manifest.json')))('mammocad models ood-reference (needs ../shared/data and models/default)', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-ood-cli-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const env = { MAMMOCAD_DATA_DIR: path.join(work, 'data') };

  it('writes a reference that verifies and imports, and under which film and a test object are flagged', { ...needsSharedData('rsna-screening', 'dicom'), timeout: 300_000 }, async () => {
    // The first 300 rows of the manifest, the images linked, not copied.
    const dataset = path.join(work, 'rsna-300');
    mkdirSync(dataset);
    symlinkSync(path.join(RSNA, 'images'), path.join(dataset, 'images'));
    const [header, ...lines] = readFileSync(path.join(RSNA, 'manifest.csv'), 'utf8').trim().split('\n');
    writeFileSync(path.join(dataset, 'manifest.csv'), [header, ...lines.slice(0, REFERENCE_ROWS)].join('\n'));
    const pkgDir = path.join(work, 'package');
    cpSync(DEFAULT_MODEL, pkgDir, { recursive: true });
    const before = await readPackage(pkgDir);

    const result = await runCli(['models', 'ood-reference', '--package', pkgDir, '--dataset', 'rsna-screening', '--dir', dataset, '--model-version', 'default-with-ood', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout) as { version: string; packageHash: string; images: number; skipped: number; statistic: string; threshold: number; scale: number };
    expect(printed).toMatchObject({ version: 'default-with-ood', images: REFERENCE_ROWS, skipped: 0, statistic: 'input-histogram-nn-jsd', threshold: 1 });
    expect(printed.scale).toBeGreaterThan(0);

    expect((await verifyPackage(pkgDir)).ok).toBe(true);
    const pkg = await readPackage(pkgDir);
    expect(pkg.packageHash).toBe(printed.packageHash);
    expect(pkg.packageHash).not.toBe(before.packageHash);
    expect(pkg.manifest.files.map((f) => f.path)).toContain(OOD_REFERENCE_FILE);
    expect(pkg.outOfDistribution?.reference.images).toBe(REFERENCE_ROWS);

    const imported = await runCli(['models', 'import', pkgDir, '--json'], env);
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ version: 'default-with-ood', packageHash: pkg.packageHash });

    // Scored as the service scores: two shifted images, and screening images of other women.
    const film = await decodeImage(readPart10(new Uint8Array(readFileSync(sharedFile('dicom', 'nema-wg04-mg1-j2ki.dcm'))), 'nema-wg04-mg1-j2ki.dcm'));
    const testObject = await decodeImage(readPart10(new Uint8Array(readFileSync(sharedFile('dicom', 'clunie-mg-explicit-little.dcm'))), 'clunie-mg-explicit-little.dcm'));
    const all = await readImageFolderDataset(RSNA, { name: 'rsna-screening' });
    const referenceWomen = new Set(all.images.slice(0, REFERENCE_ROWS).map((i) => i.womanId));
    const others = all.images.filter((i) => !referenceWomen.has(i.womanId)).slice(0, 20);
    const runtime = await createModelRuntime([pkg], { intraOpThreads: 1 });
    try {
      const [filmScore, objectScore, ...screening] = await runtime.scoreDetailed([film, testObject, ...(await Promise.all(others.map(canonicalOf)))]);
      expect(filmScore!.outOfDistributionFlagged).toBe(true);
      expect(objectScore!.outOfDistributionFlagged).toBe(true);
      expect(filmScore!.outOfDistribution!).toBeGreaterThan(1);
      expect(screening.filter((s) => s.outOfDistributionFlagged).length).toBeLessThanOrEqual(2);
      expect(runtime.outOfDistributionThresholds[0]).toBe(1);
    } finally {
      await runtime.dispose();
    }
  });

  it('refuses a package inside the model folder (a registered package must not change)', async () => {
    const modelDir = path.join(work, 'data', 'models');
    const inside = path.join(modelDir, 'some-version');
    mkdirSync(inside, { recursive: true });
    const result = await runCli(['models', 'ood-reference', '--package', inside, '--dataset', 'rsna-screening', '--dir', RSNA], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is in the model folder/);
  });
});
