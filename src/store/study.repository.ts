// Studies: announced by the PACS, then moved through pending -> queued -> scoring -> final.

import type { StudyRecord, StudySource, StudyStatus } from '../domain/index.js';
import { IMAGE_STATUSES, LATERALITIES, STUDY_SOURCES, STUDY_STATUSES, assertOneOf, NotFoundError } from '../domain/index.js';
import type { Db } from './database.js';
import { Prisma } from './generated/sqlite/client.js';
import type { ImageInput } from './image.repository.js';
import { isRecordNotFound, isUniqueViolation } from './prisma-errors.js';

export interface AnnouncedStudy {
  studyUid: string;
  source: StudySource;
  patientId?: string | null;
  accessionNumber?: string | null;
  studyDate?: string | null;
  studyTime?: string | null;
  description?: string | null;
  modalities?: string | null;
}

export interface StudyListFilter {
  status?: StudyStatus;
  /** Inclusive DICOM dates, YYYYMMDD. */
  studyDateFrom?: string;
  studyDateTo?: string;
  take?: number;
  /** Id of the last study of the previous page. */
  after?: string;
}

/** A study for `bulkSeed`: ids chosen by the caller so results can refer to them at once. */
export interface BulkStudyInput extends AnnouncedStudy {
  id: string;
  status?: StudyStatus;
  images?: (ImageInput & { id: string })[];
}

/**
 * Multi-row INSERTs for the bulkSeed methods (benchmarks and demo data only). Prisma's own
 * createMany spends about 140 µs of CPU per row in its query interpreter (50 s for the 175,000
 * rows of a 25,000-study benchmark); one parameterised INSERT per chunk costs about a tenth of
 * that. Prisma.sql still binds every value and writes each provider's placeholders. Dates go
 * as ISO strings, which both providers store as Prisma does. Table and column names come from
 * this code, never from input.
 */
export async function insertRowsForSeeding(db: Db, table: string, columns: string[], rows: unknown[][]): Promise<number> {
  // Well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters per statement.
  const chunk = Math.max(1, Math.floor(10_000 / columns.length));
  const head = Prisma.raw(`INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES `);
  let written = 0;
  for (let start = 0; start < rows.length; start += chunk) {
    const values = rows.slice(start, start + chunk).map((row) => Prisma.sql`(${Prisma.join(row)})`);
    written += await db.$executeRaw`${head}${Prisma.join(values)}`;
  }
  return written;
}

/** What the PACS tells about a study (QIDO), filled in when first known. */
const DETAIL_FIELDS = ['patientId', 'accessionNumber', 'studyDate', 'studyTime', 'description', 'modalities'] as const;

export class StudyRepository {
  constructor(private readonly db: Db) {}

  /**
   * Records a study the first time it is announced; later announcements (re-sent webhooks,
   * overlapping polls) return the existing record with `created: false`. A study first
   * recorded by its UID alone (announced before the PACS could be asked about it) gets the
   * PACS's details when a later announcement brings them; details already known stay.
   */
  async announce(study: AnnouncedStudy): Promise<{ study: StudyRecord; created: boolean }> {
    assertOneOf('source', study.source, STUDY_SOURCES);
    const existing = await this.db.study.findUnique({ where: { studyUid: study.studyUid } });
    if (existing) {
      const missing = Object.fromEntries(
        DETAIL_FIELDS.filter((field) => existing[field] === null && study[field] != null).map((field) => [field, study[field]]),
      );
      if (Object.keys(missing).length === 0) return { study: existing as StudyRecord, created: false };
      const filled = await this.db.study.update({ where: { id: existing.id }, data: missing });
      return { study: filled as StudyRecord, created: false };
    }
    try {
      const created = await this.db.study.create({ data: { ...study } });
      return { study: created as StudyRecord, created: true };
    } catch (error) {
      // Two announcers raced (webhook and poll at once): the other one won.
      if (!isUniqueViolation(error)) throw error;
      const winner = await this.db.study.findUniqueOrThrow({ where: { studyUid: study.studyUid } });
      return { study: winner as StudyRecord, created: false };
    }
  }

  /**
   * Records what the study holds now. Returns true only for the one caller that changed it
   * (a compare-and-set, so a webhook and a poll announcing the same content at once cannot
   * both start work).
   */
  async recordContent(studyUid: string, fingerprint: string): Promise<boolean> {
    const { count } = await this.db.study.updateMany({
      where: { studyUid, OR: [{ contentFingerprint: null }, { contentFingerprint: { not: fingerprint } }] },
      data: { contentFingerprint: fingerprint, lastAnnouncedAt: new Date() },
    });
    return count === 1;
  }

  async findByUid(studyUid: string): Promise<StudyRecord | null> {
    return (await this.db.study.findUnique({ where: { studyUid } })) as StudyRecord | null;
  }

  async setStatus(studyUid: string, status: StudyStatus, reason: string | null = null): Promise<StudyRecord> {
    assertOneOf('status', status, STUDY_STATUSES);
    try {
      // One round trip (the study's row comes back with the update): scoring sets it twice per study.
      return (await this.db.study.update({ where: { studyUid }, data: { status, statusReason: reason } })) as StudyRecord;
    } catch (error) {
      if (isRecordNotFound(error)) throw new NotFoundError('study', studyUid);
      throw error;
    }
  }

  /**
   * Sets the status only while the study is in one of `from` (a job that ended unseen must not
   * overwrite what a later job recorded). Returns whether it did.
   */
  async setStatusIf(studyUid: string, from: readonly StudyStatus[], status: StudyStatus, reason: string | null = null): Promise<boolean> {
    assertOneOf('status', status, STUDY_STATUSES);
    const { count } = await this.db.study.updateMany({ where: { studyUid, status: { in: [...from] } }, data: { status, statusReason: reason } });
    return count > 0;
  }

  /** Newest first, with keyset pagination on (createdAt, id). */
  async list(filter: StudyListFilter = {}): Promise<StudyRecord[]> {
    const take = Math.min(Math.max(filter.take ?? 50, 1), 500);
    const rows = await this.db.study.findMany({
      where: {
        status: filter.status,
        studyDate: { gte: filter.studyDateFrom, lte: filter.studyDateTo },
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take,
      ...(filter.after ? { cursor: { id: filter.after }, skip: 1 } : {}),
    });
    return rows as StudyRecord[];
  }

  /**
   * For benchmarks and demo data only (scripts/bench/seed-results.ts): inserts studies with
   * their images in one transaction, skipping the announce protocol (no de-duplication: an
   * existing UID fails the batch). Returns the numbers of rows written.
   */
  async bulkSeed(studies: BulkStudyInput[]): Promise<{ studies: number; images: number }> {
    studies.forEach((study, i) => {
      assertOneOf(`studies[${i}].source`, study.source, STUDY_SOURCES);
      if (study.status) assertOneOf(`studies[${i}].status`, study.status, STUDY_STATUSES);
      study.images?.forEach((image, j) => {
        assertOneOf(`studies[${i}].images[${j}].laterality`, image.laterality, LATERALITIES);
        assertOneOf(`studies[${i}].images[${j}].status`, image.status, IMAGE_STATUSES);
      });
    });
    const now = new Date().toISOString();
    const studyRows = studies.map((s) => [
      s.id, s.studyUid, s.patientId ?? null, s.accessionNumber ?? null, s.studyDate ?? null, s.studyTime ?? null,
      s.description ?? null, s.modalities ?? null, s.source, s.status ?? 'pending', now, now,
    ]);
    const imageRows = studies.flatMap((s) =>
      (s.images ?? []).map((i) => [
        i.id, s.id, i.sopInstanceUid, i.sopClassUid ?? null, i.seriesUid, i.modality ?? null, i.laterality, i.view ?? null,
        i.viewModifiers?.length ? i.viewModifiers.join(',') : null, i.transferSyntaxUid ?? null, i.rows ?? null, i.columns ?? null,
        i.status, i.statusReason ?? null, now, now,
      ]),
    );
    return this.db.$transaction(async (tx) => ({
      studies: await insertRowsForSeeding(tx as Db, 'Study', STUDY_COLUMNS, studyRows),
      images: await insertRowsForSeeding(tx as Db, 'Image', IMAGE_COLUMNS, imageRows),
    }));
  }
}

const STUDY_COLUMNS = [
  'id', 'studyUid', 'patientId', 'accessionNumber', 'studyDate', 'studyTime', 'description', 'modalities', 'source', 'status', 'createdAt', 'updatedAt',
];
const IMAGE_COLUMNS = [
  'id', 'studyId', 'sopInstanceUid', 'sopClassUid', 'seriesUid', 'modality', 'laterality', 'view', 'viewModifiers', 'transferSyntaxUid', 'rows', 'columns',
  'status', 'statusReason', 'createdAt', 'updatedAt',
];
