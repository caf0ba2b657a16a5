// GraphQL enums. Their names are the API's (upper case); their values are the domain's strings,
// so resolvers pass them straight to the store.

import { registerEnumType } from 'type-graphql';

export enum StudyStatusValue {
  PENDING = 'pending',
  QUEUED = 'queued',
  SCORING = 'scoring',
  SCORED = 'scored',
  SKIPPED = 'skipped',
  FAILED = 'failed',
}

export enum Side {
  L = 'L',
  R = 'R',
}

export enum ImageLaterality {
  L = 'L',
  R = 'R',
  B = 'B',
  U = 'U',
}

export enum PredictionLevelValue {
  IMAGE = 'image',
  BREAST = 'breast',
  EXAM = 'exam',
}

export enum LabelValueValue {
  MALIGNANT = 'malignant',
  BENIGN = 'benign',
  NORMAL = 'normal',
}

export enum LabelSourceValue {
  PATHOLOGY = 'pathology',
  FOLLOW_UP = 'follow-up',
  RADIOLOGIST = 'radiologist',
}

export enum LabelScopeValue {
  IMAGE = 'image',
  BREAST = 'breast',
}

export enum JobStatusValue {
  QUEUED = 'queued',
  RUNNING = 'running',
  SUCCEEDED = 'succeeded',
  SKIPPED = 'skipped',
  FAILED = 'failed',
  DEAD = 'dead',
  CANCELLED = 'cancelled',
}

export enum RoleValue {
  PACS = 'pacs',
  CLINICIAN = 'clinician',
  ADMIN = 'admin',
}

export enum StudySortValue {
  SCORE_DESC = 'SCORE_DESC',
  SCORE_ASC = 'SCORE_ASC',
  DATE_DESC = 'DATE_DESC',
  DATE_ASC = 'DATE_ASC',
}

export enum TrainingDatasetValue {
  /** Image-level labels recorded through the API, joined to the stored images. */
  LABELS = 'labels',
  /** The mini-MIAS development split in the shared data folder. */
  MIAS = 'mias',
}

registerEnumType(StudyStatusValue, { name: 'StudyStatus' });
registerEnumType(Side, { name: 'Side', description: 'Breast side' });
registerEnumType(ImageLaterality, { name: 'ImageLaterality', description: 'L, R, B (both) or U (unknown)' });
registerEnumType(PredictionLevelValue, { name: 'PredictionLevel' });
registerEnumType(LabelValueValue, { name: 'LabelValue' });
registerEnumType(LabelSourceValue, { name: 'LabelSource' });
registerEnumType(LabelScopeValue, { name: 'LabelScope' });
registerEnumType(JobStatusValue, { name: 'JobStatus' });
registerEnumType(RoleValue, { name: 'Role' });
registerEnumType(StudySortValue, { name: 'StudySort' });
registerEnumType(TrainingDatasetValue, { name: 'TrainingDataset' });
