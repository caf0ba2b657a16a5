// The composition root and the `mammocad` command line. Only this file constructs the
// program's objects (configuration, logger, store, servers) and wires them together.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { PROJECT_ROOT, createLogger, loadConfig, redactConfig, type Config, type LoadedConfig } from './config/index.js';
import { ConfigError, MammocadError } from './domain/index.js';
import { createHttpServer, listen } from './graphql/http-server.js';
import { applyMigrations, openStore, parseDatabaseUrl } from './store/index.js';

const VERSION = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Exit codes: 0 success, 1 the work failed, 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface GlobalOptions {
  config?: string;
}

function configFrom(command: Command): LoadedConfig {
  const { config } = command.optsWithGlobals<GlobalOptions>();
  return loadConfig(config ? { file: config } : {});
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
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

function configCheckCommand(command: Command, json: boolean): void {
  const { config, sources } = configFrom(command);
  const shown = redactConfig(config);
  const lines = ['configuration is valid', ...flatten(shown).map(([k, v]) => `  ${k} = ${v}${sources[k] ? `   (from ${sources[k]})` : ''}`)];
  print(json, { valid: true, config: shown, sources }, lines.join('\n'));
}

function flatten(value: unknown, prefix = ''): Array<[string, string]> {
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
  }
  return [[prefix, String(value)]];
}

async function serveCommand(command: Command, port: number | undefined): Promise<void> {
  const { config } = configFrom(command);
  const logger = createLogger(config.log.level);
  const store = await openStore({ databaseUrl: config.database.url, migrate: config.database.migrateOnStart, logger });
  const server = createHttpServer({
    logger,
    version: VERSION,
    readiness: [{ name: 'database', check: () => store.ping() }],
  });
  const bound = await listen(server, port ?? config.server.port, config.server.host);
  logger.info({ host: config.server.host, port: bound, provider: store.provider, version: VERSION }, 'mammocad is serving');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await store.close();
  logger.info('stopped');
}

function parsePort(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new ConfigError('--port', `must be an integer between 0 and 65535; got '${raw}'`);
  return Number(raw);
}

export function buildCli(): Command {
  const program = new Command('mammocad')
    .description('Breast-cancer classifier service: watches a DICOMweb PACS, scores mammograms, writes DICOM SR, serves GraphQL')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'configuration file (YAML or JSON); also MAMMOCAD_CONFIG')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('migrate')
    .description('apply pending database migrations (SQLite or PostgreSQL, from the configured database URL)')
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: { json?: boolean }, cmd: Command) => migrateCommand(cmd, Boolean(opts.json)));

  const configCommand = program.command('config').description('inspect the configuration');
  configCommand
    .command('check')
    .description('validate the configuration (defaults, file, environment) and print it with secrets hidden')
    .option('--json', 'print the result as one JSON object')
    .action((opts: { json?: boolean }, cmd: Command) => configCheckCommand(cmd, Boolean(opts.json)));

  program
    .command('serve')
    .description('run the service: HTTP API with /healthz and /readyz (migrates the database first)')
    .addOption(new Option('-p, --port <port>', 'port to listen on (default: server.port, $PORT)').argParser(parsePort))
    .action(async (opts: { port?: number }, cmd: Command) => serveCommand(cmd, opts.port));

  for (const command of [program, ...program.commands, ...configCommand.commands]) command.exitOverride();
  return program;
}

/** Runs the command line and returns the process exit code; never throws. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`mammocad: configuration error: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof MammocadError) {
      process.stderr.write(`mammocad: ${error.code}: ${error.message}\n`);
      return EXIT.failed;
    }
    process.stderr.write(`mammocad: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT.failed;
  }
}

export type { Config };
