// The outcomes recorded for a study (an image or a breast: malignant, benign or normal, from
// pathology, follow-up or a radiologist), and the form that records one (submitLabels).

import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorMessage } from './common.jsx';
import { dateTime, shortUid, side, viewName, words } from '../format.js';

/** @typedef {import('../../generated/operation-types.js').StudyResult['study']} Study */
/** @typedef {Study['images'][number]} StudyImage */
/** @typedef {Study['labels'][number]} Label */
/** @typedef {import('../../generated/operation-types.js').LabelInput} LabelInput */

const VALUES = /** @type {const} */ (['MALIGNANT', 'BENIGN', 'NORMAL']);
const SOURCES = /** @type {const} */ (['PATHOLOGY', 'FOLLOW_UP', 'RADIOLOGIST']);

/**
 * The labels of the study and a form to add one (an image or a breast).
 * @param {{ study: Study, images: StudyImage[], onAdded: (labels: Label[]) => void }} props
 */
export function Labels({ study, images, onAdded }) {
  const targets = [
    ...images.filter((i) => i.laterality === 'L' || i.laterality === 'R').map((i) => ({ value: `image:${i.sopInstanceUid}`, text: `${viewName(i)} image` })),
    { value: 'breast:L', text: 'left breast' },
    { value: 'breast:R', text: 'right breast' },
  ];
  const [target, setTarget] = useState(targets[0]?.value ?? 'breast:L');
  const [value, setValue] = useState(/** @type {LabelInput['value']} */ ('MALIGNANT'));
  const [source, setSource] = useState(/** @type {LabelInput['source']} */ ('RADIOLOGIST'));
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [done, setDone] = useState(/** @type {string | null} */ (null));
  const imageName = (/** @type {string | null} */ sop) => {
    const image = images.find((i) => i.sopInstanceUid === sop);
    return image ? `${viewName(image)} image` : sop ? shortUid(sop) : '';
  };

  /** @param {SubmitEvent} event */
  async function submit(event) {
    event.preventDefault();
    const [kind, id] = /** @type {[string, string]} */ (target.split(':'));
    /** @type {LabelInput} */
    const label = { studyInstanceUid: study.studyInstanceUid, value, source, note: note.trim() || null };
    if (kind === 'image') label.sopInstanceUid = id;
    else label.laterality = /** @type {LabelInput['laterality']} */ (id);
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const { submitLabels } = await gql('SubmitLabels', { labels: [label] });
      onAdded(submitLabels);
      setNote('');
      setDone(`Recorded: ${targets.find((t) => t.value === target)?.text ?? target} ${words(value)} (${words(source)}).`);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="labels-title" class="labels">
      <h2 id="labels-title">Labels</h2>
      {study.labels.length === 0 ? (
        <p class="muted">No outcome recorded yet.</p>
      ) : (
        <ul class="label-list">
          {study.labels.map((l) => (
            <li key={l.id} data-label={l.id}>
              <strong>{words(l.value)}</strong> · {l.scope === 'IMAGE' ? imageName(l.sopInstanceUid) : `${side(l.laterality)} breast`} · {words(l.source)} · {l.author} · {dateTime(l.recordedAt)}
              {l.note ? <div class="muted">{l.note}</div> : null}
            </li>
          ))}
        </ul>
      )}
      <form class="label-form" onSubmit={submit} aria-labelledby="label-form-title">
        <h3 id="label-form-title">Record an outcome</h3>
        <div class="field">
          <label for="label-target">Image or breast</label>
          <select id="label-target" value={target} onChange={(e) => setTarget(/** @type {HTMLSelectElement} */ (e.currentTarget).value)}>
            {targets.map((t) => (
              <option key={t.value} value={t.value}>
                {t.text}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="label-value">Outcome</label>
          <select id="label-value" value={value} onChange={(e) => setValue(/** @type {LabelInput['value']} */ (/** @type {HTMLSelectElement} */ (e.currentTarget).value))}>
            {VALUES.map((v) => (
              <option key={v} value={v}>
                {words(v)}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="label-source">Source</label>
          <select id="label-source" value={source} onChange={(e) => setSource(/** @type {LabelInput['source']} */ (/** @type {HTMLSelectElement} */ (e.currentTarget).value))}>
            {SOURCES.map((s) => (
              <option key={s} value={s}>
                {words(s)}
              </option>
            ))}
          </select>
        </div>
        <div class="field wide">
          <label for="label-note">Note (optional)</label>
          <textarea id="label-note" rows={2} maxLength={2000} value={note} onInput={(e) => setNote(/** @type {HTMLTextAreaElement} */ (e.currentTarget).value)} />
        </div>
        <ErrorMessage error={error} />
        <p class="done" role="status">
          {done ?? ''}
        </p>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Recording…' : 'Record label'}
        </button>
      </form>
    </section>
  );
}
