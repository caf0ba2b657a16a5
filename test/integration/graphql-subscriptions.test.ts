// Subscriptions over graphql-ws, on every provider: a job's progress until it ends, new exam
// results (filtered by probability), and the refusals (role, credentials, limits).

import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/domain/index.js';
import { startApi, type TestApi } from '../support/api.js';
import { PROVIDERS } from '../support/databases.js';
import { seedResults, waitFor, type SeededResults } from '../support/graphql-fixtures.js';

interface Collected<T> {
  events: T[];
  errors: Array<{ message: string; extensions?: Record<string, unknown> }>;
  failure: unknown;
  completed: boolean;
  stop(): void;
}

/** Subscribes and collects what arrives: data events, GraphQL errors, a socket failure, completion. */
function collect<T>(client: Client, query: string, variables?: Record<string, unknown>): Collected<T> {
  const collected: Collected<T> = { events: [], errors: [], failure: undefined, completed: false, stop: () => undefined };
  collected.stop = client.subscribe(
    { query, variables },
    {
      next: (value) => {
        if (value.errors) collected.errors.push(...(value.errors as Collected<T>['errors']));
        if (value.data) collected.events.push(value.data as T);
      },
      error: (error) => {
        if (Array.isArray(error)) collected.errors.push(...(error as Collected<T>['errors']));
        else collected.failure = error;
      },
      complete: () => (collected.completed = true),
    },
  );
  return collected;
}

describe.each(PROVIDERS)('GraphQL subscriptions on %s', (provider) => {
  let api: TestApi;
  let seed: SeededResults;

  beforeAll(async () => {
    api = await startApi(provider);
    seed = await seedResults(api.store);
  }, 30_000);
  afterAll(async () => {
    await api?.close();
  });

  /** Waits until the server has admitted one more subscription of `role` to `field` (its audit event). */
  async function admitted(role: Role, field: string, before: number): Promise<void> {
    await waitFor(`${field} to start`, async () => (await api.store.audit.list({ actor: api.actors[role], action: `subscription.${field}`, take: 1000 })).length > before);
    // The feed attaches right after the audit write.
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  const subscriptions = async (role: Role, field: string) => (await api.store.audit.list({ actor: api.actors[role], action: `subscription.${field}`, take: 1000 })).length;

  it("follows one job's progress (not other jobs') and completes after its final state", async () => {
    const { job } = await api.store.jobs.enqueue('evaluate', { version: 'model-a' });
    const { job: other } = await api.store.jobs.enqueue('train', { epochs: 1 });
    await api.store.jobs.claimById(job.id, ['evaluate'], 'worker-1');
    await api.store.jobs.claimById(other.id, ['train'], 'worker-1');

    const before = await subscriptions('admin', 'jobProgress');
    const sub = collect<{ jobProgress: { id: string; status: string; progress: unknown; result: unknown } }>(
      api.ws(api.keys.admin),
      'subscription($id: ID!) { jobProgress(id: $id) { id status progress result } }',
      { id: job.id },
    );
    await admitted('admin', 'jobProgress', before);

    await api.store.jobs.reportProgress(job.id, { step: 1, of: 2 });
    await waitFor('the first update', () => sub.events.length === 1);
    await api.store.jobs.reportProgress(other.id, { epoch: 1 });
    await api.store.jobs.reportProgress(job.id, { step: 2, of: 2 });
    await waitFor('the second update', () => sub.events.length === 2);
    await api.store.jobs.finish(job.id, 'succeeded', { result: { auc: 0.8 } });
    await waitFor('completion', () => sub.completed);

    expect(sub.errors).toEqual([]);
    expect(sub.events.map((e) => e.jobProgress)).toEqual([
      { id: job.id, status: 'RUNNING', progress: { step: 1, of: 2 }, result: null },
      { id: job.id, status: 'RUNNING', progress: { step: 2, of: 2 }, result: null },
      { id: job.id, status: 'SUCCEEDED', progress: { step: 2, of: 2 }, result: { auc: 0.8 } },
    ]);
    // Later changes of the ended job reach no one.
    await api.store.jobs.reportProgress(other.id, { epoch: 2 });
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(sub.events).toHaveLength(3);
    const [event] = await api.store.audit.list({ actor: api.actors.admin, action: 'subscription.jobProgress', take: 1 });
    expect(event).toMatchObject({ target: `job:${job.id}`, details: { outcome: 'ok', role: 'admin' } });
  });

  it('sends exam results stored after subscribing, filtered by minProbability', async () => {
    const before = await subscriptions('clinician', 'newResults');
    const client = api.ws(api.keys.clinician);
    type Result = { newResults: { studyInstanceUid: string; modelVersion: string; probability: number; positive: boolean } };
    const all = collect<Result>(client, 'subscription { newResults { studyInstanceUid modelVersion probability positive } }');
    const high = collect<Result>(client, 'subscription($min: Float) { newResults(minProbability: $min) { studyInstanceUid probability } }', { min: 0.5 });
    await admitted('clinician', 'newResults', before + 1);

    // Model B scores s2 (0.3) and s4 (0.7): results stored before subscribing (the seed) are not sent.
    await api.store.predictions.saveResults(seed.studies.get('s2')!.id, seed.modelB.id, [{ level: 'exam', probability: 0.3, positive: false, preprocessingHash: 'pp' }]);
    await api.store.predictions.saveResults(seed.studies.get('s4')!.id, seed.modelB.id, [
      { level: 'breast', laterality: 'L', probability: 0.7, positive: true, preprocessingHash: 'pp' },
      { level: 'exam', probability: 0.7, positive: true, preprocessingHash: 'pp' },
    ]);
    await waitFor('both results', () => all.events.length === 2 && high.events.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(all.errors).toEqual([]);
    expect(all.events.map((e) => e.newResults)).toEqual([
      { studyInstanceUid: seed.uid('s2'), modelVersion: 'model-b', probability: 0.3, positive: false },
      { studyInstanceUid: seed.uid('s4'), modelVersion: 'model-b', probability: 0.7, positive: true },
    ]);
    expect(high.events.map((e) => e.newResults)).toEqual([{ studyInstanceUid: seed.uid('s4'), probability: 0.7 }]);
    // Each delivery is a read of that study's result, audited with the study (three: s2 and s4
    // to one subscription, s4 to the other).
    const delivered = await api.store.audit.list({ actor: api.actors.clinician, action: 'subscription.newResults.delivered', take: 10 });
    expect(delivered.map((e) => e.target).sort()).toEqual([`study:${seed.uid('s2')}`, `study:${seed.uid('s4')}`, `study:${seed.uid('s4')}`]);
    all.stop();
    high.stop();
  });

  it('refuses jobProgress to a clinician with FORBIDDEN, audited as denied', async () => {
    const sub = collect(api.ws(api.keys.clinician), 'subscription { jobProgress(id: "any") { id } }');
    await waitFor('the refusal', () => sub.errors.length > 0 || sub.completed);
    expect(sub.events).toEqual([]);
    expect(sub.errors.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(sub.errors[0]!.message).toBe('role clinician may not subscribe to jobProgress');
    const [event] = await api.store.audit.list({ actor: api.actors.clinician, action: 'subscription.jobProgress', take: 1 });
    expect(event).toMatchObject({ target: 'job:any', details: { outcome: 'denied', role: 'clinician' } });
  });

  it('closes a connection without a valid key with 4403', async () => {
    for (const credential of ['mk_00000000_' + 'A'.repeat(43), 'garbage']) {
      const before = (await api.store.audit.list({ take: 1000 })).length;
      const sub = collect(api.ws(credential), 'subscription { newResults { studyInstanceUid } }');
      await waitFor('the close', () => sub.failure);
      expect((sub.failure as { code?: number }).code).toBe(4403);
      expect(sub.events).toEqual([]);
      expect((await api.store.audit.list({ take: 1000 })).length).toBe(before);
    }
  });

  it('applies the query limits and variable types to subscriptions too', async () => {
    const client = api.ws(api.keys.admin);
    const badVariable = collect(client, 'subscription($min: Float) { newResults(minProbability: $min) { studyInstanceUid } }', { min: 'high' });
    await waitFor('the refusal', () => badVariable.errors.length > 0 || badVariable.failure);
    expect(badVariable.failure).toBeUndefined();
    expect(badVariable.errors.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    const unknown = collect(client, 'subscription { newResults { password } }');
    await waitFor('the refusal', () => unknown.errors.length > 0 || unknown.failure);
    expect(unknown.errors.map((e) => e.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(unknown.errors[0]!.message).toBe('Cannot query field "password" on type "StudyResult".');
    const syntax = collect(client, 'subscription { newResults { ');
    await waitFor('the refusal', () => syntax.errors.length > 0 || syntax.failure);
    expect(syntax.errors.map((e) => e.extensions?.code)).toEqual(['GRAPHQL_PARSE_FAILED']);
    // Introspection is off over WebSocket as over HTTP.
    const introspection = collect(client, '{ __schema { queryType { name } } }');
    await waitFor('the refusal', () => introspection.errors.length > 0 || introspection.failure || introspection.events.length > 0);
    expect(introspection.events).toEqual([]);
    expect(new Set(introspection.errors.map((e) => e.extensions?.code))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
    expect(introspection.errors[0]!.message).toMatch(/introspection .* "__schema"/i);
  });

  it('refuses a subscription deeper than maxDepth with QUERY_TOO_DEEP', async () => {
    const shallow = await startApi(provider, { settings: { maxDepth: 1 } });
    try {
      const sub = collect(shallow.ws(shallow.keys.admin), 'subscription { newResults { studyInstanceUid } }');
      await waitFor('the refusal', () => sub.errors.length > 0 || sub.failure);
      expect(sub.errors.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_DEEP']);
      expect(sub.errors[0]!.message).toBe('query is 2 levels deep; at most 1 are allowed');
    } finally {
      await shallow.close();
    }
  });
});
