// Per-breast evaluation records: a breast's score is the maximum over its views (as in scoring,
// src/domain/aggregate.ts) and its label is the maximum of its views' labels (a breast with one
// malignant view is a malignant breast).

import { ValidationError } from '../../domain/index.js';
import type { Label } from './roc.js';

export interface ImageRecord {
  woman: string;
  laterality: 'L' | 'R';
  score: number;
  label: Label;
}

export interface BreastRecord {
  woman: string;
  laterality: 'L' | 'R';
  score: number;
  label: Label;
  /** Number of images (views) combined. */
  views: number;
}

/** One record per (woman, laterality), in order of first appearance. */
export function perBreast(records: readonly ImageRecord[]): BreastRecord[] {
  const breasts = new Map<string, BreastRecord>();
  records.forEach((r, i) => {
    if (r.laterality !== 'L' && r.laterality !== 'R') throw new ValidationError(`records[${i}].laterality`, `must be L or R, got ${String(r.laterality)}`);
    if (!Number.isFinite(r.score)) throw new ValidationError(`records[${i}].score`, `must be a finite number, got ${String(r.score)}`);
    if (r.label !== 0 && r.label !== 1) throw new ValidationError(`records[${i}].label`, `must be 0 or 1, got ${String(r.label)}`);
    const key = JSON.stringify([r.woman, r.laterality]);
    const b = breasts.get(key);
    if (b === undefined) {
      breasts.set(key, { woman: r.woman, laterality: r.laterality, score: r.score, label: r.label, views: 1 });
    } else {
      b.score = Math.max(b.score, r.score);
      b.label = Math.max(b.label, r.label) as Label;
      b.views++;
    }
  });
  return [...breasts.values()];
}
