// Fetch and decode inside a study from a real Orthanc: a corrupt image in an otherwise good
// study is recorded as failed with its reason, the good ones go on; the next image is retrieved
// while one is decoded; a study with nothing usable fails with the reasons; a PACS fault is
// left to the job's retry.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { PacsUnavailableError } from '../../src/domain/errors.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import { fetchStudyImages } from '../../src/pipeline/fetch-study-images.js';
import { selectStudyImages } from '../../src/pipeline/select-study-images.js';
import { openStore, type Store } from '../../src/store/index.js';
import { LocalOrthanc, freePort } from '../../scripts/lib/local-orthanc.js';
import { jpeg2000Mammogram } from '../support/corrupt-dicom.js';
import { mammogram, newStudyIds, type StudyIds } from '../support/dicom-factory.js';
import { needsSharedData } from '../support/shared-data.js';

const logger = createLogger('silent');
const work = mkdtempSync(path.join(tmpdir(), 'mammocad-fetch-'));

describe.skipIf(!LocalOrthanc.available())('fetch and decode a study', () => {
  let orthanc: LocalOrthanc;
  let pacs: DicomwebClient;
  let store: Store;

  beforeAll(async () => {
    orthanc = new LocalOrthanc();
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000 });
    store = await openStore({ databaseUrl: `file:${path.join(work, 'db.sqlite')}` });
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await orthanc?.stop();
  });

  async function announced(ids: StudyIds) {
    await store.studies.announce({ studyUid: ids.studyUid, source: 'manual' });
    return selectStudyImages(pacs, store, ids.studyUid, DEFAULT_SELECTION_POLICY);
  }

  it('records a corrupt image as failed with its reason and decodes the others', needsSharedData('dicom'), async () => {
    const ids = newStudyIds();
    const good = mammogram(ids, { laterality: 'L', view: 'CC' });
    const j2k = jpeg2000Mammogram(ids, false);
    const broken = jpeg2000Mammogram(ids, true);
    await pacs.store([good.bytes, j2k, broken]);
    const images = await announced(ids);
    expect(images.filter((i) => i.status === 'eligible')).toHaveLength(3);

    const result = await fetchStudyImages({ pacs, store, logger }, ids.studyUid, images);
    expect(result.fetched).toHaveLength(2);
    const big = result.fetched.find((f) => f.decoded.width === 3064)!;
    expect(big.decoded).toMatchObject({ height: 4664, transferSyntaxUid: '1.2.840.10008.1.2.4.91', bitsStored: 12 });
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]!.code).toBe('PIXEL_DECODE_FAILED');
    expect(result.failed[0]!.reason).toContain(`image ${result.failed[0]!.image.sopInstanceUid}`);

    const stored = await store.images.findBySopInstanceUid(result.failed[0]!.image.sopInstanceUid);
    expect(stored).toMatchObject({ status: 'failed', statusReason: result.failed[0]!.reason });
  });

  it('retrieves the next image while it decodes one, two at a time, and keeps the study order', async () => {
    const ids = newStudyIds();
    const views = [mammogram(ids, { laterality: 'L', view: 'CC', size: 512 }), mammogram(ids, { laterality: 'R', view: 'CC', size: 512 }), mammogram(ids, { laterality: 'L', view: 'MLO', size: 512 }), mammogram(ids, { laterality: 'R', view: 'MLO', size: 512 })];
    await pacs.store(views.map((v) => v.bytes));
    const images = await announced(ids);
    // The real client, counting the retrievals it has open.
    let open = 0;
    let most = 0;
    const counting = new (class extends DicomwebClient {
      override async retrieveInstance(...args: Parameters<DicomwebClient['retrieveInstance']>) {
        most = Math.max(most, ++open);
        try {
          return await super.retrieveInstance(...args);
        } finally {
          open--;
        }
      }
    })({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000 });
    const result = await fetchStudyImages({ pacs: counting, store, logger }, ids.studyUid, images);
    expect(result.fetched.map((f) => f.image.sopInstanceUid)).toEqual(images.filter((i) => i.status === 'eligible').map((i) => i.sopInstanceUid));
    expect(result.fetched).toHaveLength(4);
    expect(most).toBe(2);
  });

  it('stops the image retrieved ahead when the PACS fails the one before it (the job is retried; nothing goes on against the PACS)', async () => {
    const ids = newStudyIds();
    await pacs.store([mammogram(ids, { laterality: 'L', view: 'CC', size: 512 }).bytes, mammogram(ids, { laterality: 'R', view: 'CC', size: 512 }).bytes]);
    const images = await announced(ids);
    const signals: Array<AbortSignal | undefined> = [];
    // The real client, except that the first retrieval meets a PACS fault (injected: an
    // outage that lands between two requests of one study cannot be timed from outside).
    const failingFirst = new (class extends DicomwebClient {
      override async retrieveInstance(studyUid: string, seriesUid: string, sopInstanceUid: string, signal?: AbortSignal) {
        signals.push(signal);
        if (signals.length === 1) throw new PacsUnavailableError('GET /studies/...: the PACS answered 503');
        return super.retrieveInstance(studyUid, seriesUid, sopInstanceUid, signal);
      }
    })({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000 });
    await expect(fetchStudyImages({ pacs: failingFirst, store, logger }, ids.studyUid, images)).rejects.toMatchObject({ code: 'PACS_UNAVAILABLE', retryable: true });
    expect(signals).toHaveLength(2);
    expect(signals[1]!.aborted).toBe(true);
  });

  it('fails a study whose only image is unusable, naming the reasons', needsSharedData('dicom'), async () => {
    const ids = newStudyIds();
    await pacs.store([jpeg2000Mammogram(ids, true)]);
    const images = await announced(ids);
    await expect(fetchStudyImages({ pacs, store, logger }, ids.studyUid, images)).rejects.toMatchObject({
      code: 'NO_ELIGIBLE_VIEWS',
      message: expect.stringMatching(/no eligible views \(.*PIXEL|no eligible views \(.*image/),
    });
  });

  it('fails an image larger than the response limit alone, at once, and decodes the others', async () => {
    const ids = newStudyIds();
    const small = mammogram(ids, { laterality: 'L', view: 'CC', size: 256 }); // ~128 KB
    const large = mammogram(ids, { laterality: 'R', view: 'CC', size: 1024 }); // ~2 MB
    await pacs.store([small.bytes, large.bytes]);
    const images = await announced(ids);
    let requests = 0;
    const limited = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000, maxResponseBytes: 1 << 20 });
    const counting = Object.assign(Object.create(limited) as DicomwebClient, {
      retrieveInstance: (...args: Parameters<DicomwebClient['retrieveInstance']>) => {
        requests++;
        return limited.retrieveInstance(...args);
      },
    });
    const result = await fetchStudyImages({ pacs: counting, store, logger }, ids.studyUid, images);
    expect(result.fetched.map((f) => f.image.sopInstanceUid)).toEqual([small.sopInstanceUid]);
    // It was a retryable PACS fault before: the whole study retried ten times, downloading it again.
    expect(result.failed.map((f) => [f.image.sopInstanceUid, f.code])).toEqual([[large.sopInstanceUid, 'PACS_RESPONSE_TOO_LARGE']]);
    expect(result.failed[0]!.reason).toMatch(/exceeds the limit of 1048576/);
    expect(requests).toBe(2);
    expect(await store.images.findBySopInstanceUid(large.sopInstanceUid)).toMatchObject({ status: 'failed' });
  });

  it('does not blame the images when the PACS refuses our credentials', async () => {
    const ids = newStudyIds();
    await pacs.store([mammogram(ids).bytes]);
    const images = await announced(ids);
    const refused = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: 'wrong', timeoutMs: 5000 });
    await expect(fetchStudyImages({ pacs: refused, store, logger }, ids.studyUid, images)).rejects.toMatchObject({ code: 'PACS_UNAUTHORIZED' });
    expect((await store.images.findBySopInstanceUid(images[0]!.sopInstanceUid))!.status).toBe('eligible');
  });

  it('throws a retryable error when the PACS goes away mid-study, recording nothing as failed', async () => {
    const ids = newStudyIds();
    await pacs.store([mammogram(ids).bytes]);
    const images = await announced(ids);
    const gone = new DicomwebClient({ url: `http://127.0.0.1:${await freePort()}/dicom-web`, timeoutMs: 1000, attempts: 1 });
    await expect(fetchStudyImages({ pacs: gone, store, logger }, ids.studyUid, images)).rejects.toMatchObject({ code: 'PACS_UNAVAILABLE', retryable: true });
    expect((await store.images.findBySopInstanceUid(images[0]!.sopInstanceUid))!.status).toBe('eligible');
  });
});
