// Developer tooling for the database schema (run with tsx; never needs the network).
//
//   tsx scripts/prisma.ts generate          generate the Prisma clients for SQLite and PostgreSQL
//   tsx scripts/prisma.ts migration NAME    write the migration that brings each provider's
//                                           migration folder up to prisma/schema.prisma
//
// Migrations are computed from datamodels alone (the last snapshot against the schema), so
// creating one needs no database server.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/config/load-config.js';
import { SCHEMA_FILE, SNAPSHOT_FILE, migrationsDir, schemaFor } from '../src/store/schema-files.js';
import type { Provider } from '../src/store/adapters.js';

const PROVIDERS: Provider[] = ['sqlite', 'postgresql'];

function generate(): void {
  const outRoot = path.join(PROJECT_ROOT, 'prisma', '.generated');
  mkdirSync(outRoot, { recursive: true });
  // `prisma generate` only checks that a schema engine file exists; it never runs it.
  // Pointing it at any existing file keeps the CLI from trying to download one.
  const env = {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.execPath,
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  };
  for (const provider of PROVIDERS) {
    const output = path.join(PROJECT_ROOT, 'src', 'store', 'generated', provider);
    const schemaFile = path.join(outRoot, `schema.${provider}.prisma`);
    writeFileSync(schemaFile, schemaFor(provider, output));
    execFileSync(process.execPath, [path.join(PROJECT_ROOT, 'node_modules', 'prisma', 'build', 'index.js'), 'generate', '--schema', schemaFile], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    console.log(`generated ${provider} client in ${path.relative(PROJECT_ROOT, output)}`);
  }
}

async function createMigration(name: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error('migration name: use lower-case letters, digits and _');
  // Loaded here so that `generate` works before anything else is in place.
  const { pendingSchemaChanges } = await import('../src/store/migrate.js');
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  let changed = false;
  for (const provider of PROVIDERS) {
    const sql = await pendingSchemaChanges(provider);
    if (!sql) {
      console.log(`${provider}: no changes`);
      continue;
    }
    changed = true;
    const dir = path.join(migrationsDir(provider), `${stamp}_${name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'migration.sql'), `${sql}\n`);
    writeFileSync(
      path.join(migrationsDir(provider), 'migration_lock.toml'),
      `# Written by scripts/prisma.ts; do not edit.\nprovider = "${provider}"\n`,
    );
    console.log(`${provider}: wrote ${path.relative(PROJECT_ROOT, dir)}`);
  }
  if (changed) copyFileSync(SCHEMA_FILE, SNAPSHOT_FILE);
}

const [command, arg] = process.argv.slice(2);
if (command === 'generate') generate();
else if (command === 'migration' && arg) await createMigration(arg);
else {
  console.error('usage: tsx scripts/prisma.ts generate | migration NAME');
  process.exit(2);
}
