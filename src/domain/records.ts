// The records the store hands to the rest of the program: plain data in domain terms.

import type { MarkedRegion, StoredHeatMap } from './heatmap.js';
import type {
  ImageStatus,
  JobStatus,
  LabelScope,
  LabelSource,
  LabelValue,
  Laterality,
  PredictionLevel,
  ReportStatus,
  ReportTemplate,
  Role,
  StudySource,
  StudyStatus,
} from './vocabulary.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface StudyRecord {
  id: string;
  studyUid: string;
  patientId: string | null;
  accessionNumber: string | null;
  studyDate: string | null;
  studyTime: string | null;
  description: string | null;
  modalities: string | null;
  source: StudySource;
  contentFingerprint: string | null;
  lastAnnouncedAt: Date | null;
  status: StudyStatus;
  statusReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ImageRecord {
  id: string;
  studyId: string;
  sopInstanceUid: string;
  sopClassUid: string | null;
  seriesUid: string;
  modality: string | null;
  laterality: Laterality;
  view: string | null;
  viewModifiers: string[];
  transferSyntaxUid: string | null;
  rows: number | null;
  columns: number | null;
  status: ImageStatus;
  statusReason: string | null;
}

export interface PredictionRecord {
  id: string;
  studyId: string;
  imageId: string | null;
  modelVersionId: string;
  level: PredictionLevel;
  laterality: 'L' | 'R' | null;
  scopeKey: string;
  probability: number;
  positive: boolean;
  preprocessingHash: string;
  timings: Record<string, number> | null;
  /** Out-of-distribution statistic (docs/ood.md; 1 = the training images' 99th percentile); null when not computed. */
  outOfDistribution: number | null;
  /** outOfDistribution above the model package's threshold; null when not computed. */
  outOfDistributionFlagged: boolean | null;
  /** Safety flags in words (e.g. "outside the model's intended use: ..."); empty when none. */
  flags: string[];
  /** Image level: the heat map over the image (docs/heatmaps.md); null when the model gives none. */
  heatMap: StoredHeatMap | null;
  /** Image level: the regions marked at the operating threshold, highest score first; empty when none. */
  regions: MarkedRegion[];
  createdAt: Date;
}

export interface ReportRecord {
  id: string;
  studyId: string;
  modelVersionId: string;
  idempotencyKey: string;
  template: ReportTemplate;
  srSopInstanceUid: string;
  srSeriesUid: string;
  srSopClassUid: string;
  /** The Grayscale Softcopy Presentation State with the marked regions written beside the SR; null when none. */
  gspsSopInstanceUid: string | null;
  gspsSeriesUid: string | null;
  status: ReportStatus;
  storedAt: string | null;
  storedOn: Date | null;
  createdAt: Date;
}

export interface LabelRecord {
  id: string;
  studyId: string;
  imageId: string | null;
  scope: LabelScope;
  laterality: 'L' | 'R' | null;
  value: LabelValue;
  source: LabelSource;
  author: string;
  note: string | null;
  recordedAt: Date;
}

export interface ModelVersionRecord {
  id: string;
  version: string;
  architecture: string;
  packageHash: string;
  path: string;
  manifest: JsonValue;
  metrics: JsonValue | null;
  threshold: number;
  active: boolean;
  createdAt: Date;
  activatedAt: Date | null;
  activatedBy: string | null;
}

export interface JobRecord {
  id: string;
  kind: string;
  payload: JsonValue;
  status: JobStatus;
  progress: JsonValue | null;
  result: JsonValue | null;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  idempotencyKey: string | null;
  runAt: Date;
  lockedBy: string | null;
  lockedAt: Date | null;
  cancelRequested: boolean;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface AuditEventRecord {
  id: string;
  actor: string;
  action: string;
  target: string | null;
  details: JsonValue | null;
  at: Date;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  secretHash: string;
  createdAt: Date;
  createdBy: string | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** An exam-level prediction with what a reader needs to name it without further look-ups. */
export interface ExamPredictionRecord extends PredictionRecord {
  level: 'exam';
  studyUid: string;
  /** The model version's version string (not its id). */
  modelVersion: string;
}

/** One study found by a results search, with its exam result of the searched model version. */
export interface StudyHit {
  study: StudyRecord;
  /** Null when the study has no exam-level prediction of that model version (or none was searched). */
  exam: PredictionRecord | null;
}
