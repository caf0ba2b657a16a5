// The worklist: studies newest first with their exam score and status, filtered and paged by
// the API (`studies`, keyset pages), or only the exams positive at the active model's threshold
// (`worklist`, highest score first).

import { useEffect, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorMessage, Flags, Loading, Page, Probability, StatusBadge } from '../components/common.jsx';
import { dateTime } from '../format.js';
import { href } from '../router.js';

/** @typedef {import('../../generated/operation-types.js').StudiesResult['studies']} StudyPage */
/** @typedef {import('../../generated/operation-types.js').StudyFilter} StudyFilter */
/** @typedef {import('../../generated/operation-types.js').StudySort} StudySort */
/** @typedef {{ from: string, to: string, status: string, minScore: string, laterality: string, labelled: string }} FilterForm */

const PAGE_SIZE = 25;
/** @type {FilterForm} */
const NO_FILTER = { from: '', to: '', status: '', minScore: '', laterality: '', labelled: '' };
const STATUSES = ['PENDING', 'QUEUED', 'SCORING', 'SCORED', 'SKIPPED', 'FAILED'];

/** What the page showed last, so that coming back from a study returns to the same page. */
let remembered = { positiveOnly: false, sort: /** @type {StudySort} */ ('DATE_DESC'), form: NO_FILTER, cursors: /** @type {Array<string | null>} */ ([null]) };

/** @param {FilterForm} form @returns {StudyFilter} */
function filterOf(form) {
  /** @type {StudyFilter} */
  const filter = {};
  if (form.from) filter.from = form.from;
  if (form.to) filter.to = form.to;
  if (form.status) filter.status = /** @type {StudyFilter['status']} */ (form.status);
  if (form.minScore !== '') filter.minScore = Math.max(0, Math.min(1, Number(form.minScore) / 100));
  if (form.laterality) filter.laterality = /** @type {StudyFilter['laterality']} */ (form.laterality);
  if (form.labelled) filter.labelled = form.labelled === 'yes';
  return filter;
}

export function Worklist() {
  const [positiveOnly, setPositiveOnly] = useState(remembered.positiveOnly);
  const [sort, setSort] = useState(remembered.sort);
  const [form, setForm] = useState(remembered.form);
  const [applied, setApplied] = useState(remembered.form);
  const [cursors, setCursors] = useState(remembered.cursors);
  const [page, setPage] = useState(/** @type {StudyPage | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [loading, setLoading] = useState(true);
  const after = cursors[cursors.length - 1] ?? null;

  useEffect(() => {
    remembered = { positiveOnly, sort, form: applied, cursors };
    let current = true;
    setLoading(true);
    setError(null);
    const request = positiveOnly
      ? gql('Worklist', { first: PAGE_SIZE, after }).then((d) => d.worklist)
      : gql('Studies', { filter: filterOf(applied), sort, first: PAGE_SIZE, after }).then((d) => d.studies);
    request.then(
      (result) => current && (setPage(result), setLoading(false)),
      (caught) => current && (setError(caught), setLoading(false)),
    );
    return () => {
      current = false;
    };
  }, [positiveOnly, sort, applied, after]);

  /** @param {keyof FilterForm} key @returns {(e: Event) => void} */
  const field = (key) => (e) => setForm({ ...form, [key]: /** @type {HTMLInputElement} */ (e.currentTarget).value });
  const restart = () => setCursors([null]);

  return (
    <Page title="Worklist">
      <form
        class="filters"
        aria-label="Filter studies"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(form);
          restart();
        }}
      >
        <div class="field checkbox">
          <input
            id="positive-only"
            type="checkbox"
            checked={positiveOnly}
            onChange={(e) => {
              setPositiveOnly(/** @type {HTMLInputElement} */ (e.currentTarget).checked);
              restart();
            }}
          />
          <label for="positive-only">Only exams positive at the active model's threshold</label>
        </div>
        <fieldset disabled={positiveOnly}>
          <legend class="visually-hidden">Filters</legend>
          <div class="field">
            <label for="f-from">Study date from</label>
            <input id="f-from" type="date" value={form.from} onInput={field('from')} />
          </div>
          <div class="field">
            <label for="f-to">to</label>
            <input id="f-to" type="date" value={form.to} onInput={field('to')} />
          </div>
          <div class="field">
            <label for="f-status">Status</label>
            <select id="f-status" value={form.status} onChange={field('status')}>
              <option value="">any</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s.toLowerCase()}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="f-min">Exam score at least (%)</label>
            <input id="f-min" type="number" min="0" max="100" step="1" inputMode="numeric" value={form.minScore} onInput={field('minScore')} />
          </div>
          <div class="field">
            <label for="f-side">Breast</label>
            <select id="f-side" value={form.laterality} onChange={field('laterality')}>
              <option value="">either</option>
              <option value="L">left</option>
              <option value="R">right</option>
            </select>
          </div>
          <div class="field">
            <label for="f-labelled">Labelled</label>
            <select id="f-labelled" value={form.labelled} onChange={field('labelled')}>
              <option value="">either</option>
              <option value="yes">yes</option>
              <option value="no">no</option>
            </select>
          </div>
          <div class="field">
            <label for="f-sort">Order</label>
            <select
              id="f-sort"
              value={sort}
              onChange={(e) => {
                setSort(/** @type {StudySort} */ (/** @type {HTMLSelectElement} */ (e.currentTarget).value));
                restart();
              }}
            >
              <option value="DATE_DESC">newest first</option>
              <option value="DATE_ASC">oldest first</option>
              <option value="SCORE_DESC">highest score first</option>
              <option value="SCORE_ASC">lowest score first</option>
            </select>
          </div>
          <div class="field buttons">
            <button type="submit" class="primary">
              Apply
            </button>
            <button
              type="button"
              class="secondary"
              onClick={() => {
                setForm(NO_FILTER);
                setApplied(NO_FILTER);
                restart();
              }}
            >
              Reset
            </button>
          </div>
        </fieldset>
      </form>
      <ErrorMessage error={error} />
      {loading && !page ? <Loading what="Loading studies" /> : null}
      {page ? (
        <>
          <table class="studies" aria-busy={loading}>
            <caption class="visually-hidden">Studies, {positiveOnly ? 'positive exams, highest score first' : sort === 'DATE_DESC' ? 'newest first' : 'in the chosen order'}</caption>
            <thead>
              <tr>
                <th scope="col">Study date</th>
                <th scope="col">Patient ID</th>
                <th scope="col">Accession</th>
                <th scope="col">Description</th>
                <th scope="col">Status</th>
                <th scope="col">Exam probability</th>
                <th scope="col">Model</th>
              </tr>
            </thead>
            <tbody>
              {page.nodes.length === 0 ? (
                <tr>
                  <td colSpan={7} class="muted">
                    No studies match.
                  </td>
                </tr>
              ) : (
                page.nodes.map((study) => (
                  <tr key={study.studyInstanceUid} data-study={study.studyInstanceUid}>
                    <td>
                      <a href={href('study', study.studyInstanceUid)} title={`Open study ${study.studyInstanceUid}`}>
                        {study.studyDate ?? dateTime(study.createdAt)}
                      </a>
                    </td>
                    <td>{study.patientId ?? '–'}</td>
                    <td>{study.accessionNumber ?? '–'}</td>
                    <td>{study.description ?? '–'}</td>
                    <td>
                      <StatusBadge status={study.status} title={study.statusReason} />
                    </td>
                    <td>
                      <Probability probability={study.exam?.probability} positive={study.exam?.positive} />
                      <Flags flags={study.exam?.flags} />
                    </td>
                    <td>{study.exam?.modelVersion ?? '–'}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
          <nav class="pager" aria-label="Pages">
            <button type="button" class="secondary" disabled={cursors.length <= 1 || loading} onClick={() => setCursors(cursors.slice(0, -1))}>
              ← Previous
            </button>
            <span>Page {cursors.length}</span>
            <button
              type="button"
              class="secondary"
              disabled={!page.pageInfo.hasNextPage || !page.pageInfo.endCursor || loading}
              onClick={() => setCursors([...cursors, page.pageInfo.endCursor])}
            >
              Next →
            </button>
          </nav>
        </>
      ) : null}
    </Page>
  );
}
