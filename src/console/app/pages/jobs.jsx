// Jobs (admins): training, evaluation and scoring jobs, newest first, each running one with a
// live progress bar; a queued or running job can be cancelled (a running one stops at its next
// checkpoint).

import { useEffect, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorMessage, Loading, Page } from '../components/common.jsx';
import { ConfirmDialog } from '../components/confirm.jsx';
import { FINAL_STATUSES, JobProgressBar, LiveJobProgress } from '../components/progress.jsx';
import { dateTime, shortUid } from '../format.js';
import { href } from '../router.js';

/** @typedef {import('../../generated/operation-types.js').JobsResult['jobs'][number]} Job */
/** @typedef {import('../../generated/operation-types.js').JobStatus} JobStatus */

const KINDS = ['train', 'evaluate', 'score-study'];
const STATUSES = /** @type {JobStatus[]} */ (['QUEUED', 'RUNNING', 'SUCCEEDED', 'SKIPPED', 'FAILED', 'DEAD', 'CANCELLED']);
/** How often the list is read again (running jobs update themselves faster). */
const REFRESH_MS = 10_000;

/** What a job is about, from its payload. @param {Job} job */
function subject(job) {
  const payload = /** @type {Record<string, unknown>} */ (job.payload && typeof job.payload === 'object' && !Array.isArray(job.payload) ? job.payload : {});
  if (typeof payload.version === 'string') return <>model {payload.version}</>;
  if (typeof payload.studyUid === 'string') {
    return (
      <a href={href('study', payload.studyUid)} title={payload.studyUid}>
        study {shortUid(payload.studyUid, 8)}
      </a>
    );
  }
  if (typeof payload.baseVersion === 'string') return <>from {payload.baseVersion}</>;
  return <span class="muted">–</span>;
}

export function Jobs() {
  const [kind, setKind] = useState('');
  const [status, setStatus] = useState('');
  const [jobs, setJobs] = useState(/** @type {Job[] | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [cancelling, setCancelling] = useState(/** @type {Job | null} */ (null));
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let current = true;
    gql('Jobs', { kind: kind || null, status: /** @type {JobStatus | null} */ (status || null), first: 50 }).then(
      (d) => current && (setJobs(d.jobs), setError(null)),
      (caught) => current && setError(caught),
    );
    const timer = setTimeout(() => setTick((t) => t + 1), REFRESH_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [kind, status, tick]);

  async function cancel(/** @type {Job} */ job) {
    setCancelling(null);
    try {
      const { cancelJob } = await gql('CancelJob', { id: job.id });
      setJobs((list) => list?.map((j) => (j.id === job.id ? cancelJob : j)) ?? null);
    } catch (caught) {
      setError(caught);
    }
  }

  return (
    <Page title="Jobs">
      <form class="filters" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="job-kind">Kind</label>
          <select id="job-kind" value={kind} onChange={(e) => setKind(/** @type {HTMLSelectElement} */ (e.currentTarget).value)}>
            <option value="">any</option>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="job-status">Status</label>
          <select id="job-status" value={status} onChange={(e) => setStatus(/** @type {HTMLSelectElement} */ (e.currentTarget).value)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.toLowerCase()}
              </option>
            ))}
          </select>
        </div>
        <div class="field buttons">
          <button type="button" class="secondary" onClick={() => setTick((t) => t + 1)}>
            Refresh
          </button>
        </div>
      </form>
      <ErrorMessage error={error} />
      {!jobs ? <Loading what="Loading jobs" /> : null}
      {jobs ? (
        <table class="jobs">
          <caption class="visually-hidden">Jobs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">About</th>
              <th scope="col">Progress</th>
              <th scope="col">Created</th>
              <th scope="col">Finished</th>
              <th scope="col">Attempts</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {jobs.length === 0 ? (
              <tr>
                <td colSpan={7} class="muted">
                  No jobs.
                </td>
              </tr>
            ) : null}
            {jobs.map((job) => (
              <tr key={job.id} data-job={job.id}>
                <td>{job.kind}</td>
                <td>{subject(job)}</td>
                <td class="progress-cell">
                  {FINAL_STATUSES.has(job.status) ? (
                    <JobProgressBar job={job} />
                  ) : (
                    <LiveJobProgress job={job} onEnd={(ended) => setJobs((list) => list?.map((j) => (j.id === ended.id ? ended : j)) ?? null)} />
                  )}
                </td>
                <td>{dateTime(job.createdAt)}</td>
                <td>{dateTime(job.finishedAt)}</td>
                <td>
                  {job.attempts}/{job.maxAttempts}
                </td>
                <td>
                  {!FINAL_STATUSES.has(job.status) ? (
                    <button type="button" class="secondary small" disabled={job.cancelRequested} onClick={() => setCancelling(job)}>
                      {job.cancelRequested ? 'Cancelling…' : `Cancel ${job.kind}`}
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <ConfirmDialog open={cancelling !== null} title="Cancel this job?" confirmLabel="Cancel the job" onConfirm={() => cancelling && cancel(cancelling)} onCancel={() => setCancelling(null)}>
        <p>
          {cancelling?.status === 'RUNNING' ? 'The job stops at its next checkpoint; what it did so far is kept.' : 'The job will not run.'} ({cancelling?.kind} {cancelling?.id})
        </p>
      </ConfirmDialog>
    </Page>
  );
}
