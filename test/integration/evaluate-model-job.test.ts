// The "evaluate" job: a model version's stored predictions against the recorded labels, on
// both databases. The expected figures are computed independently from the same numbers.

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord, ModelVersionRecord } from '../../src/domain/index.js';
import { EVALUATE_MODEL_JOB, EvaluateModelJob } from '../../src/pipeline/evaluate-model-job.js';
import { openStore, type Store } from '../../src/store/index.js';
import { auc } from '../../src/training/evaluation/index.js';
import { PROVIDERS, createTestDatabase, type TestDatabase } from '../support/databases.js';

const logger = pino({ level: 'silent' });
const context = { workerId: 'test', progress: async () => true, checkpoint: async () => {}, stage: async () => true };

/** Eight women, one study each, two images (L, R); image scores and the truth per image. */
const WOMEN = [
  { scores: [0.9, 0.2], truth: ['malignant', 'normal'] },
  { scores: [0.3, 0.8], truth: ['benign', 'malignant'] },
  { scores: [0.7, 0.1], truth: ['normal', 'normal'] },
  { scores: [0.4, 0.35], truth: ['malignant', 'benign'] },
  { scores: [0.05, 0.6], truth: ['normal', 'benign'] },
  { scores: [0.55, 0.15], truth: ['malignant', 'normal'] },
  { scores: [0.25, 0.45], truth: ['normal', 'normal'] },
  { scores: [0.65, 0.5], truth: ['benign', 'malignant'] },
] as const;

describe.each(PROVIDERS)('evaluate job on %s', (provider) => {
  let db: TestDatabase;
  let store: Store;
  let model: ModelVersionRecord;

  const run = (version: string) => new EvaluateModelJob({ store, logger }).handle({ id: 'j', kind: EVALUATE_MODEL_JOB, payload: { version, requestedBy: 'apikey:test' } } as unknown as JobRecord, context);

  beforeAll(async () => {
    db = await createTestDatabase(provider);
    store = await openStore({ databaseUrl: db.url });
    const register = (version: string) => store.modelVersions.register({ version, architecture: 'test', packageHash: `sha256:${version}`, path: `/m/${version}`, manifest: {}, metrics: null, threshold: 0.5 });
    model = await register('eval-a');
    await register('eval-b'); // registered, never scored anything
    for (const [w, woman] of WOMEN.entries()) {
      const { study } = await store.studies.announce({ studyUid: `1.2.826.0.1.3680043.10.1.88.${w + 1}`, source: 'manual', patientId: `W${w}` });
      const images = await store.images.upsertMany(study.id, (['L', 'R'] as const).map((side, i) => ({ sopInstanceUid: `${study.studyUid}.${i + 1}`, seriesUid: `${study.studyUid}.9`, laterality: side, view: 'MLO', status: 'scored' as const })));
      await store.predictions.saveResults(study.id, model.id, images.map((image, i) => ({ level: 'image' as const, imageId: image.id, laterality: image.laterality as 'L' | 'R', probability: woman.scores[i]!, positive: woman.scores[i]! >= 0.5, preprocessingHash: 'pp' })));
      // A radiologist's first call, then (for the first image) pathology that overrules it.
      await store.labels.addMany(images.map((image, i) => ({ studyId: study.id, scope: 'image' as const, imageId: image.id, value: i === 0 && woman.truth[0] === 'malignant' ? ('benign' as const) : woman.truth[i]!, source: 'radiologist' as const, author: 'dr.a' })));
      if (woman.truth[0] === 'malignant') await store.labels.addMany([{ studyId: study.id, scope: 'image', imageId: images[0]!.id, value: 'malignant', source: 'pathology', author: 'path.b' }]);
    }
  });

  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('computes the per-image AUC of the decisive labels and appends it to the version metrics', async () => {
    const scores = WOMEN.flatMap((w) => [...w.scores]);
    const truth = WOMEN.flatMap((w) => w.truth.map((t) => (t === 'malignant' ? 1 : 0)));
    const result = (await run('eval-a')) as { auc: number; n: number; unit: string; notScoredByThisVersion: number };
    expect(result).toMatchObject({ unit: 'image', n: 16, notScoredByThisVersion: 0 });
    expect(result.auc).toBeCloseTo(auc(scores, truth), 12);
    const metrics = (await store.modelVersions.findByVersion('eval-a'))!.metrics as { evaluations: Array<{ auc: number; by: string; image: { positives: number; threshold: number }; breast: { unit: string; n: number } }> };
    expect(metrics.evaluations).toHaveLength(1);
    expect(metrics.evaluations[0]).toMatchObject({ by: 'apikey:test', image: { positives: 5, threshold: 0.5 }, breast: { unit: 'breast', n: 16 } });
    // A second evaluation is appended, not overwritten.
    await run('eval-a');
    expect(((await store.modelVersions.findByVersion('eval-a'))!.metrics as { evaluations: unknown[] }).evaluations).toHaveLength(2);
  });

  it('refuses a version that scored none of the labelled images, naming why', async () => {
    await expect(run('eval-b')).rejects.toThrow(/eval-b cannot be evaluated on the recorded labels/);
    expect((await store.modelVersions.findByVersion('eval-b'))!.metrics).toBeNull();
  });

  it('refuses an unknown version', async () => {
    await expect(run('no-such-version')).rejects.toThrow(/model version not found: no-such-version/);
  });
});
