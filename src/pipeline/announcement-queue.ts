// Webhook announcements are handled after the PACS's call has been answered: Orthanc calls the
// webhook from inside its Lua callback and does not answer our DICOMweb queries until that
// call returns, so querying it while the call is open deadlocks until the request times out.
// The queue also serialises bursts (a PACS announcing many studies at once) and drops repeats
// of a study that is already waiting. Nothing is held only in memory: a study is recorded as
// pending before the call is answered, and resumePending() (at start) and the poller pick up
// what a stopped process had not handled. The queue is bounded; when full, the study is still
// recorded and the caller is told to come back later.

import type { Logger } from 'pino';
import { MammocadError, ValidationError, type StudySource } from '../domain/index.js';
import type { Store } from '../store/index.js';
import { isUidLike } from '../dicom/dicom-json.js';
import { studyRef, type DiscoveryResult, type StudyDiscovery } from './study-discovery.js';

export type AnnouncementListener = (studyUid: string, outcome: DiscoveryResult | Error) => void;

/** Announcements waiting at most; beyond, callers are asked to retry (the studies stay recorded). */
export const MAX_WAITING_ANNOUNCEMENTS = 10_000;

export class AnnouncementQueue {
  private readonly waiting = new Set<string>();
  private readonly order: string[] = [];
  private draining: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly discovery: StudyDiscovery,
    private readonly store: Store,
    logger: Logger,
    private readonly source: StudySource = 'webhook',
    private readonly listener?: AnnouncementListener,
    private readonly maxWaiting = MAX_WAITING_ANNOUNCEMENTS,
  ) {
    this.log = logger.child({ component: 'announcements' });
  }

  /**
   * Records a study as announced and queues it for discovery. Throws a ValidationError at once
   * for a malformed UID, and QUEUE_FULL (retryable) when too many wait — the study is recorded
   * then too, so it is handled later in any case.
   */
  async accept(studyUid: string): Promise<{ accepted: true; queued: boolean }> {
    if (!isUidLike(studyUid)) throw new ValidationError('StudyInstanceUID', `'${studyUid.slice(0, 80)}' is not a DICOM UID`);
    if (this.waiting.has(studyUid)) return { accepted: true, queued: false };
    await this.store.studies.announce({ studyUid, source: this.source });
    if (this.order.length >= this.maxWaiting) {
      throw new MammocadError('QUEUE_FULL', `${this.order.length} announcements are waiting; the study is recorded and will be handled later`, { retryable: true });
    }
    this.queue(studyUid);
    return { accepted: true, queued: true };
  }

  /** Queues the studies recorded as announced but never looked at (a stop came first). */
  async resumePending(): Promise<number> {
    const pending = (await this.store.studies.list({ status: 'pending', take: this.maxWaiting })).filter((s) => s.contentFingerprint === null);
    for (const study of pending) if (!this.waiting.has(study.studyUid)) this.queue(study.studyUid);
    if (pending.length > 0) this.log.info({ studies: pending.length }, 'resuming announcements not handled before the last stop');
    return pending.length;
  }

  private queue(studyUid: string): void {
    this.waiting.add(studyUid);
    this.order.push(studyUid);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /** Resolves when every accepted announcement has been handled. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    for (let uid = this.order.shift(); uid !== undefined; uid = this.order.shift()) {
      this.waiting.delete(uid);
      try {
        const result = await this.discovery.announce(uid, this.source);
        this.listener?.(uid, result);
      } catch (error) {
        // Discovery has recorded what can be retried; the poller picks it up.
        this.log.warn({ study: studyRef(uid), err: error instanceof Error ? error.message : String(error) }, 'announcement failed');
        this.listener?.(uid, error instanceof Error ? error : new Error(String(error)));
      }
    }
  }
}
