// The inference runtime on real onnxruntime-node with tiny fixture models: batching, test-time
// flips and ensembles give the means they promise, a model is loaded once per process, broken
// packages and bad images are refused with clear errors, and repeated inference does not grow
// memory.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { InferenceSession } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ModelInputError, ModelPackageError } from '../../src/domain/errors.js';
import type { TestTimeFlip } from '../../src/ml/model-manifest.js';
import { preprocessImage, toBatch, type GreyImage } from '../../src/ml/preprocess/index.js';
import { readPackage, type ModelPackage } from '../../src/ml/registry/index.js';
import { ModelSession, createModelRuntime, sessionCacheStats, type ModelRuntime } from '../../src/ml/runtime/index.js';
import { buildClassifierOnnx, testImage, writeTestPackage } from '../support/onnx-fixtures.js';

const ALL_FLIPS: TestTimeFlip[] = ['none', 'horizontal', 'vertical', 'both'];
const SETTINGS = { intraOpThreads: 1, executionProviders: ['cpu'] };

let work: string;
let single: ModelPackage; // seed 1, no flips
let withFlips: ModelPackage; // the same model, four test-time flips
let other: ModelPackage; // seed 2
const images: GreyImage[] = [testImage(40, 50, 1), testImage(33, 61, 2), testImage(24, 32, 3), testImage(90, 70, 4), testImage(41, 45, 5)];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mammocad-runtime-'));
  single = await readPackage(await writeTestPackage(work, { version: 'single', seed: 1 }));
  withFlips = await readPackage(await writeTestPackage(work, { version: 'with-flips', seed: 1, preprocessing: { testTimeFlips: ALL_FLIPS } }));
  other = await readPackage(await writeTestPackage(work, { version: 'other', seed: 2 }));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Runs `fn` with a runtime and disposes it whatever happens. */
async function withRuntime<T>(packages: ModelPackage[], options: Parameters<typeof createModelRuntime>[1], fn: (runtime: ModelRuntime) => Promise<T>): Promise<T> {
  const runtime = await createModelRuntime(packages, options);
  try {
    return await fn(runtime);
  } finally {
    await runtime.dispose();
  }
}

function expectClose(actual: number[], expected: number[], digits = 6): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, digits));
}

describe('scoring', () => {
  it('gives one P(malignant) per image, the same on every run', async () => {
    await withRuntime([single], SETTINGS, async (runtime) => {
      const first = await runtime.score(images);
      expect(first).toHaveLength(images.length);
      for (const p of first) expect(p > 0 && p < 1).toBe(true);
      expect(new Set(first.map((p) => p.toFixed(6))).size).toBeGreaterThan(1); // the images are told apart
      expect(await runtime.score(images)).toEqual(first);
      expect(await runtime.score([])).toEqual([]);
      expect(runtime.members).toEqual([{ version: 'single', packageHash: single.packageHash, preprocessingHash: single.preprocessingHash, threshold: 0.5 }]);
    });
  });

  it('gives the same results in batches as one image at a time', async () => {
    const oneByOne = await withRuntime([withFlips], { ...SETTINGS, batchSize: 1 }, (runtime) => runtime.score(images));
    const batched = await withRuntime([withFlips], { ...SETTINGS, batchSize: 3 }, (runtime) => runtime.score(images));
    expectClose(batched, oneByOne);
  });

  it('averages the test-time flips: the mean of the four flipped runs', async () => {
    const session = await ModelSession.open(withFlips, SETTINGS);
    try {
      const perFlip = await Promise.all(
        ALL_FLIPS.map(async (flip) => [...(await session.probabilities(toBatch(images.map((image) => preprocessImage(image, withFlips.manifest.preprocessing)), flip)))]),
      );
      // The flips must matter, or this test could not fail.
      expect(Math.abs(perFlip[0]![0]! - perFlip[1]![0]!)).toBeGreaterThan(1e-4);
      const mean = images.map((_, i) => perFlip.reduce((sum, run) => sum + run[i]!, 0) / ALL_FLIPS.length);
      expectClose(await withRuntime([withFlips], SETTINGS, (runtime) => runtime.score(images)), mean);
      // With no flips the runtime gives the unflipped run.
      expectClose(await withRuntime([single], SETTINGS, (runtime) => runtime.score(images)), perFlip[0]!);
    } finally {
      await session.close();
    }
  });

  it('averages an ensemble: the mean of its members', async () => {
    const a = await withRuntime([single], SETTINGS, (runtime) => runtime.score(images));
    const b = await withRuntime([other], SETTINGS, (runtime) => runtime.score(images));
    expect(Math.abs(a[0]! - b[0]!)).toBeGreaterThan(1e-4);
    await withRuntime([single, other], SETTINGS, async (runtime) => {
      expect(runtime.members.map((m) => m.version)).toEqual(['single', 'other']);
      expectClose(await runtime.score(images), a.map((p, i) => (p + b[i]!) / 2));
    });
  });

  it('runs a model with a fixed batch size of 1 whatever batch size is asked for', async () => {
    const fixed = await readPackage(await writeTestPackage(work, { version: 'batch-of-one', model: buildClassifierOnnx({ channels: 1, height: 32, width: 24, batch: 1 }) }));
    const scores = await withRuntime([fixed], { ...SETTINGS, batchSize: 4 }, (runtime) => runtime.score(images));
    expectClose(scores, await withRuntime([single], SETTINGS, (runtime) => runtime.score(images)));
  });
});

describe('sessions', () => {
  it('loads a model once per process, shares it between runtimes and releases it after the last dispose', async () => {
    const create = vi.spyOn(InferenceSession, 'create');
    try {
      const before = sessionCacheStats();
      const [r1, r2] = await Promise.all([createModelRuntime([other], SETTINGS), createModelRuntime([other], SETTINGS)]);
      const r3 = await createModelRuntime([other, other], SETTINGS);
      expect(create).toHaveBeenCalledTimes(1);
      expect(sessionCacheStats()).toEqual({ created: before.created + 1, open: before.open + 1 });
      expect(await r1.score(images.slice(0, 2))).toEqual(await r3.score(images.slice(0, 2)));

      await r1.dispose();
      await r2.dispose();
      await r2.dispose(); // idempotent: must not release r3's share
      expect(sessionCacheStats().open).toBe(before.open + 1);
      await r3.dispose();
      expect(sessionCacheStats().open).toBe(before.open);
      await expect(r3.score(images)).rejects.toThrow('the model runtime was disposed');

      await withRuntime([other], SETTINGS, async () => expect(create).toHaveBeenCalledTimes(2)); // a fresh load after release
    } finally {
      create.mockRestore();
    }
  });
});

describe('refusals', () => {
  const load = async (dir: string) => createModelRuntime([await readPackage(dir)], SETTINGS);

  it.each([
    ['a corrupt model.onnx', async (dir: string) => writeFile(path.join(dir, 'model.onnx'), 'garbage'), /model\.onnx: 7 bytes, but the manifest says \d+$/],
    ['a missing file', async (dir: string) => rm(path.join(dir, 'model.onnx')), /model\.onnx: missing$/],
    [
      'a tampered digest',
      async (dir: string) => {
        const model = buildClassifierOnnx({ channels: 1, height: 32, width: 24, seed: 99 }); // same size, other weights
        await writeFile(path.join(dir, 'model.onnx'), model);
      },
      /model\.onnx: sha256 [0-9a-f]{64}, but the manifest says [0-9a-f]{64}/,
    ],
  ])('refuses a package with %s', async (_what, damage, message) => {
    const dir = await writeTestPackage(work, { version: `damaged-${Math.random().toString(36).slice(2)}` });
    await damage(dir);
    const error = await load(dir).then(
      () => null,
      (e: unknown) => e as ModelPackageError,
    );
    expect(error).toBeInstanceOf(ModelPackageError);
    expect(error!.message.startsWith(`model package ${dir}: `)).toBe(true);
    expect(error!.message).toMatch(message);
  });

  it('refuses a package whose model input size does not match its preprocessing', async () => {
    const dir = await writeTestPackage(work, { version: 'wrong-input', model: buildClassifierOnnx({ channels: 1, height: 32, width: 32 }) });
    await expect(load(dir)).rejects.toThrow(/model\.onnx: input "input" has shape \[batch, 1, 32, 32\]: width 32, but the manifest's preprocessing gives 24/);
  });

  it('refuses a model file changed after the package was verified', async () => {
    const dir = await writeTestPackage(work, { version: 'changed-later' });
    const pkg = await readPackage(dir);
    await writeFile(path.join(dir, 'model.onnx'), buildClassifierOnnx({ channels: 1, height: 32, width: 24, seed: 7 }));
    await expect(createModelRuntime([pkg], SETTINGS)).rejects.toThrow(/model\.onnx: sha256 [0-9a-f]{64}, but it was [0-9a-f]{64} when the package was verified/);
  });

  it('refuses a model onnxruntime cannot load, naming the package', async () => {
    const { onnx } = onnxProto;
    const model = onnx.ModelProto.decode(buildClassifierOnnx({ channels: 1, height: 32, width: 24 }));
    model.graph!.node![1]!.opType = 'NoSuchOperator';
    const dir = await writeTestPackage(work, { version: 'unknown-op', model: onnx.ModelProto.encode(model).finish() });
    await expect(load(dir)).rejects.toThrow(new RegExp(`^model package ${dir}: model\\.onnx: onnxruntime cannot load it: .*NoSuchOperator`));
  });

  it('refuses a model that outputs logits instead of probabilities', async () => {
    const dir = await writeTestPackage(work, { version: 'logits', model: buildClassifierOnnx({ channels: 1, height: 32, width: 24, softmax: false }) });
    await withRuntime([await readPackage(dir)], SETTINGS, async (runtime) => {
      await expect(runtime.score(images)).rejects.toThrow(/output "logits" row 0 sums to .*, not 1: the model must end in a softmax/);
    });
  });

  it('refuses NaN pixels and zero-size images, naming the image, before running anything', async () => {
    const nan = testImage(40, 50, 9);
    nan.pixels[3 * 40 + 7] = NaN;
    const empty: GreyImage = { width: 0, height: 0, pixels: new Float32Array(0), pixelSpacingMm: null };
    await withRuntime([single], SETTINGS, async (runtime) => {
      const run = vi.spyOn(ModelSession.prototype, 'probabilities');
      try {
        await expect(runtime.score([images[0]!, nan])).rejects.toThrow(new ModelInputError('image 1: pixel (row 3, column 7) is NaN: pixels must be finite'));
        await expect(runtime.score([empty])).rejects.toThrow('image 0: image size 0x0: width and height must be positive integers');
        expect(run).not.toHaveBeenCalled();
      } finally {
        run.mockRestore();
      }
    });
  });

  it('refuses batches of the wrong shape or with non-finite values at the session', async () => {
    const session = await ModelSession.open(single, SETTINGS);
    try {
      const prepared = preprocessImage(images[0]!, single.manifest.preprocessing);
      const batch = toBatch([prepared]);
      await expect(session.probabilities({ data: new Float32Array(3 * 32 * 24), shape: [1, 3, 32, 24] })).rejects.toThrow(
        'model single takes [N, 1, 32, 24]; got [1, 3, 32, 24]',
      );
      batch.data[100] = Infinity;
      await expect(session.probabilities(batch)).rejects.toThrow('input value 100 of batch image 0 is Infinity: inputs must be finite');
    } finally {
      await session.close();
    }
  });
});

describe('memory', () => {
  it('does not grow over repeated inference', async () => {
    // Inputs of 256x192 with four flips and batches of 4: a leaked input tensor per run would
    // add 30 x 4 x 4 x 196 KB = 94 MB, far above the bound.
    const big = await readPackage(
      await writeTestPackage(work, { version: 'memory', preprocessing: { inputHeight: 256, inputWidth: 192, testTimeFlips: ALL_FLIPS } }),
    );
    const batch = [testImage(300, 400, 1), testImage(300, 400, 2), testImage(280, 390, 3), testImage(310, 380, 4)];
    await withRuntime([big], { ...SETTINGS, batchSize: 4 }, async (runtime) => {
      for (let i = 0; i < 5; i++) await runtime.score(batch); // warm-up: arenas and JIT settle
      const before = process.memoryUsage();
      for (let i = 0; i < 30; i++) await runtime.score(batch);
      const after = process.memoryUsage();
      const growthMb = (after.rss - before.rss) / 2 ** 20;
      const externalMb = (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / 2 ** 20;
      console.log(`30 inferences: rss ${growthMb.toFixed(1)} MB, external+arrayBuffers ${externalMb.toFixed(1)} MB`);
      expect(growthMb).toBeLessThan(40);
      expect(externalMb).toBeLessThan(40);
    });
  });
});
