// The write-back stage of scoring a study: the results go into the PACS as a structured
// report, stored with the study's predictions, and, when the model marks regions and the site
// wants it (report.presentationState), a Grayscale Softcopy Presentation State that draws them
// on the images for viewers that do not render an SR's coordinates.
//
//   build both with new UIDs (bad input is refused here, nothing reserved; a presentation state
//   the images do not allow is left out, saying why) -> reserve those UIDs (idempotent by key: an
//   earlier attempt's reservation wins, and both are built again with its UIDs) -> one STOW-RS of
//   both into the study -> one QIDO-RS that the PACS kept both -> mark stored
//
// sendStudyReport returns once the STOW is answered, with the QIDO check still under way (`kept`):
// the caller records its results while the PACS indexes and answers, and waits for `kept` before
// it calls the study scored (score-study.ts). writeStudyReport waits for both.
//
// The check is there because a PACS may answer a STOW with success and keep nothing: Orthanc
// does exactly that when its ReceivedInstanceFilter (a site's Lua policy) filters the instance
// out. A report the PACS did not keep is an error naming that, not a "stored" report.
//
// Validation comes first, so bad input reserves nothing and sends nothing. A retry with the
// same idempotency key gets the same reservation, and so re-sends the same SOP Instance UID:
// the PACS keeps one report (Orthanc, by default, keeps the instance it has and answers the
// duplicate with success; see docs/structured-reports.md).

import type { Logger } from 'pino';
import { MammocadError, ValidationError, type ReportRecord, type ReportTemplate } from '../domain/index.js';
import type { DicomJson, DicomwebClient } from '../dicom/dicomweb-client.js';
import { buildPresentationState, type BuiltPresentationState, type PresentationStateOptions } from '../dicom/gsps/index.js';
import { DicomValueError } from '../dicom/part10-writer.js';
import { buildStructuredReport, newUid, sopClassOf, type BuiltReport, type ReportInput } from '../dicom/sr/index.js';
import type { Store } from '../store/index.js';
import { studyRef } from './study-discovery.js';

export interface WriteReportRequest {
  /** The study's id in the store. */
  studyId: string;
  modelVersionId: string;
  /** The same key for the same scoring result: a retry must pass the key of the first attempt. */
  idempotencyKey: string;
  template: ReportTemplate;
  /** Write a presentation state with the marked regions beside the report, when there are any (report.presentationState). */
  presentationState?: boolean;
  /** The results; the UIDs come from the reservation. */
  report: Omit<ReportInput, 'uids'>;
}

/** A report the PACS has accepted (STOW answered), whose check is still running. */
export interface SentReport extends Omit<WriteReportResult, 'report'> {
  /**
   * Resolves with the report recorded as stored once a QIDO-RS shows that the PACS kept it (and
   * the presentation state); rejects with PACS_DISCARDED_REPORT (retryable) when it did not. Never
   * an unhandled rejection: a caller that fails before waiting for it loses nothing.
   */
  kept: Promise<ReportRecord>;
}

export interface WriteReportResult {
  report: ReportRecord;
  /** False when an earlier attempt had reserved the report (its UIDs were reused). */
  reserved: boolean;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  template: ReportTemplate;
  /** The presentation state stored beside the report; null when none was written. */
  presentationStateSopInstanceUid: string | null;
  /** Why a presentation state that was asked for (regions marked) was left out; null otherwise. */
  presentationStateProblem: string | null;
}

const REFERENCED_SOP_SEQUENCE = '00081199';
const RETRIEVE_URL = '00081190';
const SOP_INSTANCE_UID = '00080018';
const REFERENCED_SOP_INSTANCE_UID = '00081155';

/** Sends the report and waits until the PACS is seen to keep it (see sendStudyReport). */
export async function writeStudyReport(deps: { pacs: DicomwebClient; store: Store; logger: Logger }, request: WriteReportRequest): Promise<WriteReportResult> {
  const { kept, ...sent } = await sendStudyReport(deps, request);
  return { ...sent, report: await kept };
}

/**
 * Builds, reserves and stores the report (and the presentation state) with one STOW-RS; returns
 * when the PACS has answered it, with the check that the PACS kept them still running.
 */
export async function sendStudyReport(deps: { pacs: DicomwebClient; store: Store; logger: Logger }, request: WriteReportRequest): Promise<SentReport> {
  const started = Date.now();
  // Both files are built before anything is reserved, with the UIDs the reservation will propose:
  // bad input (a ValidationError, such as a value copied from the images that its VR cannot hold)
  // reserves and sends nothing, and a first attempt sends these very bytes.
  const createdAt = new Date();
  const sr = { seriesInstanceUid: newUid(), sopInstanceUid: newUid() };
  const draft = buildStructuredReport({ ...request.report, uids: sr }, request.template);
  const log = deps.logger.child({ component: 'report', study: studyRef(draft.studyInstanceUid), modelVersion: request.modelVersionId });
  // A presentation state the images do not allow (one that could not show them faithfully
  // together, say different rescales) is left out, saying why: the SR carries the regions anyway.
  // Decided before the reservation, so a retry leaves it out too.
  const wantsPresentationState = Boolean(request.presentationState) && Object.keys(request.report.regions ?? {}).length > 0;
  const { state: draftState, problem: presentationStateProblem } = wantsPresentationState
    ? draftPresentationState({ ...request.report, uids: sr }, { uids: { seriesInstanceUid: newUid(), sopInstanceUid: newUid() }, createdAt })
    : { state: null, problem: null };
  // (The reason names images by UID: it goes to the result and the study, not into the log.)
  if (presentationStateProblem) log.warn('presentation state left out: the images do not allow one (the reason is in the study)');

  const { report: reservation, created } = await deps.store.reports.reserve({
    studyId: request.studyId,
    modelVersionId: request.modelVersionId,
    idempotencyKey: request.idempotencyKey,
    template: request.template,
    srSopInstanceUid: sr.sopInstanceUid,
    srSeriesUid: sr.seriesInstanceUid,
    srSopClassUid: sopClassOf(request.template),
    ...(draftState ? { gspsSopInstanceUid: draftState.sopInstanceUid, gspsSeriesUid: draftState.seriesInstanceUid } : {}),
    createdAt,
  });
  // An earlier attempt's reservation decides template and UIDs (and whether there is a
  // presentation state: a retry does not add one the first attempt did not mean to write), so a
  // retry writes the very report the first attempt meant to.
  const reservedSr = { seriesInstanceUid: reservation.srSeriesUid, sopInstanceUid: reservation.srSopInstanceUid };
  const built = created ? draft : buildStructuredReport({ ...request.report, uids: reservedSr }, reservation.template);
  const gspsUids = reservation.gspsSopInstanceUid && reservation.gspsSeriesUid ? { sopInstanceUid: reservation.gspsSopInstanceUid, seriesInstanceUid: reservation.gspsSeriesUid } : null;
  const presentationState = created
    ? draftState
    : gspsUids && !presentationStateProblem
      ? buildPresentationState({ ...request.report, uids: reservedSr }, { uids: gspsUids, createdAt: reservation.createdAt })
      : null;
  // One STOW and one QIDO for both: the PACS round trips are most of this stage.
  const instances = [
    { bytes: built.bytes, sopInstanceUid: built.sopInstanceUid, what: 'report' },
    ...(presentationState ? [{ bytes: presentationState.bytes, sopInstanceUid: presentationState.sopInstanceUid, what: 'presentation state' }] : []),
  ];
  const response = await deps.pacs.store(
    instances.map((i) => i.bytes),
    built.studyInstanceUid,
  );
  const kept = checkKept(deps.pacs, built.studyInstanceUid, instances).then(async () => {
    const stored = await deps.store.reports.markStored(built.sopInstanceUid, storedAtOf(response, built));
    log.info(
      {
        report: built.sopInstanceUid,
        template: built.template,
        presentationState: presentationState?.sopInstanceUid ?? null,
        markedRegions: presentationState?.regionCount ?? 0,
        reserved: created,
        durationMs: Date.now() - started,
      },
      created ? 'report stored' : 'report re-sent with its reserved UIDs',
    );
    return stored;
  });
  // Handled here so that a caller failing before it waits does not end the process; a caller
  // that waits still gets the rejection.
  kept.catch(() => {});
  return {
    kept,
    presentationStateProblem,
    reserved: created,
    sopInstanceUid: built.sopInstanceUid,
    seriesInstanceUid: built.seriesInstanceUid,
    template: built.template,
    presentationStateSopInstanceUid: presentationState?.sopInstanceUid ?? null,
  };
}

/** The presentation state for these results, or why the images do not allow one (its builder's refusal, told without values). */
function draftPresentationState(input: ReportInput, options: PresentationStateOptions): { state: BuiltPresentationState | null; problem: string | null } {
  try {
    return { state: buildPresentationState(input, options), problem: null };
  } catch (error) {
    if (error instanceof ValidationError) return { state: null, problem: refusalWithoutValues(error) };
    throw error;
  }
}

/**
 * A refusal of a report or presentation state told without the values it is about (one copied
 * from the images may be the patient's name or ID, and this text is logged and kept with the
 * study): the encoder's own value-free text, or the field with quoted parts left out and the
 * problem only when it quotes nothing.
 */
export function refusalWithoutValues(error: ValidationError): string {
  if (error instanceof DicomValueError) return error.withoutValue;
  const quotes = /['"]/.test(error.problem);
  return `${error.field.replace(/'[^']*'/g, '…')}: ${quotes ? 'not valid in a report' : error.problem}`;
}

/**
 * The check that the PACS kept the instances a STOW-RS sent into their study: one QIDO-RS listing
 * their UIDs (comma-separated, PS3.18 8.3.4.1; Orthanc 1.10 matches these, not backslash lists),
 * and one per instance that list did not return, for a PACS that does not match lists.
 */
async function checkKept(pacs: DicomwebClient, studyUid: string, instances: ReadonlyArray<{ sopInstanceUid: string; what: string }>): Promise<void> {
  const keptUids = async (uids: readonly string[]) =>
    new Set((await pacs.search(`studies/${studyUid}/instances`, { SOPInstanceUID: uids.join(',') })).map((item) => item[SOP_INSTANCE_UID]?.Value?.[0]));
  const kept = await keptUids(instances.map((i) => i.sopInstanceUid));
  const lost: string[] = [];
  for (const instance of instances) {
    if (kept.has(instance.sopInstanceUid)) continue;
    if (instances.length > 1 && (await keptUids([instance.sopInstanceUid])).has(instance.sopInstanceUid)) continue;
    lost.push(instance.what);
  }
  if (lost.length > 0) {
    // Retryable: a PACS that indexes a little after answering shows it on the next attempt (the
    // same UIDs are re-sent); one whose rules discard it keeps failing until attempts run out.
    throw new MammocadError('PACS_DISCARDED_REPORT', `STOW: the PACS answered success but did not keep the ${lost.join(' and ')} (filtered out by its rules?)`, { retryable: true });
  }
}

/** Where the PACS says the report can be retrieved (its Retrieve URL, without credentials), or the instance's DICOMweb path. */
function storedAtOf(response: DicomJson, built: BuiltReport): string {
  const items = (response[REFERENCED_SOP_SEQUENCE]?.Value ?? []) as DicomJson[];
  // The report's item (the response lists the presentation state too, when one was sent).
  const item = items.find((i) => i[REFERENCED_SOP_INSTANCE_UID]?.Value?.[0] === built.sopInstanceUid) ?? items[0];
  const url = item?.[RETRIEVE_URL]?.Value?.[0] ?? response[RETRIEVE_URL]?.Value?.[0];
  if (typeof url === 'string') {
    try {
      const parsed = new URL(url);
      parsed.username = '';
      parsed.password = '';
      return parsed.toString();
    } catch {
      // not an absolute URL: fall through to the path
    }
  }
  return `studies/${built.studyInstanceUid}/series/${built.seriesInstanceUid}/instances/${built.sopInstanceUid}`;
}
