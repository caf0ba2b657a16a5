// A PACS that fails: answering 401/404/500, slowly, not at all, or cutting a response short.
// A real HTTP server on loopback plays the misbehaving PACS (Orthanc cannot be made to do this).

import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { PacsRequestError, PacsUnavailableError } from '../../src/domain/index.js';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import { StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { openStore, type Store } from '../../src/store/index.js';
import { freePort } from '../../scripts/lib/local-orthanc.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let url: string;
let handler: Handler = (_req, res) => res.end();
let requests = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/dicom-web`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
afterEach(() => {
  requests = 0;
});

const client = (options: Partial<ConstructorParameters<typeof DicomwebClient>[0]> = {}) =>
  new DicomwebClient({ url, username: 'u', password: 'secret-password', timeoutMs: 2000, attempts: 3, backoffMs: 10, ...options });

describe('DicomwebClient against a failing PACS', () => {
  it('does not retry a 401 and names it, without the credentials', async () => {
    handler = (_req, res) => res.writeHead(401).end('Unauthorized');
    const error = await client().search('studies').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PacsRequestError);
    expect(error).toMatchObject({ code: 'PACS_UNAUTHORIZED', status: 401, retryable: false });
    expect((error as Error).message).toBe('GET /studies: the PACS answered 401, credentials refused (Unauthorized)');
    expect((error as Error).message).not.toContain('secret-password');
    expect(requests).toBe(1);
  });

  it('sends basic credentials, or a bearer token instead when one is configured', async () => {
    const seen: string[] = [];
    handler = (req, res) => {
      seen.push(req.headers.authorization ?? '');
      res.writeHead(200, { 'content-type': 'application/dicom+json' }).end('[]');
    };
    await client().search('studies');
    await client({ token: 'tok-123' }).search('studies');
    await client({ username: undefined, password: undefined }).search('studies');
    expect(seen).toEqual([`Basic ${Buffer.from('u:secret-password').toString('base64')}`, 'Bearer tok-123', '']);
  });

  it('pages through a QIDO search a PACS caps below our page size, and ends one that ignores offset', async () => {
    const studies = Array.from({ length: 250 }, (_, i) => ({ '0020000D': { vr: 'UI', Value: [`1.2.826.0.1.3680043.10.1.99.${i + 1}`] } }));
    const offsets: number[] = [];
    // At most 100 per page, whatever limit asks (PS3.18 lets a PACS cap its pages).
    handler = (req, res) => {
      const query = new URL(req.url!, 'http://pacs').searchParams;
      const offset = Number(query.get('offset') ?? 0);
      offsets.push(offset);
      res.writeHead(200, { 'content-type': 'application/dicom+json' }).end(JSON.stringify(studies.slice(offset, offset + Math.min(100, Number(query.get('limit'))))));
    };
    const found = await client().searchAll('studies', { ModalitiesInStudy: 'MG' });
    expect(found).toEqual(studies); // it stopped at the first short page before: 100 of 250
    expect(offsets).toEqual([0, 100, 200, 250]);

    // A PACS that answers the first page to every offset: the first page, once, and an end.
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/dicom+json' }).end(JSON.stringify(studies.slice(0, 500)));
    requests = 0;
    expect(await client().searchAll('studies', {}, 100)).toEqual(studies);
    expect(requests).toBe(2); // it looped for ever before

    // Pages that never end: refused after the page limit, naming it.
    let n = 0;
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/dicom+json' }).end(JSON.stringify([{ '0020000D': { vr: 'UI', Value: [`1.2.3.${n++}`] } }]));
    await expect(client().searchAll('studies', {}, 1, 20)).rejects.toMatchObject({ code: 'PACS_TOO_MANY_RESULTS', message: expect.stringContaining('more than 20 pages') });
  });

  it('refuses a JSON answer over its limit without holding it, and reads only the start of an error body', async () => {
    const item = JSON.stringify({ '0020000D': { vr: 'UI', Value: ['1.2.826.0.1.3680043.10.1.99.1'] } });
    // 4 MB of studies, streamed without a length, against a 1 MB limit.
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/dicom+json' });
      res.write('[');
      for (let i = 0; i < 4 * 1024 * 1024 / item.length; i++) res.write(`${i ? ',' : ''}${item}`);
      res.end(']');
    };
    await expect(client({ maxJsonBytes: 1 << 20 }).search('studies')).rejects.toMatchObject({ code: 'PACS_RESPONSE_TOO_LARGE', retryable: false, message: expect.stringContaining('QIDO studies: response exceeds the limit of 1048576 bytes') });
    expect(requests).toBe(1);
    // A 500 with 8 MB of HTML: its first 200 characters in the message.
    requests = 0;
    handler = (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/html' });
      res.end(`<html>${'x'.repeat(8 * 1024 * 1024)}</html>`);
    };
    const error = (await client({ attempts: 1 }).search('studies').catch((e: unknown) => e)) as Error;
    expect(error).toMatchObject({ code: 'PACS_UNAVAILABLE' });
    expect(error.message).toMatch(/^GET \/studies: the PACS answered 500 \(<html>x+\)$/);
    expect(error.message.length).toBeLessThan(300);
  });

  it('does not retry a 404', async () => {
    handler = (_req, res) => res.writeHead(404).end();
    await expect(client().metadata('studies/1.2.3')).rejects.toMatchObject({ code: 'PACS_NOT_FOUND', status: 404 });
    expect(requests).toBe(1);
  });

  it('retries a 500 with backoff, then gives up with a retryable error', async () => {
    handler = (_req, res) => res.writeHead(500).end('database locked');
    const error = await client().search('studies').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PacsUnavailableError);
    expect(error).toMatchObject({ retryable: true, status: 500, message: 'GET /studies: the PACS answered 500 (database locked)' });
    expect(requests).toBe(3);
    // 408: the PACS timed our request out; as transient as a 5xx (it was refused for good).
    requests = 0;
    handler = (_req, res) => res.writeHead(408).end('request timeout');
    expect(await client().search('studies').catch((e: unknown) => e)).toMatchObject({ code: 'PACS_UNAVAILABLE', retryable: true, status: 408 });
    expect(requests).toBe(3);
  });

  it('succeeds when a retry gets through', async () => {
    handler = (_req, res) => (requests < 2 ? res.writeHead(503).end() : res.writeHead(200, { 'content-type': 'application/dicom+json' }).end('[]'));
    await expect(client().search('studies')).resolves.toEqual([]);
    expect(requests).toBe(2);
  });

  it('times out a PACS that does not answer', async () => {
    handler = () => {}; // never answers
    const started = Date.now();
    const error = await client({ timeoutMs: 300, attempts: 2 }).search('studies').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PACS_UNAVAILABLE', message: 'GET /studies: no answer within 300 ms' });
    expect(requests).toBe(2);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reports a PACS that is down', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/dicom-web`;
    const error = await client({ url: closed, attempts: 1 }).search('studies').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PACS_UNAVAILABLE', message: 'GET /studies: cannot reach the PACS (ECONNREFUSED)' });
  });

  it('makes no further attempt at a retrieval its caller has aborted', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/dicom-web`;
    const client = new DicomwebClient({ url: closed, timeoutMs: 1000, attempts: 5, backoffMs: 50 });
    const stop = new AbortController();
    const reason = new Error('the fetch stage ended');
    const retrieval = client.retrieveInstance('1.2', '1.2.3', '1.2.3.4', stop.signal);
    stop.abort(reason);
    // The abort's own reason, not a PACS error after five attempts.
    await expect(retrieval).rejects.toBe(reason);
  });

  it('treats an instance cut short as retryable', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'multipart/related; type="application/dicom"; boundary=b', 'content-length': '1000' });
      res.write('--b\r\nContent-Type: application/dicom\r\n\r\nDICM');
      setTimeout(() => res.destroy(), 20);
    };
    await expect(client({ attempts: 1 }).retrieveInstance('1.2', '1.2.3', '1.2.3.4')).rejects.toMatchObject({ code: 'PACS_UNAVAILABLE', retryable: true });
  });

  it('treats a STOW refused as a duplicate (0111H) as stored, under a 200 or a 409, and any other refusal as an error', async () => {
    const answer = (reason: number, status = 200) => (_req: IncomingMessage, res: ServerResponse) =>
      res.writeHead(status, { 'content-type': 'application/dicom+json' }).end(JSON.stringify({ '00081198': { vr: 'SQ', Value: [{ '00081197': { vr: 'US', Value: [reason] } }] } }));
    handler = answer(0x0111);
    await expect(client().store([new Uint8Array(10)])).resolves.toBeDefined();
    handler = answer(0xc000);
    await expect(client().store([new Uint8Array(10)])).rejects.toMatchObject({ code: 'PACS_REQUEST_REJECTED', retryable: false, message: 'STOW: the PACS refused 1 instance(s) (failure reason C000H)' });
    // The same lists under a 409 (PS3.18 allows it): a retry of a stored report is stored.
    handler = answer(0x0111, 409);
    await expect(client().store([new Uint8Array(10)])).resolves.toBeDefined();
    handler = answer(0xa700, 409);
    // Out of resources (A7xxH) clears with time: the job tries again later.
    await expect(client().store([new Uint8Array(10)])).rejects.toMatchObject({ code: 'PACS_REQUEST_REJECTED', retryable: true, message: 'STOW: the PACS refused 1 instance(s) (failure reason A700H)' });
    handler = (_req, res) => res.writeHead(409).end('conflict');
    await expect(client().store([new Uint8Array(10)])).rejects.toMatchObject({ code: 'PACS_REQUEST_REJECTED', status: 409, message: expect.stringContaining('409') });
    expect(requests).toBe(5); // one request each: a refusal is not retried
  });

  it('refuses a non-multipart answer to WADO-RS', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
    await expect(client().retrieveInstance('1.2', '1.2.3', '1.2.3.4')).rejects.toMatchObject({ code: 'PACS_REQUEST_REJECTED', message: expect.stringContaining("expected a multipart response, got 'text/html'") });
  });
});

describe('discovery while the PACS fails', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore({ databaseUrl: `file:${path.join(mkdtempSync(path.join(tmpdir(), 'mammocad-faults-')), 'db.sqlite')}` });
  });
  afterAll(() => store?.close());

  it('records the study as pending with the reason, for the poller to retry', async () => {
    handler = (_req, res) => res.writeHead(502).end('bad gateway');
    const discovery = new StudyDiscovery({ pacs: client({ attempts: 2 }), store, logger: createLogger('silent') });
    const uid = '1.2.826.0.1.3680043.10.1137.42.1';
    await expect(discovery.announce(uid, 'webhook')).rejects.toMatchObject({ retryable: true });
    expect(await store.studies.findByUid(uid)).toMatchObject({
      status: 'pending',
      source: 'webhook',
      statusReason: 'GET /studies: the PACS answered 502 (bad gateway)',
      contentFingerprint: null,
    });
  });
});
