// Databases for tests: a fresh SQLite file, and a fresh PostgreSQL database on the server named
// by MAMMOCAD_TEST_PG_URL (scripts/test.sh starts one). In CI a missing PostgreSQL is an error,
// not a skip: the suite must prove both providers.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Provider } from '../../src/store/index.js';

export const PG_ADMIN_URL = process.env.MAMMOCAD_TEST_PG_URL;

if (!PG_ADMIN_URL && process.env.CI) {
  throw new Error('MAMMOCAD_TEST_PG_URL is not set: CI must run the PostgreSQL tests (see scripts/start-postgres.sh)');
}

/** The providers this run can test; PostgreSQL only when a server is configured. */
export const PROVIDERS: Provider[] = PG_ADMIN_URL ? ['sqlite', 'postgresql'] : ['sqlite'];

export interface TestDatabase {
  provider: Provider;
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(provider: Provider): Promise<TestDatabase> {
  if (provider === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-test-'));
    return { provider, url: `file:${path.join(dir, 'test.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  if (!PG_ADMIN_URL) throw new Error('MAMMOCAD_TEST_PG_URL is not set');
  const name = `mammocad_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { provider, url: url.toString(), drop: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Runs one query on a test database (any provider) and returns its rows. */
export async function queryRows<T = Record<string, unknown>>(db: TestDatabase, sql: string): Promise<T[]> {
  if (db.provider === 'postgresql') {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }
  const { default: Database } = await import('better-sqlite3');
  const sqlite = new Database(db.url.slice('file:'.length), { readonly: true });
  try {
    return sqlite.prepare(sql).all() as T[];
  } finally {
    sqlite.close();
  }
}
