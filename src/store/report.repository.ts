// Structured reports written back to the PACS. A report is reserved (its UIDs fixed) before it
// is sent, keyed by the scoring result it carries, so a retry re-sends the same SR instead of
// creating a second one.

import type { ReportRecord, ReportTemplate } from '../domain/index.js';
import { NotFoundError, REPORT_TEMPLATES, assertOneOf } from '../domain/index.js';
import type { Db } from './database.js';
import { isUniqueViolation } from './prisma-errors.js';

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
}

const asRecord = (row: unknown) => row as ReportRecord;

export class ReportRepository {
  constructor(private readonly db: Db) {}

  /** Reserves the report for a result, or returns the reservation made earlier for it. */
  async reserve(input: ReportReservation): Promise<{ report: ReportRecord; created: boolean }> {
    assertOneOf('template', input.template, REPORT_TEMPLATES);
    const existing = await this.db.report.findUnique({ where: { idempotencyKey: input.idempotencyKey } });
    if (existing) return { report: asRecord(existing), created: false };
    try {
      return { report: asRecord(await this.db.report.create({ data: input })), created: true };
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const winner = await this.db.report.findUniqueOrThrow({ where: { idempotencyKey: input.idempotencyKey } });
      return { report: asRecord(winner), created: false };
    }
  }

  async markStored(srSopInstanceUid: string, storedAt: string): Promise<ReportRecord> {
    const { count } = await this.db.report.updateMany({
      where: { srSopInstanceUid },
      data: { status: 'stored', storedAt, storedOn: new Date() },
    });
    if (count === 0) throw new NotFoundError('report', srSopInstanceUid);
    return asRecord(await this.db.report.findUniqueOrThrow({ where: { srSopInstanceUid } }));
  }

  async findBySopInstanceUid(srSopInstanceUid: string): Promise<ReportRecord | null> {
    return asRecord(await this.db.report.findUnique({ where: { srSopInstanceUid } }));
  }

  async listByStudy(studyId: string): Promise<ReportRecord[]> {
    return (await this.db.report.findMany({ where: { studyId }, orderBy: { createdAt: 'asc' } })).map(asRecord);
  }
}
