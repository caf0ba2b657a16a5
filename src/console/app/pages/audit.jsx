// The audit trail (admins): who did what to which target, newest first, filtered by actor and
// action.

import { useEffect, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorMessage, Loading, Page } from '../components/common.jsx';
import { dateTime } from '../format.js';

/** @typedef {import('../../generated/operation-types.js').AuditEventsResult['auditEvents'][number]} AuditEvent */

/** @param {AuditEvent} event */
const outcomeOf = (event) => {
  const details = event.details && typeof event.details === 'object' && !Array.isArray(event.details) ? event.details : {};
  return typeof details.outcome === 'string' ? details.outcome : '–';
};

export function Audit() {
  const [form, setForm] = useState({ actor: '', action: '' });
  const [applied, setApplied] = useState(form);
  const [events, setEvents] = useState(/** @type {AuditEvent[] | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));

  useEffect(() => {
    let current = true;
    setError(null);
    gql('AuditEvents', { actor: applied.actor || null, action: applied.action || null, first: 200 }).then(
      (d) => current && setEvents(d.auditEvents),
      (caught) => current && setError(caught),
    );
    return () => {
      current = false;
    };
  }, [applied]);

  return (
    <Page title="Audit">
      <form
        class="filters"
        aria-label="Filter audit events"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(form);
        }}
      >
        <div class="field">
          <label for="audit-actor">Actor</label>
          <input id="audit-actor" placeholder="apikey:mk_… or jwt:…" value={form.actor} onInput={(e) => setForm({ ...form, actor: /** @type {HTMLInputElement} */ (e.currentTarget).value })} />
        </div>
        <div class="field">
          <label for="audit-action">Action</label>
          <input id="audit-action" placeholder="query.study" value={form.action} onInput={(e) => setForm({ ...form, action: /** @type {HTMLInputElement} */ (e.currentTarget).value })} />
        </div>
        <div class="field buttons">
          <button type="submit" class="primary">
            Apply
          </button>
        </div>
      </form>
      <ErrorMessage error={error} />
      {!events && !error ? <Loading what="Loading the audit trail" /> : null}
      {events ? (
        <table class="audit">
          <caption class="visually-hidden">Audit events, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Outcome</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {events.length === 0 ? (
              <tr>
                <td colSpan={6} class="muted">
                  No events.
                </td>
              </tr>
            ) : null}
            {events.map((event) => (
              <tr key={event.id} data-action={event.action}>
                <td>{dateTime(event.at)}</td>
                <td>{event.actor}</td>
                <td>{event.action}</td>
                <td class="uid">{event.target ?? '–'}</td>
                <td>
                  <span class={`badge outcome-${outcomeOf(event) === 'ok' ? 'ok' : 'other'}`}>{outcomeOf(event)}</span>
                </td>
                <td>
                  <details>
                    <summary>show</summary>
                    <pre>{JSON.stringify(event.details, null, 2)}</pre>
                  </details>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Page>
  );
}
