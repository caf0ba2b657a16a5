// Scoring one study, top to bottom — the product's main job:
//
//   select -> fetch -> decode -> pre-process + infer -> aggregate -> write SR -> store
//
// Each stage is a function of its own (one jump from here); this one only orders them, times
// them and records the outcome. Exactly-once effect: the report is keyed by (study, scored
// images, model version), so a retried or re-announced study re-sends the same SR at most, and
// predictions are stored once per scope. Faults of the PACS are thrown (the job retries them);
// a study without usable images ends as skipped or failed with its reason.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { MammocadError, aggregateScores, type ModelVersionRecord, type ReportTemplate } from '../domain/index.js';
import type { DicomwebClient } from '../dicom/dicomweb-client.js';
import type { DeviceObserver } from '../dicom/sr/index.js';
import type { SelectionPolicy } from '../dicom/view-selection.js';
import type { ModelRuntime } from '../ml/runtime/index.js';
import type { PredictionInput, Store } from '../store/index.js';
import { fetchStudyImages } from './fetch-study-images.js';
import { selectStudyImages } from './select-study-images.js';
import { studyRef } from './study-discovery.js';
import { writeStudyReport } from './write-report.js';

export interface ScoreStudyDeps {
  pacs: DicomwebClient;
  store: Store;
  logger: Logger;
  selection: SelectionPolicy;
  reportTemplate: ReportTemplate;
  device: DeviceObserver;
  /** The active model version and its runtime. */
  model: { record: ModelVersionRecord; runtime: ModelRuntime };
  /** Called as each stage starts: the job's heartbeat (a silent worker's job is taken over). */
  onStage?: (stage: string) => Promise<void>;
}

export type ScoreStudyResult =
  | { status: 'scored'; examProbability: number; positive: boolean; reportSopInstanceUid: string; images: number; failedImages: number; timingsMs: Record<string, number> }
  | { status: 'skipped'; reason: string };

const elapsed = (since: number) => Math.round(performance.now() - since);

export async function scoreStudy(deps: ScoreStudyDeps, studyUid: string): Promise<ScoreStudyResult> {
  const { pacs, store, model } = deps;
  const log = deps.logger.child({ component: 'score', study: studyRef(studyUid), modelVersion: model.record.version });
  const timings: Record<string, number> = {};
  let t = performance.now();

  const study = await store.studies.findByUid(studyUid);
  if (!study) throw new MammocadError('STUDY_UNKNOWN', `study ${studyRef(studyUid)} has not been announced`);
  await store.studies.setStatus(studyUid, 'scoring');

  await deps.onStage?.('select');
  const images = await selectStudyImages(pacs, store, studyUid, deps.selection);
  timings.select = elapsed(t);
  if (!images.some((i) => i.status === 'eligible')) {
    const reason = `no eligible views: ${[...new Set(images.map((i) => i.statusReason))].join('; ') || 'the study has no objects'}`;
    await store.studies.setStatus(studyUid, 'skipped', reason);
    log.info({ reason }, 'study skipped');
    return { status: 'skipped', reason };
  }

  t = performance.now();
  await deps.onStage?.('fetch-decode');
  const { fetched, failed } = await fetchStudyImages({ pacs, store, logger: deps.logger }, studyUid, images);
  timings.fetchDecode = elapsed(t);

  t = performance.now();
  await deps.onStage?.('infer');
  const probabilities = await model.runtime.score(fetched.map((f) => f.decoded));
  timings.infer = elapsed(t);

  const scored = fetched.map((f, i) => ({ image: f.image, dataset: f.dataset, probability: probabilities[i]! }));
  const aggregate = aggregateScores(scored.map((s) => ({ sopInstanceUid: s.image.sopInstanceUid, laterality: s.image.laterality, probability: s.probability })));
  const threshold = model.record.threshold;

  t = performance.now();
  const scoredUids = scored.map((s) => s.image.sopInstanceUid).sort();
  const idempotencyKey = createHash('sha256').update([studyUid, ...scoredUids, model.record.id].join('\n')).digest('hex');
  await deps.onStage?.('report');
  const report = await writeStudyReport(
    { pacs, store, logger: deps.logger },
    {
      studyId: study.id,
      modelVersionId: model.record.id,
      idempotencyKey,
      template: deps.reportTemplate,
      report: {
        sources: scored.map((s) => s.dataset),
        imageProbabilities: Object.fromEntries(scored.map((s) => [s.image.sopInstanceUid, s.probability])),
        breasts: Object.fromEntries(aggregate.breasts.map((b) => [b.laterality, { probability: b.probability, sopInstanceUids: b.sources }])),
        exam: { probability: aggregate.exam.probability, sopInstanceUids: aggregate.exam.sources },
        threshold,
        algorithm: { name: 'mammocad', version: model.record.version, modelVersionId: model.record.id, modelSha256: model.record.packageHash },
        device: deps.device,
      },
    },
  );
  timings.report = elapsed(t);

  t = performance.now();
  await deps.onStage?.('store');
  const preprocessingHash = model.runtime.members[0]!.preprocessingHash;
  const predictions: PredictionInput[] = [
    ...scored.map((s) => ({
      level: 'image' as const,
      imageId: s.image.id,
      laterality: s.image.laterality === 'L' || s.image.laterality === 'R' ? s.image.laterality : null,
      probability: s.probability,
      positive: s.probability >= threshold,
      preprocessingHash,
    })),
    ...aggregate.breasts.map((b) => ({ level: 'breast' as const, laterality: b.laterality, probability: b.probability, positive: b.probability >= threshold, preprocessingHash })),
    { level: 'exam' as const, probability: aggregate.exam.probability, positive: aggregate.exam.probability >= threshold, preprocessingHash, timings: { ...timings } },
  ];
  await store.predictions.saveResults(study.id, model.record.id, predictions);
  for (const s of scored) await store.images.setStatus(s.image.sopInstanceUid, 'scored');
  timings.store = elapsed(t);
  await store.studies.setStatus(studyUid, 'scored', failed.length ? `${failed.length} image(s) could not be used` : null);

  const positive = aggregate.exam.probability >= threshold;
  log.info({ images: scored.length, failedImages: failed.length, positive, report: report.sopInstanceUid, timingsMs: timings }, 'study scored');
  return {
    status: 'scored',
    examProbability: aggregate.exam.probability,
    positive,
    reportSopInstanceUid: report.sopInstanceUid,
    images: scored.length,
    failedImages: failed.length,
    timingsMs: timings,
  };
}
