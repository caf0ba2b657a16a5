// Model versions: which one scores, each one's validation AUC with its 95% CI and ROC curve.
// Admins evaluate a version on the recorded labels (a job, its progress live) and activate one,
// after a confirmation.

import { useEffect, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorMessage, Loading, Page } from '../components/common.jsx';
import { ConfirmDialog } from '../components/confirm.jsx';
import { LiveJobProgress } from '../components/progress.jsx';
import { RocPlot } from '../components/roc-plot.jsx';
import { dateTime, fixed } from '../format.js';
import { href } from '../router.js';

/** @typedef {import('../../generated/operation-types.js').ModelVersionsResult['modelVersions'][number]} ModelVersion */
/** @typedef {import('../../generated/operation-types.js').JobsResult['jobs'][number]} Job */

/** @param {{ admin: boolean }} props */
export function Models({ admin }) {
  const [models, setModels] = useState(/** @type {ModelVersion[] | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [confirming, setConfirming] = useState(/** @type {string | null} */ (null));
  const [evaluations, setEvaluations] = useState(/** @type {Record<string, Job>} */ ({}));
  const [message, setMessage] = useState(/** @type {string | null} */ (null));

  const load = () =>
    gql('ModelVersions', {}).then(
      (d) => setModels(d.modelVersions),
      (caught) => setError(caught),
    );
  useEffect(() => void load(), []);

  async function activate(/** @type {string} */ version) {
    setConfirming(null);
    setError(null);
    try {
      await gql('ActivateModelVersion', { version });
      setMessage(`Model ${version} is now the active one: new studies are scored with it.`);
      await load();
    } catch (caught) {
      setError(caught);
    }
  }

  async function evaluate(/** @type {string} */ version) {
    setError(null);
    try {
      const { evaluateModelVersion } = await gql('EvaluateModelVersion', { version });
      setEvaluations({ ...evaluations, [version]: evaluateModelVersion });
      setMessage(`Evaluation of ${version} queued.`);
    } catch (caught) {
      setError(caught);
    }
  }

  return (
    <Page title="Models">
      <ErrorMessage error={error} />
      <p class="done" role="status">
        {message ?? ''}
      </p>
      {!models ? <Loading what="Loading model versions" /> : null}
      {models?.length === 0 ? <p class="muted">No model version is registered.</p> : null}
      <div class="model-list">
        {models?.map((m) => (
          <article key={m.version} class={`model${m.active ? ' active' : ''}`} data-model={m.version} aria-labelledby={`model-${m.version}`}>
            <div class="model-text">
              <h2 id={`model-${m.version}`}>
                {m.version} {m.active ? <span class="badge active">active</span> : null}
              </h2>
              <dl class="summary compact">
                <div>
                  <dt>Architecture</dt>
                  <dd>{m.architecture}</dd>
                </div>
                <div>
                  <dt>Operating threshold</dt>
                  <dd>{fixed(m.threshold, 3)}</dd>
                </div>
                <div>
                  <dt>AUC (95% CI)</dt>
                  <dd class="auc">
                    {m.auc === null ? 'not evaluated' : `${fixed(m.auc)}${m.aucCi?.length === 2 ? ` (${fixed(m.aucCi[0])}–${fixed(m.aucCi[1])})` : ''}`}
                    {m.beatsChance === true ? <span class="badge positive-evidence">above chance</span> : null}
                    {m.beatsChance === false ? <span class="badge warning-badge">not shown above chance</span> : null}
                  </dd>
                </div>
                <div>
                  <dt>Registered</dt>
                  <dd>{dateTime(m.createdAt)}</dd>
                </div>
                <div>
                  <dt>Activated</dt>
                  <dd>{m.activatedAt ? `${dateTime(m.activatedAt)} by ${m.activatedBy ?? 'unknown'}` : '–'}</dd>
                </div>
              </dl>
              {admin ? (
                <div class="actions">
                  <button type="button" class="secondary" onClick={() => evaluate(m.version)} disabled={Boolean(evaluations[m.version]) && !['SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED', 'SKIPPED'].includes(evaluations[m.version]?.status ?? '')}>
                    Evaluate {m.version} on recorded labels
                  </button>
                  <button type="button" class="primary" onClick={() => setConfirming(m.version)} disabled={m.active}>
                    {m.active ? 'Active' : `Activate ${m.version}`}
                  </button>
                </div>
              ) : null}
              {evaluations[m.version] ? (
                <div class="evaluation">
                  <LiveJobProgress
                    job={/** @type {Job} */ (evaluations[m.version])}
                    label={`Evaluation of ${m.version}`}
                    onEnd={(job) => {
                      setEvaluations((all) => ({ ...all, [m.version]: job }));
                      setMessage(job.status === 'SUCCEEDED' ? `Evaluation of ${m.version} finished.` : `Evaluation of ${m.version} ended ${job.status.toLowerCase()}${job.lastError ? `: ${job.lastError}` : ''}.`);
                      void load();
                    }}
                  />
                  <a href={href('jobs')}>All jobs</a>
                </div>
              ) : null}
            </div>
            <RocPlot points={m.roc} auc={m.auc} aucCi={m.aucCi} label={m.version} />
          </article>
        ))}
      </div>
      <ConfirmDialog
        open={confirming !== null}
        title={`Activate ${confirming ?? ''}?`}
        confirmLabel={`Activate ${confirming ?? ''}`}
        onConfirm={() => confirming && activate(confirming)}
        onCancel={() => setConfirming(null)}
      >
        <p>New studies will be scored with {confirming}, and its results written to the PACS. The package is verified first. Studies already scored keep their results.</p>
        {models?.find((m) => m.version === confirming)?.beatsChance !== true ? (
          <p class="warning">This version has not shown an AUC above chance: its scores would not be evidence of malignancy.</p>
        ) : null}
      </ConfirmDialog>
    </Page>
  );
}
