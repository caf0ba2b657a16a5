// Scoring one study, top to bottom — the product's main job:
//
//   select -> fetch -> decode -> pre-process + infer (+ heat maps) -> aggregate -> write SR
//   (+ presentation state) -> store -> the PACS is seen to keep the SR -> scored
//
// The PACS's answer to the QIDO-RS that checks the SR was kept comes while the results are being
// recorded: the check is not skipped, it just does not hold the stages up ('reportCheck' in the
// timings is what was left to wait for).
//
// Each stage is a function of its own (one jump from here); this one only orders them, times
// them and records the outcome. Exactly-once effect: the report is keyed by (study, scored
// images, model version), so a retried or re-announced study re-sends the same SR at most, and
// predictions are stored once per scope. Faults of the PACS are thrown (the job retries them);
// a study without usable images ends as skipped or failed with its reason.
//
// Heat maps (issue 16, docs/heatmaps.md): when the model has the heat map output, each scored
// image's map is stored with its prediction, and an image whose probability reaches the
// operating threshold gets its marked regions (connected cells at or above it), which go into the
// SR and the presentation state. Regions are marked only on such images: a cell's probability
// can exceed the threshold on an image that as a whole does not, and marking those would put
// marks on images the report calls negative.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { IMAGE_CHECK_DEFAULTS } from '../config/config.schema.js';
import { MammocadError, NotFoundError, ValidationError, aggregateScores, type ModelVersionRecord, type ReportTemplate } from '../domain/index.js';
import type { DicomwebClient } from '../dicom/dicomweb-client.js';
import type { DeviceObserver } from '../dicom/sr/index.js';
import type { SelectionPolicy } from '../dicom/view-selection.js';
import { quantiseHeatMap, type HeatMap, type MarkedRegion } from '../domain/heatmap.js';
import { markedRegions } from '../ml/heatmap/index.js';
import { combineOod } from '../ml/ood/index.js';
import type { ModelRuntime, RunTiming } from '../ml/runtime/index.js';
import type { PredictionInput, Store } from '../store/index.js';
import { decodeOptions, fetchStudyImages } from './fetch-study-images.js';
import { intendedUseOf, outOfDistributionFlag, type ImageChecksConfig } from './image-checks.js';
import { decideReport } from './report-policy.js';
import { selectStudy } from './select-study-images.js';
import { studyRef } from './study-discovery.js';
import { refusalWithoutValues, sendStudyReport, type SentReport } from './write-report.js';

export interface ScoreStudyDeps {
  pacs: DicomwebClient;
  store: Store;
  logger: Logger;
  selection: SelectionPolicy;
  reportTemplate: ReportTemplate;
  device: DeviceObserver;
  /** The active model version and its runtime. */
  model: { record: ModelVersionRecord; runtime: ModelRuntime };
  /** The image checks (config imageChecks); default: IMAGE_CHECK_DEFAULTS. docs/image-checks.md. */
  imageChecks?: ImageChecksConfig;
  /**
   * worker.decodeAtModelResolution (default true): JPEG 2000 images are decoded at the coarsest
   * wavelet resolution that still has the pixels the model takes (docs/benchmarks.md).
   */
  decodeAtModelResolution?: boolean;
  /** worker.decodeResolutionMargin: how many times the model's pixels per side such a decode keeps (default 2). */
  decodeResolutionMargin?: number;
  /**
   * report.researchMode: whether a model without validation evidence (or a research-use-only
   * package) writes reports, marked RESEARCH USE ONLY (true), or none (false). report-policy.ts.
   */
  researchMode: boolean;
  /**
   * report.presentationState: whether a Grayscale Softcopy Presentation State with the marked
   * regions is written beside the SR when there are regions (default true).
   */
  presentationState?: boolean;
  /** Called as each stage starts: the job's heartbeat (a silent worker's job is taken over). */
  onStage?: (stage: string) => Promise<void>;
}

export type ScoreStudyResult =
  | {
      status: 'scored';
      examProbability: number;
      positive: boolean;
      /** Null when the report policy withheld the report (reportWithheld says why). */
      reportSopInstanceUid: string | null;
      reportWithheld: string | null;
      /** The presentation state written beside the report; null when none (no regions, none asked for, no report). */
      presentationStateSopInstanceUid: string | null;
      images: number;
      failedImages: number;
      /** Images scored with a safety flag (outside the intended use, out of distribution). */
      flaggedImages: number;
      timingsMs: Record<string, number>;
    }
  | { status: 'skipped'; reason: string };

const elapsed = (since: number) => Math.round(performance.now() - since);

export async function scoreStudy(deps: ScoreStudyDeps, studyUid: string): Promise<ScoreStudyResult> {
  const { pacs, store, model } = deps;
  const log = deps.logger.child({ component: 'score', study: studyRef(studyUid), modelVersion: model.record.version });
  const timings: Record<string, number> = {};
  let t = performance.now();

  const study = await store.studies.setStatus(studyUid, 'scoring').catch((error: unknown) => {
    throw error instanceof NotFoundError ? new MammocadError('STUDY_UNKNOWN', `study ${studyRef(studyUid)} has not been announced`) : error;
  });

  await deps.onStage?.('select');
  const { images, headers } = await selectStudy(pacs, store, study, deps.selection);
  timings.select = elapsed(t);
  if (!images.some((i) => i.status === 'eligible')) {
    const reason = `no eligible views: ${[...new Set(images.map((i) => i.statusReason))].join('; ') || 'the study has no objects'}`;
    await store.studies.setStatus(studyUid, 'skipped', reason);
    log.info({ reason }, 'study skipped');
    return { status: 'skipped', reason };
  }

  t = performance.now();
  await deps.onStage?.('fetch-decode');
  // The checks need the model's intended use: its manifest's declaration (none for an ensemble).
  const intendedUse = model.runtime.members.length === 1 ? intendedUseOf(model.record.manifest) : null;
  const { fetched, failed, skipped } = await fetchStudyImages({ pacs, store, logger: deps.logger }, studyUid, images, { checks: deps.imageChecks ?? IMAGE_CHECK_DEFAULTS, intendedUse, headers }, decodeOptions(model.runtime, deps.decodeAtModelResolution, deps.decodeResolutionMargin));
  timings.fetchDecode = elapsed(t);
  if (fetched.length === 0) {
    // Every image skipped (by the selection or the image checks), none failed: skipped, with the reasons.
    const reasons = [...images.filter((i) => i.status === 'skipped').map((i) => i.statusReason ?? ''), ...skipped.map((s) => s.reason)].filter(Boolean);
    const reason = `no eligible views: ${[...new Set(reasons)].join('; ')}`;
    await store.studies.setStatus(studyUid, 'skipped', reason);
    log.info({ reason }, 'study skipped');
    return { status: 'skipped', reason };
  }

  t = performance.now();
  await deps.onStage?.('infer');
  const run: RunTiming = {};
  const results = await model.runtime.scoreWithHeatMaps(fetched.map((f) => f.decoded), run);
  // 'infer' is the runtime's own work (pre-processing included); time spent queued behind other
  // studies' inference (a runtime on a worker thread, several jobs per process) is 'inferQueue'.
  const inferWall = elapsed(t);
  timings.infer = Math.min(inferWall, Math.round(run.ranMs ?? inferWall));
  if (inferWall - timings.infer >= 1) timings.inferQueue = inferWall - timings.infer;
  const threshold = model.record.threshold;

  const scored = fetched.map((f, i) => {
    const { probability, outOfDistribution, outOfDistributionFlagged, heatMap } = results[i]!;
    const flags = [...f.flags];
    if (outOfDistributionFlagged) flags.push(outOfDistributionFlag(outOfDistribution!));
    return { image: f.image, dataset: f.dataset, probability, outOfDistribution, outOfDistributionFlagged, flags, heatMap, regions: regionsOf(heatMap, probability, threshold) };
  });
  const aggregate = aggregateScores(scored.map((s) => ({ sopInstanceUid: s.image.sopInstanceUid, laterality: s.image.laterality, probability: s.probability })));
  const marked = scored.filter((s) => s.regions.length > 0);

  t = performance.now();
  const scoredUids = scored.map((s) => s.image.sopInstanceUid).sort();
  const idempotencyKey = createHash('sha256').update([studyUid, ...scoredUids, model.record.id].join('\n')).digest('hex');
  await deps.onStage?.('report');
  // What the PACS may receive depends on the model's evidence and the site's research mode.
  const decision = decideReport(model.record, deps.researchMode);
  const flagged = scored.filter((s) => s.flags.length > 0);
  // Returns when the PACS has answered the STOW; whether it kept the report is checked meanwhile
  // (sent.kept), while the results are recorded, and waited for before the study is called scored.
  // A report the images do not allow (a value copied from them that its VR cannot hold) is bad
  // input: refused before anything is reserved or sent; the results are still recorded below, and
  // the study then fails with the reason.
  let reportRefusal: ValidationError | null = null;
  let sent: SentReport | null = null;
  try {
    sent = decision.write
      ? await sendStudyReport(
          { pacs, store, logger: deps.logger },
          {
            studyId: study.id,
            modelVersionId: model.record.id,
            idempotencyKey,
            template: deps.reportTemplate,
            presentationState: deps.presentationState ?? true,
            report: {
              // Images the checks skipped are listed too, each with its reason, so the report says what was not scored.
              sources: [...scored.map((s) => s.dataset), ...skipped.map((s) => s.dataset)],
              imageProbabilities: Object.fromEntries(scored.map((s) => [s.image.sopInstanceUid, s.probability])),
              breasts: Object.fromEntries(aggregate.breasts.map((b) => [b.laterality, { probability: b.probability, sopInstanceUids: b.sources }])),
              exam: { probability: aggregate.exam.probability, sopInstanceUids: aggregate.exam.sources },
              threshold,
              algorithm: { name: 'mammocad', version: model.record.version, modelVersionId: model.record.id, modelSha256: model.record.packageHash },
              device: deps.device,
              evidence: decision.evidence,
              ...(decision.researchUse ? { researchUse: decision.researchUse } : {}),
              ...(marked.length ? { regions: Object.fromEntries(marked.map((s) => [s.image.sopInstanceUid, s.regions])) } : {}),
              ...(flagged.length ? { imageFlags: Object.fromEntries(flagged.map((s) => [s.image.sopInstanceUid, s.flags])) } : {}),
              ...(skipped.length ? { skippedImages: Object.fromEntries(skipped.map((s) => [s.image.sopInstanceUid, s.reason])) } : {}),
            },
          },
        )
      : null;
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    reportRefusal = error;
  }
  timings.report = elapsed(t);

  t = performance.now();
  await deps.onStage?.('store');
  const preprocessingHash = model.runtime.members[0]!.preprocessingHash;
  const byUid = new Map(scored.map((s) => [s.image.sopInstanceUid, s]));
  const predictions: PredictionInput[] = [
    ...scored.map((s) => ({
      level: 'image' as const,
      imageId: s.image.id,
      laterality: s.image.laterality === 'L' || s.image.laterality === 'R' ? s.image.laterality : null,
      probability: s.probability,
      positive: s.probability >= threshold,
      preprocessingHash,
      ...signalsOf([s]),
      heatMap: s.heatMap ? { rows: s.heatMap.rows, columns: s.heatMap.columns, bytes: quantiseHeatMap(s.heatMap.values) } : null,
      regions: s.regions,
    })),
    ...aggregate.breasts.map((b) => ({
      level: 'breast' as const,
      laterality: b.laterality,
      probability: b.probability,
      positive: b.probability >= threshold,
      preprocessingHash,
      ...signalsOf(b.sources.map((uid) => byUid.get(uid)!)),
    })),
    {
      level: 'exam' as const,
      probability: aggregate.exam.probability,
      positive: aggregate.exam.probability >= threshold,
      preprocessingHash,
      timings: { ...timings },
      ...signalsOf(aggregate.exam.sources.map((uid) => byUid.get(uid)!)),
    },
  ];
  // The breast and exam results follow this image set, as the SR does: those of an earlier
  // scoring of the study with other images are replaced (a retry with the same images keeps them).
  const saved = await store.predictions.saveResults(
    study.id,
    model.record.id,
    predictions,
    scored.map((s) => ({ imageId: s.image.id, status: 'scored' as const, reason: s.flags.join('; ') || null })),
    idempotencyKey,
  );
  if (saved.replaced > 0) {
    log.info({ replaced: saved.replaced, images: scoredUids.length }, 'breast and exam results of an earlier image set replaced');
    await store.audit.record({
      actor: 'mammocad:scoring',
      action: 'results.replaced',
      target: `study:${studyUid}`,
      details: { modelVersion: model.record.version, replaced: saved.replaced, images: scoredUids.length, imageSet: idempotencyKey },
    });
  }
  timings.store = elapsed(t);
  // A PACS that did not keep the report fails this attempt here (retryable: the retry re-sends the
  // same UIDs); the results just recorded stand, as a retry's would (the first result stands).
  if (sent) {
    t = performance.now();
    await sent.kept;
    timings.reportCheck = elapsed(t);
  }
  if (reportRefusal) {
    // Without the values: one copied from the images may be the patient's name or ID, and the
    // job's error is logged.
    const problem = refusalWithoutValues(reportRefusal);
    log.warn({ problem }, 'results recorded; no report could be written');
    throw new MammocadError('REPORT_NOT_WRITABLE', `the results are recorded, but no report could be written for the PACS: ${problem}`);
  }
  const notes = [
    failed.length ? `${failed.length} image(s) could not be used` : '',
    skipped.length ? `${skipped.length} image(s) skipped by the image checks` : '',
    flagged.length ? `${flagged.length} image(s) scored with a safety flag` : '',
    decision.withheldReason ?? '',
    sent?.presentationStateProblem ? `no presentation state written beside the report: ${sent.presentationStateProblem}` : '',
  ].filter(Boolean);
  await store.studies.setStatus(studyUid, 'scored', notes.join('; ') || null);

  const positive = aggregate.exam.probability >= threshold;
  log.info(
    {
      images: scored.length,
      failedImages: failed.length,
      flaggedImages: flagged.length,
      markedImages: marked.length,
      heatMaps: model.runtime.heatMapProblem === null,
      positive,
      report: sent?.sopInstanceUid ?? null,
      presentationState: sent?.presentationStateSopInstanceUid ?? null,
      reportWithheld: decision.withheldReason !== null,
      timingsMs: timings,
    },
    'study scored',
  );
  return {
    status: 'scored',
    examProbability: aggregate.exam.probability,
    positive,
    reportSopInstanceUid: sent?.sopInstanceUid ?? null,
    reportWithheld: decision.withheldReason,
    presentationStateSopInstanceUid: sent?.presentationStateSopInstanceUid ?? null,
    images: scored.length,
    failedImages: failed.length,
    flaggedImages: flagged.length,
    timingsMs: timings,
  };
}

/** The regions marked on an image: none without a heat map or below the operating threshold (see the header). */
function regionsOf(heatMap: HeatMap | null, probability: number, threshold: number): MarkedRegion[] {
  return heatMap && probability >= threshold ? markedRegions(heatMap, threshold) : [];
}

/** The safety signals of a result computed from these images: the largest statistic, any flag, every flag text once. */
function signalsOf(images: ReadonlyArray<{ outOfDistribution: number | null; outOfDistributionFlagged: boolean | null; flags: string[] }>): Pick<PredictionInput, 'outOfDistribution' | 'outOfDistributionFlagged' | 'flags'> {
  return { ...combineOod(images), flags: [...new Set(images.flatMap((i) => i.flags))] };
}

