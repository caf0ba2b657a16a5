// How the console writes numbers, dates and codes.

/** A probability as a percentage with one decimal ("12.3 %"), or a dash. */
export function percent(/** @type {number | null | undefined} */ p) {
  return typeof p === 'number' && Number.isFinite(p) ? `${(p * 100).toFixed(1)} %` : '–';
}

/** A number with `digits` decimals, or a dash. */
export function fixed(/** @type {number | null | undefined} */ value, digits = 2) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** An ISO time as the browser's local date and time, to the minute. */
export function dateTime(/** @type {string | null | undefined} */ iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
}

/** An enum value as words: SCORED -> scored, FOLLOW_UP -> follow-up. */
export function words(/** @type {string | null | undefined} */ value) {
  return value ? value.toLowerCase().replaceAll('_', '-') : '–';
}

/** A long DICOM UID cut in the middle for tables (the whole UID stays in the title). */
export function shortUid(/** @type {string} */ uid, keep = 10) {
  return uid.length <= 2 * keep + 1 ? uid : `${uid.slice(0, keep)}…${uid.slice(-keep)}`;
}

/** "R CC" for an image, "R" for a breast. */
export function viewName(/** @type {{ laterality: string | null, view?: string | null }} */ image) {
  return [image.laterality, image.view].filter(Boolean).join(' ') || 'unknown view';
}

/** A breast side in words. */
export function side(/** @type {string | null | undefined} */ laterality) {
  return laterality === 'L' ? 'left' : laterality === 'R' ? 'right' : '–';
}
