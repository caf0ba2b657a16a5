// The store: the only code that touches Prisma. Everything else receives repositories.

import type { Logger } from 'pino';
import { parseDatabaseUrl, type DatabaseTarget, type Provider } from './adapters.js';
import { openDatabase, type Db } from './database.js';
import { applyMigrations, type MigrateResult } from './migrate.js';
import { ApiKeyRepository } from './api-key.repository.js';
import { AuditRepository } from './audit.repository.js';
import { ImageRepository } from './image.repository.js';
import { JobRepository } from './job.repository.js';
import { LabelRepository } from './label.repository.js';
import { ModelVersionRepository } from './model-version.repository.js';
import { PredictionRepository } from './prediction.repository.js';
import { ReportRepository } from './report.repository.js';
import { StudyRepository } from './study.repository.js';
import { StudySearchRepository } from './study-search.repository.js';
import { WatcherCursorRepository } from './watcher-cursor.repository.js';

export { parseDatabaseUrl, applyMigrations, type DatabaseTarget, type Provider, type MigrateResult };
export type { AnnouncedStudy, BulkStudyInput, StudyListFilter } from './study.repository.js';
export type { ImageInput } from './image.repository.js';
export { EXAMS_CREATED_SINCE_MAX, type BulkPredictionInput, type PredictionInput } from './prediction.repository.js';
export type { ReportReservation } from './report.repository.js';
export type { LabelInput, LabelledResult } from './label.repository.js';
export {
  STUDY_SEARCH_MAX_PAGE,
  STUDY_SEARCH_SORTS,
  type StudySearchFilter,
  type StudySearchPage,
  type StudySearchPageRequest,
  type StudySearchSort,
} from './study-search.repository.js';
export type { ModelVersionInput } from './model-version.repository.js';
export type { EnqueueOptions, JobFilter } from './job.repository.js';
export { endedByTakeover } from './job.repository.js';
export type { AuditEventInput, AuditFilter } from './audit.repository.js';
export type { ApiKeyInput } from './api-key.repository.js';

export interface Store {
  provider: Provider;
  studies: StudyRepository;
  /** The results search (worklist, study lists of the API). */
  search: StudySearchRepository;
  images: ImageRepository;
  predictions: PredictionRepository;
  reports: ReportRepository;
  labels: LabelRepository;
  modelVersions: ModelVersionRepository;
  jobs: JobRepository;
  audit: AuditRepository;
  cursors: WatcherCursorRepository;
  apiKeys: ApiKeyRepository;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  databaseUrl: string;
  /** Apply pending migrations before returning (the default at start-up). */
  migrate?: boolean;
  logger?: Logger;
}

function buildStore(provider: Provider, db: Db): Store {
  return {
    provider,
    studies: new StudyRepository(db),
    search: new StudySearchRepository(db),
    images: new ImageRepository(db),
    predictions: new PredictionRepository(db),
    reports: new ReportRepository(db),
    labels: new LabelRepository(db),
    modelVersions: new ModelVersionRepository(db),
    jobs: new JobRepository(db),
    audit: new AuditRepository(db),
    cursors: new WatcherCursorRepository(db),
    apiKeys: new ApiKeyRepository(db),
    ping: async () => {
      await db.$queryRawUnsafe('SELECT 1');
    },
    close: () => db.$disconnect(),
  };
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const target = parseDatabaseUrl(options.databaseUrl);
  if (options.migrate ?? true) {
    const started = Date.now();
    const result = await applyMigrations(target);
    options.logger?.info(
      { provider: target.provider, applied: result.applied, durationMs: Date.now() - started },
      result.applied.length ? 'database migrated' : 'database schema is current',
    );
  }
  return buildStore(target.provider, await openDatabase(target));
}
