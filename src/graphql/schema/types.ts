// The API's object types and the functions that map domain records onto them. Field names are
// the ones radiology IT uses (studyInstanceUid, sopInstanceUid), not the database's.
// Kept whole: the API's object types and their mappers read as one list, in the order the schema shows them.

import { Field, Float, GraphQLISODateTime, ID, Int, ObjectType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import type {
  ApiKeyRecord,
  AuditEventRecord,
  ImageRecord,
  JobRecord,
  JsonValue,
  LabelRecord,
  ModelVersionRecord,
  PredictionRecord,
  ReportRecord,
  StudyRecord,
} from '../../domain/index.js';
import { dequantiseHeatMap } from '../../domain/index.js';
import { versionEvidence } from '../../pipeline/model-evidence.js';
import {
  ImageLaterality,
  JobStatusValue,
  LabelScopeValue,
  LabelSourceValue,
  LabelValueValue,
  PredictionLevelValue,
  RoleValue,
  Side,
  StudyStatusValue,
} from './enums.js';

/** DICOM DA (YYYYMMDD) as an ISO date (YYYY-MM-DD); anything else is passed through. */
export function isoDate(da: string | null): string | null {
  return da && /^\d{8}$/.test(da) ? `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}` : da;
}

@ObjectType({ description: 'The authenticated caller' })
export class Actor {
  @Field(() => String) id!: string;
  @Field(() => String) name!: string;
  @Field(() => RoleValue) role!: RoleValue;
}

@ObjectType({ description: "A point in an image's pixels: (0, 0) is the top-left corner of the top-left pixel (DICOM SCOORD)" })
export class ImagePoint {
  @Field(() => Float) column!: number;
  @Field(() => Float) row!: number;
}

@ObjectType({ description: 'A region the model marks on an image: connected heat-map cells at or above the operating threshold' })
export class MarkedRegion {
  @Field(() => Float, { description: 'The highest probability of malignancy inside the region, 0..1' }) score!: number;
  @Field(() => ImagePoint, { description: 'Its centre, weighted by probability' }) center!: ImagePoint;
  @Field(() => [ImagePoint], { description: 'A closed outline (the first point repeated at the end)' }) outline!: ImagePoint[];
}

@ObjectType({ description: "A heat map: P(malignant) per cell of a grid that spans the image evenly (cell (r, c) covers columns c*imageColumns/columns to (c+1)*imageColumns/columns, rows likewise)" })
export class HeatMapGrid {
  @Field(() => Int) rows!: number;
  @Field(() => Int) columns!: number;
  @Field(() => [Float], { description: 'rows x columns values, row-major, each 0..1 in steps of 1/255' }) values!: number[];
  /** The stored bytes, for the PNG overlay resolver. */
  bytes!: Uint8Array;
}

const point = ([column, row]: [number, number]): ImagePoint => Object.assign(new ImagePoint(), { column, row });

@ObjectType({ description: 'A probability of malignancy from one model version for an image, a breast or the whole exam' })
export class Prediction {
  /** Internal ids, used by field resolvers. */
  studyId!: string;
  imageId!: string | null;
  modelVersionId!: string;

  @Field(() => PredictionLevelValue) level!: PredictionLevelValue;
  @Field(() => Side, { nullable: true, description: 'The breast side (breast and image levels)' }) laterality!: Side | null;
  @Field(() => Float, { description: 'Probability of malignancy, 0..1' }) probability!: number;
  @Field(() => Boolean, { description: "At or above the model version's operating threshold when scored" }) positive!: boolean;
  @Field(() => String, { nullable: true, description: 'The image scored (image level only)' }) sopInstanceUid!: string | null;
  @Field(() => GraphQLJSON, { nullable: true, description: 'Per-stage timings in milliseconds (exam level)' }) timings!: JsonValue | null;
  @Field(() => Float, {
    nullable: true,
    description:
      "How far the model's input lies from its training images (intensity histogram, docs/ood.md): 1 is the 99th percentile of the training images' own values, higher is more unusual. Breast and exam levels: the largest of their images. Null when the model package has no reference",
  })
  outOfDistribution!: number | null;
  @Field(() => Boolean, {
    nullable: true,
    description: "outOfDistribution above the model package's threshold: the image is unlike the training images and the probability may not be reliable. Null when not computed",
  })
  outOfDistributionFlagged!: boolean | null;
  @Field(() => [String], { description: "Safety flags in words, e.g. \"outside the model's intended use: ...\"; empty when none" }) flags!: string[];
  @Field(() => [MarkedRegion], {
    description: "Image level: the regions the model marks at its operating threshold, highest score first, in the image's pixels; empty when none (or the model gives no heat map)",
  })
  regions!: MarkedRegion[];
  @Field(() => HeatMapGrid, { nullable: true, description: 'Image level: the heat map over the image; null when the model gives none' })
  heatMap!: HeatMapGrid | null;
  @Field(() => GraphQLISODateTime) createdAt!: Date;
}

export function toPrediction(record: PredictionRecord, sopInstanceUid: string | null = null): Prediction {
  return Object.assign(new Prediction(), {
    studyId: record.studyId,
    imageId: record.imageId,
    modelVersionId: record.modelVersionId,
    level: record.level as PredictionLevelValue,
    laterality: record.laterality as Side | null,
    probability: record.probability,
    positive: record.positive,
    sopInstanceUid,
    timings: record.timings,
    outOfDistribution: record.outOfDistribution,
    outOfDistributionFlagged: record.outOfDistributionFlagged,
    flags: record.flags,
    regions: record.regions.map((r) => Object.assign(new MarkedRegion(), { score: r.score, center: point(r.center), outline: r.outline.map(point) })),
    heatMap: record.heatMap
      ? Object.assign(new HeatMapGrid(), { rows: record.heatMap.rows, columns: record.heatMap.columns, values: [...dequantiseHeatMap(record.heatMap.bytes)], bytes: record.heatMap.bytes })
      : null,
    createdAt: record.createdAt,
  });
}

@ObjectType({ description: 'One DICOM image of a study and what the service decided about it' })
export class Image {
  id!: string;
  studyId!: string;
  @Field(() => String) sopInstanceUid!: string;
  @Field(() => String) seriesInstanceUid!: string;
  @Field(() => String, { nullable: true }) sopClassUid!: string | null;
  @Field(() => String, { nullable: true }) modality!: string | null;
  @Field(() => ImageLaterality) laterality!: ImageLaterality;
  @Field(() => String, { nullable: true, description: 'CC, MLO, ...' }) view!: string | null;
  @Field(() => [String]) viewModifiers!: string[];
  @Field(() => String, { nullable: true }) transferSyntaxUid!: string | null;
  @Field(() => Int, { nullable: true }) rows!: number | null;
  @Field(() => Int, { nullable: true }) columns!: number | null;
  @Field(() => String, { description: 'eligible, skipped, scored or failed' }) status!: string;
  @Field(() => String, { nullable: true }) statusReason!: string | null;
}

export function toImage(record: ImageRecord): Image {
  return Object.assign(new Image(), {
    id: record.id,
    studyId: record.studyId,
    sopInstanceUid: record.sopInstanceUid,
    seriesInstanceUid: record.seriesUid,
    sopClassUid: record.sopClassUid,
    modality: record.modality,
    laterality: record.laterality as ImageLaterality,
    view: record.view,
    viewModifiers: record.viewModifiers,
    transferSyntaxUid: record.transferSyntaxUid,
    rows: record.rows,
    columns: record.columns,
    status: record.status,
    statusReason: record.statusReason,
  });
}

@ObjectType({ description: 'A DICOM Structured Report the service wrote back to the PACS' })
export class StructuredReport {
  modelVersionId!: string;
  @Field(() => String) sopInstanceUid!: string;
  @Field(() => String) seriesInstanceUid!: string;
  @Field(() => String) sopClassUid!: string;
  @Field(() => String, { description: 'TID1500 or TID4000' }) template!: string;
  @Field(() => String, { description: 'pending (UIDs reserved) or stored' }) status!: string;
  @Field(() => GraphQLISODateTime, { nullable: true }) storedOn!: Date | null;
  @Field(() => String, {
    nullable: true,
    description: 'The Grayscale Softcopy Presentation State drawing the marked regions on the images, written beside the report (report.presentationState); null when none',
  })
  presentationStateSopInstanceUid!: string | null;
  @Field(() => String, { nullable: true }) presentationStateSeriesInstanceUid!: string | null;
}

export function toReport(record: ReportRecord): StructuredReport {
  return Object.assign(new StructuredReport(), {
    modelVersionId: record.modelVersionId,
    sopInstanceUid: record.srSopInstanceUid,
    seriesInstanceUid: record.srSeriesUid,
    sopClassUid: record.srSopClassUid,
    template: record.template,
    status: record.status,
    storedOn: record.storedOn,
    presentationStateSopInstanceUid: record.gspsSopInstanceUid ?? null,
    presentationStateSeriesInstanceUid: record.gspsSeriesUid ?? null,
  });
}

@ObjectType({ description: 'An outcome recorded for an image or a breast' })
export class Label {
  imageId!: string | null;
  @Field(() => ID) id!: string;
  @Field(() => LabelScopeValue) scope!: LabelScopeValue;
  @Field(() => Side, { nullable: true }) laterality!: Side | null;
  @Field(() => LabelValueValue) value!: LabelValueValue;
  @Field(() => LabelSourceValue) source!: LabelSourceValue;
  @Field(() => String) author!: string;
  @Field(() => String, { nullable: true }) note!: string | null;
  @Field(() => GraphQLISODateTime) recordedAt!: Date;
  @Field(() => String, { nullable: true, description: 'The image labelled (image scope)' }) sopInstanceUid!: string | null;
  @Field(() => String) studyInstanceUid!: string;
}

export function toLabel(record: LabelRecord, uids: { studyUid: string; sopInstanceUid: string | null }): Label {
  return Object.assign(new Label(), {
    imageId: record.imageId,
    id: record.id,
    scope: record.scope as LabelScopeValue,
    laterality: record.laterality as Side | null,
    value: record.value as LabelValueValue,
    source: record.source as LabelSourceValue,
    author: record.author,
    note: record.note,
    recordedAt: record.recordedAt,
    sopInstanceUid: uids.sopInstanceUid,
    studyInstanceUid: uids.studyUid,
  });
}

@ObjectType({ description: 'One imaging study announced by the PACS' })
export class Study {
  id!: string;
  /** The exam prediction found by a search (for the search's model version), if any. */
  searchExam?: PredictionRecord | null;
  @Field(() => String) studyInstanceUid!: string;
  @Field(() => String, { nullable: true }) patientId!: string | null;
  @Field(() => String, { nullable: true }) accessionNumber!: string | null;
  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD' }) studyDate!: string | null;
  @Field(() => String, { nullable: true }) description!: string | null;
  @Field(() => String, { nullable: true, description: 'Modalities in the study, backslash-separated' }) modalities!: string | null;
  @Field(() => StudyStatusValue) status!: StudyStatusValue;
  @Field(() => String, { nullable: true }) statusReason!: string | null;
  @Field(() => String, { description: 'webhook, poll or manual' }) source!: string;
  @Field(() => GraphQLISODateTime) createdAt!: Date;
  @Field(() => GraphQLISODateTime) updatedAt!: Date;
}

export function toStudy(record: StudyRecord, searchExam?: PredictionRecord | null): Study {
  return Object.assign(new Study(), {
    id: record.id,
    searchExam,
    studyInstanceUid: record.studyUid,
    patientId: record.patientId,
    accessionNumber: record.accessionNumber,
    studyDate: isoDate(record.studyDate),
    description: record.description,
    modalities: record.modalities,
    status: record.status as StudyStatusValue,
    statusReason: record.statusReason,
    source: record.source,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  });
}

@ObjectType()
export class PageInfo {
  @Field(() => String, { nullable: true, description: 'Pass as `after` for the next page' }) endCursor!: string | null;
  @Field(() => Boolean) hasNextPage!: boolean;
}

@ObjectType()
export class StudyConnection {
  @Field(() => [Study]) nodes!: Study[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}

@ObjectType({ description: 'A point of a ROC curve' })
export class RocPoint {
  @Field(() => Float) fpr!: number;
  @Field(() => Float) tpr!: number;
  @Field(() => Float, { nullable: true }) threshold!: number | null;
}

@ObjectType({ description: 'A registered model package' })
export class ModelVersion {
  id!: string;
  @Field(() => String) version!: string;
  @Field(() => String) architecture!: string;
  @Field(() => String, { description: 'sha256 of the package manifest' }) packageHash!: string;
  @Field(() => Float, { description: 'Operating threshold on the probability of malignancy' }) threshold!: number;
  @Field(() => Boolean) active!: boolean;
  @Field(() => GraphQLISODateTime) createdAt!: Date;
  @Field(() => GraphQLISODateTime, { nullable: true }) activatedAt!: Date | null;
  @Field(() => String, { nullable: true }) activatedBy!: string | null;
  @Field(() => GraphQLJSON, { nullable: true, description: 'Training and evaluation metrics' }) metrics!: JsonValue | null;
  @Field(() => Float, { nullable: true, description: 'Latest per-image AUC known for this version' }) auc!: number | null;
  @Field(() => [Float], { nullable: true, description: '95% confidence interval of that AUC' }) aucCi!: number[] | null;
  @Field(() => Boolean, {
    nullable: true,
    description: "Whether that AUC's 95% confidence interval lies above 0.5: false means the version has not shown that it tells malignant from other images (null: no AUC to judge by)",
  })
  beatsChance!: boolean | null;
  @Field(() => [RocPoint], { description: 'ROC curve of that evaluation (empty when none)' }) roc!: RocPoint[];
}

function rocPoints(roc: unknown): RocPoint[] {
  if (!Array.isArray(roc)) return [];
  return roc
    .filter((p): p is { fpr: number; tpr: number; threshold?: number } => typeof p?.fpr === 'number' && typeof p?.tpr === 'number')
    .map((p) => Object.assign(new RocPoint(), { fpr: p.fpr, tpr: p.tpr, threshold: Number.isFinite(p.threshold) ? p.threshold : null }));
}

export function toModelVersion(record: ModelVersionRecord): ModelVersion {
  const best = versionEvidence(record.metrics);
  return Object.assign(new ModelVersion(), {
    id: record.id,
    version: record.version,
    architecture: record.architecture,
    packageHash: record.packageHash,
    threshold: record.threshold,
    active: record.active,
    createdAt: record.createdAt,
    activatedAt: record.activatedAt,
    activatedBy: record.activatedBy,
    metrics: record.metrics,
    auc: best.auc,
    aucCi: best.aucCi,
    beatsChance: best.beatsChance,
    roc: rocPoints(best.roc),
  });
}

@ObjectType({ description: 'A unit of background work: scoring, training, evaluation' })
export class Job {
  @Field(() => ID) id!: string;
  @Field(() => String, { description: 'score-study, train, evaluate' }) kind!: string;
  @Field(() => JobStatusValue) status!: JobStatusValue;
  @Field(() => GraphQLJSON) payload!: JsonValue;
  @Field(() => GraphQLJSON, { nullable: true }) progress!: JsonValue | null;
  @Field(() => GraphQLJSON, { nullable: true }) result!: JsonValue | null;
  @Field(() => Int) attempts!: number;
  @Field(() => Int) maxAttempts!: number;
  @Field(() => String, { nullable: true }) lastError!: string | null;
  @Field(() => Boolean) cancelRequested!: boolean;
  @Field(() => GraphQLISODateTime) runAt!: Date;
  @Field(() => GraphQLISODateTime) createdAt!: Date;
  @Field(() => GraphQLISODateTime, { nullable: true }) startedAt!: Date | null;
  @Field(() => GraphQLISODateTime, { nullable: true }) finishedAt!: Date | null;
}

export function toJob(record: JobRecord): Job {
  return Object.assign(new Job(), {
    id: record.id,
    kind: record.kind,
    status: record.status as JobStatusValue,
    payload: record.payload,
    progress: record.progress,
    result: record.result,
    attempts: record.attempts,
    maxAttempts: record.maxAttempts,
    lastError: record.lastError,
    cancelRequested: record.cancelRequested,
    runAt: record.runAt,
    createdAt: record.createdAt,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
  });
}

@ObjectType({ description: 'Who did what to which target, and when' })
export class AuditEvent {
  @Field(() => ID) id!: string;
  @Field(() => String) actor!: string;
  @Field(() => String) action!: string;
  @Field(() => String, { nullable: true }) target!: string | null;
  @Field(() => GraphQLJSON, { nullable: true }) details!: JsonValue | null;
  @Field(() => GraphQLISODateTime) at!: Date;
}

export const toAuditEvent = (record: AuditEventRecord): AuditEvent => Object.assign(new AuditEvent(), record);

@ObjectType({ description: 'An API key (the secret itself is never shown again after creation)' })
export class ApiKey {
  @Field(() => String) prefix!: string;
  @Field(() => String) name!: string;
  @Field(() => RoleValue) role!: RoleValue;
  @Field(() => GraphQLISODateTime) createdAt!: Date;
  @Field(() => String, { nullable: true }) createdBy!: string | null;
  @Field(() => GraphQLISODateTime, { nullable: true }) lastUsedAt!: Date | null;
  @Field(() => GraphQLISODateTime, { nullable: true }) revokedAt!: Date | null;
}

export function toApiKey(record: ApiKeyRecord): ApiKey {
  return Object.assign(new ApiKey(), {
    prefix: record.prefix,
    name: record.name,
    role: record.role as RoleValue,
    createdAt: record.createdAt,
    createdBy: record.createdBy,
    lastUsedAt: record.lastUsedAt,
    revokedAt: record.revokedAt,
  });
}

@ObjectType()
export class CreatedApiKey {
  @Field(() => String, { description: 'The full key: shown once, store it now' }) key!: string;
  @Field(() => ApiKey) apiKey!: ApiKey;
}

@ObjectType({ description: 'What the service did with a study announcement' })
export class Announcement {
  @Field(() => String) studyInstanceUid!: string;
  @Field(() => String, { description: 'new, changed, unchanged or settling' }) outcome!: string;
  @Field(() => ID, { nullable: true, description: 'The scoring job, when one was queued' }) jobId!: string | null;
}

@ObjectType({ description: 'A study whose exam-level result was just stored' })
export class StudyResult {
  @Field(() => String) studyInstanceUid!: string;
  @Field(() => String) modelVersion!: string;
  @Field(() => Float) probability!: number;
  @Field(() => Boolean) positive!: boolean;
  @Field(() => GraphQLISODateTime) createdAt!: Date;
}
