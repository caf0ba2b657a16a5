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
import { randomUUID } from 'node:crypto';
import type { Db } from './database.js';
import { insertRowsForSeeding } from './study.repository.js';

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

/** A label with what one model version predicted for its target (null: never scored by it). */
export interface LabelledResult {
  labelId: string;
  studyUid: string;
  /** The woman: PatientID, else the study (for resampling by woman in confidence intervals). */
  woman: string;
  scope: LabelScope;
  imageId: string | null;
  laterality: 'L' | 'R' | null;
  value: LabelValue;
  source: LabelSource;
  recordedAt: Date;
  probability: number | null;
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

  /**
   * Every label joined to the prediction of `modelVersionId` for its target: the image's
   * image-level result for image labels, the breast's result for breast labels.
   */
  async labelledResults(modelVersionId: string): Promise<LabelledResult[]> {
    const labels = await this.db.label.findMany({
      include: { study: { select: { studyUid: true, patientId: true } }, image: { select: { laterality: true } } },
      orderBy: { recordedAt: 'asc' },
    });
    // An image label's side is its image's (a label may have been recorded without one).
    const sideOf = (l: (typeof labels)[number]): 'L' | 'R' | null => {
      const side = l.scope === 'image' ? (l.image?.laterality ?? l.laterality) : l.laterality;
      return side === 'L' || side === 'R' ? side : null;
    };
    const studyIds = [...new Set(labels.map((l) => l.studyId))];
    const predictions = await this.db.prediction.findMany({
      where: { modelVersionId, studyId: { in: studyIds }, level: { in: ['image', 'breast'] } },
      select: { studyId: true, imageId: true, level: true, laterality: true, probability: true },
    });
    const byImage = new Map(predictions.filter((p) => p.level === 'image' && p.imageId).map((p) => [p.imageId!, p.probability]));
    const byBreast = new Map(predictions.filter((p) => p.level === 'breast').map((p) => [`${p.studyId}:${p.laterality}`, p.probability]));
    return labels.map((l) => ({
      labelId: l.id,
      studyUid: l.study.studyUid,
      woman: l.study.patientId || l.study.studyUid,
      scope: l.scope as LabelScope,
      imageId: l.imageId,
      laterality: sideOf(l),
      value: l.value as LabelValue,
      source: l.source as LabelSource,
      recordedAt: l.recordedAt,
      probability: (l.scope === 'image' ? byImage.get(l.imageId ?? '') : byBreast.get(`${l.studyId}:${l.laterality}`)) ?? null,
    }));
  }

  /** A study's labels, oldest first; with `newest`, only the newest that many. */
  async listByStudy(studyId: string, newest?: number): Promise<LabelRecord[]> {
    if (newest === undefined) return (await this.db.label.findMany({ where: { studyId }, orderBy: [{ recordedAt: 'asc' }, { id: 'asc' }] })) as LabelRecord[];
    const rows = await this.db.label.findMany({ where: { studyId }, orderBy: [{ recordedAt: 'desc' }, { id: 'desc' }], take: newest });
    return rows.reverse() as LabelRecord[];
  }

  /**
   * For benchmarks and demo data only (scripts/bench/seed-results.ts): validates the labels but
   * trusts their study and image ids (the seeder just wrote them), and inserts them with
   * multi-row INSERTs. Returns the number of rows written.
   */
  async bulkSeed(labels: LabelInput[]): Promise<number> {
    labels.forEach((label, i) => validate(label, `labels[${i}]`));
    const recordedAt = new Date().toISOString();
    const rows = labels.map((l) => [
      randomUUID(), l.studyId, l.imageId ?? null, l.scope, l.laterality ?? null, l.value, l.source, l.author, l.note ?? null, recordedAt,
    ]);
    return insertRowsForSeeding(this.db, 'Label', ['id', 'studyId', 'imageId', 'scope', 'laterality', 'value', 'source', 'author', 'note', 'recordedAt'], rows);
  }
}
