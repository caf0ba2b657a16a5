// The write-back stage against a real Orthanc (DICOMweb) and a real store (SQLite): the report
// goes in by STOW-RS, QIDO-RS finds it, WADO-RS returns it (bytes and metadata), and the
// project's reader reproduces every score and reference from what came back. A retry re-sends
// the same SOP Instance UID and Orthanc keeps one report; bad input reaches neither the store
// nor the PACS.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { ValidationError } from '../../src/domain/index.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { TAG, jsonString } from '../../src/dicom/dicom-json.js';
import { readPart10, type NaturalizedDataset } from '../../src/dicom/part10.js';
import { readStructuredReport, readStructuredReportJson, validateReportInput, type ReportInput } from '../../src/dicom/sr/index.js';
import { sendStudyReport, writeStudyReport, type WriteReportRequest } from '../../src/pipeline/write-report.js';
import { openStore, type Store } from '../../src/store/index.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';
import { squareRegion } from '../support/region-fixtures.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
/** Orthanc here keeps no SR of this patient: it answers the STOW with success and discards it (ReceivedInstanceFilter). */
const REFUSED_PATIENT = 'REFUSE-SR';

describe.skipIf(!LocalOrthanc.available())('structured reports in Orthanc', () => {
  let orthanc: LocalOrthanc;
  let pacs: DicomwebClient;
  let database: TestDatabase;
  let store: Store;
  let modelVersionId: string;
  let keys = 0;

  beforeAll(async () => {
    const filter = path.join(mkdtempSync(path.join(tmpdir(), 'mammocad-sr-orthanc-')), 'refuse-sr.lua');
    writeFileSync(filter, `function ReceivedInstanceFilter(dicom, origin, info)\n  return not (dicom.Modality == 'SR' and dicom.PatientID == '${REFUSED_PATIENT}')\nend\n`);
    orthanc = new LocalOrthanc({ luaScripts: [filter] });
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000 });
    database = await createTestDatabase('sqlite');
    store = await openStore({ databaseUrl: database.url });
    const model = await store.modelVersions.register({ version: 'shen2019-v1', architecture: 'resnet50', packageHash: 'f'.repeat(64), path: '/models/shen2019-v1', manifest: {}, threshold: 0.5 });
    modelVersionId = model.id;
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
    await orthanc?.stop();
  });

  /** A four-view study with a non-ASCII patient name, stored in Orthanc and announced to the store, and its scores. */
  async function scoredStudy(patientId?: string): Promise<{ request: WriteReportRequest; studyUid: string; studyId: string; sources: NaturalizedDataset[] }> {
    const ids = newStudyIds({ patientName: 'Müller^Zoë', ...(patientId ? { patientId } : {}) });
    const images = (['L', 'R'] as const).flatMap((laterality) => (['CC', 'MLO'] as const).map((view) => mammogram(ids, { laterality, view })));
    await pacs.store(images.map((m) => m.bytes));
    const { study } = await store.studies.announce({ studyUid: ids.studyUid, source: 'manual', studyDate: ids.studyDate });
    const [lcc, lmlo, rcc, rmlo] = images.map((m) => m.sopInstanceUid) as [string, string, string, string];
    const sources = images.map((m) => readPart10(m.bytes, 'test').dataset);
    const report: Omit<ReportInput, 'uids'> = {
      sources,
      imageProbabilities: { [lcc]: 0.08, [lmlo]: 0.6612345678901234, [rcc]: 0.02, [rmlo]: 0.11 },
      breasts: { L: { probability: 0.6612345678901234, sopInstanceUids: [lcc, lmlo] }, R: { probability: 0.11, sopInstanceUids: [rcc, rmlo] } },
      exam: { probability: 0.6612345678901234 },
      threshold: 0.5,
      algorithm: { name: 'mammocad', version: 'shen2019-v1', modelVersionId, modelSha256: 'f'.repeat(64) },
      device: { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: '0.1.0', uid: '2.25.314159' },
      createdAt: new Date(2026, 2, 1, 12, 0, 0),
    };
    return { request: { studyId: study.id, modelVersionId, idempotencyKey: `result-${++keys}`, template: 'TID1500', report }, studyUid: ids.studyUid, studyId: study.id, sources };
  }

  const srSeries = (studyUid: string) => pacs.search(`studies/${studyUid}/series`, { Modality: 'SR' });

  it.each(['TID1500', 'TID4000'] as const)('%s: stored by STOW, found by QIDO, returned by WADO, read back with every score and reference', async (template) => {
    const { request, studyUid, studyId } = await scoredStudy();
    const written = await writeStudyReport({ pacs, store, logger }, { ...request, template });
    expect(written).toMatchObject({ reserved: true, template });

    const series = await srSeries(studyUid);
    expect(series.map((s) => jsonString(s, TAG.SeriesInstanceUID))).toEqual([written.seriesInstanceUid]);
    const instances = await pacs.search(`studies/${studyUid}/series/${written.seriesInstanceUid}/instances`);
    expect(instances.map((i) => jsonString(i, TAG.SOPInstanceUID))).toEqual([written.sopInstanceUid]);
    expect(jsonString(instances[0]!, TAG.SOPClassUID)).toBe(template === 'TID1500' ? '1.2.840.10008.5.1.4.1.1.88.33' : '1.2.840.10008.5.1.4.1.1.88.50');

    const expected = validateReportInput(request.report).results;
    const { bytes } = await pacs.retrieveInstance(studyUid, written.seriesInstanceUid, written.sopInstanceUid);
    const read = readStructuredReport(bytes, 'WADO instance');
    expect(read).toMatchObject({ template, manufacturer: 'mammocad', sopInstanceUid: written.sopInstanceUid, studyInstanceUid: studyUid, patientName: 'Müller^Zoë', specificCharacterSet: 'ISO_IR 192' });
    if (template === 'TID1500') expect(read.results).toEqual(expected);
    else {
      expect(Object.keys(read.results.images)).toEqual(Object.keys(expected.images));
      for (const [uid, result] of Object.entries(expected.images)) {
        expect(read.results.images[uid]!.positive).toBe(result.positive);
        expect(read.results.images[uid]!.probability).toBeCloseTo(result.probability, 14);
      }
      expect(read.results.breasts.L!.sopInstanceUids).toEqual(expected.breasts.L!.sopInstanceUids);
      expect(read.results.exam).toMatchObject({ positive: true, sopInstanceUids: expected.exam.sopInstanceUids });
      expect(read.results.algorithm).toEqual(expected.algorithm);
    }
    // WADO-RS metadata (DICOM JSON) reads the same.
    const [metadata] = await pacs.metadata(`studies/${studyUid}/series/${written.seriesInstanceUid}/instances/${written.sopInstanceUid}`);
    expect(readStructuredReportJson(metadata!).results).toEqual(read.results);

    const [record] = await store.reports.listByStudy(studyId);
    expect(record).toMatchObject({ status: 'stored', template, srSopInstanceUid: written.sopInstanceUid, srSeriesUid: written.seriesInstanceUid, modelVersionId });
    expect(record!.storedAt).toContain(`/instances/${written.sopInstanceUid}`);
    expect(record!.storedAt).not.toContain(orthanc.password);
  });

  it('sendStudyReport returns once the STOW is answered; its check, awaited later, records the report stored', async () => {
    const { request, studyUid, studyId } = await scoredStudy();
    const { kept, ...sent } = await sendStudyReport({ pacs, store, logger }, request);
    expect((await pacs.search(`studies/${studyUid}/instances`, { SOPInstanceUID: sent.sopInstanceUid })).length).toBe(1);
    const stored = await kept;
    expect(stored).toMatchObject({ status: 'stored', srSopInstanceUid: sent.sopInstanceUid });
    expect((await store.reports.listByStudy(studyId)).map((r) => r.status)).toEqual(['stored']);
  });

  it('a PACS that answers success and keeps nothing: the check rejects, naming it, even when nobody waits for it at first; the report stays unstored', async () => {
    const { request, studyId } = await scoredStudy(REFUSED_PATIENT);
    const sent = await sendStudyReport({ pacs, store, logger }, request);
    // The check settles while nobody waits (a caller busy recording results, or failing first):
    // not an unhandled rejection (vitest fails a run that has one), and still reported to a late waiter.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await expect(sent.kept).rejects.toMatchObject({ code: 'PACS_DISCARDED_REPORT', retryable: true, message: expect.stringContaining('did not keep the report') });
    expect((await store.reports.listByStudy(studyId)).map((r) => r.status)).toEqual(['pending']);
    await expect(writeStudyReport({ pacs, store, logger }, request)).rejects.toMatchObject({ code: 'PACS_DISCARDED_REPORT' });
  });

  it('regions on images one presentation state cannot show together (rescaled differently): the SR is stored with them, the presentation state left out, saying why', async () => {
    const { request, studyUid, studyId, sources } = await scoredStudy();
    const [lcc, lmlo] = sources.map((ds) => String(ds.SOPInstanceUID));
    // The left MLO's pixels were rescaled by its modality, the others not.
    const rescaled = sources.map((ds) => (ds.SOPInstanceUID === lmlo ? { ...ds, RescaleSlope: 2, RescaleIntercept: 0 } : ds));
    const regions = { [lmlo!]: [squareRegion(0.66, 20, 30)], [lcc!]: [squareRegion(0.55, 40, 40)] };
    const written = await writeStudyReport({ pacs, store, logger }, { ...request, presentationState: true, report: { ...request.report, sources: rescaled, regions } });
    expect(written.presentationStateSopInstanceUid).toBeNull();
    expect(written.presentationStateProblem).toMatch(/rescaled differently/);
    const [reservation] = await store.reports.listByStudy(studyId);
    expect(reservation).toMatchObject({ status: 'stored', gspsSopInstanceUid: null });
    expect((await pacs.search(`studies/${studyUid}/series`, { Modality: 'PR' })).length).toBe(0);
    const report = readStructuredReport((await pacs.retrieveInstance(studyUid, written.seriesInstanceUid, written.sopInstanceUid)).bytes, 'WADO');
    expect(Object.keys(report.results.regions ?? {}).sort()).toEqual([lcc, lmlo].sort());
    // The same images without the odd rescale: both are written.
    const { request: plain } = await scoredStudy();
    const plainSources = plain.report.sources;
    const both = await writeStudyReport({ pacs, store, logger }, { ...plain, presentationState: true, report: { ...plain.report, regions: { [String(plainSources[1]!.SOPInstanceUID)]: [squareRegion(0.66, 20, 30)] } } });
    expect(both).toMatchObject({ presentationStateSopInstanceUid: expect.any(String), presentationStateProblem: null });
  });

  it('keeps the non-ASCII patient name through the PACS: QIDO returns it as the images have it', async () => {
    const { request, studyUid } = await scoredStudy();
    const written = await writeStudyReport({ pacs, store, logger }, request);
    const [instance] = await pacs.search(`studies/${studyUid}/series/${written.seriesInstanceUid}/instances`, { includefield: ['PatientName', 'SpecificCharacterSet'] });
    expect(jsonString(instance!, '00100010')).toBe('Müller^Zoë');
  });

  it('a retry with the same key re-sends the same UIDs, and Orthanc keeps exactly one report (the first)', async () => {
    const { request, studyUid, studyId } = await scoredStudy();
    const first = await writeStudyReport({ pacs, store, logger }, request);
    const retry = await writeStudyReport({ pacs, store, logger }, { ...request, report: { ...request.report, createdAt: new Date(2026, 2, 1, 12, 5, 0) } });
    expect(retry).toMatchObject({ reserved: false, sopInstanceUid: first.sopInstanceUid, seriesInstanceUid: first.seriesInstanceUid });
    const series = await srSeries(studyUid);
    expect(series).toHaveLength(1);
    const instances = await pacs.search(`studies/${studyUid}/series/${first.seriesInstanceUid}/instances`);
    expect(instances).toHaveLength(1);
    // Orthanc (OverwriteInstances false, its default) answered the duplicate with success and kept the first copy.
    const { bytes } = await pacs.retrieveInstance(studyUid, first.seriesInstanceUid, first.sopInstanceUid);
    expect(readPart10(bytes, 'kept').dataset.ContentTime).toBe('120000.000');
    expect(await store.reports.listByStudy(studyId)).toHaveLength(1);
  });

  const spoil: Array<[string, (sources: NaturalizedDataset[], report: Omit<ReportInput, 'uids'>) => Omit<ReportInput, 'uids'>, RegExp]> = [
    ['a source without its Study Instance UID', (s, r) => ({ ...r, sources: s.map((d, i) => (i === 2 ? { ...d, StudyInstanceUID: undefined } : d)) }), /sources\[2\]\.StudyInstanceUID: is missing/],
    ['a source without its Patient ID', (s, r) => ({ ...r, sources: s.map((d, i) => (i === 1 ? { ...d, PatientID: '' } : d)) }), /sources\[1\]\.PatientID: is missing/],
    ['images of two patients', (s, r) => ({ ...r, sources: s.map((d, i) => (i === 3 ? { ...d, PatientID: 'SOMEONE-ELSE' } : d)) }), /exactly one patient/],
    ['images of two studies', (s, r) => ({ ...r, sources: s.map((d, i) => (i === 0 ? { ...d, StudyInstanceUID: '1.2.3.4.5.6' } : d)) }), /exactly one study/],
    ['a score above 1', (_s, r) => ({ ...r, exam: { probability: 1.5 } }), /exam\.probability: must be a finite probability in \[0, 1\]; got 1\.5/],
    ['a score below 0', (_s, r) => ({ ...r, breasts: { ...r.breasts, R: { ...r.breasts.R!, probability: -0.1 } } }), /breasts\.R\.probability/],
    ['a NaN score', (_s, r) => ({ ...r, imageProbabilities: Object.fromEntries(Object.entries(r.imageProbabilities).map(([k, v], i) => [k, i === 0 ? Number.NaN : v])) }), /got NaN/],
    ['an infinite threshold', (_s, r) => ({ ...r, threshold: Number.POSITIVE_INFINITY }), /threshold: .*got Infinity/],
  ];

  it.each(spoil)('refuses %s before anything is reserved or stored', async (_label, change, message) => {
    const { request, studyUid, studyId, sources } = await scoredStudy();
    const bad = { ...request, report: change(sources, request.report) };
    await expect(writeStudyReport({ pacs, store, logger }, bad)).rejects.toThrow(ValidationError);
    await expect(writeStudyReport({ pacs, store, logger }, bad)).rejects.toThrow(message);
    expect(await store.reports.listByStudy(studyId)).toEqual([]);
    expect(await srSeries(studyUid)).toEqual([]);
    expect(await pacs.search(`studies/${studyUid}/instances`)).toHaveLength(4); // the images, nothing else
  });
});
