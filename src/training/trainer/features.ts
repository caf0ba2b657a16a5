// The features phase of a unit: the stage-1 backbone inside the whole-image model, exported to
// ONNX (stage2-models.ts) and run once over every image and test-time flip with onnxruntime; the
// maps where stage 2's trained layers begin are cached on disk (feature-cache.ts) for the top's
// epochs. When the frozen part is the same for every unit (no stage 1) one cache serves the run.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { TestTimeFlip } from '../../ml/model-manifest.js';
import { toBatch } from '../../ml/preprocess/index.js';
import { FeatureCache, storeMap } from './feature-cache.js';
import type { TrainingRun, Unit } from './run-state.js';
import { BackboneFeatures } from './stage2-models.js';

/**
 * The cached features where phase 1's trained layers begin, for every image of the unit and
 * every flip. When the frozen part is the same for every unit (no stage 1: pretrained or base
 * backbone), one cache at the run's level serves all units; otherwise each unit has its own.
 */
export async function stage2Features(run: TrainingRun, unit: Unit, whole: tf.LayersModel): Promise<FeatureCache> {
  const flips = [...new Set<TestTimeFlip>(['none', ...run.spec.testTimeFlips])];
  const shared = !run.trainsStage1();
  const images = shared ? run.images : [...unit.train, ...unit.validation];
  if (shared && run.sharedFeatures?.has(images.map((i) => i.id))) return run.sharedFeatures;
  const file = shared ? run.store.file('features.bin') : run.store.file('units', unit.name, 'features.bin');
  const storage = run.config.stage2.phase1.featureStorage;
  const loaded = await FeatureCache.load(file, { flips, storage });
  if (loaded?.has(images.map((i) => i.id))) {
    if (shared) run.sharedFeatures = loaded;
    return loaded;
  }
  const started = Date.now();
  await run.progress({ stage: 'stage2', phase: 'backbone features', fold: run.unitLabel, images: images.length, etaSeconds: run.etaSeconds() });
  const backbone = await BackboneFeatures.open(whole, run.threads, run.config.stage2.phase1.trainFrom);
  let cache: FeatureCache | null = null;
  try {
    for (const image of images) {
      const prepared = await run.prepared.get(image);
      const maps = [];
      for (const flip of flips) {
        const out = await backbone.compute(toBatch([prepared], flip));
        cache ??= new FeatureCache(out.shape, flips, storage);
        maps.push(storeMap(out.maps[0]!, storage));
      }
      cache!.maps.set(image.id, maps);
      await run.context.checkpoint();
    }
  } finally {
    await backbone.close();
  }
  await mkdir(path.dirname(file), { recursive: true });
  await cache!.save(file);
  run.state.timings[shared ? 'features' : `${unit.name}/features`] = (Date.now() - started) / 1000;
  run.state.notes.featureCacheMb = Math.round(cache!.bytes / 2 ** 20);
  await run.store.save(run.state);
  if (shared) run.sharedFeatures = cache;
  return cache!;
}
