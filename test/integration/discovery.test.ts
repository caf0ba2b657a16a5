// Study discovery against a real Orthanc with its DICOMweb plugin: the Lua webhook, QIDO
// polling, restarts of the service and of the PACS, our own SR arriving, and view selection.

import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import { createHttpServer, listen, WEBHOOK_PATH } from '../../src/graphql/http-server.js';
import { selectStudyImages } from '../../src/pipeline/select-study-images.js';
import { AnnouncementQueue } from '../../src/pipeline/announcement-queue.js';
import { SCORE_STUDY_JOB, StudyDiscovery, type DiscoveryResult } from '../../src/pipeline/study-discovery.js';
import { POLL_CURSOR, StudyPoller } from '../../src/pipeline/study-poller.js';
import { openStore, type Store } from '../../src/store/index.js';
import { LocalOrthanc } from '../../scripts/lib/local-orthanc.js';
import { doseReport, mammogram, newStudyIds, ownReport, type StudyIds } from '../support/dicom-factory.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
const SECRET = 'webhook-secret-for-tests-0123456789';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The service side: a store on one SQLite file, discovery, poller and the HTTP server. */
class Service {
  store!: Store;
  discovery!: StudyDiscovery;
  poller!: StudyPoller;
  server?: Server;
  announcements?: AnnouncementQueue;
  port = 0;
  readonly webhookCalls: DiscoveryResult[] = [];

  constructor(private readonly databaseUrl: string, private readonly pacs: DicomwebClient) {}

  async start(withWebhook: boolean, port = 0): Promise<void> {
    this.store = await openStore({ databaseUrl: this.databaseUrl });
    this.discovery = new StudyDiscovery({ pacs: this.pacs, store: this.store, logger });
    this.poller = new StudyPoller({ pacs: this.pacs, store: this.store, discovery: this.discovery, logger, modalities: ['MG'], lookbackDays: 1, intervalSeconds: 0 });
    if (withWebhook) {
      const announcements = new AnnouncementQueue(this.discovery, this.store, logger, 'webhook', (_uid, outcome) => {
        if (!(outcome instanceof Error)) this.webhookCalls.push(outcome);
      });
      this.announcements = announcements;
      this.server = createHttpServer({
        logger,
        version: 'test',
        readiness: [],
        webhook: { secret: SECRET, accept: (uid) => announcements.accept(uid) },
      });
      this.port = await listen(this.server, port, '127.0.0.1');
    }
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
    this.server = undefined;
    await this.announcements?.idle();
    await this.store.close();
  }

  async scoringJobs(studyUid: string) {
    return (await this.store.jobs.list({ kind: SCORE_STUDY_JOB, take: 500 })).filter((j) => (j.payload as { studyUid: string }).studyUid === studyUid);
  }
}

function pacsClient(orthanc: LocalOrthanc, password = orthanc.password): DicomwebClient {
  return new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password, timeoutMs: 10_000, backoffMs: 50 });
}

const sqliteUrl = () => `file:${path.join(mkdtempSync(path.join(tmpdir(), 'mammocad-discovery-')), 'db.sqlite')}`;

describe.skipIf(!LocalOrthanc.available())('discovery with a real Orthanc', () => {
  describe('by webhook', () => {
    let orthanc: LocalOrthanc;
    let service: Service;
    let pacs: DicomwebClient;
    let ids: StudyIds;
    const stored: Record<string, string> = {};

    beforeAll(async () => {
      // The service's port must be known before Orthanc starts (its Lua script reads it).
      const probe = createHttpServer({ logger, version: 'test', readiness: [] });
      const port = await listen(probe, 0, '127.0.0.1');
      await new Promise((resolve) => probe.close(resolve));
      orthanc = new LocalOrthanc({ webhookUrl: `http://127.0.0.1:${port}${WEBHOOK_PATH}`, webhookSecret: SECRET, stableAge: 1 });
      await orthanc.start();
      pacs = pacsClient(orthanc);
      service = new Service(sqliteUrl(), pacs);
      await service.start(true, port);

      ids = newStudyIds();
      const objects = {
        leftCc: mammogram(ids, { laterality: 'L', view: 'CC' }),
        rightMlo: mammogram(ids, { laterality: 'R', view: 'MLO' }),
        forProcessing: mammogram(ids, { laterality: 'L', view: 'CC', forProcessing: true }),
        dose: doseReport(ids),
        nonMammo: mammogram(ids, { modality: 'OT', sopClassUid: '1.2.840.10008.5.1.4.1.1.7' }),
        magnified: mammogram(ids, { laterality: 'R', view: 'CC', magnification: true }),
      };
      for (const [name, object] of Object.entries(objects)) stored[name] = object.sopInstanceUid;
      await pacs.store(Object.values(objects).map((o) => o.bytes));
    }, 60_000);

    afterAll(async () => {
      await service?.stop();
      await orthanc?.stop();
    });

    it('records a study stored by STOW once, from the webhook, with one scoring job', async () => {
      // Recorded (pending) when the call is answered, queued once the PACS has been asked about it.
      const study = await waitFor('the webhook', async () => ((await service.store.studies.findByUid(ids.studyUid))?.status === 'queued' ? service.store.studies.findByUid(ids.studyUid) : null));
      expect(study).toMatchObject({ source: 'webhook', status: 'queued', patientId: ids.patientId, studyDate: ids.studyDate });
      expect(await service.scoringJobs(ids.studyUid)).toHaveLength(1);
      expect(service.webhookCalls.map((c) => c.outcome)).toEqual(['new']);
    });

    it('keeps an announcement a stopped process never handled, and resumes it at the next start', async () => {
      // A study the PACS announced just before the service stopped: recorded, not yet looked at.
      const late = newStudyIds();
      await pacs.store([mammogram(late, { laterality: 'L' }).bytes]);
      const full = new AnnouncementQueue(service.discovery, service.store, logger, 'webhook', undefined, 0);
      await expect(full.accept(late.studyUid)).rejects.toMatchObject({ code: 'QUEUE_FULL', retryable: true });
      expect(await service.store.studies.findByUid(late.studyUid)).toMatchObject({ status: 'pending', source: 'webhook', contentFingerprint: null });
      expect(await service.scoringJobs(late.studyUid)).toHaveLength(0);

      // The next process resumes it before anything else.
      const next = new AnnouncementQueue(service.discovery, service.store, logger);
      expect(await next.resumePending()).toBeGreaterThanOrEqual(1);
      await next.idle();
      expect(await service.store.studies.findByUid(late.studyUid)).toMatchObject({ status: 'queued' });
      expect(await service.scoringJobs(late.studyUid)).toHaveLength(1);
    });

    it('records eligible and skipped objects of a mixed study with their reasons', async () => {
      const images = await selectStudyImages(pacs, service.store, ids.studyUid, DEFAULT_SELECTION_POLICY);
      const bySop = Object.fromEntries(images.map((i) => [i.sopInstanceUid, i]));
      expect(bySop[stored.leftCc!]).toMatchObject({ status: 'eligible', laterality: 'L', view: 'CC', statusReason: null });
      expect(bySop[stored.rightMlo!]).toMatchObject({ status: 'eligible', laterality: 'R', view: 'MLO' });
      expect(bySop[stored.forProcessing!]).toMatchObject({ status: 'skipped', statusReason: expect.stringMatching(/For Processing/) });
      expect(bySop[stored.dose!]).toMatchObject({ status: 'skipped', statusReason: 'radiation dose report, not an image' });
      expect(bySop[stored.nonMammo!]).toMatchObject({ status: 'skipped', statusReason: 'modality OT is not mammography (MG)' });
      expect(bySop[stored.magnified!]).toMatchObject({ status: 'skipped', statusReason: 'diagnostic view (magnification)', viewModifiers: ['magnification'] });
      expect(images).toHaveLength(6);
    });

    it('a poll and a service restart find the same study without new work', async () => {
      expect((await service.poller.pollOnce()).unchanged).toBeGreaterThanOrEqual(1);
      await service.stop();
      await service.start(true, service.port);
      const summary = await service.poller.pollOnce();
      expect(summary).toMatchObject({ new: 0, changed: 0, failed: 0 });
      expect(await service.store.cursors.get(POLL_CURSOR)).not.toBeNull();
      expect(await service.scoringJobs(ids.studyUid)).toHaveLength(1);
    });

    it('our own SR arriving re-announces the study but starts nothing; a late image does', async () => {
      const before = service.webhookCalls.length;
      await pacs.store([ownReport(ids).bytes]);
      await waitFor('the re-announcement', async () => service.webhookCalls.length > before);
      expect(service.webhookCalls.at(-1)!.outcome).toBe('unchanged');
      expect(await service.scoringJobs(ids.studyUid)).toHaveLength(1);

      const later = service.webhookCalls.length;
      await pacs.store([mammogram(ids, { laterality: 'R', view: 'CC' }).bytes]);
      await waitFor('the late image', async () => service.webhookCalls.length > later);
      expect(service.webhookCalls.at(-1)!.outcome).toBe('changed');
      expect(await service.scoringJobs(ids.studyUid)).toHaveLength(2);
    });

    it('refuses webhook calls without the secret or with a bad body, and keeps serving', async () => {
      const url = `http://127.0.0.1:${service.port}${WEBHOOK_PATH}`;
      const post = (body: string, secret = SECRET) =>
        fetch(url, { method: 'POST', body, headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' } });
      expect((await post(JSON.stringify({ StudyInstanceUID: ids.studyUid }), 'wrong')).status).toBe(401);
      const bad = await post('{not json');
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: 'BAD_JSON' });
      const notUid = await post(JSON.stringify({ StudyInstanceUID: 'DROP TABLE' }));
      expect(notUid.status).toBe(400);
      expect((await notUid.json()) as { error: string }).toMatchObject({ error: expect.stringContaining('is not a DICOM UID') });
      // An unknown study is accepted (the PACS cannot wait for our checks), recorded, and ends
      // failed with the reason once the PACS says it does not have it.
      const unknown = await post(JSON.stringify({ StudyInstanceUID: '1.2.3.4.5.6.7' }));
      expect(unknown.status).toBe(202);
      await service.announcements!.idle();
      expect(await service.store.studies.findByUid('1.2.3.4.5.6.7')).toMatchObject({ status: 'failed', statusReason: 'the study is no longer on the PACS' });
      // The same study announced again after the restart: accepted, and no new work.
      const jobsBefore = (await service.scoringJobs(ids.studyUid)).length;
      expect((await post(JSON.stringify({ StudyInstanceUID: ids.studyUid }))).status).toBe(202);
      await service.announcements!.idle();
      expect(service.webhookCalls.at(-1)).toMatchObject({ studyUid: ids.studyUid, outcome: 'unchanged' });
      expect(await service.scoringJobs(ids.studyUid)).toHaveLength(jobsBefore);
    });
  });

  describe('by polling only', () => {

    let orthanc: LocalOrthanc;
    let service: Service;

    beforeAll(async () => {
      orthanc = new LocalOrthanc({ stableAge: 1 });
      await orthanc.start();
      service = new Service(sqliteUrl(), pacsClient(orthanc));
      await service.start(false);
    });
    afterAll(async () => {
      await service?.stop();
      await orthanc?.stop();
    });

    it('finds each study exactly once across restarts of the service and of the PACS', async () => {
      const ids = newStudyIds();
      await pacsClient(orthanc).store([mammogram(ids, { laterality: 'L', view: 'MLO' }).bytes, mammogram(ids, { laterality: 'R', view: 'MLO' }).bytes]);
      // First sight: the study may still be arriving, so it settles; the next poll queues it.
      expect(await service.poller.pollOnce()).toMatchObject({ settling: 1, new: 0, failed: 0 });
      expect(await service.store.studies.findByUid(ids.studyUid)).toMatchObject({ source: 'poll', status: 'pending' });
      expect(await service.scoringJobs(ids.studyUid)).toHaveLength(0);
      expect(await service.poller.pollOnce()).toMatchObject({ new: 1, failed: 0 });
      expect(await service.store.studies.findByUid(ids.studyUid)).toMatchObject({ source: 'poll', status: 'queued' });

      await service.stop();
      await orthanc.restart();
      await service.start(false);
      expect(await service.poller.pollOnce()).toMatchObject({ new: 0, changed: 0, unchanged: 1, failed: 0 });
      expect(await service.scoringJobs(ids.studyUid)).toHaveLength(1);
    });

    it('does not queue a study whose images are still arriving between two polls', async () => {
      const ids = newStudyIds();
      const client = pacsClient(orthanc);
      await client.store([mammogram(ids, { laterality: 'L', view: 'CC' }).bytes]);
      expect(await service.poller.pollOnce()).toMatchObject({ settling: 1 });
      await client.store([mammogram(ids, { laterality: 'R', view: 'CC' }).bytes]); // arrives late
      expect(await service.poller.pollOnce()).toMatchObject({ settling: 1, new: 0 });
      expect(await service.scoringJobs(ids.studyUid)).toHaveLength(0);
      expect(await service.poller.pollOnce()).toMatchObject({ new: 1 });
      const [job] = await service.scoringJobs(ids.studyUid);
      expect((job!.payload as { fingerprint: string }).fingerprint.split('|')).toHaveLength(2); // both series
    });
  });

  describe('when the PACS misbehaves', () => {
    let orthanc: LocalOrthanc;
    let store: Store;

    beforeAll(async () => {
      orthanc = new LocalOrthanc();
      await orthanc.start();
      store = await openStore({ databaseUrl: sqliteUrl() });
    });
    afterAll(async () => {
      await store?.close();
      await orthanc?.stop();
    });

    it('names refused credentials (401), keeps the study for a retry, and recovers', async () => {
      const ids = newStudyIds();
      await pacsClient(orthanc).store([mammogram(ids).bytes]);
      const wrong = new StudyDiscovery({ pacs: pacsClient(orthanc, 'not-the-password'), store, logger });
      await expect(wrong.announce(ids.studyUid, 'webhook')).rejects.toMatchObject({
        code: 'PACS_UNAUTHORIZED',
        message: expect.stringContaining('the PACS answered 401, credentials refused'),
      });
      expect(await store.studies.findByUid(ids.studyUid)).toMatchObject({ status: 'pending', statusReason: expect.stringContaining('401') });

      const right = new StudyDiscovery({ pacs: pacsClient(orthanc), store, logger });
      const poller = new StudyPoller({ pacs: pacsClient(orthanc), store, discovery: right, logger, modalities: ['MG'], lookbackDays: 1, intervalSeconds: 0 });
      await poller.pollOnce(); // settles (first look at its content)
      await poller.pollOnce(); // queues
      expect(await store.studies.findByUid(ids.studyUid)).toMatchObject({ status: 'queued' });
    });

    it('moves the poll cursor past a study refused for good, never past one a retry can help', async () => {
      const ids = newStudyIds();
      await pacsClient(orthanc).store([mammogram(ids).bytes]);
      const real = pacsClient(orthanc);
      // Orthanc's search, plus an answer whose UID is not one (a fault Orthanc will not store).
      const odd = Object.assign(Object.create(real) as DicomwebClient, {
        searchAll: async (...args: Parameters<DicomwebClient['searchAll']>) => [...(await real.searchAll(...args)), { '0020000D': { vr: 'UI', Value: ['x-not-a-uid'] } }],
      });
      const earlier = '2026-01-01T00:00:00.000Z';
      await store.cursors.set(POLL_CURSOR, earlier);
      const now = new Date();
      const poller = new StudyPoller({ pacs: odd, store, discovery: new StudyDiscovery({ pacs: real, store, logger }), logger, modalities: ['MG'], lookbackDays: 1, intervalSeconds: 0 });
      expect(await poller.pollOnce(now)).toMatchObject({ refused: 1, failed: 0 });
      // It would be refused the same way at every poll: the cursor moves on (it used to stay,
      // and the window grew by a day a day).
      expect(await store.cursors.get(POLL_CURSOR)).toBe(now.toISOString());

      // Refused credentials for the announcements (an operator will fix them): the cursor stays.
      await store.cursors.set(POLL_CURSOR, earlier);
      const locked = new StudyPoller({ pacs: real, store, discovery: new StudyDiscovery({ pacs: pacsClient(orthanc, 'not-the-password'), store, logger }), logger, modalities: ['MG'], lookbackDays: 1, intervalSeconds: 0 });
      expect((await locked.pollOnce()).failed).toBeGreaterThan(0);
      expect(await store.cursors.get(POLL_CURSOR)).toBe(earlier);
    });

    it('names a study the PACS does not have (404 or empty search)', async () => {
      const discovery = new StudyDiscovery({ pacs: pacsClient(orthanc), store, logger });
      await expect(discovery.announce('1.2.826.0.1.3680043.10.1137.999.1', 'manual')).rejects.toMatchObject({ code: 'STUDY_NOT_ON_PACS' });
      await expect(pacsClient(orthanc).metadata('studies/1.2.826.0.1.3680043.10.1137.999.1')).rejects.toMatchObject({ code: 'PACS_NOT_FOUND', status: 404 });
    });
  });
});
