// Small pieces every page uses: the page frame (its heading takes the focus when the page
// opens, for keyboard and screen-reader users), errors, loading, badges and probability bars.

import { useEffect, useRef } from 'preact/hooks';
import { percent, words } from '../format.js';

/**
 * @param {{ title: string, children?: import('preact').ComponentChildren, actions?: import('preact').ComponentChildren }} props
 */
export function Page({ title, children, actions }) {
  const heading = useRef(/** @type {HTMLHeadingElement | null} */ (null));
  useEffect(() => {
    document.title = `${title} – mammocad`;
    heading.current?.focus();
  }, [title]);
  return (
    <section class="page" aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title" tabIndex={-1} ref={heading}>
          {title}
        </h1>
        {actions}
      </div>
      {children}
    </section>
  );
}

/** @param {{ error: unknown }} props */
export function ErrorMessage({ error }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const code = /** @type {{ code?: string }} */ (error).code;
  return (
    <p class="error" role="alert">
      {code === 'FORBIDDEN' ? 'Not allowed for your role: ' : ''}
      {message}
    </p>
  );
}

export function Loading({ what = 'Loading' }) {
  return (
    <p class="loading" role="status">
      {what}…
    </p>
  );
}

/** A study's or job's status as a coloured word. @param {{ status: string | null | undefined, title?: string | null }} props */
export function StatusBadge({ status, title }) {
  return (
    <span class={`badge status-${(status ?? 'unknown').toLowerCase()}`} title={title ?? undefined}>
      {words(status)}
    </span>
  );
}

/**
 * A probability as a number and a bar; "positive" marks one at or above the model's threshold.
 * @param {{ probability: number | null | undefined, positive?: boolean | null, label?: string }} props
 */
export function Probability({ probability, positive, label }) {
  if (typeof probability !== 'number') return <span class="muted">not scored</span>;
  const width = Math.max(0, Math.min(100, probability * 100));
  return (
    <span class="probability" title={label}>
      <span class="probability-value">{percent(probability)}</span>
      <span class="probability-track" aria-hidden="true">
        <span class={`probability-fill${positive ? ' positive' : ''}`} style={{ width: `${width}%` }} />
      </span>
      {positive ? <span class="badge positive">positive</span> : null}
    </span>
  );
}

/** Safety flags of a result (outside intended use, out of distribution). @param {{ flags: string[] | undefined }} props */
export function Flags({ flags }) {
  if (!flags?.length) return null;
  return (
    <ul class="flags">
      {flags.map((flag) => (
        <li key={flag}>⚠ {flag}</li>
      ))}
    </ul>
  );
}
