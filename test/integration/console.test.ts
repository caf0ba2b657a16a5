// The web console without a browser (issue 18): every GraphQL operation it sends is valid
// against the schema the server builds and within the API's depth, root-field and cost limits,
// and its TypeScript types are the ones `npm run console:types` generates from that schema;
// the bundle builds from the package alone (nothing fetched from elsewhere) and is served at
// /console with its security headers; the image endpoint refuses what the API refuses and
// audits what it serves. The console in a real browser: test/browser/console.test.ts.

import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { parse, specifiedRules, validate, type GraphQLSchema } from 'graphql';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole } from '../../src/console/build.js';
import { OPERATIONS, type OperationName } from '../../src/console/operations.js';
import { Authenticator, createApiKey } from '../../src/graphql/auth.js';
import { createHttpServer, listen } from '../../src/graphql/http-server.js';
import { IMAGE_PATH_PREFIX, ImageEndpoint, renderGrey } from '../../src/graphql/image-endpoint.js';
import { documentLimits } from '../../src/graphql/limits.js';
import { DEFAULT_API_SETTINGS, buildApiSchema } from '../../src/graphql/server.js';
import { checkOperation } from '../../src/graphql/limits.js';
import { openStore, type Store } from '../../src/store/index.js';
import { OPERATION_TYPES_FILE, generateOperationTypes } from '../../scripts/build-console.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

const logger = pino({ level: 'silent' });

/** The largest variables each operation is sent with (page sizes decide the estimated cost). */
const LARGEST_VARIABLES: Record<OperationName, Record<string, unknown>> = {
  Me: {},
  Studies: { filter: { from: '2026-01-01', to: '2026-12-31', status: 'SCORED', minScore: 0.5, laterality: 'L', labelled: true }, sort: 'DATE_DESC', first: 25, after: 'x' },
  Worklist: { first: 25, after: 'x' },
  Study: { studyInstanceUid: '1.2.3', overlaySize: 512 },
  SubmitLabels: { labels: [{ studyInstanceUid: '1.2.3', sopInstanceUid: '1.2.3.4', value: 'MALIGNANT', source: 'PATHOLOGY', note: 'biopsy' }] },
  ModelVersions: {},
  ActivateModelVersion: { version: 'v1' },
  EvaluateModelVersion: { version: 'v1' },
  Jobs: { kind: 'train', status: 'RUNNING', first: 50 },
  Job: { id: 'j1' },
  CancelJob: { id: 'j1' },
  JobProgress: { id: 'j1' },
  AuditEvents: { actor: 'apikey:mk_00000000', action: 'query.study', first: 200 },
};

describe('the console against the schema', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildApiSchema();
  });

  it.each(Object.keys(OPERATIONS) as OperationName[])('%s is valid and within the API limits', (name) => {
    const document = parse(OPERATIONS[name]);
    const errors = validate(schema, document, [...specifiedRules, documentLimits(DEFAULT_API_SETTINGS)]);
    expect(errors.map((e) => e.message)).toEqual([]);
    const refusal = checkOperation(schema, document, LARGEST_VARIABLES[name], name, DEFAULT_API_SETTINGS.maxCost);
    expect(refusal?.message).toBeUndefined();
  });

  it('has the TypeScript types generated from the schema (npm run console:types)', async () => {
    const generated = generateOperationTypes(schema, OPERATIONS);
    // A stale file means the schema or an operation changed: run `npm run console:types`.
    expect(await readFile(OPERATION_TYPES_FILE, 'utf8')).toBe(generated);
  });
});

describe('the console bundle, served', () => {
  let db: TestDatabase;
  let store: Store;
  let base: string;
  let server: ReturnType<typeof createHttpServer>;
  const keys: Record<string, string> = {};
  const rendered: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    store = await openStore({ databaseUrl: db.url });
    for (const role of ['pacs', 'clinician'] as const) keys[role] = (await createApiKey(store, { name: `console ${role}`, role, createdBy: 'test' })).key;
    const authenticator = new Authenticator(store, { roleClaim: 'role' });
    // The PACS stands in: a gradient, so the test needs no Orthanc (the browser test uses a real one).
    const images = new ImageEndpoint({
      store,
      authenticator,
      logger,
      fetchPixels: async (ref) => {
        rendered.push(ref.sopInstanceUid);
        const pixels = new Float32Array(300 * 400).map((_, i) => i % 300);
        return { width: 300, height: 400, pixels, pixelSpacingMm: null, flippedHorizontally: false };
      },
    });
    server = createHttpServer({ logger, version: 'test', readiness: [], images: { prefix: IMAGE_PATH_PREFIX, handle: (req, res) => images.handle(req, res) } });
    await listen(server, 0, '127.0.0.1');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { study } = await store.studies.announce({ studyUid: '1.2.826.0.1.3680043.10.1.18.1', source: 'manual' });
    await store.images.upsertMany(study.id, [{ sopInstanceUid: '1.2.826.0.1.3680043.10.1.18.1.1', seriesUid: '1.2.826.0.1.3680043.10.1.18.1.9', laterality: 'L', view: 'CC', status: 'scored' }]);
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await store?.close();
    await db?.drop();
  });

  it('builds from the package alone: relative files, no address of any other host', async () => {
    const { assets } = await buildConsole({ outDir: null });
    expect([...assets.keys()].sort()).toEqual(['console.css', 'console.js', 'index.html']);
    const html = assets.get('index.html')!.body.toString();
    expect(html).toMatch(/<script type="module" src="console\.js\?v=[0-9a-f]{12}"><\/script>/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    // Licence comments may name their project's site; code must not load anything from one.
    const code = assets.get('console.js')!.body.toString().replace(/\/\*[\s\S]*?\*\//g, '');
    expect(code).not.toMatch(/(import\(|fetch\(|src=)["'`]https?:/);
    expect(assets.get('console.js')!.body.length).toBeLessThan(200 * 1024);
  });

  it('serves /console with its security headers, and answers 304 to a known ETag', async () => {
    const redirect = await fetch(`${base}/console`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('console/');
    const page = await fetch(`${base}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const script = await fetch(`${base}/console/console.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const again = await fetch(`${base}/console/console.js`, { headers: { 'if-none-match': script.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect((await fetch(`${base}/console/build.json`)).status).toBe(404);
    expect((await fetch(`${base}/console/../package.json`)).status).toBe(404);
  });

  it('renders an image for a clinician, refuses the rest, and audits each answer', async () => {
    const url = `${base}/images/1.2.826.0.1.3680043.10.1.18.1/1.2.826.0.1.3680043.10.1.18.1.1.png`;
    const get = (key: string | null, suffix = '') => fetch(`${url}${suffix}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    expect((await get(null)).status).toBe(401);
    expect((await get(keys.pacs!)).status).toBe(403);
    expect((await get(keys.clinician!, '?maxSize=9999')).status).toBe(400);
    expect((await fetch(`${base}/images/1.2.3/%E0%A4%A.png`, { headers: { authorization: `Bearer ${keys.clinician}` } })).status).toBe(400);
    const missing = await fetch(url.replace('.1.1.png', '.1.2.png'), { headers: { authorization: `Bearer ${keys.clinician}` } });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('NOT_FOUND');

    const ok = await get(keys.clinician!, '?maxSize=200');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await ok.arrayBuffer());
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([150, 200]); // 300 x 400 shrunk to 200 on the longest side
    await get(keys.clinician!, '?maxSize=200');
    expect(rendered).toHaveLength(1); // the second answer came from the cache

    const events = await store.audit.list({ action: 'http.image', take: 20 });
    expect(events.map((e) => (e.details as { outcome: string }).outcome).sort()).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT', 'NOT_FOUND', 'denied', 'ok', 'ok']);
    expect(events.filter((e) => e.target !== 'study:1.2.826.0.1.3680043.10.1.18.1').map((e) => e.target)).toEqual([null]); // the malformed one names no study
  });

  it('sends no image whose read could not be put on the audit trail (503), as the GraphQL path refuses such an answer', async () => {
    // A fault a running database will not make on demand: the audit write fails.
    const failingAudit = { ...store, audit: { ...store.audit, record: () => Promise.reject(new Error('database is locked')) } } as unknown as Store;
    const unaudited = new ImageEndpoint({ store: failingAudit, authenticator: new Authenticator(store, { roleClaim: 'role' }), logger, fetchPixels: async () => ({ width: 8, height: 8, pixels: new Float32Array(64), pixelSpacingMm: null, flippedHorizontally: false }) });
    const side = createHttpServer({ logger, version: 'test', readiness: [], images: { prefix: IMAGE_PATH_PREFIX, handle: (req, res) => unaudited.handle(req, res) } });
    await listen(side, 0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${(side.address() as AddressInfo).port}/images/1.2.826.0.1.3680043.10.1.18.1/1.2.826.0.1.3680043.10.1.18.1.1.png`, { headers: { authorization: `Bearer ${keys.clinician}` } });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('AUDIT_UNAVAILABLE');
    } finally {
      await new Promise((resolve) => side.close(resolve));
    }
  });

  it('renders in the stored orientation: a mirrored decode is mirrored back', () => {
    const pixels = Float32Array.from([0, 0, 10, 0, 0, 10]); // bright on the right, as decoded
    const stored = renderGrey({ width: 3, height: 2, pixels, flippedHorizontally: true }, 64);
    expect([stored.rgb[0], stored.rgb[6]]).toEqual([255, 0]); // bright on the left, as stored
  });
});
