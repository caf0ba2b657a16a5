// A confirmation before an action that changes what the service does (activating a model,
// cancelling a job): the browser's modal <dialog>, which keeps the keyboard focus inside it and
// closes on Escape.

import { useEffect, useRef } from 'preact/hooks';

/**
 * @param {{ open: boolean, title: string, children?: import('preact').ComponentChildren, confirmLabel: string, onConfirm: () => void, onCancel: () => void }} props
 */
export function ConfirmDialog({ open, title, children, confirmLabel, onConfirm, onCancel }) {
  const dialog = useRef(/** @type {HTMLDialogElement | null} */ (null));
  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (open && !element.open) element.showModal();
    if (!open && element.open) element.close();
  }, [open]);
  return (
    <dialog ref={dialog} class="confirm" aria-labelledby="confirm-title" onCancel={(event) => (event.preventDefault(), onCancel())}>
      <h2 id="confirm-title">{title}</h2>
      <div class="confirm-body">{children}</div>
      <div class="actions">
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" class="primary" onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
