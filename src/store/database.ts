// Opens the application's Prisma client for a database target. Prisma 7 needs one generated
// client per provider; both come from prisma/schema.prisma and have the same API, so the rest
// of the code sees one `Db` type.

import type { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as SqliteClient } from './generated/sqlite/client.js';
import { PrismaClient as PostgresClient } from './generated/postgresql/client.js';
import { createAdapter, type DatabaseTarget } from './adapters.js';

/** The Prisma client type shared by both providers (their generated APIs are identical). */
export type Db = InstanceType<typeof SqliteClient>;

export async function openDatabase(target: DatabaseTarget): Promise<Db> {
  const adapter = createAdapter(target);
  if (target.provider === 'postgresql') {
    return new PostgresClient({ adapter: adapter as PrismaPg }) as unknown as Db;
  }
  const db = new SqliteClient({ adapter });
  // WAL lets readers (the API) proceed while a worker writes.
  await db.$queryRawUnsafe('PRAGMA journal_mode = WAL');
  await db.$queryRawUnsafe('PRAGMA foreign_keys = ON');
  return db;
}
