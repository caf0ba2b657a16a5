// `mammocad migrate`: applies the pending database migrations (SQLite or PostgreSQL, from the
// configured database URL) and prints what it applied, or that the database is up to date.

import type { Command } from 'commander';
import { applyMigrations, parseDatabaseUrl } from '../store/index.js';
import { configFrom } from './context.js';
import { print } from './output.js';

export function registerMigrateCommand(program: Command): Command {
  return program
    .command('migrate')
    .description('apply pending database migrations (SQLite or PostgreSQL, from the configured database URL)')
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: { json?: boolean }, cmd: Command) => migrateCommand(cmd, Boolean(opts.json)));
}

async function migrateCommand(command: Command, json: boolean): Promise<void> {
  const { config } = configFrom(command);
  const started = Date.now();
  const result = await applyMigrations(parseDatabaseUrl(config.database.url));
  const durationMs = Date.now() - started;
  print(
    json,
    { ...result, durationMs },
    result.applied.length
      ? `applied ${result.applied.length} migration(s) on ${result.provider}: ${result.applied.join(', ')}`
      : `${result.provider} database is up to date (${result.available.length} migration(s))`,
  );
}
