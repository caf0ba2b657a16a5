// The "score-study" job: loads the active model (once per version per process, shared by the
// jobs the process runs at once) and runs scoreStudy. A study whose job ends for good — failed,
// or retries used up — is marked failed with the reason, so nothing is silently dropped.

import type { Logger } from 'pino';
import { JobCancelledError, JobPostponedError, MammocadError, PacsUnavailableError, type JobRecord, type JsonValue, type ModelVersionRecord } from '../domain/index.js';
import { readPackage, type ModelPackage } from '../ml/registry/index.js';
import { createModelRuntime, type ModelRuntime, type ModelRuntimeOptions } from '../ml/runtime/index.js';
import { isTransientDatabaseError, type JobContext } from './job-worker.js';
import type { Store } from '../store/index.js';
import type { PipelineMetrics } from './metrics.js';
import { scoreStudy, type ScoreStudyDeps } from './score-study.js';
import { recordUnseenEnd } from './scoring-job-ends.js';
import { studyRef } from './study-discovery.js';

/** How long a study waits before looking again for an active model. */
const NO_MODEL_RETRY_MS = 60_000;

/** How a runtime is made from the active model's package (the service: on a worker thread). */
export type RuntimeFactory = (packages: readonly ModelPackage[], options: ModelRuntimeOptions) => Promise<ModelRuntime>;

/** A loaded model version and the jobs using it: a replaced one is disposed after its last job. */
interface LoadedModel {
  record: ModelVersionRecord;
  runtime: ModelRuntime;
  users: number;
  retired: boolean;
  /** Order of the loads begun: a load that ends after a later one never replaces it. */
  sequence: number;
}

export class ScoreStudyJob {
  private current: LoadedModel | undefined;
  /** The load in progress: jobs that ask for the same version meanwhile wait for this one. */
  private loading: { id: string; promise: Promise<LoadedModel> } | undefined;
  private loads = 0;

  constructor(
    private readonly deps: Omit<ScoreStudyDeps, 'model'> & { store: Store; logger: Logger; metrics?: PipelineMetrics; inferenceThreads?: number; createRuntime?: RuntimeFactory },
  ) {}

  /**
   * The active model's runtime, loaded once per version per process however many jobs ask at
   * once, and loaded again when another version became active or the runtime failed. The caller
   * releases it when its job ends.
   */
  private async acquire(): Promise<LoadedModel> {
    const record = await this.deps.store.modelVersions.findActive();
    if (!record) throw new JobPostponedError('no model version is active: the study waits until one is activated', NO_MODEL_RETRY_MS);
    const current = this.current;
    if (current?.record.id === record.id && !runtimeFailed(current.runtime)) {
      current.users++;
      return current;
    }
    if (this.loading?.id !== record.id) this.loading = { id: record.id, promise: this.load(record) };
    const loading = this.loading;
    let loaded: LoadedModel;
    try {
      loaded = await loading.promise;
    } finally {
      if (this.loading === loading) this.loading = undefined;
    }
    // Counted before anything else can run, so no one disposes it under this job.
    loaded.users++;
    if (this.current !== loaded) {
      if (this.current && this.current.sequence > loaded.sequence) {
        // A later load (another version activated meanwhile) is already in place: this job
        // uses the one it waited for, which goes once its users are done.
        loaded.retired = true;
      } else {
        const replaced = this.current;
        this.current = loaded;
        if (replaced) {
          replaced.retired = true;
          if (replaced.users === 0) await replaced.runtime.dispose();
        }
      }
    }
    return loaded;
  }

  private release(loaded: LoadedModel): void {
    loaded.users--;
    if (loaded.retired && loaded.users === 0) {
      loaded.runtime.dispose().catch((error: unknown) => this.deps.logger.warn({ err: String(error) }, 'disposing a replaced model runtime failed'));
    }
  }

  private async load(record: ModelVersionRecord): Promise<LoadedModel> {
    const sequence = ++this.loads;
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
    const runtime = await (this.deps.createRuntime ?? createModelRuntime)([pkg], threads ? { intraOpThreads: threads } : {});
    this.deps.logger.info({ version: record.version }, 'model loaded');
    return { record, runtime, users: 0, retired: false, sequence };
  }

  /**
   * Loads the active model now, so that the first study does not wait for it (worker start-up).
   * Never throws: without an active model, or with a broken one, the first job says why.
   */
  async warmUp(): Promise<void> {
    try {
      this.release(await this.acquire());
    } catch (error) {
      this.deps.logger.debug({ err: error instanceof Error ? error.message : String(error) }, 'model not loaded at start-up');
    }
  }

  /**
   * A score-study job that ended without its handler seeing the end (died with its worker on
   * every attempt, or cancelled while it waited for a retry or its worker was silent).
   */
  readonly onEnded = async (job: JobRecord): Promise<void> => {
    if (await recordUnseenEnd(this.deps.store, job).catch(() => false)) this.deps.metrics?.recordStudy('failed');
  };

  /**
   * A study status that could not be written (the database away at that moment): the job's own
   * outcome still stands and is recorded; the study keeps its last status until the next write,
   * so say it loudly rather than not at all.
   */
  private statusNotRecorded(studyUid: string) {
    return (error: unknown) => this.deps.logger.error({ study: studyRef(studyUid), err: error instanceof Error ? error.message : String(error) }, "could not record the study's status");
  }

  readonly handle = async (job: JobRecord, context: JobContext): Promise<JsonValue> => {
    const { studyUid } = job.payload as { studyUid: string };
    try {
      const onStage = async (stage: string) => {
        // Cancellation is honoured until the report goes out; after that the study is done.
        if (stage !== 'store') await context.stage({ stage });
        else await context.progress({ stage });
      };
      const model = await this.acquire();
      let result: Awaited<ReturnType<typeof scoreStudy>>;
      try {
        result = await scoreStudy({ ...this.deps, model, onStage }, studyUid);
      } finally {
        this.release(model);
      }
      this.deps.metrics?.recordStudy(result.status, result.status === 'scored' ? result.timingsMs : {});
      return result as unknown as JsonValue;
    } catch (caught) {
      if (caught instanceof JobCancelledError) {
        await this.deps.store.studies.setStatus(studyUid, 'failed', 'scoring was cancelled on request').catch(this.statusNotRecorded(studyUid));
        throw caught;
      }
      if (caught instanceof JobPostponedError) {
        await this.deps.store.studies.setStatus(studyUid, 'queued', caught.message).catch(this.statusNotRecorded(studyUid));
        throw caught;
      }
      // Refused PACS credentials are an installation fault that an operator fixes: retry.
      const error = caught instanceof MammocadError && caught.code === 'PACS_UNAUTHORIZED' ? new PacsUnavailableError(caught.message, { status: 401, cause: caught }) : caught;
      const retryable = (error instanceof MammocadError && error.retryable) || isTransientDatabaseError(error);
      const reason = error instanceof Error ? error.message : String(error);
      if (!retryable || job.attempts >= job.maxAttempts) {
        this.deps.metrics?.recordStudy('failed');
        await this.deps.store.studies.setStatus(studyUid, 'failed', reason).catch(this.statusNotRecorded(studyUid));
      } else {
        await this.deps.store.studies.setStatus(studyUid, 'queued', `retrying: ${reason}`).catch(this.statusNotRecorded(studyUid));
      }
      throw error;
    }
  };

  async dispose(): Promise<void> {
    const loading = this.loading?.promise.catch(() => undefined);
    this.loading = undefined;
    const current = this.current;
    this.current = undefined;
    await current?.runtime.dispose();
    await (await loading)?.runtime.dispose();
  }
}

function runtimeFailed(runtime: ModelRuntime): boolean {
  return 'failed' in runtime && runtime.failed === true;
}
