// The "score-study" job: loads the active model (once per version per process) and runs
// scoreStudy. A study whose job ends for good — failed, or retries used up — is marked failed
// with the reason, so nothing is silently dropped.

import type { Logger } from 'pino';
import { JobCancelledError, JobPostponedError, MammocadError, PacsUnavailableError, type JobRecord, type JsonValue, type ModelVersionRecord } from '../domain/index.js';
import { readPackage, type ModelPackage } from '../ml/registry/index.js';
import { createModelRuntime, type ModelRuntime } from '../ml/runtime/index.js';
import { isTransientDatabaseError, type JobContext } from './job-worker.js';
import type { Store } from '../store/index.js';
import type { PipelineMetrics } from './metrics.js';
import { scoreStudy, type ScoreStudyDeps } from './score-study.js';
import { SCORE_STUDY_JOB } from './study-discovery.js';

/** How long a study waits before looking again for an active model. */
const NO_MODEL_RETRY_MS = 60_000;

export class ScoreStudyJob {
  private loaded: { record: ModelVersionRecord; runtime: ModelRuntime } | undefined;

  constructor(
    private readonly deps: Omit<ScoreStudyDeps, 'model'> & { store: Store; logger: Logger; metrics?: PipelineMetrics; inferenceThreads?: number },
  ) {}

  /** The active model's runtime, reloaded only when another version became active. */
  private async model(): Promise<{ record: ModelVersionRecord; runtime: ModelRuntime }> {
    const record = await this.deps.store.modelVersions.findActive();
    if (!record) throw new JobPostponedError('no model version is active: the study waits until one is activated', NO_MODEL_RETRY_MS);
    if (this.loaded?.record.id !== record.id) {
      // The package of this very record (not a second look-up of "the active one", which an
      // activation in between could change), checked against its registered hash.
      let pkg: ModelPackage;
      try {
        pkg = await readPackage(record.path);
      } catch (error) {
        // A package damaged or missing on disk is an installation fault: retry, do not fail studies.
        throw new MammocadError('MODEL_UNAVAILABLE', `active model ${record.version}: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
      }
      if (pkg.packageHash !== record.packageHash) {
        throw new MammocadError('MODEL_UNAVAILABLE', `active model ${record.version}: the package on disk is not the one registered`, { retryable: true });
      }
      const threads = this.deps.inferenceThreads;
      const runtime = await createModelRuntime([pkg], threads ? { intraOpThreads: threads } : {});
      await this.loaded?.runtime.dispose();
      this.loaded = { record, runtime };
      this.deps.logger.info({ version: record.version }, 'model loaded');
    }
    return this.loaded;
  }

  /** A score-study job that died with its worker on every attempt: the study failed. */
  readonly onDead = async (job: JobRecord): Promise<void> => {
    if (job.kind !== SCORE_STUDY_JOB) return;
    const { studyUid } = job.payload as { studyUid: string };
    this.deps.metrics?.recordStudy('failed');
    await this.deps.store.studies.setStatus(studyUid, 'failed', job.lastError ?? 'the worker stopped on every attempt').catch(() => {});
  };

  readonly handle = async (job: JobRecord, context: JobContext): Promise<JsonValue> => {
    const { studyUid } = job.payload as { studyUid: string };
    try {
      const onStage = async (stage: string) => {
        // Cancellation is honoured until the report goes out; after that the study is done.
        if (stage !== 'store') await context.checkpoint();
        await context.progress({ stage });
      };
      const result = await scoreStudy({ ...this.deps, model: await this.model(), onStage }, studyUid);
      this.deps.metrics?.recordStudy(result.status, result.status === 'scored' ? result.timingsMs : {});
      return result as unknown as JsonValue;
    } catch (caught) {
      if (caught instanceof JobCancelledError) {
        await this.deps.store.studies.setStatus(studyUid, 'failed', 'scoring was cancelled on request').catch(() => {});
        throw caught;
      }
      if (caught instanceof JobPostponedError) {
        await this.deps.store.studies.setStatus(studyUid, 'queued', caught.message).catch(() => {});
        throw caught;
      }
      // Refused PACS credentials are an installation fault that an operator fixes: retry.
      const error = caught instanceof MammocadError && caught.code === 'PACS_UNAUTHORIZED' ? new PacsUnavailableError(caught.message, { status: 401, cause: caught }) : caught;
      const retryable = (error instanceof MammocadError && error.retryable) || isTransientDatabaseError(error);
      const reason = error instanceof Error ? error.message : String(error);
      if (!retryable || job.attempts >= job.maxAttempts) {
        this.deps.metrics?.recordStudy('failed');
        await this.deps.store.studies.setStatus(studyUid, 'failed', reason).catch(() => {});
      } else {
        await this.deps.store.studies.setStatus(studyUid, 'queued', `retrying: ${reason}`).catch(() => {});
      }
      throw error;
    }
  };

  async dispose(): Promise<void> {
    await this.loaded?.runtime.dispose();
    this.loaded = undefined;
  }
}
