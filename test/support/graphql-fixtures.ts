// Helpers for the GraphQL API tests: a small set of scored studies written through the store
// (the same shape as test/integration/study-search.test.ts's fixture, smaller), error-code
// helpers for answers, and waiting.

import type { ModelVersionRecord, StudyRecord, ImageRecord, JsonValue } from '../../src/domain/index.js';
import type { PredictionInput, Store } from '../../src/store/index.js';
import type { GqlResponse } from './api.js';
import { queryRows, type TestDatabase } from './databases.js';

/** One study of the fixture: date, status, image sides, model A and B exam scores, labels. */
export interface ResultFixture {
  name: string;
  date: string | null;
  status: 'pending' | 'scored' | 'failed';
  sides: ('L' | 'R')[];
  /** Model A's exam probability (its breasts and images get the same score). */
  a?: number;
  /** Model B's exam probability. */
  b?: number;
  labelled?: boolean;
  /** A structured report of model A, stored on the PACS. */
  report?: boolean;
}

// Model A's threshold is 0.4: s1 and s2 are positive, s3 is not.
export const RESULT_FIXTURES: ResultFixture[] = [
  { name: 's1', date: '20250110', status: 'scored', sides: ['L', 'R'], a: 0.9, b: 0.1, labelled: true, report: true },
  { name: 's2', date: '20250120', status: 'scored', sides: ['R'], a: 0.5 },
  { name: 's3', date: '20250205', status: 'scored', sides: ['L', 'R'], a: 0.2, b: 0.95 },
  { name: 's4', date: '20250301', status: 'failed', sides: ['L'] },
  { name: 's5', date: null, status: 'pending', sides: ['R'] },
];

/** Model A's metrics: one evaluation with an AUC, its CI and a ROC curve. */
export const MODEL_A_METRICS = {
  evaluations: [
    {
      auc: 0.81,
      auc_ci: [0.72, 0.9],
      roc: [
        { fpr: 0, tpr: 0, threshold: 1 },
        { fpr: 0.2, tpr: 0.7, threshold: 0.4 },
        { fpr: 1, tpr: 1, threshold: 0 },
      ],
    },
  ],
} satisfies JsonValue;

export interface SeededResults {
  modelA: ModelVersionRecord;
  modelB: ModelVersionRecord;
  studies: Map<string, StudyRecord>;
  images: Map<string, ImageRecord[]>;
  /** The Study Instance UID of fixture `name`. */
  uid(name: string): string;
  /** The fixture name of a Study Instance UID. */
  nameOf(uid: string): string;
}

/** Registers models A (threshold 0.4, with metrics) and B (inactive both), and writes RESULT_FIXTURES. */
export async function seedResults(store: Store, uidRoot = '1.2.826.0.1.3680043.10.1.77'): Promise<SeededResults> {
  const register = (version: string, metrics: JsonValue | null) =>
    store.modelVersions.register({ version, architecture: 'resnet50-top2', packageHash: `sha256:${version}`, path: `/models/${version}`, manifest: {}, metrics, threshold: 0.4 });
  const modelA = await register('model-a', MODEL_A_METRICS);
  const modelB = await register('model-b', null);
  const studies = new Map<string, StudyRecord>();
  const imagesOf = new Map<string, ImageRecord[]>();
  for (const f of RESULT_FIXTURES) {
    const { study } = await store.studies.announce({ studyUid: `${uidRoot}.${f.name.slice(1)}`, source: 'manual', studyDate: f.date, patientId: `P-${f.name}` });
    await store.studies.setStatus(study.studyUid, f.status);
    studies.set(f.name, study);
    const images = await store.images.upsertMany(
      study.id,
      f.sides.map((side) => ({ sopInstanceUid: `${study.studyUid}.${side === 'L' ? 1 : 2}`, seriesUid: `${study.studyUid}.9`, laterality: side, view: 'CC', status: 'eligible' as const })),
    );
    imagesOf.set(f.name, images);
    const results = (exam: number): PredictionInput[] => [
      { level: 'exam', probability: exam, positive: exam >= 0.4, preprocessingHash: 'pp', timings: { total: 12 } },
      ...f.sides.map((side) => ({ level: 'breast' as const, laterality: side, probability: exam, positive: exam >= 0.4, preprocessingHash: 'pp' })),
      ...images.map((image) => ({ level: 'image' as const, imageId: image.id, laterality: image.laterality as 'L' | 'R', probability: exam, positive: exam >= 0.4, preprocessingHash: 'pp' })),
    ];
    if (f.a !== undefined) await store.predictions.saveResults(study.id, modelA.id, results(f.a));
    if (f.b !== undefined) await store.predictions.saveResults(study.id, modelB.id, results(f.b));
    if (f.labelled) {
      await store.labels.addMany([{ studyId: study.id, scope: 'breast', laterality: f.sides[0]!, value: 'benign', source: 'radiologist', author: 'dr.t', note: 'seeded' }]);
    }
    if (f.report) {
      const sr = `${study.studyUid}.800`;
      await store.reports.reserve({ studyId: study.id, modelVersionId: modelA.id, idempotencyKey: `sr:${study.studyUid}`, template: 'TID1500', srSopInstanceUid: sr, srSeriesUid: `${sr}.1`, srSopClassUid: '1.2.840.10008.5.1.4.1.1.88.34' });
      await store.reports.markStored(sr, new Date().toISOString());
    }
  }
  const uid = (name: string) => studies.get(name)!.studyUid;
  const nameOf = (studyUid: string) => [...studies.entries()].find(([, s]) => s.studyUid === studyUid)?.[0] ?? studyUid;
  return { modelA, modelB, studies, images: imagesOf, uid, nameOf };
}

/** The extensions.code of each error of an answer, in order. */
export const codes = (res: GqlResponse<unknown>): unknown[] => (res.errors ?? []).map((e) => e.extensions?.code);

/** The rows of a table (PostgreSQL counts arrive as strings). */
export async function countRows(db: TestDatabase, table: string): Promise<number> {
  const [row] = await queryRows<{ n: number | string }>(db, `SELECT COUNT(*) AS n FROM "${table}"`);
  return Number(row!.n);
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
