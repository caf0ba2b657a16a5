// The closed vocabularies of the domain. The database stores these as plain strings (SQLite
// has no enums), so every write goes through `assertOneOf` in the repositories.

import { ValidationError } from './errors.js';

export const LATERALITIES = ['L', 'R', 'B', 'U'] as const;
export type Laterality = (typeof LATERALITIES)[number];

/** Breast sides that carry a breast-level result. */
export const BREAST_SIDES = ['L', 'R'] as const;
export type BreastSide = (typeof BREAST_SIDES)[number];

export const STUDY_SOURCES = ['webhook', 'poll', 'manual'] as const;
export type StudySource = (typeof STUDY_SOURCES)[number];

export const STUDY_STATUSES = ['pending', 'queued', 'scoring', 'scored', 'skipped', 'failed'] as const;
export type StudyStatus = (typeof STUDY_STATUSES)[number];

export const IMAGE_STATUSES = ['eligible', 'skipped', 'scored', 'failed'] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

export const PREDICTION_LEVELS = ['image', 'breast', 'exam'] as const;
export type PredictionLevel = (typeof PREDICTION_LEVELS)[number];

export const REPORT_TEMPLATES = ['TID1500', 'TID4000'] as const;
export type ReportTemplate = (typeof REPORT_TEMPLATES)[number];

export const REPORT_STATUSES = ['pending', 'stored'] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];

export const LABEL_SCOPES = ['image', 'breast'] as const;
export type LabelScope = (typeof LABEL_SCOPES)[number];

export const LABEL_VALUES = ['malignant', 'benign', 'normal'] as const;
export type LabelValue = (typeof LABEL_VALUES)[number];

export const LABEL_SOURCES = ['pathology', 'follow-up', 'radiologist'] as const;
export type LabelSource = (typeof LABEL_SOURCES)[number];

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'skipped', 'failed', 'dead', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Job states from which a job never moves again. */
export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['succeeded', 'skipped', 'dead', 'cancelled'];

export const ROLES = ['pacs', 'clinician', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Throws a ValidationError naming `field` unless `value` is one of `allowed`. */
export function assertOneOf<T extends string>(field: string, value: string, allowed: readonly T[]): asserts value is T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ValidationError(field, `must be one of ${allowed.join(', ')}; got '${value}'`);
  }
}

/** Throws unless `p` is a finite probability in [0, 1]. */
export function assertProbability(field: string, p: number): void {
  if (!Number.isFinite(p) || p < 0 || p > 1) {
    throw new ValidationError(field, `must be a finite probability in [0, 1]; got ${p}`);
  }
}
