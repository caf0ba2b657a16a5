// The stage-2 feature cache (src/training/trainer/feature-cache.ts): 8-bit codes reproduce a map
// within half a step of its range, negative values included; float32 keeps values exactly; a
// cache saved to disk comes back the same, and one of other flips or storage is not reused.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FeatureCache, dequantiseInto, quantiseMap, storeMap } from '../../src/training/trainer/feature-cache.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-feature-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const map = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));

describe('8-bit feature maps', () => {
  it('reproduce every value within half a step of the map range, negative ones too', () => {
    for (const values of [map(500, (i) => Math.min(6, (i % 37) / 5)), map(300, (i) => Math.sin(i) * 3 - 1)]) {
      const q = quantiseMap(values);
      const back = new Float32Array(values.length);
      dequantiseInto(q, back, 0);
      const step = q.scale;
      for (let i = 0; i < values.length; i++) expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(step / 2 + 1e-6);
    }
  });

  it('keep a constant map and refuse a non-finite one', () => {
    const back = new Float32Array(3);
    dequantiseInto(quantiseMap(new Float32Array([2, 2, 2])), back, 0);
    expect(Array.from(back)).toEqual([2, 2, 2]);
    expect(() => quantiseMap(new Float32Array([1, Number.NaN]))).toThrow(/non-finite/);
  });
});

describe('the cache on disk', () => {
  it.each(['uint8', 'float32'] as const)('round-trips %s maps and batches them NHWC', async (storage) => {
    const cache = new FeatureCache([2, 2, 3], ['none', 'vertical'], storage);
    const a = map(12, (i) => i / 2);
    const b = map(12, (i) => 6 - i / 2);
    cache.maps.set('img-1', [storeMap(a, storage), storeMap(b, storage)]);
    cache.maps.set('img-2', [storeMap(b, storage), storeMap(a, storage)]);
    const file = path.join(dir, `features-${storage}.bin`);
    await cache.save(file);
    const loaded = await FeatureCache.load(file, { flips: ['none', 'vertical'], storage });
    expect(loaded?.has(['img-1', 'img-2'])).toBe(true);
    expect(loaded?.has(['img-3'])).toBe(false);
    const batch = loaded!.batch([{ id: 'img-2', flip: 1 }, { id: 'img-1', flip: 1 }]);
    const tolerance = storage === 'uint8' ? 6 / 255 / 2 + 1e-6 : 0;
    for (let i = 0; i < 12; i++) {
      expect(Math.abs(batch[i]! - a[i]!)).toBeLessThanOrEqual(tolerance);
      expect(Math.abs(batch[12 + i]! - b[i]!)).toBeLessThanOrEqual(tolerance);
    }
    expect(loaded!.bytes).toBe(2 * 2 * 12 * (storage === 'uint8' ? 1 : 4));
    // Another flip list or storage: not this cache, computed again rather than misread.
    expect(await FeatureCache.load(file, { flips: ['none'], storage })).toBeNull();
    expect(await FeatureCache.load(file, { flips: ['none', 'vertical'], storage: storage === 'uint8' ? 'float32' : 'uint8' })).toBeNull();
    expect(() => loaded!.batch([{ id: 'img-9', flip: 0 }])).toThrow(/no map for image img-9/);
  });

  it('is not read from a missing, foreign or truncated file', async () => {
    expect(await FeatureCache.load(path.join(dir, 'absent.bin'), { flips: ['none'], storage: 'uint8' })).toBeNull();
    writeFileSync(path.join(dir, 'foreign.bin'), 'MCW1 not a feature cache');
    expect(await FeatureCache.load(path.join(dir, 'foreign.bin'), { flips: ['none'], storage: 'uint8' })).toBeNull();
    const cache = new FeatureCache([1, 1, 4], ['none'], 'float32');
    cache.maps.set('x', [storeMap(map(4, (i) => i), 'float32')]);
    const file = path.join(dir, 'short.bin');
    await cache.save(file);
    const { readFileSync } = await import('node:fs');
    writeFileSync(file, readFileSync(file).subarray(0, -3));
    expect(await FeatureCache.load(file, { flips: ['none'], storage: 'float32' })).toBeNull();
  });
});
