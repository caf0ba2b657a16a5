// Studies for clinicians: a filtered, sorted, paginated list; one study with its images,
// predictions, reports and labels; and the worklist of positive exams.

import { Arg, Args, Authorized, Ctx, FieldResolver, Int, Query, Resolver, Root, UseMiddleware } from 'type-graphql';
import { MammocadError, NotFoundError, ValidationError, type ModelVersionRecord, type PredictionRecord } from '../../domain/index.js';
import { heatMapOverlayPng } from '../../pipeline/heat-map-png.js';
import { auditMiddleware } from '../audit.js';
import type { ApiContext } from '../context.js';
import { PredictionLevelValue } from '../schema/enums.js';
import { StudiesArgs, WorklistArgs, type StudyFilter } from '../schema/inputs.js';
import { Image, Label, Prediction, Study, StudyConnection, StructuredReport, toImage, toLabel, toPrediction, toReport, toStudy } from '../schema/types.js';

/**
 * The model version a read is about: the one named, else the active one (null when none is). A
 * client's explicit null names none, as an argument left out does (throughout these resolvers).
 */
export async function modelVersionFor(context: ApiContext, version: string | null | undefined): Promise<ModelVersionRecord | null> {
  const { store } = context.services;
  if (version == null) return store.modelVersions.findActive();
  const found = await store.modelVersions.findByVersion(version);
  if (!found) throw new NotFoundError('model version', version);
  return found;
}

/** A study's labels in one answer, at most (submitLabels takes 1,000 at a time, and again). */
const MAX_STUDY_LABELS = 500;

const dicomDate = (iso: string | undefined): string | undefined => iso?.replaceAll('-', '');

async function search(context: ApiContext, filter: StudyFilter | undefined, sort: StudiesArgs['sort'], first: number, after: string | undefined, positiveOnly = false): Promise<StudyConnection> {
  const model = await modelVersionFor(context, filter?.modelVersion);
  const page = await context.services.store.search.search(
    {
      studyDateFrom: dicomDate(filter?.from ?? undefined),
      studyDateTo: dicomDate(filter?.to ?? undefined),
      status: filter?.status ?? undefined,
      minScore: filter?.minScore ?? undefined,
      maxScore: filter?.maxScore ?? undefined,
      laterality: filter?.laterality ?? undefined,
      labelled: filter?.labelled ?? undefined,
      modelVersionId: model?.id ?? null,
      positiveOnly,
    },
    sort,
    { first, after },
  );
  return {
    nodes: page.items.map((hit) => toStudy(hit.study, hit.exam)),
    pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage },
  };
}

@UseMiddleware(auditMiddleware)
@Resolver(() => Study)
export class StudyResolver {
  @Authorized('clinician')
  @Query(() => StudyConnection, { description: 'Studies matching a filter, sorted by exam score (default) or date' })
  async studies(@Args(() => StudiesArgs) args: StudiesArgs, @Ctx() context: ApiContext): Promise<StudyConnection> {
    return search(context, args.filter, args.sort, args.first, args.after);
  }

  @Authorized('clinician')
  @Query(() => StudyConnection, { description: "Exams at or above the active model's operating threshold, highest score first" })
  async worklist(@Args(() => WorklistArgs) args: WorklistArgs, @Ctx() context: ApiContext): Promise<StudyConnection> {
    if (!(await context.services.store.modelVersions.findActive())) throw new MammocadError('NO_ACTIVE_MODEL', 'no model version is active, so there is no worklist');
    return search(context, undefined, 'SCORE_DESC' as StudiesArgs['sort'], args.first, args.after, true);
  }

  @Authorized('clinician')
  @Query(() => Study, { description: 'One study by its Study Instance UID' })
  async study(@Arg('studyInstanceUid', () => String) studyInstanceUid: string, @Ctx() context: ApiContext): Promise<Study> {
    const record = await context.services.store.studies.findByUid(studyInstanceUid);
    if (!record) throw new NotFoundError('study', studyInstanceUid);
    return toStudy(record);
  }

  @FieldResolver(() => [Image])
  async images(@Root() study: Study, @Ctx() context: ApiContext): Promise<Image[]> {
    return (await context.services.store.images.listByStudy(study.id)).map(toImage);
  }

  @FieldResolver(() => [Prediction], { description: 'Results of every model version (or of the one named), exam first' })
  async predictions(
    @Root() study: Study,
    @Ctx() context: ApiContext,
    @Arg('modelVersion', () => String, { nullable: true }) modelVersion?: string,
    @Arg('level', () => PredictionLevelValue, { nullable: true }) level?: PredictionLevelValue,
  ): Promise<Prediction[]> {
    const { store } = context.services;
    const model = modelVersion == null ? undefined : await modelVersionFor(context, modelVersion);
    const [predictions, images] = await Promise.all([store.predictions.listByStudy(study.id, model?.id), store.images.listByStudy(study.id)]);
    const uidOf = new Map(images.map((i) => [i.id, i.sopInstanceUid]));
    const order = { exam: 0, breast: 1, image: 2 } as const;
    return predictions
      .filter((p) => level == null || p.level === level)
      .sort((a, b) => order[a.level] - order[b.level])
      .map((p) => toPrediction(p, p.imageId ? (uidOf.get(p.imageId) ?? null) : null));
  }

  @FieldResolver(() => Prediction, { nullable: true, description: 'The exam-level result of a model version (default: the one searched by, else the active one)' })
  async exam(@Root() study: Study, @Ctx() context: ApiContext, @Arg('modelVersion', () => String, { nullable: true }) modelVersion?: string): Promise<Prediction | null> {
    if (modelVersion == null && study.searchExam !== undefined) return study.searchExam ? toPrediction(study.searchExam) : null;
    const exam = (await this.resultsOf(study, context, modelVersion)).find((p) => p.level === 'exam');
    return exam ? toPrediction(exam) : null;
  }

  @FieldResolver(() => [Prediction], { description: 'Breast-level results of a model version (default: the active one)' })
  async breasts(@Root() study: Study, @Ctx() context: ApiContext, @Arg('modelVersion', () => String, { nullable: true }) modelVersion?: string): Promise<Prediction[]> {
    return (await this.resultsOf(study, context, modelVersion)).filter((p) => p.level === 'breast').map((p) => toPrediction(p));
  }

  private async resultsOf(study: Study, context: ApiContext, modelVersion: string | null | undefined): Promise<PredictionRecord[]> {
    const model = study.searchExam && modelVersion == null ? null : await modelVersionFor(context, modelVersion);
    const modelVersionId = model?.id ?? study.searchExam?.modelVersionId;
    if (!modelVersionId) return [];
    return context.services.store.predictions.listByStudy(study.id, modelVersionId);
  }

  @FieldResolver(() => [StructuredReport], { description: 'Structured reports written back to the PACS' })
  async reports(@Root() study: Study, @Ctx() context: ApiContext): Promise<StructuredReport[]> {
    return (await context.services.store.reports.listByStudy(study.id)).map(toReport);
  }

  @FieldResolver(() => [Label], { description: `The newest \`first\` labels (1 to ${MAX_STUDY_LABELS}), oldest first` })
  async labels(
    @Root() study: Study,
    @Ctx() context: ApiContext,
    @Arg('first', () => Int, { defaultValue: 10 }) first: number,
  ): Promise<Label[]> {
    if (!Number.isInteger(first) || first < 1 || first > MAX_STUDY_LABELS) throw new ValidationError('first', `must be 1 to ${MAX_STUDY_LABELS}`);
    const { store } = context.services;
    const [labels, images] = await Promise.all([store.labels.listByStudy(study.id, first), store.images.listByStudy(study.id)]);
    const uidOf = new Map(images.map((i) => [i.id, i.sopInstanceUid]));
    return labels.map((l) => toLabel(l, { studyUid: study.studyInstanceUid, sopInstanceUid: l.imageId ? (uidOf.get(l.imageId) ?? null) : null }));
  }
}

@Resolver(() => Prediction)
export class PredictionResolver {
  @FieldResolver(() => String, { description: 'The model version that produced it' })
  async modelVersion(@Root() prediction: Prediction, @Ctx() context: ApiContext): Promise<string> {
    return context.cache.versionName(prediction.modelVersionId);
  }

  @FieldResolver(() => String, {
    nullable: true,
    description:
      'Image level: the heat map as a PNG overlay (RGBA, base64): colour from half the operating threshold up, transparent below, the marked regions outlined; ' +
      "it spans the whole image (the image's aspect ratio, longest side maxSize): stretch it over the image. Null when the model gives no heat map",
  })
  async heatMapOverlayPng(
    @Root() prediction: Prediction,
    @Ctx() context: ApiContext,
    @Arg('maxSize', () => Int, { defaultValue: 512, description: 'Longest side in pixels, 16 to 2048' }) maxSize: number,
  ): Promise<string | null> {
    const grid = prediction.heatMap;
    if (!grid || !prediction.imageId) return null;
    const image = (await context.services.store.images.listByStudy(prediction.studyId)).find((i) => i.id === prediction.imageId);
    const png = heatMapOverlayPng({
      heatMap: { rows: grid.rows, columns: grid.columns, bytes: grid.bytes },
      regions: prediction.regions.map((r) => ({ score: r.score, center: [r.center.column, r.center.row], outline: r.outline.map((p) => [p.column, p.row]) })),
      imageRows: image?.rows ?? null,
      imageColumns: image?.columns ?? null,
      threshold: (await context.cache.modelVersions()).get(prediction.modelVersionId)?.threshold ?? 0.5,
      maxSize,
    });
    return png.toString('base64');
  }
}

@Resolver(() => StructuredReport)
export class ReportResolver {
  @FieldResolver(() => String)
  async modelVersion(@Root() report: StructuredReport, @Ctx() context: ApiContext): Promise<string> {
    return context.cache.versionName(report.modelVersionId);
  }
}
