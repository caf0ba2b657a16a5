// Studies: announced by the PACS, then moved through pending -> queued -> scoring -> final.

import type { StudyRecord, StudySource, StudyStatus } from '../domain/index.js';
import { STUDY_SOURCES, STUDY_STATUSES, assertOneOf, NotFoundError } from '../domain/index.js';
import type { Db } from './database.js';
import { isUniqueViolation } from './prisma-errors.js';

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

export class StudyRepository {
  constructor(private readonly db: Db) {}

  /**
   * Records a study the first time it is announced; later announcements (re-sent webhooks,
   * overlapping polls) return the existing record with `created: false`.
   */
  async announce(study: AnnouncedStudy): Promise<{ study: StudyRecord; created: boolean }> {
    assertOneOf('source', study.source, STUDY_SOURCES);
    const existing = await this.db.study.findUnique({ where: { studyUid: study.studyUid } });
    if (existing) return { study: existing as StudyRecord, created: false };
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
    const { count } = await this.db.study.updateMany({ where: { studyUid }, data: { status, statusReason: reason } });
    if (count === 0) throw new NotFoundError('study', studyUid);
    return (await this.findByUid(studyUid))!;
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
}
