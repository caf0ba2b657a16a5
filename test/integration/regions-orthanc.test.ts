// Marked regions through a real PACS (Orthanc with DICOMweb): the SR of either template and the
// presentation state go in by STOW-RS beside the images, QIDO-RS finds them in their own series
// (SR and PR), and WADO-RS returns them unchanged: the reader gets every region back from the
// bytes and from the metadata, and the presentation state still draws every outline on the
// images it references. (Storing them from the pipeline is score-study's job; this is the PACS
// accepting what the builders make.)

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { TAG, jsonString } from '../../src/dicom/dicom-json.js';
import { buildPresentationState } from '../../src/dicom/gsps/index.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { buildStructuredReport, newUid, readStructuredReport, readStructuredReportJson, validateReportInput, type ReportInput } from '../../src/dicom/sr/index.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { IRREGULAR_REGION, fourViewReportInput, squareRegion } from '../support/region-fixtures.js';

type Item = Record<string, unknown>;

describe.skipIf(!LocalOrthanc.available())('marked regions in Orthanc', () => {
  let orthanc: LocalOrthanc;
  let pacs: DicomwebClient;

  beforeAll(async () => {
    orthanc = new LocalOrthanc();
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000 });
  });
  afterAll(async () => {
    await orthanc?.stop();
  });

  /** A four-view study stored in Orthanc, and a report input with regions on both MLO views. */
  async function markedStudy(): Promise<{ input: ReportInput; studyUid: string; uids: string[] }> {
    const study = fourViewReportInput([0.08, 0.66, 0.02, 0.51], { patientName: 'Müller^Zoë' });
    await pacs.store(study.images.map((m) => m.bytes));
    const [, lmlo, , rmlo] = study.uids;
    const input: ReportInput = {
      ...study.input,
      uids: { seriesInstanceUid: newUid(), sopInstanceUid: newUid() },
      createdAt: new Date(2026, 2, 1, 12, 0, 0),
      regions: { [lmlo]: [IRREGULAR_REGION, squareRegion(0.55, 20, 30)], [rmlo]: [squareRegion(0.51, 200, 200, 50)] },
    };
    return { input, studyUid: study.studyUid, uids: study.uids };
  }

  it.each(['TID1500', 'TID4000'] as const)('%s: the SR and the presentation state are stored, found in their series and returned with every region', async (template) => {
    const { input, studyUid, uids } = await markedStudy();
    const sr = buildStructuredReport(input, template);
    const gsps = buildPresentationState(input)!;
    await pacs.store([sr.bytes, gsps.bytes], studyUid);

    const series = await pacs.search(`studies/${studyUid}/series`, { includefield: ['Modality', 'SeriesDescription'] });
    const byModality = (modality: string) => series.filter((s) => jsonString(s, '00080060') === modality).map((s) => jsonString(s, TAG.SeriesInstanceUID));
    expect(byModality('SR')).toEqual([sr.seriesInstanceUid]);
    expect(byModality('PR')).toEqual([gsps.seriesInstanceUid]);
    expect(await pacs.search(`studies/${studyUid}/instances`)).toHaveLength(4 + 2);

    // The SR, from its bytes and from its metadata.
    const expected = validateReportInput(input).results.regions!;
    const report = readStructuredReport((await pacs.retrieveInstance(studyUid, sr.seriesInstanceUid, sr.sopInstanceUid)).bytes, 'WADO instance');
    expect(Object.keys(report.results.regions!)).toEqual([uids[1], uids[3]]);
    for (const [uid, regions] of Object.entries(expected)) {
      const read = report.results.regions![uid]!;
      expect(read.map((r) => [r.center, r.outline])).toEqual(regions.map((r) => [r.center, r.outline])); // FL in, FL out
      read.forEach((r, i) => expect(r.score).toBeCloseTo(regions[i]!.score, 14));
    }
    const [metadata] = await pacs.metadata(`studies/${studyUid}/series/${sr.seriesInstanceUid}/instances/${sr.sopInstanceUid}`);
    const fromJson = readStructuredReportJson(metadata!).results.regions!;
    expect(Object.keys(fromJson)).toEqual(Object.keys(expected));
    for (const [uid, regions] of Object.entries(expected)) {
      fromJson[uid]!.forEach((r, i) => {
        // DICOM JSON writes FL values as decimal numbers: as close as a 32-bit float.
        [r.center, ...r.outline].flat().forEach((v, j) => expect(v).toBeCloseTo([regions[i]!.center, ...regions[i]!.outline].flat()[j]!, 4));
        expect(r.score).toBeCloseTo(regions[i]!.score, 14);
      });
    }

    // The presentation state: unchanged, every outline on its image.
    const retrieved = await pacs.retrieveInstance(studyUid, gsps.seriesInstanceUid, gsps.sopInstanceUid);
    const { dataset } = readPart10(retrieved.bytes, 'WADO presentation state');
    expect(dataset).toMatchObject({ SOPClassUID: '1.2.840.10008.5.1.4.1.1.11.1', Modality: 'PR', StudyInstanceUID: studyUid, Manufacturer: 'mammocad' });
    const annotations = dataset.GraphicAnnotationSequence as Item[];
    const referenced = (item: Item) => (item.ReferencedImageSequence as Item[]).map((r) => r.ReferencedSOPInstanceUID);
    expect(annotations.map(referenced)).toEqual([[uids[1]], [uids[3]]]);
    annotations.forEach((annotation, i) => {
      const uid = [uids[1]!, uids[3]!][i]!;
      expect((annotation.GraphicObjectSequence as Item[]).map((o) => o.GraphicData)).toEqual(expected[uid]!.map((r) => r.outline.flat()));
    });
    const relationship = (dataset.ReferencedSeriesSequence as Item[]).flatMap(referenced);
    expect(relationship).toEqual(uids);
  });
});
