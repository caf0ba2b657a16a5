// Migrations: applied offline through the wasm schema engine, recorded in Prisma's own table,
// in step with the schema, and applied exactly once when several processes start together.

import { afterEach, describe, expect, it } from 'vitest';
import { applyMigrations, parseDatabaseUrl } from '../../src/store/index.js';
import { pendingSchemaChanges } from '../../src/store/migrate.js';
import { readMigrations } from '../../src/store/schema-files.js';
import { runCli } from '../support/cli.js';
import { PG_ADMIN_URL, PROVIDERS, createTestDatabase, queryRows, type TestDatabase } from '../support/databases.js';

const created: TestDatabase[] = [];
async function freshDatabase(provider: 'sqlite' | 'postgresql') {
  const db = await createTestDatabase(provider);
  created.push(db);
  return db;
}
afterEach(async () => {
  await Promise.all(created.splice(0).map((db) => db.drop()));
});

describe.each(PROVIDERS)('migrations on %s', (provider) => {
  it('are committed for this provider and match prisma/schema.prisma', async () => {
    expect(readMigrations(provider).migrationDirectories.length).toBeGreaterThan(0);
    // Non-empty output means someone changed the schema without `npm run db:migration NAME`.
    expect(await pendingSchemaChanges(provider)).toBe('');
  });

  it('apply once, are recorded in _prisma_migrations, and create every table', async () => {
    const db = await freshDatabase(provider);
    const target = parseDatabaseUrl(db.url);
    const available = readMigrations(provider).migrationDirectories.map((d) => d.path);
    expect((await applyMigrations(target)).applied).toEqual(available);
    expect((await applyMigrations(target)).applied).toEqual([]);

    const recorded = await queryRows<{ migration_name: string; finished_at: unknown }>(
      db,
      'SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(recorded.map((r) => r.migration_name)).toEqual(available);
    expect(recorded.every((r) => r.finished_at !== null)).toBe(true);

    const tablesSql =
      provider === 'sqlite'
        ? "SELECT name FROM sqlite_master WHERE type = 'table'"
        : "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'";
    const tables = (await queryRows<{ name: string }>(db, tablesSql)).map((t) => t.name);
    for (const table of ['Study', 'Image', 'Prediction', 'Report', 'Label', 'ModelVersion', 'Job', 'AuditEvent', 'WatcherCursor', 'ApiKey']) {
      expect(tables).toContain(table);
    }
  });
});

describe.skipIf(!PG_ADMIN_URL)('concurrent start-up on PostgreSQL', () => {
  it('three processes migrating at once apply each migration exactly once', async () => {
    const db = await freshDatabase('postgresql');
    const runs = await Promise.all([1, 2, 3].map(() => runCli(['migrate', '--json'], { MAMMOCAD_DATABASE_URL: db.url })));
    for (const run of runs) expect(run, run.stderr).toMatchObject({ code: 0 });
    const results = runs.map((r) => JSON.parse(r.stdout) as { applied: string[]; available: string[] });
    const available = results[0]!.available;
    // Every migration was applied by exactly one of the three; the others found it done.
    expect(results.flatMap((r) => r.applied).sort()).toEqual([...available].sort());
    const rows = await queryRows<{ migration_name: string; n: string }>(
      db,
      'SELECT migration_name, count(*) AS n FROM _prisma_migrations GROUP BY migration_name ORDER BY migration_name',
    );
    expect(rows.map((r) => [r.migration_name, Number(r.n)])).toEqual(available.map((name) => [name, 1]));
  });
});

describe('concurrent start-up on SQLite', () => {
  it('three processes migrating one file at once all succeed and apply each migration once', async () => {
    const db = await freshDatabase('sqlite');
    const runs = await Promise.all([1, 2, 3].map(() => runCli(['migrate', '--json'], { MAMMOCAD_DATABASE_URL: db.url })));
    for (const run of runs) expect(run, run.stderr).toMatchObject({ code: 0 });
    const rows = await queryRows<{ migration_name: string; n: number }>(
      db,
      'SELECT migration_name, count(*) AS n FROM _prisma_migrations GROUP BY migration_name ORDER BY migration_name',
    );
    expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
    expect(rows).toHaveLength(readMigrations('sqlite').migrationDirectories.length);
  });
});

describe('a database that cannot be reached', () => {
  it('fails with a clear, retryable database error', async () => {
    const target = parseDatabaseUrl('postgresql://nobody:wrong@127.0.0.1:1/none');
    await expect(applyMigrations(target)).rejects.toMatchObject({
      code: 'DATABASE_ERROR',
      retryable: true,
      message: expect.stringContaining("Can't reach database server at `127.0.0.1:1`"),
    });
  });
});
