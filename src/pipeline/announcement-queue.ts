// Webhook announcements are handled after the PACS's call has been answered: Orthanc calls the
// webhook from inside its Lua callback and does not answer our DICOMweb queries until that
// call returns, so querying it while the call is open deadlocks until the request times out.
// The queue also serialises bursts (a PACS announcing many studies at once) and drops repeats
// of a study that is already waiting.

import type { Logger } from 'pino';
import { ValidationError, type StudySource } from '../domain/index.js';
import { isUidLike } from '../dicom/dicom-json.js';
import { studyRef, type DiscoveryResult, type StudyDiscovery } from './study-discovery.js';

export type AnnouncementListener = (studyUid: string, outcome: DiscoveryResult | Error) => void;

export class AnnouncementQueue {
  private readonly waiting = new Set<string>();
  private readonly order: string[] = [];
  private draining: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly discovery: StudyDiscovery,
    logger: Logger,
    private readonly source: StudySource = 'webhook',
    private readonly listener?: AnnouncementListener,
  ) {
    this.log = logger.child({ component: 'announcements' });
  }

  /** Accepts a study for discovery; throws at once when the UID is malformed. */
  accept(studyUid: string): { accepted: true; queued: boolean } {
    if (!isUidLike(studyUid)) throw new ValidationError('StudyInstanceUID', `'${studyUid.slice(0, 80)}' is not a DICOM UID`);
    if (this.waiting.has(studyUid)) return { accepted: true, queued: false };
    this.waiting.add(studyUid);
    this.order.push(studyUid);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
    return { accepted: true, queued: true };
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
