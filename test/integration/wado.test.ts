// Retrieval from a real Orthanc: instances come back exactly as stored (no transcoding, thanks
// to transfer-syntax=*), and a large instance is held in memory once.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { TAG, jsonString } from '../../src/dicom/dicom-json.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';
import { needsSharedData, sharedFile } from '../support/shared-data.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!LocalOrthanc.available())('WADO-RS and STOW-RS with Orthanc', () => {
  let orthanc: LocalOrthanc;
  let pacs: DicomwebClient;

  beforeAll(async () => {
    orthanc = new LocalOrthanc();
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000 });
  });
  afterAll(() => orthanc?.stop());

  it('returns a JPEG 2000 image in its stored transfer syntax, byte for byte', needsSharedData('dicom'), async () => {
    const original = new Uint8Array(readFileSync(sharedFile('dicom', 'nema-wg04-mg1-j2ki.dcm')));
    await pacs.store([original]);
    const [series] = await pacs.search('series', { Modality: 'RG', includefield: ['StudyInstanceUID'] });
    const studyUid = jsonString(series!, TAG.StudyInstanceUID);
    const seriesUid = jsonString(series!, TAG.SeriesInstanceUID);
    const [instance] = await pacs.search(`studies/${studyUid}/series/${seriesUid}/instances`);
    const retrieved = await pacs.retrieveInstance(studyUid, seriesUid, jsonString(instance!, TAG.SOPInstanceUID));
    expect(retrieved.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.91');
    expect(retrieved.bytes.byteLength).toBe(original.byteLength);
    expect(sha(retrieved.bytes)).toBe(sha(original));
  });

  it('holds a 30 MB instance once: the part is a view into the single response buffer', async () => {
    const ids = newStudyIds();
    const big = mammogram(ids, { size: 3900 }); // 3900 x 3900 x 2 bytes = 30.4 MB
    expect(big.bytes.byteLength).toBeGreaterThan(30_000_000);
    await pacs.store([big.bytes]);
    const retrieved = await pacs.retrieveInstance(ids.studyUid, big.seriesUid, big.sopInstanceUid);
    expect(sha(retrieved.bytes)).toBe(sha(big.bytes));
    // The backing buffer is the whole multipart response: the instance plus a few hundred bytes
    // of boundaries and headers, not a second copy.
    expect(retrieved.bytes.buffer.byteLength - retrieved.bytes.byteLength).toBeLessThan(1024);
  });

  // The NEMA image the first test stored.
  it('retrieves a frame in its stored encoding: the JPEG 2000 codestream itself', needsSharedData('dicom'), async () => {
    const [series] = await pacs.search('series', { Modality: 'RG' });
    const studyUid = jsonString(series!, TAG.StudyInstanceUID);
    const seriesUid = jsonString(series!, TAG.SeriesInstanceUID);
    const [instance] = await pacs.search(`studies/${studyUid}/series/${seriesUid}/instances`);
    const [frame] = await pacs.retrieveFrames(studyUid, seriesUid, jsonString(instance!, TAG.SOPInstanceUID), [1]);
    expect(Array.from(frame!.subarray(0, 4))).toEqual([0xff, 0x4f, 0xff, 0x51]); // SOC + SIZ markers
    expect(frame!.byteLength).toBeGreaterThan(2_000_000);
    await expect(pacs.retrieveFrames(studyUid, seriesUid, jsonString(instance!, TAG.SOPInstanceUID), [0])).rejects.toThrow(/frame numbers/);
  });

  it('reports what the PACS refused in a STOW', async () => {
    await expect(pacs.store([new TextEncoder().encode('not dicom at all')])).rejects.toMatchObject({ code: expect.stringMatching(/^PACS_/) });
  });
});
