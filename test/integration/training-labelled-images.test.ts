// The service's own labels as training data: labels recorded through the repositories on a real
// database, joined to the stored images, one decisive label per image, and every label that
// cannot be used recorded with its reason. The pixel fetcher is a fake standing for the PACS
// (WADO), which is not what is under test here.

import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageRecord, LabelRecord } from '../../src/domain/index.js';
import { decisiveLabels as decisiveLabelsFromPipeline } from '../../src/pipeline/evaluate-model-job.js';
import { openStore, type LabelInput, type Store } from '../../src/store/index.js';
import { decisiveLabels } from '../../src/training/datasets/decisive-labels.js';
import { readLabelledImages, type StoredImageRef } from '../../src/training/datasets/labelled-images.js';
import { PROVIDERS, createTestDatabase, type TestDatabase } from '../support/databases.js';

const ROOT = '1.2.826.0.1.3680043.10.1137.91';
const STUDY_A = `${ROOT}.1`;
const STUDY_B = `${ROOT}.2`;
const STUDY_C = `${ROOT}.3`;

describe.each(PROVIDERS)('labelled images on %s', (provider) => {
  let db: TestDatabase;
  let store: Store;
  const images: Record<string, ImageRecord> = {};
  const labels: Record<string, LabelRecord> = {};
  const fetched: StoredImageRef[] = [];

  /** One label at a time, a little apart, so "the latest" is well defined. */
  const label = async (name: string, input: LabelInput) => {
    await sleep(5);
    labels[name] = (await store.labels.addMany([input]))[0]!;
  };

  beforeAll(async () => {
    db = await createTestDatabase(provider);
    store = await openStore({ databaseUrl: db.url });
    const study = async (studyUid: string, patientId: string | null, list: { name: string; side: 'L' | 'R'; view: string; status: 'eligible' | 'scored' | 'skipped'; reason?: string }[]) => {
      const { study: record } = await store.studies.announce({ studyUid, source: 'manual', patientId });
      const stored = await store.images.upsertMany(
        record.id,
        list.map((i, n) => ({ sopInstanceUid: `${studyUid}.${n + 1}`, seriesUid: `${studyUid}.9`, laterality: i.side, view: i.view, status: i.status, statusReason: i.reason ?? null })),
      );
      list.forEach((i, n) => (images[i.name] = stored[n]!));
      return record.id;
    };
    const a = await study(STUDY_A, 'W1', [
      { name: 'aLcc', side: 'L', view: 'CC', status: 'scored' },
      { name: 'aLmlo', side: 'L', view: 'MLO', status: 'eligible' },
      { name: 'aRcc', side: 'R', view: 'CC', status: 'scored' },
      { name: 'aRmlo', side: 'R', view: 'MLO', status: 'skipped', reason: 'magnification view' },
    ]);
    const b = await study(STUDY_B, null, []);
    const c = await study(STUDY_C, 'W1', [
      { name: 'cLcc', side: 'L', view: 'CC', status: 'eligible' },
      { name: 'cRmlo', side: 'R', view: 'MLO', status: 'skipped', reason: 'For Processing' },
    ]);
    // Study A: pathology on the left breast overrules a later radiologist's image label; on the
    // right, a follow-up image label overrules the radiologist's breast label for its image.
    await label('aLbreastPath', { studyId: a, scope: 'breast', laterality: 'L', value: 'malignant', source: 'pathology', author: 'path.a' });
    await label('aLccRad', { studyId: a, scope: 'image', imageId: images.aLcc!.id, value: 'benign', source: 'radiologist', author: 'dr.b' });
    await label('aRbreastRad', { studyId: a, scope: 'breast', laterality: 'R', value: 'normal', source: 'radiologist', author: 'dr.b' });
    await label('aRccFollow', { studyId: a, scope: 'image', imageId: images.aRcc!.id, value: 'benign', source: 'follow-up', author: 'dr.c' });
    // Study B has no images.
    await label('bRbreast', { studyId: b, scope: 'breast', laterality: 'R', value: 'malignant', source: 'pathology', author: 'path.a' });
    // Study C: two radiologist calls on one image (the later one decides), a label on an image
    // the selection refused, a breast label on a side with no usable image.
    await label('cLccFirst', { studyId: c, scope: 'image', imageId: images.cLcc!.id, value: 'malignant', source: 'radiologist', author: 'dr.b' });
    await label('cLccLater', { studyId: c, scope: 'image', imageId: images.cLcc!.id, value: 'normal', source: 'radiologist', author: 'dr.d' });
    await label('cRmloImage', { studyId: c, scope: 'image', imageId: images.cRmlo!.id, value: 'benign', source: 'radiologist', author: 'dr.b' });
    await label('cRbreast', { studyId: c, scope: 'breast', laterality: 'R', value: 'malignant', source: 'pathology', author: 'path.a' });
  });

  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  const fetchPixels = async (ref: StoredImageRef) => {
    fetched.push(ref);
    return { width: 3, height: 2, pixels: Float32Array.from([1, 2, 3, 4, 5, 6]), pixelSpacingMm: [0.1, 0.1] as [number, number], flippedHorizontally: true };
  };

  it('labels every usable image once: breast labels spread over the breast, the most authoritative then latest label decides', async () => {
    const dataset = await readLabelledImages(store, fetchPixels);
    expect(dataset.name).toBe('labelled-images');
    expect(dataset.images.map((i) => [i.id, i.womanId, i.laterality, i.view, i.label, i.imageClass, i.attributes.labelId, i.attributes.labelScope])).toEqual([
      [`${STUDY_A}.1`, 'W1', 'L', 'CC', 1, 'malignant', labels.aLbreastPath!.id, 'breast'],
      [`${STUDY_A}.2`, 'W1', 'L', 'MLO', 1, 'malignant', labels.aLbreastPath!.id, 'breast'],
      [`${STUDY_A}.3`, 'W1', 'R', 'CC', 0, 'benign', labels.aRccFollow!.id, 'image'],
      [`${STUDY_C}.1`, 'W1', 'L', 'CC', 0, 'normal', labels.cLccLater!.id, 'image'],
    ]);
    expect(dataset.images.every((i) => i.lesions.length === 0 && i.attributes.studyUid === (i.id.startsWith(STUDY_A) ? STUDY_A : STUDY_C))).toBe(true);
    expect(dataset.classCounts).toEqual({ images: 4, malignant: 2, notMalignant: 2, women: 1, byClass: { normal: 1, benign: 1, malignant: 2, unknown: 0 } });
  });

  it('records every label it does not use, with the reason', async () => {
    const { skipped } = await readLabelledImages(store, fetchPixels);
    const byLabel = Object.fromEntries(Object.entries(labels).map(([name, l]) => [`label ${l.id}`, name]));
    const reasons = skipped.map((s) => [byLabel[s.item], s.reason]).sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    const at = (name: string) => labels[name]!.recordedAt.toISOString();
    expect(reasons).toEqual([
      ['aLccRad', `for image ${STUDY_A}.1, radiologist label ${labels.aLccRad!.id} (benign, ${at('aLccRad')}) is overruled by pathology label ${labels.aLbreastPath!.id} (malignant, ${at('aLbreastPath')})`],
      ['aRbreastRad', `for image ${STUDY_A}.3, radiologist label ${labels.aRbreastRad!.id} (normal, ${at('aRbreastRad')}) is overruled by follow-up label ${labels.aRccFollow!.id} (benign, ${at('aRccFollow')})`],
      ['bRbreast', `study ${STUDY_B} has no stored images`],
      ['cLccFirst', `radiologist label ${labels.cLccFirst!.id} (malignant, ${at('cLccFirst')}) is overruled by radiologist label ${labels.cLccLater!.id} (normal, ${at('cLccLater')})`],
      ['cRbreast', `no usable R image in study ${STUDY_C}: ${STUDY_C}.2 skipped (For Processing)`],
      ['cRmloImage', `image ${STUDY_C}.2 was not selected for the classifier (skipped: For Processing)`],
    ]);
  });

  it('loads pixels through the fetcher with the study, series and instance, as stored (mirroring undone)', async () => {
    const dataset = await readLabelledImages(store, fetchPixels);
    fetched.length = 0;
    const pixels = await dataset.images[2]!.loadPixels();
    expect(fetched).toEqual([{ studyUid: STUDY_A, seriesUid: `${STUDY_A}.9`, sopInstanceUid: `${STUDY_A}.3` }]);
    expect(pixels).toEqual({ width: 3, height: 2, pixels: Float32Array.from([3, 2, 1, 6, 5, 4]), pixelSpacingMm: [0.1, 0.1] });
  });

  it('uses the same decisive-label rule as the evaluation job (which re-exports it)', async () => {
    expect(decisiveLabelsFromPipeline).toBe(decisiveLabels);
    const decisive = decisiveLabels(await store.labels.labelledResults(''));
    expect(decisive.map((l) => l.labelId).sort()).toEqual(
      ['aLbreastPath', 'aLccRad', 'aRbreastRad', 'aRccFollow', 'bRbreast', 'cLccLater', 'cRmloImage', 'cRbreast'].map((n) => labels[n]!.id).sort(),
    );
  });

  it('is empty, not an error, without labels', async () => {
    const empty = await createTestDatabase(provider);
    const other = await openStore({ databaseUrl: empty.url });
    try {
      const dataset = await readLabelledImages(other, fetchPixels);
      expect(dataset).toEqual({ name: 'labelled-images', images: [], skipped: [], classCounts: { images: 0, malignant: 0, notMalignant: 0, women: 0, byClass: { normal: 0, benign: 0, malignant: 0, unknown: 0 } } });
    } finally {
      await other.close();
      await empty.drop();
    }
  });
});
