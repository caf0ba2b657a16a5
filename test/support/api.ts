// The GraphQL API for tests, over real HTTP and WebSocket: the service's own HTTP server and
// GraphQL endpoint on a loopback port, a fresh database of the given provider, and one API key
// per role.

import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { GraphQLSchema } from 'graphql';
import pino, { type Logger } from 'pino';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { DicomwebClient } from '../../src/dicom/dicomweb-client.js';
import type { Role } from '../../src/domain/index.js';
import { Authenticator, createApiKey } from '../../src/graphql/auth.js';
import { ChangeFeed } from '../../src/graphql/change-feed.js';
import { createHttpServer, listen } from '../../src/graphql/http-server.js';
import { DEFAULT_API_SETTINGS, GRAPHQL_PATH, GraphqlEndpoint, type ApiSettings } from '../../src/graphql/server.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { StudyDiscovery } from '../../src/pipeline/study-discovery.js';
import { openStore, type Provider, type Store } from '../../src/store/index.js';
import { createTestDatabase, type TestDatabase } from './databases.js';

export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, unknown> }>;
}

export interface TestApi {
  url: string;
  wsUrl: string;
  store: Store;
  db: TestDatabase;
  modelDir: string;
  keys: Record<Role, string>;
  /** The audit actor of each role's key ("apikey:<prefix>"). */
  actors: Record<Role, string>;
  schema: GraphQLSchema;
  feed: ChangeFeed;
  /** POSTs an operation with `credential` ("Bearer <key>" is added; null sends no header). */
  gql<T = Record<string, unknown>>(credential: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResponse<T>>;
  ws(credential: string): Client;
  close(): Promise<void>;
}

export interface StartApiOptions {
  pacsUrl?: string;
  /** Basic authentication for the PACS (a LocalOrthanc's username and password). */
  pacsCredentials?: { username: string; password: string };
  modelDir?: string;
  settings?: Partial<ApiSettings>;
  jwt?: ConstructorParameters<typeof Authenticator>[1];
  /** Where the service logs (default: nowhere, or TEST_LOG_LEVEL). */
  logger?: Logger;
}

export async function startApi(provider: Provider, options: StartApiOptions = {}): Promise<TestApi> {
  const db = await createTestDatabase(provider);
  const store = await openStore({ databaseUrl: db.url });
  const logger = options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const pacs = new DicomwebClient({ url: options.pacsUrl ?? 'http://127.0.0.1:9/dicom-web', timeoutMs: 5_000, attempts: 1, ...options.pacsCredentials });
  const discovery = new StudyDiscovery({ pacs, store, logger });
  // Each API its own model folder: one shared by PostgreSQL runs kept packages of earlier runs.
  const modelDir = options.modelDir ?? mkdtempSync(path.join(tmpdir(), 'mammocad-api-models-'));
  const feed = new ChangeFeed(store, 100, logger);
  const endpoint = await GraphqlEndpoint.create({
    services: { store, discovery, models: new ModelService({ store, modelDir, logger }), feed, logger },
    authenticator: new Authenticator(store, options.jwt ?? { roleClaim: 'role' }),
    settings: { ...DEFAULT_API_SETTINGS, ...options.settings },
    logger,
  });
  const server = createHttpServer({ logger, version: 'test', readiness: [], graphql: { path: GRAPHQL_PATH, handle: (req, res) => endpoint.handle(req, res) } });
  endpoint.attach(server);
  const port = await listen(server, 0, '127.0.0.1');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port ?? port}${GRAPHQL_PATH}`;
  const keys = {} as Record<Role, string>;
  for (const role of ['pacs', 'clinician', 'admin'] as const) keys[role] = (await createApiKey(store, { name: `test ${role}`, role, createdBy: 'test' })).key;
  const actors = Object.fromEntries(Object.entries(keys).map(([role, key]) => [role, `apikey:${key.slice(0, 11)}`])) as Record<Role, string>;
  const clients: Client[] = [];
  return {
    url,
    wsUrl: url.replace('http:', 'ws:'),
    store,
    db,
    modelDir,
    keys,
    actors,
    schema: endpoint.schema,
    feed,
    async gql<T>(credential: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResponse<T>> {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (credential !== null) headers.authorization = `Bearer ${credential}`;
      const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as Omit<GqlResponse<T>, 'status'>;
      return { status: res.status, ...body };
    },
    ws(credential: string): Client {
      const client = createClient({ url: url.replace('http:', 'ws:'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${credential}` }, retryAttempts: 0, lazy: true });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.dispose()));
      feed.close();
      await endpoint.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store.close();
      await db.drop();
      if (!options.modelDir) rmSync(modelDir, { recursive: true, force: true });
    },
  };
}
