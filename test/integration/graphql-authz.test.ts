// Who may do what through the GraphQL API, on every database provider: every root field of the
// schema against each role (an explicit table; a new field without an entry fails), then the ways
// a caller is not identified at all (no, malformed, revoked keys; JWTs expired, forged, of an
// unknown role), and the audit events each leaves.

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/index.js';
import { startApi, type GqlResponse, type TestApi } from '../support/api.js';
import { PROVIDERS } from '../support/databases.js';
import { codes, waitFor } from '../support/graphql-fixtures.js';

const ROLES: Role[] = ['pacs', 'clinician', 'admin'];
const CLINICAL: Role[] = ['clinician', 'admin'];
const ADMIN: Role[] = ['admin'];
const MISSING_UID = '1.2.826.0.1.3680043.10.1.404';

/**
 * Every root field: an operation using it (arguments that point nowhere are fine: the answer
 * may be NOT_FOUND, but never FORBIDDEN for an allowed role) and the roles allowed to use it.
 */
const MATRIX: Record<string, { operation: string; allowed: Role[] }> = {
  'Query.me': { operation: '{ me { id role } }', allowed: ROLES },
  'Query.studies': { operation: '{ studies(first: 1) { nodes { studyInstanceUid } } }', allowed: CLINICAL },
  'Query.worklist': { operation: '{ worklist(first: 1) { nodes { studyInstanceUid } } }', allowed: CLINICAL },
  'Query.study': { operation: `{ study(studyInstanceUid: "${MISSING_UID}") { studyInstanceUid } }`, allowed: CLINICAL },
  'Query.modelVersions': { operation: '{ modelVersions { version } }', allowed: CLINICAL },
  'Query.modelVersion': { operation: '{ modelVersion(version: "nope") { version } }', allowed: CLINICAL },
  'Query.jobs': { operation: '{ jobs(first: 1) { id } }', allowed: ADMIN },
  'Query.job': { operation: '{ job(id: "no-such-job") { id } }', allowed: ADMIN },
  'Query.apiKeys': { operation: '{ apiKeys { prefix } }', allowed: ADMIN },
  'Query.auditEvents': { operation: '{ auditEvents(first: 1) { id } }', allowed: ADMIN },
  'Mutation.notifyStudy': { operation: `mutation { notifyStudy(studyInstanceUid: "${MISSING_UID}") { outcome } }`, allowed: ['pacs', 'admin'] },
  'Mutation.submitLabels': {
    operation: `mutation { submitLabels(labels: [{ studyInstanceUid: "${MISSING_UID}", laterality: L, value: BENIGN, source: RADIOLOGIST }]) { id } }`,
    allowed: CLINICAL,
  },
  'Mutation.rescoreStudy': { operation: `mutation { rescoreStudy(studyInstanceUid: "${MISSING_UID}") { id } }`, allowed: CLINICAL },
  'Mutation.startTraining': { operation: 'mutation { startTraining(config: { epochs: 1 }) { id } }', allowed: ADMIN },
  'Mutation.cancelJob': { operation: 'mutation { cancelJob(id: "no-such-job") { id } }', allowed: ADMIN },
  'Mutation.activateModelVersion': { operation: 'mutation { activateModelVersion(version: "nope") { version } }', allowed: ADMIN },
  'Mutation.evaluateModelVersion': { operation: 'mutation { evaluateModelVersion(version: "nope") { id } }', allowed: ADMIN },
  'Mutation.createApiKey': { operation: 'mutation { createApiKey(name: "from the matrix", role: PACS) { key } }', allowed: ADMIN },
  'Mutation.revokeApiKey': { operation: 'mutation { revokeApiKey(prefix: "mk_00000000") { prefix } }', allowed: ADMIN },
  'Subscription.jobProgress': { operation: 'subscription { jobProgress(id: "no-such-job") { id } }', allowed: ADMIN },
  'Subscription.newResults': { operation: 'subscription { newResults(minProbability: 0.5) { studyInstanceUid } }', allowed: CLINICAL },
};

/** The audit action of a root field ("query.studies"). */
const actionOf = (field: string) => {
  const [type, name] = field.split('.') as [string, string];
  return `${type.toLowerCase()}.${name}`;
};

describe.each(PROVIDERS)('GraphQL authorization on %s', (provider) => {
  let api: TestApi;
  let jwtApi: TestApi;
  const SECRET = 'a-shared-secret-of-at-least-32-characters!';

  beforeAll(async () => {
    [api, jwtApi] = await Promise.all([startApi(provider), startApi(provider, { jwt: { hs256Secret: SECRET, roleClaim: 'role' } })]);
  }, 30_000);
  afterAll(async () => {
    await api?.close();
    await jwtApi?.close();
  });

  const auditCount = async (target: TestApi) => (await target.store.audit.list({ take: 1000 })).length;

  /** Runs a subscription until it is refused (its errors) or admitted (its audit event, then no error). */
  async function subscribe(role: Role, operation: string): Promise<GqlResponse<unknown>> {
    const client = api.ws(api.keys[role]);
    const action = actionOf(operation.includes('jobProgress') ? 'Subscription.jobProgress' : 'Subscription.newResults');
    const before = (await api.store.audit.list({ actor: api.actors[role], action, take: 1000 })).length;
    let answer: GqlResponse<unknown> | undefined;
    let failure: unknown;
    const unsubscribe = client.subscribe(
      { query: operation },
      {
        next: (value) => (answer = { status: 200, ...(value as object) }),
        error: (error) => (failure = error),
        complete: () => undefined,
      },
    );
    try {
      await waitFor(`the ${role} subscription to start`, async () => {
        if (failure) throw new Error(`subscription failed: ${JSON.stringify(failure)}`);
        return answer ?? ((await api.store.audit.list({ actor: api.actors[role], action, take: 1000 })).length > before && { status: 200 });
      });
      // An admitted subscription waits for events: give a refusal that raced the audit write a moment.
      await new Promise((resolve) => setTimeout(resolve, 50));
      return answer ?? { status: 200, data: null };
    } finally {
      unsubscribe();
    }
  }

  it('has an entry for every root field of the schema, and no other', () => {
    const fields = (['Query', 'Mutation', 'Subscription'] as const).flatMap((type) => {
      const root = api.schema.getType(type) as { getFields(): Record<string, unknown> } | undefined;
      return Object.keys(root?.getFields() ?? {}).map((name) => `${type}.${name}`);
    });
    expect(fields.length).toBeGreaterThan(15);
    expect(Object.keys(MATRIX).sort()).toEqual(fields.sort());
  });

  it('allows and refuses each root field per role, auditing each refusal once', async () => {
    const outcome: Record<string, Record<Role, 'allowed' | 'refused'>> = {};
    const expected: typeof outcome = {};
    for (const [field, { operation, allowed }] of Object.entries(MATRIX)) {
      outcome[field] = {} as Record<Role, 'allowed' | 'refused'>;
      expected[field] = {} as Record<Role, 'allowed' | 'refused'>;
      for (const role of ROLES) {
        expected[field][role] = allowed.includes(role) ? 'allowed' : 'refused';
        const res = field.startsWith('Subscription.') ? await subscribe(role, operation) : await api.gql(api.keys[role], operation);
        const errorCodes = codes(res);
        expect(errorCodes, `${field} as ${role}`).not.toContain('UNAUTHENTICATED');
        expect(errorCodes, `${field} as ${role}`).not.toContain('INTERNAL_SERVER_ERROR');
        if (errorCodes.includes('FORBIDDEN')) {
          // A refusal is the only error, names the role, and answers nothing.
          expect(errorCodes, `${field} as ${role}`).toEqual(['FORBIDDEN']);
          expect(res.errors![0]!.message).toContain(`role ${role} may not`);
          expect(res.data ?? null).toBeNull();
          outcome[field][role] = 'refused';
        } else {
          outcome[field][role] = 'allowed';
        }
      }
    }
    expect(outcome).toEqual(expected);

    // Each refusal wrote exactly one 'denied' event for that key and action; nothing else was denied.
    for (const role of ROLES) {
      const events = await api.store.audit.list({ actor: api.actors[role], take: 1000 });
      const denied = events.filter((e) => (e.details as { outcome?: string } | null)?.outcome === 'denied').map((e) => e.action);
      const refusedFields = Object.entries(MATRIX).filter(([, { allowed }]) => !allowed.includes(role)).map(([field]) => actionOf(field));
      expect(denied.sort(), `denied events of ${role}`).toEqual(refusedFields.sort());
      for (const event of events.filter((e) => (e.details as { outcome?: string } | null)?.outcome === 'denied')) {
        expect(event.details).toMatchObject({ outcome: 'denied', role });
      }
      // Every allowed field left an event that is not a denial.
      const allowedActions = new Set(events.filter((e) => (e.details as { outcome?: string } | null)?.outcome !== 'denied').map((e) => e.action));
      const allowedFields = Object.entries(MATRIX).filter(([, { allowed }]) => allowed.includes(role)).map(([field]) => actionOf(field));
      for (const action of allowedFields) expect(allowedActions.has(action), `${action} as ${role} was audited`).toBe(true);
    }
    // An argument named like the recorder's own keys (createApiKey's role) cannot pass for the caller's role.
    const [created] = await api.store.audit.list({ actor: api.actors.admin, action: 'mutation.createApiKey', take: 1 });
    expect(created!.details).toEqual({ outcome: 'ok', role: 'admin', requestedRole: 'pacs', name: 'from the matrix' });
  }, 60_000);

  it('refuses a request without credentials with 401 UNAUTHENTICATED, and audits nothing', async () => {
    const before = await auditCount(api);
    const res = await fetch(api.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ me { id } }' }) });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    const body = (await res.json()) as { data?: unknown; errors: Array<{ message: string; extensions: { code: string } }> };
    expect(body.data).toBeUndefined();
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    expect(body.errors[0]!.message).toMatch(/^authentication required/);
    // A scheme other than Bearer is no credential either.
    const basic = await fetch(api.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Basic YTpi' }, body: '{"query":"{ me { id } }"}' });
    expect(basic.status).toBe(401);
    expect(await auditCount(api)).toBe(before);
  });

  it('refuses malformed, unknown and revoked API keys', async () => {
    const before = await auditCount(api);
    const malformed = await api.gql('mk_short', '{ me { id } }');
    expect(malformed).toMatchObject({ status: 401, errors: [{ message: 'malformed API key', extensions: { code: 'UNAUTHENTICATED' } }] });
    // The right prefix with a wrong secret.
    const forged = `${api.keys.admin.slice(0, 12)}${'A'.repeat(43)}`;
    const unknown = await api.gql(forged, '{ me { id } }');
    expect(unknown).toMatchObject({ status: 401, errors: [{ message: `unknown API key ${api.keys.admin.slice(0, 11)}`, extensions: { code: 'UNAUTHENTICATED' } }] });
    // No JWT key is configured on this API: a token is refused, naming why.
    const token = await api.gql('eyJhbGciOiJIUzI1NiJ9.e30.sig', '{ me { id } }');
    expect(token.status).toBe(401);
    expect(token.errors![0]!.message).toMatch(/^bearer tokens are not accepted/);
    expect(await auditCount(api)).toBe(before);

    // A key created by an admin works until it is revoked.
    const created = await api.gql<{ createApiKey: { key: string; apiKey: { prefix: string } } }>(
      api.keys.admin,
      'mutation { createApiKey(name: "to revoke", role: CLINICIAN) { key apiKey { prefix } } }',
    );
    const { key, apiKey } = created.data!.createApiKey;
    expect((await api.gql<{ me: { role: string } }>(key, '{ me { role } }')).data).toEqual({ me: { role: 'CLINICIAN' } });
    const revoked = await api.gql<{ revokeApiKey: { prefix: string; revokedAt: string | null } }>(api.keys.admin, `mutation { revokeApiKey(prefix: "${apiKey.prefix}") { prefix revokedAt } }`);
    expect(revoked.data!.revokeApiKey.prefix).toBe(apiKey.prefix);
    expect(revoked.data!.revokeApiKey.revokedAt).toEqual(expect.any(String));
    const afterRevoke = await auditCount(api);
    const refused = await api.gql(key, '{ me { role } }');
    expect(refused.status).toBe(401);
    expect(refused.data).toBeUndefined();
    expect(codes(refused)).toEqual(['UNAUTHENTICATED']);
    expect(refused.errors![0]!.message).toBe(`API key ${apiKey.prefix} was revoked`);
    expect(await auditCount(api)).toBe(afterRevoke);
  });

  describe('JWT bearer tokens', () => {
    const sign = (claims: Record<string, unknown>, options: { secret?: string; expiresAt?: number; subject?: string } = {}) => {
      let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(options.expiresAt ?? '5m');
      if (options.subject !== null) jwt = jwt.setSubject(options.subject ?? 'dr.jones');
      return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
    };

    it('accepts a valid token with its role and subject, and audits as jwt:<sub>', async () => {
      const token = await sign({ role: 'clinician' });
      const me = await jwtApi.gql<{ me: unknown }>(token, '{ me { id name role } }');
      expect(me).toEqual({ status: 200, data: { me: { id: 'jwt:dr.jones', name: 'dr.jones', role: 'CLINICIAN' } } });
      const denied = await jwtApi.gql(token, '{ jobs { id } }');
      expect(codes(denied)).toEqual(['FORBIDDEN']);
      const events = await jwtApi.store.audit.list({ actor: 'jwt:dr.jones', take: 10 });
      expect(events.map((e) => [e.action, (e.details as { outcome: string }).outcome])).toEqual([
        ['query.jobs', 'denied'],
        ['query.me', 'ok'],
      ]);
      // API keys keep working next to tokens.
      expect((await jwtApi.gql(jwtApi.keys.pacs, '{ me { role } }')).data).toEqual({ me: { role: 'PACS' } });
    });

    it('refuses expired, forged and role-less tokens with 401, auditing nothing', async () => {
      const before = await auditCount(jwtApi);
      const refusal = async (token: string) => {
        const res = await jwtApi.gql(token, '{ me { id } }');
        expect(res.status).toBe(401);
        expect(res.data).toBeUndefined();
        expect(codes(res)).toEqual(['UNAUTHENTICATED']);
        return res.errors![0]!.message;
      };
      expect(await refusal(await sign({ role: 'admin' }, { expiresAt: Math.floor(Date.now() / 1000) - 60 }))).toBe('token expired');
      expect(await refusal(await sign({ role: 'admin' }, { secret: 'another-secret-of-at-least-32-characters' }))).toBe('token signature is not valid');
      expect(await refusal(await sign({ role: 'superuser' }))).toBe("token claim 'role' must be one of pacs, clinician, admin");
      expect(await refusal(await sign({}))).toBe("token claim 'role' must be one of pacs, clinician, admin");
      expect(await refusal('not.a.token')).toBe('malformed token');
      expect(await auditCount(jwtApi)).toBe(before);
    });

    it('verifies RS256 tokens against a public key file, and refuses HS256 tokens made with that public key', async () => {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-jwt-'));
      const publicKeyFile = path.join(dir, 'jwt-public.pem');
      writeFileSync(publicKeyFile, pem);
      const rsApi = await startApi(provider, { jwt: { publicKeyFile, roleClaim: 'role', issuer: 'https://idp.hospital.example', audience: 'mammocad' } });
      try {
        const token = (claims: Record<string, unknown>, issuer = 'https://idp.hospital.example') =>
          new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setSubject('dr.rsa').setIssuer(issuer).setAudience('mammocad').setExpirationTime('5m').sign(privateKey);
        const me = await rsApi.gql<{ me: unknown }>(await token({ role: 'admin' }), '{ me { id role } }');
        expect(me).toEqual({ status: 200, data: { me: { id: 'jwt:dr.rsa', role: 'ADMIN' } } });
        const wrongIssuer = await rsApi.gql(await token({ role: 'admin' }, 'https://elsewhere.example'), '{ me { id } }');
        expect([wrongIssuer.status, codes(wrongIssuer)]).toEqual([401, ['UNAUTHENTICATED']]);
        // The classic confusion attack: an HS256 token keyed with the (public) PEM text.
        const forged = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setIssuer('https://idp.hospital.example').setAudience('mammocad').setExpirationTime('5m').sign(new TextEncoder().encode(pem));
        const refused = await rsApi.gql(forged, '{ me { id } }');
        expect([refused.status, refused.errors?.[0]?.message]).toEqual([401, 'token algorithm is not accepted']);
      } finally {
        await rsApi.close();
      }
    });
  });
});
