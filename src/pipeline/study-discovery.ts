// Learning of studies: whichever way a study is announced (the PACS's webhook, QIDO polling,
// or a user asking by Study Instance UID), this decides whether it means new work.
//
// A study means work when it is new, or when its image content changed since it was last
// seen. Our own reports are left out of that content, so the PACS re-announcing a study after
// our SR arrives (Orthanc fires StableStudy again) starts nothing: their series carry our
// Manufacturer (REPORT_MANUFACTURER), or a series UID we reserved.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { MammocadError, ValidationError, type StudySource } from '../domain/index.js';
import type { DicomwebClient } from '../dicom/dicomweb-client.js';
import { TAG, isUidLike, jsonNumber, jsonString } from '../dicom/dicom-json.js';
import { REPORT_MANUFACTURER } from '../dicom/sr/index.js';
import type { Store } from '../store/index.js';


export const SCORE_STUDY_JOB = 'score-study';

export type DiscoveryOutcome = 'new' | 'changed' | 'unchanged' | 'settling';

/**
 * Attempts of a scoring job. With the worker's backoff (30 s doubling, capped at 15 min) ten
 * attempts span about two hours: long enough to ride out a PACS restart or maintenance.
 */
export const SCORE_STUDY_ATTEMPTS = 10;

export interface DiscoveryResult {
  studyUid: string;
  outcome: DiscoveryOutcome;
  /** The scoring job enqueued for new or changed content. */
  jobId?: string;
}

export interface StudyDiscoveryDeps {
  pacs: DicomwebClient;
  store: Store;
  logger: Logger;
}

/** A short, stable reference to a study for logs (never the UID's patient-linked metadata). */
export function studyRef(studyUid: string): string {
  return createHash('sha256').update(studyUid).digest('hex').slice(0, 12);
}

export class StudyDiscovery {
  private readonly log: Logger;

  constructor(private readonly deps: StudyDiscoveryDeps) {
    this.log = deps.logger.child({ component: 'discovery' });
  }

  async announce(studyUid: string, source: StudySource): Promise<DiscoveryResult> {
    if (!isUidLike(studyUid)) throw new ValidationError('StudyInstanceUID', `'${studyUid.slice(0, 80)}' is not a DICOM UID`);
    const { pacs, store } = this.deps;
    const ref = studyRef(studyUid);
    try {
      const [study] = await pacs.search('studies', {
        StudyInstanceUID: studyUid,
        includefield: ['PatientID', 'AccessionNumber', 'StudyDate', 'StudyTime', 'StudyDescription', 'ModalitiesInStudy'],
      });
      if (!study) {
        // A study we kept as pending (the PACS announced it, then it went away) leaves the retry list.
        const kept = await store.studies.findByUid(studyUid);
        if (kept?.status === 'pending') await store.studies.setStatus(studyUid, 'failed', 'the study is no longer on the PACS');
        throw new MammocadError('STUDY_NOT_ON_PACS', `study ${ref} is not on the PACS`);
      }
      const fingerprint = await this.contentFingerprint(studyUid);
      const { study: record, created: studyCreated } = await store.studies.announce({
        studyUid,
        source,
        patientId: jsonString(study, TAG.PatientID) || null,
        accessionNumber: jsonString(study, TAG.AccessionNumber) || null,
        studyDate: jsonString(study, TAG.StudyDate) || null,
        studyTime: jsonString(study, TAG.StudyTime) || null,
        description: jsonString(study, TAG.StudyDescription) || null,
        modalities: (study[TAG.ModalitiesInStudy]?.Value ?? []).join('\\') || null,
      });
      const firstTime = studyCreated || record.status === 'pending';

      // A poll can catch a study while its images are still arriving (the PACS's webhook only
      // fires once a study is stable). Queue polled content only once an earlier announcement
      // saw the same content; until then the study is "settling".
      if (source === 'poll' && record.contentFingerprint !== fingerprint) {
        await store.studies.recordContent(studyUid, fingerprint);
        if (firstTime) await store.studies.setStatus(studyUid, 'pending', 'waiting for the study to be stable (seen by one poll)');
        this.log.debug({ study: ref }, 'polled study is settling');
        return { studyUid, outcome: 'settling' };
      }

      // Queue first (idempotent by key: the same content is one job, however often and however
      // concurrently it is announced), then record the content: a crash in between leaves a job,
      // never content recorded without its job. A user asking again for a failed study gets a
      // new attempt.
      const contentKey = `${SCORE_STUDY_JOB}:${studyUid}:${createHash('sha256').update(fingerprint).digest('hex').slice(0, 16)}`;
      const retryFailed = source === 'manual' && record.status === 'failed';
      const { job, created } = await store.jobs.enqueue(
        SCORE_STUDY_JOB,
        { studyUid, fingerprint },
        { idempotencyKey: retryFailed ? `${contentKey}:retry:${Date.now()}` : contentKey, maxAttempts: SCORE_STUDY_ATTEMPTS },
      );
      await store.studies.recordContent(studyUid, fingerprint);
      if (!created) {
        this.log.debug({ study: ref, source }, 'study re-announced without new images');
        return { studyUid, outcome: 'unchanged' };
      }
      const outcome: DiscoveryOutcome = firstTime ? 'new' : 'changed';
      await store.studies.setStatus(studyUid, 'queued');
      await store.audit.record({ actor: `pacs:${source}`, action: 'study.announced', target: `study:${studyUid}`, details: { outcome, jobId: job.id } });
      this.log.info({ study: ref, source, outcome, job: job.id }, 'study queued for scoring');
      return { studyUid, outcome, jobId: job.id };
    } catch (error) {
      // A PACS fault (down, slow, 5xx, or refusing our credentials) may heal: keep the study so
      // the poller announces it again. Anything else is about the request itself.
      if (error instanceof MammocadError && (error.retryable || error.code === 'PACS_UNAUTHORIZED')) {
        await this.recordPending(studyUid, source, error.message);
      }
      throw error;
    }
  }

  /**
   * Queues a new scoring of a known study with the active model, at a user's request. One job per
   * (content, model version): asking twice returns the same job, unless that one ended without a
   * result (failed, dead, cancelled), when a new attempt is queued. Scoring stays idempotent, so
   * a model that already reported the study writes no second report.
   */
  async rescore(studyUid: string, actor: string): Promise<string> {
    const { store } = this.deps;
    const active = await store.modelVersions.findActive();
    if (!active) throw new MammocadError('NO_ACTIVE_MODEL', 'no model version is active: activate one before rescoring');
    const fingerprint = await this.contentFingerprint(studyUid);
    const key = `${SCORE_STUDY_JOB}:${studyUid}:${createHash('sha256').update(fingerprint).digest('hex').slice(0, 16)}:model:${active.id}`;
    const options = { idempotencyKey: key, maxAttempts: SCORE_STUDY_ATTEMPTS };
    let { job, created } = await store.jobs.enqueue(SCORE_STUDY_JOB, { studyUid, fingerprint }, options);
    if (!created && ['failed', 'dead', 'cancelled'].includes(job.status)) {
      ({ job, created } = await store.jobs.enqueue(SCORE_STUDY_JOB, { studyUid, fingerprint }, { ...options, idempotencyKey: `${key}:retry:${Date.now()}` }));
    }
    if (created) {
      await store.studies.recordContent(studyUid, fingerprint);
      await store.studies.setStatus(studyUid, 'queued', `rescore requested by ${actor}`);
      this.log.info({ study: studyRef(studyUid), job: job.id }, 'study queued for rescoring');
    }
    return job.id;
  }

  /** Keeps a study the PACS announced but we could not inspect, so the poller retries it. */
  private async recordPending(studyUid: string, source: StudySource, reason: string): Promise<void> {
    await this.deps.store.studies.announce({ studyUid, source });
    const current = await this.deps.store.studies.findByUid(studyUid);
    if (current && current.contentFingerprint === null) await this.deps.store.studies.setStatus(studyUid, 'pending', reason);
    this.log.warn({ study: studyRef(studyUid), source, reason }, 'study announced while the PACS was unavailable; will retry');
  }

  /** "series:count" of every series except our own reports, sorted: what the study holds. */
  private async contentFingerprint(studyUid: string): Promise<string> {
    const series = await this.deps.pacs.search(`studies/${studyUid}/series`, { includefield: ['Manufacturer', 'NumberOfSeriesRelatedInstances'] });
    const study = await this.deps.store.studies.findByUid(studyUid);
    const ours = new Set(study ? (await this.deps.store.reports.listByStudy(study.id)).map((r) => r.srSeriesUid) : []);
    return series
      .filter((s) => jsonString(s, TAG.Manufacturer) !== REPORT_MANUFACTURER && !ours.has(jsonString(s, TAG.SeriesInstanceUID)))
      .map((s) => `${jsonString(s, TAG.SeriesInstanceUID)}:${jsonNumber(s, TAG.NumberOfSeriesRelatedInstances) ?? '?'}`)
      .sort()
      .join('|');
  }
}
