// A scoring job can end where its handler does not see it: cancelled while it waited in the
// queue or for a retry, cancelled or dead while its worker was silent. Its study still says
// queued or scoring, and would wait for a job that will never run: it is failed here, saying why.

import type { JobRecord } from '../domain/index.js';
import type { Store } from '../store/index.js';
import { SCORE_STUDY_JOB } from './study-discovery.js';

/**
 * The study of a score-study job that ended without its handler seeing the end: failed, saying
 * why, while it still shows the job in flight (queued or scoring; a later job's outcome stands).
 * Otherwise the study would wait for a job that will never run. Returns whether it changed.
 */
export async function recordUnseenEnd(store: Store, job: JobRecord): Promise<boolean> {
  if (job.kind !== SCORE_STUDY_JOB || (job.status !== 'dead' && job.status !== 'cancelled')) return false;
  const { studyUid } = job.payload as { studyUid: string };
  const reason = job.status === 'cancelled' ? 'scoring was cancelled on request' : (job.lastError ?? 'the worker stopped on every attempt');
  return store.studies.setStatusIf(studyUid, ['pending', 'queued', 'scoring'], 'failed', reason);
}

/** Cancels a job (a queued one at once, a running one at its next checkpoint); a queued scoring job's study is failed at once. */
export async function cancelJob(store: Store, id: string): Promise<JobRecord> {
  const job = await store.jobs.requestCancel(id);
  await recordUnseenEnd(store, job);
  return job;
}
