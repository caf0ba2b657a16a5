// The schema and migration files on disk: prisma/schema.prisma (the single source of truth,
// written for SQLite) and prisma/migrations/<provider>/<timestamp>_<name>/migration.sql.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { MigrationList } from '@prisma/schema-engine-wasm';
import { PROJECT_ROOT } from '../config/load-config.js';
import type { Provider } from './adapters.js';

export const SCHEMA_FILE = path.join(PROJECT_ROOT, 'prisma', 'schema.prisma');
export const MIGRATIONS_ROOT = path.join(PROJECT_ROOT, 'prisma', 'migrations');
/** The schema as of the newest migration; `scripts/prisma.ts migration` keeps it current. */
export const SNAPSHOT_FILE = path.join(MIGRATIONS_ROOT, 'schema.snapshot.prisma');

/** The Prisma schema for a provider, derived from the single source prisma/schema.prisma. */
export function schemaFor(provider: Provider, outputDir?: string, source = readFileSync(SCHEMA_FILE, 'utf8')): string {
  let schema = source.replace(/provider\s*=\s*"sqlite"/, `provider = "${provider}"`);
  if (outputDir) schema = schema.replace(/output\s*=\s*"[^"]*"/, `output = ${JSON.stringify(outputDir)}`);
  return schema;
}

export function migrationsDir(provider: Provider): string {
  return path.join(MIGRATIONS_ROOT, provider);
}

/** Reads the migration folder of a provider into the engine's input format. */
export function readMigrations(provider: Provider): MigrationList {
  const baseDir = migrationsDir(provider);
  const lockPath = path.join(baseDir, 'migration_lock.toml');
  const names = existsSync(baseDir)
    ? readdirSync(baseDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()
    : [];
  return {
    baseDir,
    lockfile: { path: 'migration_lock.toml', content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null },
    shadowDbInitScript: '',
    migrationDirectories: names.map((name) => {
      const file = path.join(baseDir, name, 'migration.sql');
      return {
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: existsSync(file) ? { tag: 'ok', value: readFileSync(file, 'utf8') } : { tag: 'error', value: `missing ${file}` },
        },
      };
    }),
  };
}


/** The snapshot schema for a provider, or null before the first migration. */
export function readSnapshot(provider: Provider): string | null {
  return existsSync(SNAPSHOT_FILE) ? schemaFor(provider, undefined, readFileSync(SNAPSHOT_FILE, 'utf8')) : null;
}
