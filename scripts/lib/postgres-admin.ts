// The PostgreSQL server the benchmarks and the load test create their databases on: the one
// named by MAMMOCAD_TEST_PG_URL, else (as root) the local cluster scripts/start-postgres.sh
// starts. Always on loopback: these scripts must never touch a site's server.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]', '::1'];

/** The admin URL (a database it may create and drop databases from); throws when none can be had. */
export function postgresAdminUrl(): string {
  const url =
    process.env.MAMMOCAD_TEST_PG_URL ??
    (process.getuid?.() === 0
      ? execFileSync('bash', [path.join(ROOT, 'scripts', 'start-postgres.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').at(-1)!
      : undefined);
  if (!url) throw new Error('set MAMMOCAD_TEST_PG_URL (or run as root to start the local cluster)');
  const host = new URL(url).hostname;
  if (!LOOPBACK.includes(host)) throw new Error(`PostgreSQL must be on loopback here; got host ${host}`);
  return url;
}

/** Runs one statement on its own connection (CREATE/DROP DATABASE cannot run in a transaction). */
export async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
