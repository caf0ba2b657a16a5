// Image-level and breast-level outcome labels: the training signal for retraining.

import type { LabelRecord, LabelScope, LabelSource, LabelValue } from '../domain/index.js';
import {
  BREAST_SIDES,
  LABEL_SCOPES,
  LABEL_SOURCES,
  LABEL_VALUES,
  NotFoundError,
  ValidationError,
  assertOneOf,
} from '../domain/index.js';
import type { Db } from './database.js';

export interface LabelInput {
  studyId: string;
  scope: LabelScope;
  imageId?: string | null;
  laterality?: 'L' | 'R' | null;
  value: LabelValue;
  source: LabelSource;
  author: string;
  note?: string | null;
}

function validate(label: LabelInput, field: string): void {
  assertOneOf(`${field}.scope`, label.scope, LABEL_SCOPES);
  assertOneOf(`${field}.value`, label.value, LABEL_VALUES);
  assertOneOf(`${field}.source`, label.source, LABEL_SOURCES);
  if (label.laterality != null) assertOneOf(`${field}.laterality`, label.laterality, BREAST_SIDES);
  if (label.scope === 'image' && !label.imageId) throw new ValidationError(`${field}.imageId`, 'is required for an image label');
  if (label.scope === 'breast' && !label.laterality) throw new ValidationError(`${field}.laterality`, 'is required for a breast label');
  if (!label.author.trim()) throw new ValidationError(`${field}.author`, 'is required');
}

export class LabelRepository {
  constructor(private readonly db: Db) {}

  /** Validates every label first, then writes all of them or none. */
  async addMany(labels: LabelInput[]): Promise<LabelRecord[]> {
    labels.forEach((label, i) => validate(label, `labels[${i}]`));
    await this.assertTargetsExist(labels);
    const rows = await this.db.$transaction(labels.map((data) => this.db.label.create({ data })));
    return rows as LabelRecord[];
  }

  /** Every label must name an existing study, and an image of that same study. */
  private async assertTargetsExist(labels: LabelInput[]): Promise<void> {
    const studyIds = [...new Set(labels.map((l) => l.studyId))];
    const imageIds = [...new Set(labels.flatMap((l) => (l.imageId ? [l.imageId] : [])))];
    const [studies, images] = await Promise.all([
      this.db.study.findMany({ where: { id: { in: studyIds } }, select: { id: true } }),
      this.db.image.findMany({ where: { id: { in: imageIds } }, select: { id: true, studyId: true } }),
    ]);
    const knownStudies = new Set(studies.map((s) => s.id));
    const imageStudy = new Map(images.map((i) => [i.id, i.studyId]));
    labels.forEach((label, i) => {
      if (!knownStudies.has(label.studyId)) throw new NotFoundError('study', label.studyId);
      if (label.imageId && imageStudy.get(label.imageId) !== label.studyId) {
        throw new ValidationError(`labels[${i}].imageId`, `no image ${label.imageId} in study ${label.studyId}`);
      }
    });
  }

  async listByStudy(studyId: string): Promise<LabelRecord[]> {
    return (await this.db.label.findMany({ where: { studyId }, orderBy: { recordedAt: 'asc' } })) as LabelRecord[];
  }
}
