// Heat maps through the whole job (issue 16): a study in a real Orthanc, scored by a model with
// the heat map output, gets a region where the image has a bright disc (at a known place, in the
// image's own pixels); the map and the regions are stored with the image's prediction, written
// into the SR and into a Grayscale Softcopy Presentation State beside it, both kept by Orthanc
// and valid for dciodvfy; the API serves the regions, the map and a PNG overlay. With
// report.presentationState off, the SR still carries the regions and no presentation state is
// written.
//
// The model is the brightness model of test/support/brightness-model.ts: a cell's probability
// follows its mean brightness, so the disc is the hottest place, and the image's logit is the
// mean of its cells' (as for the real architectures). Its operating threshold is set low (0.01)
// so that these small, mostly dark images are positive: regions are marked only on those.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { TAG, jsonString } from '../../src/dicom/dicom-json.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { readStructuredReport } from '../../src/dicom/sr/index.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import { exportToOnnx } from '../../src/ml/onnx/index.js';
import { JobWorker } from '../../src/pipeline/job-worker.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { ScoreStudyJob } from '../../src/pipeline/score-study-job.js';
import { SCORE_STUDY_JOB, StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { startApi, type TestApi } from '../support/api.js';
import { brightnessModel, brightnessPreprocessing } from '../support/brightness-model.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';

const logger = createLogger('silent');
const installed = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const device = { manufacturer: 'mammocad', modelName: 'mammocad', softwareVersion: 'test', uid: '2.25.1234567890' };
/** The disc on the left image: far from the breast (a half-disc on the chest-wall side), so its region is a region of its own. */
const DISC = { center: [200, 50] as [number, number], radius: 22 };
/** The map's cell over the 256-pixel image: 128-pixel model input, 8-pixel cells. */
const CELL_PX = 16;

type Item = Record<string, unknown>;
interface ApiRegion {
  score: number;
  center: { column: number; row: number };
  outline: Array<{ column: number; row: number }>;
}
interface ApiPrediction {
  sopInstanceUid: string;
  probability: number;
  positive: boolean;
  regions: ApiRegion[];
  heatMap: { rows: number; columns: number; values: number[] } | null;
  heatMapOverlayPng: string | null;
}

describe.skipIf(!LocalOrthanc.available())('heat maps and marked regions through the scoring job', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-heatmap-pipeline-'));
  let orthanc: LocalOrthanc;
  let pacs: DicomwebClient;
  let api: TestApi;
  let discovery: StudyDiscovery;
  const jobs: ScoreStudyJob[] = [];

  beforeAll(async () => {
    orthanc = new LocalOrthanc();
    await orthanc.start();
    pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000, backoffMs: 10 });
    api = await startApi('sqlite', { pacsUrl: orthanc.dicomwebUrl, pacsCredentials: { username: orthanc.username, password: orthanc.password } });
    const models = new ModelService({ store: api.store, modelDir: api.modelDir, logger });
    const preprocessing = brightnessPreprocessing({ inputHeight: 128, inputWidth: 128, fit: 'stretch' });
    const onnx = exportToOnnx(brightnessModel({ inputHeight: 128, inputWidth: 128, channels: 1, cell: 8 }), { heatMap: true });
    await models.import(await writeTestPackage(path.join(work, 'incoming'), { version: 'brightness-hm', model: onnx, preprocessing, manifest: { threshold: 0.01 } }), 'admin:test');
    await models.activate('brightness-hm', 'admin:test');
    discovery = new StudyDiscovery({ pacs, store: api.store, logger });
  }, 60_000);
  afterAll(async () => {
    for (const job of jobs) await job.dispose();
    await api?.close();
    await orthanc?.stop();
  });

  /** The same client, noting each STOW and QIDO it sends (the report stage's round trips are counted). */
  class NotingClient extends DicomwebClient {
    readonly calls: string[] = [];
    override async store(instances: Uint8Array[], studyUid?: string) {
      this.calls.push(`STOW ${instances.length}`);
      return super.store(instances, studyUid);
    }
    override async search(level: string, query: Parameters<DicomwebClient['search']>[1] = {}) {
      this.calls.push(`QIDO ${level}`);
      return super.search(level, query);
    }
  }

  /** Stores a two-image study (the disc on the left CC), scores it with report.presentationState as given, and returns the job's result. */
  async function scoreStudyWithDisc(presentationState: boolean) {
    const ids = newStudyIds();
    const left = mammogram(ids, { laterality: 'L', view: 'CC', size: 256, blob: DISC });
    const right = mammogram(ids, { laterality: 'R', view: 'MLO', size: 256 });
    await pacs.store([left.bytes, right.bytes]);
    expect((await discovery.announce(ids.studyUid, 'manual')).outcome).toBe('new');
    const noting = new NotingClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000, backoffMs: 10 });
    const job = new ScoreStudyJob({ pacs: noting, store: api.store, logger, selection: DEFAULT_SELECTION_POLICY, reportTemplate: 'TID1500', researchMode: true, presentationState, device });
    jobs.push(job);
    const worker = new JobWorker({ store: api.store, logger, handlers: { [SCORE_STUDY_JOB]: job.handle }, backoffMs: 1 });
    const done = await worker.runOnce();
    expect(done).toMatchObject({ kind: SCORE_STUDY_JOB, status: 'succeeded' });
    // The report stage: one STOW (the SR, with the presentation state when there is one), then one QIDO that both were kept.
    const stow = noting.calls.findIndex((call) => call.startsWith('STOW'));
    expect(noting.calls.slice(stow)).toEqual([`STOW ${presentationState ? 2 : 1}`, `QIDO studies/${ids.studyUid}/instances`]);
    return { ids, left, right, result: done!.result as { reportSopInstanceUid: string; presentationStateSopInstanceUid: string | null } };
  }

  it('marks the disc: stored, in the SR and the presentation state in Orthanc (dciodvfy: no error), served by the API with the map and a PNG overlay', async () => {
    const { ids, left, right, result } = await scoreStudyWithDisc(true);
    expect(result.presentationStateSopInstanceUid).toMatch(/^2\.25\./);

    // The API: the regions in the image's pixels, the map, the overlay.
    const answer = await api.gql<{ study: { predictions: ApiPrediction[]; reports: Array<{ sopInstanceUid: string; presentationStateSopInstanceUid: string | null }> } }>(
      api.keys.clinician,
      `query($uid: String!) { study(studyInstanceUid: $uid) {
        predictions(level: IMAGE) { sopInstanceUid probability positive regions { score center { column row } outline { column row } } heatMap { rows columns values } heatMapOverlayPng(maxSize: 64) }
        reports { sopInstanceUid presentationStateSopInstanceUid } } }`,
      { uid: ids.studyUid },
    );
    expect(answer.errors).toBeUndefined();
    const byUid = new Map(answer.data!.study.predictions.map((p) => [p.sopInstanceUid, p]));
    const [l, r] = [byUid.get(left.sopInstanceUid)!, byUid.get(right.sopInstanceUid)!];
    expect(l.positive && r.positive).toBe(true);
    // The hottest region is the disc, where it is in the stored image, within a cell.
    expect(l.regions[0]!.score).toBeGreaterThan(0.99);
    expect(Math.hypot(l.regions[0]!.center.column - DISC.center[0], l.regions[0]!.center.row - DISC.center[1])).toBeLessThan(CELL_PX);
    for (const point of l.regions[0]!.outline) expect(Math.hypot(point.column - DISC.center[0], point.row - DISC.center[1])).toBeLessThan(DISC.radius + 2 * CELL_PX);
    // The breast tissue is a region too, with a lower score; on the right image (no disc, so its
    // tissue is its brightest: intensities are scaled per image) the tissue is the one region.
    expect(l.regions.length).toBeGreaterThanOrEqual(2);
    expect(l.regions[1]!.score).toBeLessThan(l.regions[0]!.score);
    expect(r.regions).toHaveLength(1);
    // The map: 16 x 16 cells; the hottest cell (the first of equals: several lie wholly in the disc) is in the disc.
    expect([l.heatMap!.rows, l.heatMap!.columns]).toEqual([16, 16]);
    const hottest = l.heatMap!.values.indexOf(Math.max(...l.heatMap!.values));
    const cellCentre = [((hottest % 16) + 0.5) * CELL_PX, (Math.floor(hottest / 16) + 0.5) * CELL_PX];
    expect(Math.hypot(cellCentre[0]! - DISC.center[0], cellCentre[1]! - DISC.center[1])).toBeLessThan(DISC.radius);
    // The overlay: an RGBA PNG of the image's aspect ratio (square here), longest side 64.
    const png = Buffer.from(l.heatMapOverlayPng!, 'base64');
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20), png[25]]).toEqual([64, 64, 6]);

    const tooSmall = await api.gql(api.keys.clinician, 'query($uid: String!) { study(studyInstanceUid: $uid) { predictions(level: IMAGE) { heatMapOverlayPng(maxSize: 4) } } }', { uid: ids.studyUid });
    expect(tooSmall.errors?.[0]?.message).toMatch(/maxSize.*16 to 2048; got 4/);

    // The report row names the presentation state.
    const [report] = answer.data!.study.reports;
    expect(report).toEqual({ sopInstanceUid: result.reportSopInstanceUid, presentationStateSopInstanceUid: result.presentationStateSopInstanceUid });

    // Orthanc keeps both: the SR with the regions, the presentation state in a PR series of its own.
    const series = await pacs.search(`studies/${ids.studyUid}/series`, { includefield: ['Modality'] });
    const pr = series.filter((s) => jsonString(s, '00080060') === 'PR').map((s) => jsonString(s, TAG.SeriesInstanceUID));
    expect(pr).toHaveLength(1);
    const srSeries = series.find((s) => jsonString(s, '00080060') === 'SR')!;
    const sr = readStructuredReport((await pacs.retrieveInstance(ids.studyUid, jsonString(srSeries, TAG.SeriesInstanceUID), result.reportSopInstanceUid)).bytes, 'WADO SR');
    expect(Object.keys(sr.results.regions ?? {}).sort()).toEqual([left.sopInstanceUid, right.sopInstanceUid].sort());
    expect(sr.results.regions![left.sopInstanceUid]![0]!.center[0]).toBeCloseTo(l.regions[0]!.center.column, 3);
    const gsps = await pacs.retrieveInstance(ids.studyUid, pr[0]!, result.presentationStateSopInstanceUid!);
    const { dataset } = readPart10(gsps.bytes, 'WADO presentation state');
    const annotated = (dataset.GraphicAnnotationSequence as Item[]).flatMap((a) => (a.ReferencedImageSequence as Item[]).map((i) => i.ReferencedSOPInstanceUID));
    expect(annotated.sort()).toEqual([left.sopInstanceUid, right.sopInstanceUid].sort());

    if (installed('dciodvfy')) {
      for (const [name, bytes] of [['sr', (await pacs.retrieveInstance(ids.studyUid, jsonString(srSeries, TAG.SeriesInstanceUID), result.reportSopInstanceUid)).bytes], ['gsps', gsps.bytes]] as const) {
        const file = path.join(work, `${name}.dcm`);
        writeFileSync(file, bytes);
        const run = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
        expect(`${run.stdout}${run.stderr}`.split('\n').filter((line) => /Error/.test(line)), name).toEqual([]);
      }
    }
  });

  it('with report.presentationState off: the SR carries the regions, no presentation state is written', async () => {
    const { ids, result } = await scoreStudyWithDisc(false);
    expect(result.presentationStateSopInstanceUid).toBeNull();
    const series = await pacs.search(`studies/${ids.studyUid}/series`, { includefield: ['Modality'] });
    expect(series.map((s) => jsonString(s, '00080060')).sort()).toEqual(['MG', 'MG', 'SR']);
    const srSeries = series.find((s) => jsonString(s, '00080060') === 'SR')!;
    const sr = readStructuredReport((await pacs.retrieveInstance(ids.studyUid, jsonString(srSeries, TAG.SeriesInstanceUID), result.reportSopInstanceUid)).bytes, 'WADO SR');
    expect(Object.keys(sr.results.regions ?? {})).toHaveLength(2);
  });
});
