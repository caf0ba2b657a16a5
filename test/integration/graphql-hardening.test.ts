// What the GraphQL endpoint does with requests it must not run as asked: malformed ones, ones too
// deep or too costly, introspection, oversized bodies, and errors of our own (masked).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type TestApi } from '../support/api.js';
import { codes, seedResults } from '../support/graphql-fixtures.js';

const post = async (api: TestApi, body: string, key = api.keys.admin) => {
  const res = await fetch(api.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as { data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } };
};

/** A page of studies with every list under each study: costly at 200 a page. */
const HEAVY = `studies(first: 200) { nodes { studyInstanceUid
  images { sopInstanceUid viewModifiers } predictions { probability modelVersion } breasts { probability }
  labels { id note } reports { template modelVersion } exam { probability } } }`;

describe('GraphQL hardening', () => {
  let api: TestApi;
  let shallow: TestApi;
  let open: TestApi;

  beforeAll(async () => {
    [api, shallow, open] = await Promise.all([startApi('sqlite'), startApi('sqlite', { settings: { maxDepth: 3, maxCost: 50 } }), startApi('sqlite', { settings: { introspection: true } })]);
    await seedResults(api.store);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([api?.close(), shallow?.close(), open?.close()]);
  });

  it('answers 400 GRAPHQL_PARSE_FAILED for a syntax error', async () => {
    const res = await post(api, JSON.stringify({ query: '{ me { id ' }));
    expect(res.status).toBe(400);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors!.map((e) => e.extensions?.code)).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(res.body.errors![0]!.message).toMatch(/^Syntax Error/);
  });

  it('answers 400 GRAPHQL_VALIDATION_FAILED for an unknown field', async () => {
    const res = await post(api, JSON.stringify({ query: '{ me { id password } }' }));
    expect(res.status).toBe(400);
    expect(res.body.errors!.map((e) => e.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(res.body.errors![0]!.message).toBe('Cannot query field "password" on type "Actor".');
  });

  it('answers 400 BAD_USER_INPUT for a variable of the wrong type', async () => {
    const res = await post(api, JSON.stringify({ query: 'query($n: Int) { studies(first: $n) { nodes { studyInstanceUid } } }', variables: { n: 'ten' } }));
    expect(res.status).toBe(400);
    expect(res.body.errors!.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0]!.message).toContain('$n');
  });

  it('answers 400 BAD_REQUEST for a body that is not JSON', async () => {
    const res = await post(api, '{"query": ');
    expect(res.status).toBe(400);
    expect(res.body.errors!.map((e) => e.extensions?.code)).toEqual(['BAD_REQUEST']);
  });

  it('refuses a query deeper than maxDepth (QUERY_TOO_DEEP), also through fragments', async () => {
    const ok = await post(shallow, JSON.stringify({ query: '{ studies(first: 1) { pageInfo { hasNextPage } } }' }));
    expect(ok.body.errors).toBeUndefined();
    for (const query of [
      '{ studies(first: 1) { nodes { images { sopInstanceUid } } } }',
      '{ ...Q } fragment Q on Query { studies(first: 1) { ...N } } fragment N on StudyConnection { nodes { exam { probability } } }',
    ]) {
      const before = (await shallow.store.audit.list({ take: 1000 })).length;
      const res = await post(shallow, JSON.stringify({ query }));
      expect(res.status).toBe(400);
      expect(res.body.data).toBeUndefined();
      expect(res.body.errors!.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_DEEP']);
      expect(res.body.errors![0]!.message).toBe('query is 4 levels deep; at most 3 are allowed');
      // Nothing ran, so nothing was audited.
      expect((await shallow.store.audit.list({ take: 1000 })).length).toBe(before);
    }
  });

  it('refuses a query costlier than maxCost (QUERY_TOO_COMPLEX)', async () => {
    const cheap = await post(shallow, JSON.stringify({ query: '{ studies(first: 5) { nodes { studyInstanceUid } } }' }));
    expect(cheap.body.errors).toBeUndefined();
    const costly = await post(shallow, JSON.stringify({ query: '{ studies(first: 50) { nodes { studyInstanceUid } } }' }));
    expect(costly.status).toBe(400);
    expect(costly.body.data).toBeUndefined();
    expect(costly.body.errors!.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
    expect(costly.body.errors![0]!.extensions).toEqual({ code: 'QUERY_TOO_COMPLEX', cost: 101, maxCost: 50 });
    // With the default limit (20 000): one heavy page passes, two do not.
    const one = await post(api, JSON.stringify({ query: `{ ${HEAVY} }` }));
    expect(one.body.errors).toBeUndefined();
    const two = await post(api, JSON.stringify({ query: `{ a: ${HEAVY} b: ${HEAVY} }` }));
    expect(two.status).toBe(400);
    expect(two.body.errors!.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_COMPLEX']);
  });

  it('refuses introspection unless it is switched on', async () => {
    const query = JSON.stringify({ query: '{ __schema { queryType { name } } }' });
    const off = await post(api, query);
    expect(off.status).toBe(400);
    expect(off.body.errors!.map((e) => e.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(off.body.errors![0]!.message).toMatch(/introspection is not allowed/);
    const on = await post(open, query);
    expect(on.status).toBe(200);
    expect(on.body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
  });

  it('answers 413 for a body over 1 MB', async () => {
    const body = JSON.stringify({ query: '{ me { id } }', variables: { padding: 'x'.repeat(1024 * 1024) } });
    const res = await post(api, body);
    expect(res.status).toBe(413);
    expect(res.body.errors!.map((e) => e.extensions?.code)).toEqual(['BODY_TOO_LARGE']);
  });

  it('masks an internal error: a reference, no stack, no SQL', async () => {
    const broken = await startApi('sqlite');
    try {
      await seedResults(broken.store);
      // A real fault below the API: the table the search reads is gone.
      const { default: Database } = await import('better-sqlite3');
      const sqlite = new Database(broken.db.url.slice('file:'.length));
      sqlite.exec('PRAGMA foreign_keys = OFF; DROP TABLE "Study";');
      sqlite.close();
      const res = await post(broken, JSON.stringify({ query: '{ studies(sort: DATE_ASC) { nodes { studyInstanceUid } } }' }), broken.keys.clinician);
      expect(res.status).toBe(200);
      expect(res.body.data).toBeNull();
      expect(codes({ status: res.status, errors: res.body.errors })).toEqual(['INTERNAL_SERVER_ERROR']);
      const [error] = res.body.errors!;
      expect(error!.message).toMatch(/^internal error \(reference [0-9a-f-]{36}\)$/);
      expect(error!.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', reference: error!.message.slice('internal error (reference '.length, -1) });
      expect(res.text).not.toMatch(/Study"|no such table|prisma|SELECT|stacktrace|\.ts:/i);
      // The failure is audited under its outcome.
      const [event] = await broken.store.audit.list({ actor: broken.actors.clinician, take: 1 });
      expect(event).toMatchObject({ action: 'query.studies', details: { outcome: 'error' } });
    } finally {
      await broken.close();
    }
  });
});
