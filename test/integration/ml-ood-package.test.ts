// The out-of-distribution reference in a model package and at inference: written into an
// existing package (listed and hashed in the manifest, so the package verifies and imports),
// read back with the package, refused when tampered with or computed for other inputs; and
// runtime.scoreDetailed on tiny models: the probabilities of score(), the statistic per image
// (null without a reference), an ensemble's mean and any-flagged.

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelPackageError } from '../../src/domain/errors.js';
import {
  OOD_REFERENCE_FILE,
  OOD_STATISTIC,
  OodReferenceBuilder,
  contentMirrored,
  writeOodReference,
  type OodModel,
  type OodReference,
} from '../../src/ml/ood/index.js';
import { preprocessImage, type GreyImage } from '../../src/ml/preprocess/index.js';
import { importPackage, readPackage, verifyPackage, type ModelPackage } from '../../src/ml/registry/index.js';
import { createModelRuntime } from '../../src/ml/runtime/index.js';
import { testImage, testPreprocessing, writeTestPackage } from '../support/onnx-fixtures.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mammocad-ood-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Training-like images: the fixtures' textured breast at several sizes, two per woman. */
const trainingImages = Array.from({ length: 24 }, (_, i) => ({ image: testImage(30 + (i % 7) * 4, 40 + (i % 5) * 5, i + 1), woman: `w${Math.floor(i / 2)}` }));

async function referenceFor(dir: string): Promise<OodReference> {
  const pkg = await readPackage(dir);
  const builder = new OodReferenceBuilder(pkg.manifest.preprocessing);
  for (const { image, woman } of trainingImages) builder.addImage(image, woman);
  return builder.build({ datasets: ['fixtures'], createdAt: '2026-12-03T00:00:00Z' });
}

/** A package with a reference written into it; returns its folder. */
async function packageWithReference(version: string, options: Parameters<typeof writeTestPackage>[1] = {}, threshold?: number): Promise<string> {
  const dir = await writeTestPackage(work, { version, ...options });
  await writeOodReference(dir, await referenceFor(dir), threshold === undefined ? {} : { threshold });
  return dir;
}

/** An image unlike the training ones: a flat grey field with a saturated square (a test object). */
function testObject(): GreyImage {
  const width = 40;
  const height = 50;
  const pixels = new Float32Array(width * height).fill(100);
  for (let y = 10; y < 20; y++) for (let x = 5; x < 15; x++) pixels[y * width + x] = 4000;
  for (let y = 30; y < 45; y++) for (let x = 20; x < 35; x++) pixels[y * width + x] = 2000;
  return { width, height, pixels, pixelSpacingMm: null };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('the reference in a package', () => {
  it('is written as a listed, hashed file the manifest points to; the package verifies, reads and imports', async () => {
    const dir = await writeTestPackage(work, { version: 'round-trip' });
    const before = await readPackage(dir);
    expect(before.outOfDistribution).toBeNull();
    const reference = await referenceFor(dir);

    const after = await writeOodReference(dir, reference);
    expect(after.packageHash).not.toBe(before.packageHash);
    expect(after.version).toBe('round-trip');
    const bytes = new Uint8Array(await readFile(path.join(dir, OOD_REFERENCE_FILE)));
    expect(after.manifest.files).toContainEqual({ path: OOD_REFERENCE_FILE, sha256: sha256(bytes), bytes: bytes.byteLength });
    expect(after.manifest.outOfDistribution).toEqual({ file: OOD_REFERENCE_FILE, statistic: OOD_STATISTIC, version: 1, threshold: 1 });
    // Everything else of the manifest is as it was.
    const { files: _f, outOfDistribution: _o, ...rest } = after.manifest;
    const { files: _g, ...restBefore } = before.manifest;
    expect(rest).toEqual(restBefore);

    expect((await verifyPackage(dir)).ok).toBe(true);
    expect(after.outOfDistribution?.reference).toEqual(reference);
    expect(after.outOfDistribution?.threshold).toBe(1);

    const imported = await importPackage(dir, path.join(work, 'models'));
    expect(imported.packageHash).toBe(after.packageHash);
    expect(imported.outOfDistribution?.reference).toEqual(reference);
  });

  it('can set the threshold and a new version, and replaces an earlier reference (keeping its threshold)', async () => {
    const dir = await packageWithReference('replace', {}, 1.5);
    expect((await readPackage(dir)).outOfDistribution?.threshold).toBe(1.5);
    const again = await writeOodReference(dir, await referenceFor(dir), { version: 'replace-2' });
    expect(again.version).toBe('replace-2');
    expect(again.outOfDistribution?.threshold).toBe(1.5);
    expect(again.manifest.files.filter((f) => f.path === OOD_REFERENCE_FILE)).toHaveLength(1);
    expect((await verifyPackage(dir)).ok).toBe(true);
  });

  it('refuses a reference file that was changed after the manifest was written', async () => {
    const dir = await packageWithReference('tampered');
    const file = path.join(dir, OOD_REFERENCE_FILE);
    const json = JSON.parse(await readFile(file, 'utf8')) as OodReference;
    await writeFile(file, `${JSON.stringify({ ...json, scale: json.scale * 10 }, null, 2)}\n`);
    const verification = await verifyPackage(dir);
    expect(verification.ok).toBe(false);
    expect(verification.problems[0]).toMatchObject({ file: OOD_REFERENCE_FILE });
    expect(verification.problems[0]!.problem).toMatch(/the manifest says/);
    const error = await rejection(readPackage(dir));
    expect(error).toBeInstanceOf(ModelPackageError);
  });

  it('refuses a reference computed under another pre-processing, even when correctly hashed', async () => {
    const dir = await packageWithReference('other-inputs');
    const file = path.join(dir, OOD_REFERENCE_FILE);
    const json = JSON.parse(await readFile(file, 'utf8')) as OodReference;
    const bytes = new TextEncoder().encode(`${JSON.stringify({ ...json, preprocessingSpecSha256: 'f'.repeat(64) })}\n`);
    await writeFile(file, bytes);
    const manifestFile = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as { files: Array<{ path: string; sha256: string; bytes: number }> };
    const entry = manifest.files.find((f) => f.path === OOD_REFERENCE_FILE)!;
    Object.assign(entry, { sha256: sha256(bytes), bytes: bytes.byteLength });
    await writeFile(manifestFile, JSON.stringify(manifest));
    const verification = await verifyPackage(dir);
    expect(verification.problems).toEqual([{ file: OOD_REFERENCE_FILE, problem: expect.stringMatching(/another pre-processing/) }]);
  });

  it('refuses a manifest pointing to a file it does not list, and a reference for another spec', async () => {
    const dir = await packageWithReference('unlisted');
    const manifestFile = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as { outOfDistribution: { file: string } };
    manifest.outOfDistribution.file = 'elsewhere.json';
    await writeFile(manifestFile, JSON.stringify(manifest));
    const verification = await verifyPackage(dir);
    expect(verification.problems[0]).toEqual({ file: 'manifest.json', problem: 'outOfDistribution.file: names a file the manifest does not list' });

    const plain = await writeTestPackage(work, { version: 'other-spec' });
    const foreign = new OodReferenceBuilder(testPreprocessing({ intensity: { method: 'minmax', mean: 0, scale: 1 } }));
    for (const { image, woman } of trainingImages) foreign.addImage(image, woman);
    const error = await rejection(writeOodReference(plain, foreign.build({ datasets: [], createdAt: '' })));
    expect(error.message).toMatch(/another pre-processing/);
  });
});

describe('runtime.scoreDetailed', () => {
  const images: GreyImage[] = [testImage(34, 45, 103), testImage(33, 61, 102), testObject()];
  let plain: ModelPackage;
  let withReference: ModelPackage;
  let otherWithReference: ModelPackage;

  beforeAll(async () => {
    plain = await readPackage(await writeTestPackage(work, { version: 'rt-plain', seed: 1 }));
    withReference = await readPackage(await packageWithReference('rt-ref', { seed: 1 }));
    otherWithReference = await readPackage(await packageWithReference('rt-ref-2', { seed: 2, preprocessing: { intensity: { method: 'minmax', mean: 0, scale: 1 } } }, 100));
  });

  async function detailed(packages: ModelPackage[]) {
    const runtime = await createModelRuntime(packages, { intraOpThreads: 1, batchSize: 2 });
    try {
      return { plain: await runtime.score(images), detailed: await runtime.scoreDetailed(images), thresholds: runtime.outOfDistributionThresholds };
    } finally {
      await runtime.dispose();
    }
  }

  const direct = (pkg: ModelPackage, image: GreyImage) =>
    (pkg.outOfDistribution as OodModel).statisticOf(preprocessImage(image, pkg.manifest.preprocessing), contentMirrored(image, pkg.manifest.preprocessing));

  it('gives null statistics for a package without a reference, and the probabilities of score()', async () => {
    const result = await detailed([plain]);
    expect(result.detailed.map((d) => d.probability)).toEqual(result.plain);
    expect(result.detailed.every((d) => d.outOfDistribution === null && d.outOfDistributionFlagged === null)).toBe(true);
    expect(result.thresholds[0]).toBeNull();
  });

  it("gives each image's statistic against the package's reference, flagging the test object", async () => {
    const result = await detailed([withReference]);
    expect(result.detailed.map((d) => d.probability)).toEqual(result.plain);
    images.forEach((image, i) => {
      const expected = direct(withReference, image);
      expect(result.detailed[i]).toEqual({ probability: result.plain[i], ...expected });
    });
    expect(result.detailed[0]!.outOfDistributionFlagged).toBe(false);
    expect(result.detailed[2]!.outOfDistributionFlagged).toBe(true);
    expect(result.detailed[2]!.outOfDistribution).toBeGreaterThan(1);
    expect(result.thresholds[0]).toBe(1);
  });

  it("averages an ensemble's members that have a reference and flags what any of them flags", async () => {
    const result = await detailed([withReference, plain, otherWithReference]);
    expect(result.detailed.map((d) => d.probability)).toEqual(result.plain);
    images.forEach((image, i) => {
      const a = direct(withReference, image);
      const b = direct(otherWithReference, image);
      expect(result.detailed[i]!.outOfDistribution).toBeCloseTo((a.outOfDistribution + b.outOfDistribution) / 2, 12);
      // The second reference's threshold (100) flags nothing: the flag comes from the first.
      expect(b.outOfDistributionFlagged).toBe(false);
      expect(result.detailed[i]!.outOfDistributionFlagged).toBe(a.outOfDistributionFlagged);
    });
  });
});
