// A job's progress bar, kept live: the jobProgress subscription (graphql-ws) pushes each update,
// and a slow poll of the job covers what a subscription can miss (the job ended before it
// started, the socket dropped). Both stop when the job ends.

import { useEffect, useRef, useState } from 'preact/hooks';
import { gql, subscribe } from '../api.js';
import { percent, words } from '../format.js';

/** @typedef {import('../../generated/operation-types.js').JobsResult['jobs'][number]} Job */

/** States a job does not leave (a failed job is not retried: retries go back to QUEUED). */
export const FINAL_STATUSES = new Set(['SUCCEEDED', 'SKIPPED', 'FAILED', 'DEAD', 'CANCELLED']);
/** The stages a scoring job reports, in order. */
const SCORE_STAGES = ['select', 'fetchDecode', 'infer', 'report', 'store'];
const POLL_MS = 3_000;

/** @param {unknown} value @returns {Record<string, unknown>} */
const objectOf = (value) => (value && typeof value === 'object' && !Array.isArray(value) ? /** @type {Record<string, unknown>} */ (value) : {});
/** @param {unknown} value */
const num = (value) => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/**
 * How far a job is, 0..1, from what it reports (epochs of a training run, stages of a scoring
 * job); null when it does not say (an indeterminate bar).
 * @param {Pick<Job, 'status' | 'kind' | 'progress'>} job
 * @returns {number | null}
 */
export function jobFraction(job) {
  if (job.status === 'SUCCEEDED' || job.status === 'SKIPPED') return 1;
  if (job.status === 'QUEUED') return 0;
  const progress = objectOf(job.progress);
  const fraction = num(progress.fraction);
  if (fraction !== null) return Math.max(0, Math.min(1, fraction));
  for (const [done, total] of [['epochsDone', 'epochsTotal'], ['done', 'total']]) {
    const d = num(progress[/** @type {string} */ (done)]);
    const t = num(progress[/** @type {string} */ (total)]);
    if (d !== null && t) return Math.max(0, Math.min(1, d / t));
  }
  if (job.kind === 'score-study' && typeof progress.stage === 'string') {
    const stage = SCORE_STAGES.indexOf(progress.stage);
    if (stage >= 0) return (stage + 1) / (SCORE_STAGES.length + 1);
  }
  return null;
}

/** What the job says it is doing, in a few words. @param {Pick<Job, 'progress'>} job */
export function jobPhase(job) {
  const progress = objectOf(job.progress);
  const parts = [progress.stage, progress.phase, progress.fold !== undefined ? `fold ${String(progress.fold)}` : null].filter((p) => typeof p === 'string' && p);
  const eta = num(progress.etaSeconds);
  if (eta !== null && eta > 0) parts.push(`about ${Math.ceil(eta / 60)} min left`);
  return parts.join(', ');
}

/**
 * The job, kept up to date until it ends; `onEnd` is called once with its final state.
 * @param {Job} initial
 * @param {(job: Job) => void} [onEnd]
 * @returns {Job}
 */
export function useLiveJob(initial, onEnd) {
  const [job, setJob] = useState(initial);
  const ended = useRef(FINAL_STATUSES.has(initial.status));
  const endRef = useRef(onEnd);
  endRef.current = onEnd;
  useEffect(() => setJob((current) => (current.id === initial.id ? current : initial)), [initial]);
  useEffect(() => {
    if (FINAL_STATUSES.has(initial.status)) return undefined;
    ended.current = false;
    let stopped = false;
    /** @param {Job} next */
    const update = (next) => {
      if (stopped || next.id !== initial.id) return;
      setJob(next);
      if (FINAL_STATUSES.has(next.status) && !ended.current) {
        ended.current = true;
        stop();
        endRef.current?.(next);
      }
    };
    const unsubscribe = subscribe('JobProgress', { id: initial.id }, { next: (data) => update(data.jobProgress) });
    const timer = setInterval(() => {
      gql('Job', { id: initial.id }).then(
        (data) => update(data.job),
        () => undefined,
      );
    }, POLL_MS);
    function stop() {
      stopped = true;
      clearInterval(timer);
      unsubscribe();
    }
    return stop;
  }, [initial.id]);
  return job;
}

/** @param {{ job: Pick<Job, 'id' | 'kind' | 'status' | 'progress' | 'lastError'>, label?: string }} props */
export function JobProgressBar({ job, label }) {
  const fraction = jobFraction(job);
  const phase = jobPhase(job);
  const name = label ?? `Progress of ${job.kind} job ${job.id}`;
  return (
    <div class={`job-progress status-${job.status.toLowerCase()}`} data-job-id={job.id} data-status={job.status}>
      <div
        class={`bar${fraction === null ? ' indeterminate' : ''}`}
        role="progressbar"
        aria-label={name}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={fraction === null ? undefined : Math.round(fraction * 100)}
        aria-valuetext={`${words(job.status)}${fraction === null ? '' : `, ${percent(fraction)}`}${phase ? `, ${phase}` : ''}`}
      >
        <div class="bar-fill" style={{ width: fraction === null ? undefined : `${fraction * 100}%` }} />
      </div>
      <span class="job-progress-text" aria-live="polite">
        {words(job.status)}
        {fraction !== null && job.status === 'RUNNING' ? ` ${Math.round(fraction * 100)} %` : ''}
        {phase && job.status === 'RUNNING' ? ` · ${phase}` : ''}
        {job.lastError && (job.status === 'FAILED' || job.status === 'DEAD') ? ` · ${job.lastError}` : ''}
      </span>
    </div>
  );
}

/** A job's bar that follows it live. @param {{ job: Job, onEnd?: (job: Job) => void, label?: string }} props */
export function LiveJobProgress({ job, onEnd, label }) {
  const live = useLiveJob(job, onEnd);
  return <JobProgressBar job={live} label={label} />;
}
