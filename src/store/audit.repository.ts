// The audit trail: who did what to which target, when. Append-only.

import type { AuditEventRecord, JsonValue } from '../domain/index.js';
import { ValidationError } from '../domain/index.js';
import type { Db } from './database.js';

export interface AuditEventInput {
  actor: string;
  action: string;
  target?: string | null;
  details?: JsonValue;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  since?: Date;
  take?: number;
}

export class AuditRepository {
  /** The last timestamp this process gave an event. */
  private lastAt = 0;

  constructor(private readonly db: Db) {}

  /**
   * Events of one process get strictly increasing timestamps (the database keeps milliseconds),
   * so "newest first" is the order they happened in, even for two events in one millisecond.
   */
  private nextAt(): Date {
    this.lastAt = Math.max(Date.now(), this.lastAt + 1);
    return new Date(this.lastAt);
  }

  async record(event: AuditEventInput): Promise<AuditEventRecord> {
    if (!event.actor) throw new ValidationError('actor', 'is required');
    if (!event.action) throw new ValidationError('action', 'is required');
    const { details, ...rest } = event;
    return (await this.db.auditEvent.create({
      data: { ...rest, at: this.nextAt(), ...(details !== undefined ? { details: details as object } : {}) },
    })) as AuditEventRecord;
  }

  /** Newest first. */
  async list(filter: AuditFilter = {}): Promise<AuditEventRecord[]> {
    return (await this.db.auditEvent.findMany({
      where: { actor: filter.actor, action: filter.action, at: { gte: filter.since } },
      orderBy: [{ at: 'desc' }, { id: 'desc' }],
      take: Math.min(Math.max(filter.take ?? 100, 1), 1000),
    })) as AuditEventRecord[];
  }
}
