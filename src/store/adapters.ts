// Database targets and Prisma driver adapters: SQLite through better-sqlite3 (file:PATH, the
// embedded default) or PostgreSQL through pg (postgresql://...). Kept apart from the generated
// clients so the migration tooling can run before any client has been generated.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { ConfigError } from '../domain/errors.js';

export type Provider = 'sqlite' | 'postgresql';

export interface DatabaseTarget {
  provider: Provider;
  url: string;
  /** SQLite only: the absolute file path. */
  file?: string;
}

export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (/^postgres(ql)?:\/\//.test(url)) return { provider: 'postgresql', url };
  if (url.startsWith('file:')) {
    const file = path.resolve(url.slice('file:'.length).replace(/^\/\//, ''));
    return { provider: 'sqlite', url: `file:${file}`, file };
  }
  throw new ConfigError('database.url', "must start with 'file:' (SQLite) or 'postgresql://' (PostgreSQL)");
}

/** A driver adapter factory for the target; also what the migration engine drives. */
export function createAdapter(target: DatabaseTarget): PrismaBetterSqlite3 | PrismaPg {
  if (target.provider === 'sqlite') {
    mkdirSync(path.dirname(target.file!), { recursive: true });
    // The busy timeout rides out short write locks held by other processes instead of failing.
    return new PrismaBetterSqlite3({ url: target.file!, timeout: 10_000 });
  }
  return new PrismaPg({ connectionString: target.url });
}
