// Background work: list and follow jobs, rescore a study, start a retraining run, cancel a job.

import { Arg, Args, Authorized, Ctx, ID, Mutation, Query, Resolver, UseMiddleware } from 'type-graphql';
import { ConflictError, NotFoundError, type JsonValue } from '../../domain/index.js';
import { auditMiddleware } from '../audit.js';
import type { ApiContext } from '../context.js';
import { JobsArgs, TrainingConfigInput } from '../schema/inputs.js';
import { Job, toJob } from '../schema/types.js';
import { cancelJob } from '../../pipeline/scoring-job-ends.js';

export const TRAIN_MODEL_JOB = 'train';

@UseMiddleware(auditMiddleware)
@Resolver()
export class JobResolver {
  @Authorized('admin')
  @Query(() => [Job], { description: 'Jobs, newest first' })
  async jobs(@Args(() => JobsArgs) args: JobsArgs, @Ctx() context: ApiContext): Promise<Job[]> {
    // An explicit null (a client's "no filter") means no filter: Prisma refuses null on a required column.
    return (await context.services.store.jobs.list({ kind: args.kind ?? undefined, status: args.status ?? undefined, take: args.first ?? undefined })).map(toJob);
  }

  @Authorized('admin')
  @Query(() => Job)
  async job(@Arg('id', () => ID) id: string, @Ctx() context: ApiContext): Promise<Job> {
    return toJob(await context.services.store.jobs.get(id));
  }

  @Authorized('clinician')
  @Mutation(() => Job, { description: 'Scores the study again with the active model (no second report when that model already reported it)' })
  async rescoreStudy(@Arg('studyInstanceUid', () => String) studyInstanceUid: string, @Ctx() context: ApiContext): Promise<Job> {
    const { store, discovery } = context.services;
    if (!(await store.studies.findByUid(studyInstanceUid))) throw new NotFoundError('study', studyInstanceUid);
    const jobId = await discovery.rescore(studyInstanceUid, context.actor.id);
    return toJob(await store.jobs.get(jobId));
  }

  @Authorized('admin')
  @Mutation(() => Job, { description: 'Queues a retraining run; the new version is registered but not activated' })
  async startTraining(@Arg('config', () => TrainingConfigInput) config: TrainingConfigInput, @Ctx() context: ApiContext): Promise<Job> {
    const { store } = context.services;
    if (config.baseVersion != null && !(await store.modelVersions.findByVersion(config.baseVersion))) {
      throw new NotFoundError('model version', config.baseVersion);
    }
    if (config.version != null && (await store.modelVersions.findByVersion(config.version))) {
      throw new ConflictError(`model version ${config.version} already exists`);
    }
    const payload = { ...JSON.parse(JSON.stringify(config)), requestedBy: context.actor.id } as JsonValue;
    const { job } = await store.jobs.enqueue(TRAIN_MODEL_JOB, payload, { maxAttempts: 3 });
    return toJob(job);
  }

  @Authorized('admin')
  @Mutation(() => Job, { description: 'Cancels a queued job at once; a running one stops at its next checkpoint' })
  async cancelJob(@Arg('id', () => ID) id: string, @Ctx() context: ApiContext): Promise<Job> {
    return toJob(await cancelJob(context.services.store, id));
  }
}
