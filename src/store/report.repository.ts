// Structured reports written back to the PACS. A report is reserved (its UIDs fixed) before it
// is sent, keyed by the scoring result it carries, so a retry re-sends the same SR instead of
// creating a second one.

import type { ReportRecord, ReportTemplate } from '../domain/index.js';
import { NotFoundError, REPORT_TEMPLATES, assertOneOf } from '../domain/index.js';
import type { Db } from './database.js';
import { isRecordNotFound, isUniqueViolation } from './prisma-errors.js';

export interface ReportReservation {
  studyId: string;
  modelVersionId: string;
  idempotencyKey: string;
  template: ReportTemplate;
  srSopInstanceUid: string;
  srSeriesUid: string;
  srSopClassUid: string;
  /** The presentation state's UIDs, reserved with the report's when one is to be written beside it. */
  gspsSopInstanceUid?: string;
  gspsSeriesUid?: string;
  /** When the files were made (the presentation state carries it: a retry rebuilds it with the same); default now. */
  createdAt?: Date;
}

const asRecord = (row: unknown) => row as ReportRecord;

export class ReportRepository {
  constructor(private readonly db: Db) {}

  /**
   * Reserves the report for a result, or returns the reservation made earlier for it. The insert
   * goes first (one round trip on a first attempt); a retry's insert meets the unique key and
   * reads the reservation it collided with.
   */
  async reserve(input: ReportReservation): Promise<{ report: ReportRecord; created: boolean }> {
    assertOneOf('template', input.template, REPORT_TEMPLATES);
    try {
      return { report: asRecord(await this.db.report.create({ data: input })), created: true };
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const earlier = await this.db.report.findUniqueOrThrow({ where: { idempotencyKey: input.idempotencyKey } });
      return { report: asRecord(earlier), created: false };
    }
  }

  async markStored(srSopInstanceUid: string, storedAt: string): Promise<ReportRecord> {
    try {
      return asRecord(await this.db.report.update({ where: { srSopInstanceUid }, data: { status: 'stored', storedAt, storedOn: new Date() } }));
    } catch (error) {
      if (isRecordNotFound(error)) throw new NotFoundError('report', srSopInstanceUid);
      throw error;
    }
  }

  async findBySopInstanceUid(srSopInstanceUid: string): Promise<ReportRecord | null> {
    return asRecord(await this.db.report.findUnique({ where: { srSopInstanceUid } }));
  }

  async listByStudy(studyId: string): Promise<ReportRecord[]> {
    return (await this.db.report.findMany({ where: { studyId }, orderBy: { createdAt: 'asc' } })).map(asRecord);
  }
}
