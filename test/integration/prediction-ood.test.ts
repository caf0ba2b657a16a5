// The out-of-distribution statistic, its flag and the safety flags of a prediction, on every
// database provider: stored with the results, read back by the store, and exposed by the
// GraphQL Prediction type; results stored without them read as null and an empty list.

import type { GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/index.js';
import type { PredictionInput } from '../../src/store/index.js';
import { startApi, type TestApi } from '../support/api.js';
import { PROVIDERS } from '../support/databases.js';

const FILM_FLAG = "outside the model's intended use: digitised film, the model was trained on digital mammograms";

describe.each(PROVIDERS)('out-of-distribution fields of predictions on %s', (provider) => {
  let api: TestApi;
  let studyUid: string;
  let studyId: string;
  let modelVersionId: string;
  let imageIds: { L: string; R: string };

  beforeAll(async () => {
    api = await startApi(provider);
    const { store } = api;
    studyUid = `1.2.826.0.1.3680043.10.1.88.${process.pid}.${Date.now()}`;
    const study = (await store.studies.announce({ studyUid, source: 'manual', studyDate: '20261203' })).study;
    studyId = study.id;
    const [left, right] = await store.images.upsertMany(study.id, [
      { sopInstanceUid: `${studyUid}.1`, seriesUid: `${studyUid}.9`, laterality: 'L', view: 'CC', status: 'eligible' as const },
      { sopInstanceUid: `${studyUid}.2`, seriesUid: `${studyUid}.9`, laterality: 'R', view: 'CC', status: 'eligible' as const },
    ]);
    imageIds = { L: left!.id, R: right!.id };
    const model = await store.modelVersions.register({ version: 'ood-model', architecture: 'test', packageHash: 'sha256:ood', path: '/models/ood-model', manifest: {}, threshold: 0.5 });
    modelVersionId = model.id;
    await store.modelVersions.activate('ood-model', 'test');
  }, 30_000);
  afterAll(async () => {
    await api?.close();
  });

  const base = { positive: false, preprocessingHash: 'pp' };

  it('stores the statistic, the flag and the flag texts per result, and reads them back', async () => {
    const results: PredictionInput[] = [
      { ...base, level: 'image', imageId: imageIds.L, laterality: 'L', probability: 0.2, outOfDistribution: 0.4, outOfDistributionFlagged: false },
      { ...base, level: 'image', imageId: imageIds.R, laterality: 'R', probability: 0.3, outOfDistribution: 1.75, outOfDistributionFlagged: true, flags: [FILM_FLAG] },
      { ...base, level: 'breast', laterality: 'L', probability: 0.2, outOfDistribution: 0.4, outOfDistributionFlagged: false },
      // A breast stored without the fields (an older writer): nulls and no flags.
      { ...base, level: 'breast', laterality: 'R', probability: 0.3 },
      { ...base, level: 'exam', probability: 0.3, outOfDistribution: 1.75, outOfDistributionFlagged: true, flags: [FILM_FLAG, 'second flag'], timings: { total: 5 } },
    ];
    const saved = await api.store.predictions.saveResults(studyId, modelVersionId, results);
    expect(saved).toHaveLength(5);
    const byScope = new Map((await api.store.predictions.listByStudy(studyId)).map((p) => [p.scopeKey, p]));
    expect(byScope.get(`image:${imageIds.L}`)).toMatchObject({ outOfDistribution: 0.4, outOfDistributionFlagged: false, flags: [] });
    expect(byScope.get(`image:${imageIds.R}`)).toMatchObject({ outOfDistribution: 1.75, outOfDistributionFlagged: true, flags: [FILM_FLAG] });
    expect(byScope.get('breast:R')).toMatchObject({ outOfDistribution: null, outOfDistributionFlagged: null, flags: [] });
    expect(byScope.get('exam')).toMatchObject({ outOfDistribution: 1.75, outOfDistributionFlagged: true, flags: [FILM_FLAG, 'second flag'], timings: { total: 5 } });
    const feed = await api.store.predictions.examsCreatedSince(new Date(0), 10);
    expect(feed.find((p) => p.studyId === studyId)).toMatchObject({ outOfDistribution: 1.75, outOfDistributionFlagged: true, flags: [FILM_FLAG, 'second flag'] });
  });

  it('refuses a statistic that is negative or not finite, and flags that are not non-empty strings', async () => {
    const exam = { ...base, level: 'exam' as const, probability: 0.5 };
    await expect(api.store.predictions.saveResults(studyId, modelVersionId, [{ ...exam, outOfDistribution: -1 }])).rejects.toThrow(ValidationError);
    await expect(api.store.predictions.saveResults(studyId, modelVersionId, [{ ...exam, outOfDistribution: Number.NaN }])).rejects.toThrow(/outOfDistribution/);
    await expect(api.store.predictions.saveResults(studyId, modelVersionId, [{ ...exam, flags: [''] }])).rejects.toThrow(/flags/);
    await expect(api.store.predictions.saveResults(studyId, modelVersionId, [{ ...exam, flags: [3 as unknown as string] }])).rejects.toThrow(/flags/);
  });

  it('exposes them on the GraphQL Prediction type', async () => {
    const res = await api.gql<{ study: { predictions: Array<Record<string, unknown>>; exam: Record<string, unknown> } }>(
      api.keys.clinician,
      `query($uid: String!) { study(studyInstanceUid: $uid) {
        predictions { level laterality sopInstanceUid outOfDistribution outOfDistributionFlagged flags }
        exam { outOfDistribution outOfDistributionFlagged flags }
      } }`,
      { uid: studyUid },
    );
    expect(res.errors).toBeUndefined();
    const { predictions, exam } = res.data!.study;
    expect(exam).toEqual({ outOfDistribution: 1.75, outOfDistributionFlagged: true, flags: [FILM_FLAG, 'second flag'] });
    expect(predictions).toContainEqual({ level: 'IMAGE', laterality: 'R', sopInstanceUid: `${studyUid}.2`, outOfDistribution: 1.75, outOfDistributionFlagged: true, flags: [FILM_FLAG] });
    expect(predictions).toContainEqual({ level: 'BREAST', laterality: 'R', sopInstanceUid: null, outOfDistribution: null, outOfDistributionFlagged: null, flags: [] });
  });

  it('describes the fields in the schema: outOfDistribution: Float, outOfDistributionFlagged: Boolean, flags: [String!]!', () => {
    const prediction = api.schema.getType('Prediction') as GraphQLObjectType;
    const fields = prediction.getFields();
    expect(String(fields.outOfDistribution!.type)).toBe('Float');
    expect(String(fields.outOfDistributionFlagged!.type)).toBe('Boolean');
    expect(String(fields.flags!.type)).toBe('[String!]!');
    for (const name of ['outOfDistribution', 'outOfDistributionFlagged', 'flags']) expect(fields[name]!.description).toBeTruthy();
  });
});
