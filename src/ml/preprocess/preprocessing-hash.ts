// A fingerprint of "how pixels were prepared", stored with every prediction, so that a result can
// always be traced to the exact pre-processing behind it, and results prepared differently are
// never mixed up (the paper's released models lost 0.1 AUC to silent pre-processing mismatches).

import { createHash } from 'node:crypto';
import type { PreprocessingSpec } from '../model-manifest.js';

/**
 * Version of the code in src/ml/preprocess. Bump it whenever a change alters the output for an
 * unchanged spec (a different percentile estimate, rounding, border rule): the hash then tells
 * predictions made before and after the change apart, although the manifests did not change.
 */
export const PREPROCESSING_IMPLEMENTATION = 1;

/**
 * JSON with object keys sorted at every level and no whitespace: equal values give equal text
 * whatever order their keys were written in. Refuses what JSON cannot state exactly.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON form`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: a ${typeof value} has no JSON form`);
}

/** sha256 (hex) of the canonical JSON of the spec together with PREPROCESSING_IMPLEMENTATION. */
export function preprocessingHash(spec: PreprocessingSpec): string {
  const text = canonicalJson({ implementation: PREPROCESSING_IMPLEMENTATION, spec });
  return createHash('sha256').update(text).digest('hex');
}
