// The "score-study" job: loads the active model (once per version per process) and runs
// scoreStudy. A study whose job ends for good — failed, or retries used up — is marked failed
// with the reason, so nothing is silently dropped.

import type { Logger } from 'pino';
import { MammocadError, type JobRecord, type JsonValue, type ModelVersionRecord } from '../domain/index.js';
import { createModelRuntime, type ModelRuntime } from '../ml/runtime/index.js';
import type { Store } from '../store/index.js';
import type { PipelineMetrics } from './metrics.js';
import type { ModelService } from './model-service.js';
import { scoreStudy, type ScoreStudyDeps } from './score-study.js';

export class ScoreStudyJob {
  private loaded: { record: ModelVersionRecord; runtime: ModelRuntime } | undefined;

  constructor(
    private readonly deps: Omit<ScoreStudyDeps, 'model'> & { models: ModelService; store: Store; logger: Logger; metrics?: PipelineMetrics },
  ) {}

  /** The active model's runtime, reloaded only when another version became active. */
  private async model(): Promise<{ record: ModelVersionRecord; runtime: ModelRuntime }> {
    const record = await this.deps.store.modelVersions.findActive();
    if (!record) throw new MammocadError('NO_ACTIVE_MODEL', 'no model version is active: studies wait until one is activated', { retryable: true });
    if (this.loaded?.record.id !== record.id) {
      const pkg = await this.deps.models.activePackage();
      if (!pkg) throw new MammocadError('NO_ACTIVE_MODEL', 'the active model version disappeared', { retryable: true });
      const runtime = await createModelRuntime([pkg]);
      await this.loaded?.runtime.dispose();
      this.loaded = { record, runtime };
      this.deps.logger.info({ version: record.version }, 'model loaded');
    }
    return this.loaded;
  }

  readonly handle = async (job: JobRecord): Promise<JsonValue> => {
    const { studyUid } = job.payload as { studyUid: string };
    try {
      const onStage = (stage: string) => this.deps.store.jobs.reportProgress(job.id, { stage });
      const result = await scoreStudy({ ...this.deps, model: await this.model(), onStage }, studyUid);
      this.deps.metrics?.recordStudy(result.status, result.status === 'scored' ? result.timingsMs : {});
      return result as unknown as JsonValue;
    } catch (error) {
      const final = !(error instanceof MammocadError && error.retryable) || job.attempts >= job.maxAttempts;
      const reason = error instanceof Error ? error.message : String(error);
      if (final) {
        this.deps.metrics?.recordStudy('failed');
        await this.deps.store.studies.setStatus(studyUid, 'failed', reason).catch(() => {});
      }
      else await this.deps.store.studies.setStatus(studyUid, 'queued', `retrying: ${reason}`).catch(() => {});
      throw error;
    }
  };

  async dispose(): Promise<void> {
    await this.loaded?.runtime.dispose();
    this.loaded = undefined;
  }
}
