// Applies the committed migrations (prisma/migrations/<provider>/*/migration.sql) offline.
//
// The Prisma CLI would download a native schema engine; hospitals and this project's machines
// cannot. We drive Prisma's WebAssembly schema engine through the same driver adapters the
// application uses. It records applied migrations in the standard `_prisma_migrations` table
// (so the real CLI remains compatible where a site has it) and serialises concurrent starters:
// on PostgreSQL with an advisory lock, which must be held on a single connection (pool of 1).

import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createRequire } from 'node:module';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import * as engineModule from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';
import { DatabaseError } from '../domain/errors.js';
import { createAdapter, type DatabaseTarget, type Provider } from './adapters.js';
import { readMigrations, readSnapshot, schemaFor } from './schema-files.js';


const NO_FILTER = { externalTables: [], externalEnums: [] };

// Node has WebAssembly, but the ES2023 + @types/node 20 libraries do not declare it.
const wasmRuntime = (globalThis as unknown as {
  WebAssembly: {
    instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: Record<string, unknown> } }>;
  };
}).WebAssembly;

let engineReady: Promise<void> | undefined;

/** Instantiates the engine's WebAssembly module once per process. */
function loadEngineModule(): Promise<void> {
  engineReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmFile = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg').replace(/\.js$/, '.wasm');
    const { instance } = await wasmRuntime.instantiate(readFileSync(wasmFile), { './schema_engine_bg.js': engineModule });
    engineModule.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return engineReady;
}

/**
 * Wraps an adapter factory so every connection the engine opens can be closed afterwards
 * (freeing the engine does not, and a lingering SQLite connection blocks the next writer).
 */
function closableFactory(factory: SqlMigrationAwareDriverAdapterFactory) {
  const opened: SqlDriverAdapter[] = [];
  const track = async (connecting: Promise<SqlDriverAdapter>) => {
    const connection = await connecting;
    opened.push(connection);
    return connection;
  };
  return {
    factory: {
      provider: factory.provider,
      adapterName: factory.adapterName,
      connect: () => track(factory.connect()),
      connectToShadowDb: () => track(factory.connectToShadowDb()),
    } satisfies SqlMigrationAwareDriverAdapterFactory,
    closeAll: () => Promise.all(opened.map((c) => c.dispose().catch(() => {}))),
  };
}

/** Runs `work` with a schema engine connected to the target database, then frees it. */
export async function withSchemaEngine<T>(
  target: DatabaseTarget,
  work: (engine: SchemaEngine) => Promise<T>,
  schema = schemaFor(target.provider),
): Promise<T> {
  await loadEngineModule();
  // PostgreSQL: one connection, so the engine's advisory lock and its migration statements
  // share a session (with a larger pool, concurrent starters time out waiting for the lock).
  const adapter = target.provider === 'postgresql' ? new PrismaPg({ connectionString: target.url, max: 1 }) : createAdapter(target);
  const { factory, closeAll } = closableFactory(adapter);
  let engine: SchemaEngine | undefined;
  try {
    engine = await engineModule.SchemaEngine.new(
      { datamodels: [['schema.prisma', schema]] },
      () => {}, // engine log lines: nothing a user needs
      bindMigrationAwareSqlAdapterFactory(factory),
    );
    return await work(engine);
  } catch (error) {
    if (error instanceof DatabaseError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new DatabaseError(`database migration failed (${target.provider}): ${message.split('\n')[0]}`, {
      // Unreachable or busy servers may come back; bad credentials or SQL will not.
      retryable: /can't reach|ECONNREFUSED|ECONNRESET|ETIMEDOUT|timed? ?out|SocketTimeout|too many connections/i.test(message),
      cause: error,
    });
  } finally {
    engine?.free();
    await closeAll();
  }
}

export interface MigrateResult {
  provider: Provider;
  /** Migrations this call applied (empty when the database was already current). */
  applied: string[];
  /** All migrations on disk, in order. */
  available: string[];
}

/** Applies every migration the database lacks. Safe to call from several processes at once. */
export async function applyMigrations(target: DatabaseTarget): Promise<MigrateResult> {
  const migrations = readMigrations(target.provider);
  const available = migrations.migrationDirectories.map((d) => d.path);
  if (available.length === 0) {
    throw new DatabaseError(`no migrations found in ${migrations.baseDir}`);
  }
  // The common case, a database already current, is answered by one read: the engine would
  // otherwise lock a SQLite file that a running service is writing to (and time out) just to
  // find that there is nothing to do.
  for (let attempt = 1; ; attempt++) {
    const recorded = await appliedMigrationNames(target);
    if (recorded && available.every((name) => recorded.has(name))) return { provider: target.provider, applied: [], available };
    try {
      const out = await withSchemaEngine(target, (engine) =>
        engine.applyMigrations({ migrationsList: migrations, filters: NO_FILTER }),
      );
      return { provider: target.provider, applied: out.appliedMigrationNames, available };
    } catch (error) {
      // SQLite: another process holds the file's write lock for longer than the busy timeout
      // (it is migrating too, on a loaded machine); wait and look again rather than fail a
      // start-up. The engine reports the timeout as an unknown "SocketTimeout" variant.
      const busy = target.provider === 'sqlite' && error instanceof DatabaseError && /SocketTimeout|database is locked|SQLITE_BUSY/.test(error.message);
      if (!busy || attempt >= SQLITE_BUSY_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

/** How often a SQLite migration that found the file locked is tried (each after a 10 s busy timeout). */
const SQLITE_BUSY_ATTEMPTS = 6;

const APPLIED_SQL = 'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL';

/** Migrations recorded as applied, or null when that cannot be read (no database or table yet). */
async function appliedMigrationNames(target: DatabaseTarget): Promise<Set<string> | null> {
  try {
    if (target.provider === 'sqlite') {
      if (!existsSync(target.file!)) return null;
      const db = new Database(target.file!, { readonly: true, fileMustExist: true, timeout: 10_000 });
      try {
        return new Set((db.prepare(APPLIED_SQL).all() as Array<{ migration_name: string }>).map((r) => r.migration_name));
      } finally {
        db.close();
      }
    }
    const client = new pg.Client({ connectionString: target.url });
    await client.connect();
    try {
      return new Set((await client.query<{ migration_name: string }>(APPLIED_SQL)).rows.map((r) => r.migration_name));
    } finally {
      await client.end();
    }
  } catch {
    return null; // the engine will say what is wrong, if anything
  }
}

/**
 * The SQL that would bring the committed migrations up to prisma/schema.prisma; empty when
 * they are in sync. Compares two datamodels, the current schema and the snapshot written with
 * the last migration (prisma/migrations/schema.snapshot.prisma), so no database is involved.
 * (Replaying the migration history instead needs a shadow database, which the wasm engine
 * cannot drive through these adapters: multi-statement SQL on SQLite, the 'char' type on
 * PostgreSQL.)
 */
export async function pendingSchemaChanges(provider: Provider): Promise<string> {
  const snapshot = readSnapshot(provider);
  const schema = schemaFor(provider);
  // The engine needs a connection to construct even for a pure datamodel diff: an in-memory
  // SQLite one serves both providers because nothing is read from it.
  return withSchemaEngine({ provider: 'sqlite', url: 'file::memory:', file: ':memory:' }, async (engine) => {
    const diff = await engine.diff({
      from: snapshot === null ? { tag: 'empty' } : { tag: 'schemaDatamodel', files: [{ path: 'snapshot.prisma', content: snapshot }] },
      to: { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: schema }] },
      script: true,
      exitCode: null,
      filters: NO_FILTER,
    });
    return (diff.stdout ?? '').replace(/^-- This is an empty migration\.\s*$/m, '').trim();
  }, schema);
}
