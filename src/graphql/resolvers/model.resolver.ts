// Model versions: list and compare them (metrics, ROC), evaluate one on the recorded labels, and
// activate one for scoring.

import { Arg, Authorized, Ctx, Mutation, Query, Resolver, UseMiddleware } from 'type-graphql';
import { NotFoundError } from '../../domain/index.js';
import { EVALUATE_MODEL_JOB } from '../../pipeline/evaluate-model-job.js';
import { auditMiddleware } from '../audit.js';
import type { ApiContext } from '../context.js';
import { Job, ModelVersion, toJob, toModelVersion } from '../schema/types.js';

@UseMiddleware(auditMiddleware)
@Resolver()
export class ModelVersionResolver {
  @Authorized('clinician')
  @Query(() => [ModelVersion], { description: 'Every registered model version, newest first' })
  async modelVersions(@Ctx() context: ApiContext): Promise<ModelVersion[]> {
    const list = await context.services.store.modelVersions.list();
    return list.map(toModelVersion).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  @Authorized('clinician')
  @Query(() => ModelVersion)
  async modelVersion(@Arg('version', () => String) version: string, @Ctx() context: ApiContext): Promise<ModelVersion> {
    const record = await context.services.store.modelVersions.findByVersion(version);
    if (!record) throw new NotFoundError('model version', version);
    return toModelVersion(record);
  }

  @Authorized('admin')
  @Mutation(() => ModelVersion, { description: 'Makes this version the one that scores new studies (its package is verified first)' })
  async activateModelVersion(@Arg('version', () => String) version: string, @Ctx() context: ApiContext): Promise<ModelVersion> {
    return toModelVersion(await context.services.models.activate(version, context.actor.id));
  }

  @Authorized('admin')
  @Mutation(() => Job, { description: "Queues an evaluation of this version on the recorded labels (AUC with CI, ROC, sensitivity at 80/90% specificity); the result lands in the version's metrics" })
  async evaluateModelVersion(@Arg('version', () => String) version: string, @Ctx() context: ApiContext): Promise<Job> {
    const { store } = context.services;
    if (!(await store.modelVersions.findByVersion(version))) throw new NotFoundError('model version', version);
    const { job } = await store.jobs.enqueue(EVALUATE_MODEL_JOB, { version, requestedBy: context.actor.id }, { maxAttempts: 3 });
    return toJob(job);
  }
}
