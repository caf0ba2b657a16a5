// QIDO polling: the safety net under the webhook, and the only discovery for a PACS that
// cannot call us. Each poll asks for mammography studies by StudyDate from the persisted
// cursor's day (or `lookbackDays` back, whichever is earlier) to today; the discovery's
// deduplication turns overlapping windows into no work, so a restart neither misses nor
// repeats studies. The cursor advances only when no study of a poll failed for a reason that a
// retry can help (the PACS or the database away); a study refused for good (a UID that is not
// one, a study gone from the PACS since the search) is logged and counted, and does not hold the
// cursor back: it would fail the same way at every poll while the window grew by a day a day.

import type { Logger } from 'pino';
import { MammocadError } from '../domain/index.js';
import type { DicomwebClient } from '../dicom/dicomweb-client.js';
import { TAG, jsonString } from '../dicom/dicom-json.js';
import type { Store } from '../store/index.js';
import { studyRef, type StudyDiscovery } from './study-discovery.js';

export const POLL_CURSOR = 'qido-poll';

export interface PollerOptions {
  pacs: DicomwebClient;
  store: Store;
  discovery: StudyDiscovery;
  logger: Logger;
  /** Modalities to look for (MG plus any configured extra ones). */
  modalities: string[];
  lookbackDays: number;
  intervalSeconds: number;
}

export interface PollSummary {
  window: { from: string; to: string };
  seen: number;
  new: number;
  changed: number;
  unchanged: number;
  /** Seen for the first time (or with new content): queued by the next poll if unchanged. */
  settling: number;
  /** Failed for a reason a retry can help: the cursor stays, the next poll tries again. */
  failed: number;
  /** Refused for good (not a DICOM UID, gone from the PACS): logged, not tried again. */
  refused: number;
  retried: number;
}

/**
 * What a later poll would meet again unchanged: a search answer whose UID is not a DICOM UID, a
 * study deleted from the PACS between the search and its announcement. Anything else (the PACS
 * or the database away, refused credentials an operator will fix) holds the cursor.
 */
const REFUSED_FOR_GOOD: ReadonlySet<string> = new Set(['VALIDATION_FAILED', 'STUDY_NOT_ON_PACS']);

const dicomDate = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, '');

export class StudyPoller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PollSummary | undefined> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: PollerOptions) {
    this.log = options.logger.child({ component: 'poller' });
  }

  /** The StudyDate window of the next poll, in DICOM DA form. */
  async window(now: Date): Promise<{ from: string; to: string }> {
    const cursor = await this.options.store.cursors.get(POLL_CURSOR);
    const floor = new Date(now.getTime() - this.options.lookbackDays * 86_400_000);
    const since = cursor ? new Date(cursor) : floor;
    return { from: dicomDate(since < floor ? since : floor), to: dicomDate(now) };
  }

  async pollOnce(now = new Date()): Promise<PollSummary> {
    const { pacs, store, discovery } = this.options;
    const window = await this.window(now);
    const summary: PollSummary = { window, seen: 0, new: 0, changed: 0, unchanged: 0, settling: 0, failed: 0, refused: 0, retried: 0 };
    const uids = new Set<string>();
    for (const modality of this.options.modalities) {
      const found = await pacs.searchAll('studies', { ModalitiesInStudy: modality, StudyDate: `${window.from}-${window.to}` });
      for (const study of found) uids.add(jsonString(study, TAG.StudyInstanceUID));
    }
    // Studies announced while the PACS was unreachable, whatever their date.
    const pending = (await store.studies.list({ status: 'pending', take: 500 })).filter((s) => s.contentFingerprint === null);
    for (const study of pending) {
      if (uids.has(study.studyUid)) continue;
      uids.add(study.studyUid);
      summary.retried++;
    }

    for (const uid of uids) {
      summary.seen++;
      try {
        const result = await discovery.announce(uid, 'poll');
        summary[result.outcome]++;
      } catch (error) {
        const refused = error instanceof MammocadError && REFUSED_FOR_GOOD.has(error.code);
        if (refused) summary.refused++;
        else summary.failed++;
        this.log.warn({ study: studyRef(uid), err: error instanceof Error ? error.message : String(error) }, refused ? 'refused a polled study; not trying it again' : 'could not handle a polled study; the next poll tries again');
      }
    }
    if (summary.failed === 0) await store.cursors.set(POLL_CURSOR, now.toISOString());
    this.log.info(summary, 'poll finished');
    return summary;
  }

  /** Polls now and then every `intervalSeconds` until stop(); a failed poll is logged and retried next time. */
  start(): void {
    if (this.options.intervalSeconds <= 0 || this.timer) return;
    const tick = () => {
      this.running = this.pollOnce().catch((error: unknown) => {
        this.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'poll failed; retrying at the next interval');
        return undefined;
      });
      void this.running.finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.options.intervalSeconds * 1000);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
