import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, redactConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/domain/index.js';

const cwd = '/srv/mammocad';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function tempFile(name: string, content: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'mammocad-config-')), name);
  writeFileSync(file, content);
  return file;
}

describe('loadConfig', () => {
  it('derives embedded defaults from the data directory', () => {
    const { config } = loadConfig({ env: {}, cwd });
    expect(config.dataDir).toBe('/srv/mammocad/var');
    expect(config.database.url).toBe('file:/srv/mammocad/var/mammocad.db');
    expect(config.modelDir).toBe('/srv/mammocad/var/models');
    expect(config.server).toEqual({ host: '127.0.0.1', port: 4000 });
    expect(config.pacs.url).toBe('http://127.0.0.1:8042/dicom-web');
    expect(config.sharedDataDir.endsWith(path.join('shared', 'data'))).toBe(true);
  });

  it('reads the environment, converting numbers and booleans, and records the source', () => {
    const { config, sources } = loadConfig({
      cwd,
      env: {
        MAMMOCAD_DATA_DIR: 'data',
        PORT: '8080',
        MAMMOCAD_MIGRATE_ON_START: 'false',
        MAMMOCAD_PACS_URL: 'https://pacs.example.org/dicom-web',
        MAMMOCAD_PACS_TIMEOUT_MS: '5000',
      },
    });
    expect(config.dataDir).toBe('/srv/mammocad/data');
    expect(config.database.url).toBe('file:/srv/mammocad/data/mammocad.db');
    expect(config.server.port).toBe(8080);
    expect(config.database.migrateOnStart).toBe(false);
    expect(config.pacs.timeoutMs).toBe(5000);
    expect(sources['server.port']).toBe('$PORT');
  });

  it('reads the API and worker settings, with nested JWT defaults kept when a file sets one of them', () => {
    const { config } = loadConfig({ cwd, env: { MAMMOCAD_INFERENCE_THREADS: '1', MAMMOCAD_TRAINING_THREADS: '2', MAMMOCAD_WORKER_CONCURRENCY: '3', MAMMOCAD_API_INTROSPECTION: 'true', MAMMOCAD_API_MAX_COST: '500' } });
    expect(config.worker).toEqual({ staleAfterSeconds: 120, inferenceThreads: 1, trainingThreads: 2, concurrency: 3, inferenceNice: 10, decodeAtModelResolution: true, decodeResolutionMargin: 2 });
    expect(config.api).toMatchObject({ introspection: true, landingPage: false, maxDepth: 10, maxCost: 500, jwt: { roleClaim: 'role' } });
    const file = tempFile('jwt.yaml', 'api:\n  jwt:\n    issuer: https://idp.example\n');
    expect(loadConfig({ cwd, env: {}, file }).config.api.jwt).toEqual({ roleClaim: 'role', maxLifetimeSeconds: 43_200, issuer: 'https://idp.example' });
    expect(configError(() => loadConfig({ cwd, env: { MAMMOCAD_INFERENCE_THREADS: 'many' } })).message).toContain('worker.inferenceThreads ($MAMMOCAD_INFERENCE_THREADS)');
    expect(loadConfig({ cwd, env: { MAMMOCAD_INFERENCE_NICE: '0' } }).config.worker.inferenceNice).toBe(0);
    expect(configError(() => loadConfig({ cwd, env: { MAMMOCAD_INFERENCE_NICE: '20' } })).message).toContain('worker.inferenceNice ($MAMMOCAD_INFERENCE_NICE)');
    expect(configError(() => loadConfig({ cwd, env: { MAMMOCAD_JWT_HS256_SECRET: 'short' } })).message).toBe('api.jwt.hs256Secret ($MAMMOCAD_JWT_HS256_SECRET): must be at least 32 characters');
  });

  it('reads how a JPEG 2000 image is decoded: at the model resolution or not, and with which margin', () => {
    const env = { MAMMOCAD_DECODE_AT_MODEL_RESOLUTION: 'false', MAMMOCAD_DECODE_RESOLUTION_MARGIN: '1.5' };
    expect(loadConfig({ cwd, env }).config.worker).toMatchObject({ decodeAtModelResolution: false, decodeResolutionMargin: 1.5 });
    expect(configError(() => loadConfig({ cwd, env: { MAMMOCAD_DECODE_RESOLUTION_MARGIN: '0.5' } })).message).toBe('worker.decodeResolutionMargin ($MAMMOCAD_DECODE_RESOLUTION_MARGIN): must be a number from 1 to 8; got "0.5"');
    expect(configError(() => loadConfig({ cwd, env: { MAMMOCAD_DECODE_RESOLUTION_MARGIN: 'twice' } })).message).toContain('must be a number from 1 to 8');
  });

  it('prefers MAMMOCAD_DATABASE_URL over DATABASE_URL and MAMMOCAD_PORT over PORT', () => {
    const { config } = loadConfig({
      cwd,
      env: {
        DATABASE_URL: 'postgresql://a:b@db/other',
        MAMMOCAD_DATABASE_URL: 'postgresql://u:p@db/mammocad',
        PORT: '1',
        MAMMOCAD_PORT: '2',
      },
    });
    expect(config.database.url).toBe('postgresql://u:p@db/mammocad');
    expect(config.server.port).toBe(2);
  });

  it('reads a YAML file, with the environment taking precedence', () => {
    const file = tempFile('mammocad.yaml', 'server:\n  port: 5000\n  host: 0.0.0.0\nlog:\n  level: debug\n');
    const { config, sources } = loadConfig({ cwd, env: { MAMMOCAD_CONFIG: file, MAMMOCAD_LOG_LEVEL: 'warn' } });
    expect(config.server).toEqual({ host: '0.0.0.0', port: 5000 });
    expect(config.log.level).toBe('warn');
    expect(sources['server.port']).toBe(file);
  });

  it('reads comma-separated lists for the view selection', () => {
    const { config } = loadConfig({ cwd, env: { MAMMOCAD_SELECTION_EXTRA_MODALITIES: 'RG, DX', MAMMOCAD_SELECTION_VIEWS: 'CC,MLO,ML', MAMMOCAD_SELECTION_SKIP_MODIFIERS: '' } });
    expect(config.selection).toEqual({ extraModalities: ['RG', 'DX'], views: ['CC', 'MLO', 'ML'], skipModifiers: [] });
    expect(loadConfig({ cwd, env: {} }).config.selection).toEqual({ extraModalities: [], views: ['CC', 'MLO'], skipModifiers: ['magnification', 'spot-compression'] });
  });

  it('resolves a relative SQLite URL against the working directory', () => {
    const { config } = loadConfig({ cwd, env: { MAMMOCAD_DATABASE_URL: 'file:db/x.db' } });
    expect(config.database.url).toBe('file:/srv/mammocad/db/x.db');
  });

  it.each([
    [{ MAMMOCAD_PORT: 'abc' }, 'server.port ($MAMMOCAD_PORT)', 'integer between 0 and 65535'],
    [{ PORT: '70000' }, 'server.port ($PORT)', 'integer between 0 and 65535'],
    [{ MAMMOCAD_PACS_URL: 'ftp://pacs/dicom-web' }, 'pacs.url ($MAMMOCAD_PACS_URL)', 'http:// or https://'],
    [{ MAMMOCAD_DATABASE_URL: 'mysql://x' }, 'database.url ($MAMMOCAD_DATABASE_URL)', "must be 'file:PATH'"],
    [{ MAMMOCAD_LOG_LEVEL: 'loud' }, 'log.level ($MAMMOCAD_LOG_LEVEL)', 'must be one of'],
    [{ MAMMOCAD_PACS_TIMEOUT_MS: '10' }, 'pacs.timeoutMs ($MAMMOCAD_PACS_TIMEOUT_MS)', 'between 100 and 600000'],
    [{ MAMMOCAD_MIGRATE_ON_START: 'maybe' }, 'MAMMOCAD_MIGRATE_ON_START', 'true or false'],
    [{ MAMMOCAD_WEBHOOK_SECRET: 'short' }, 'webhook.secret ($MAMMOCAD_WEBHOOK_SECRET)', 'at least 16'],
    [{ MAMMOCAD_SELECTION_VIEWS: 'CC,SIDEWAYS' }, 'selection.views.1 ($MAMMOCAD_SELECTION_VIEWS)', 'must be view codes'],
    [{ MAMMOCAD_SELECTION_EXTRA_MODALITIES: 'rg' }, 'selection.extraModalities.0 ($MAMMOCAD_SELECTION_EXTRA_MODALITIES)', 'DICOM modality codes'],
    [{ MAMMOCAD_POLL_INTERVAL_S: '-5' }, 'watch.pollIntervalSeconds ($MAMMOCAD_POLL_INTERVAL_S)', 'between 0 and 86400'],
  ])('names the key and the problem for %o', (env, key, problem) => {
    const error = configError(() => loadConfig({ cwd, env }));
    expect(error.key).toBe(key);
    expect(error.message).toContain(problem);
    expect(error.message).not.toContain('\n');
  });

  it('does not echo a rejected secret', () => {
    const error = configError(() => loadConfig({ cwd, env: { MAMMOCAD_WEBHOOK_SECRET: 'hunter2' } }));
    expect(error.message).not.toContain('hunter2');
  });

  it('rejects unknown settings in a file, naming them', () => {
    const file = tempFile('bad.yaml', 'server:\n  prot: 1\n');
    const error = configError(() => loadConfig({ cwd, env: { MAMMOCAD_CONFIG: file } }));
    expect(error.key).toBe(`server.prot (${file})`);
    expect(error.message).toContain('not a known setting');
  });

  it('rejects a missing or unparsable file', () => {
    expect(configError(() => loadConfig({ cwd, env: { MAMMOCAD_CONFIG: '/nonexistent.yaml' } })).message).toContain('not found');
    const file = tempFile('broken.yaml', 'server: [1, 2\n');
    expect(configError(() => loadConfig({ cwd, env: { MAMMOCAD_CONFIG: file } })).message).toContain('cannot parse');
  });
});

describe('redactConfig', () => {
  it('hides passwords, tokens and secrets, including the database password', () => {
    const { config } = loadConfig({
      cwd,
      env: {
        MAMMOCAD_PACS_PASSWORD: 'pacs-pass',
        MAMMOCAD_PACS_TOKEN: 'tok',
        MAMMOCAD_WEBHOOK_SECRET: 'a-long-enough-secret',
        MAMMOCAD_DATABASE_URL: 'postgresql://user:db-pass@host:5432/db',
      },
    });
    const text = JSON.stringify(redactConfig(config));
    for (const secret of ['pacs-pass', 'tok"', 'a-long-enough-secret', 'db-pass']) expect(text).not.toContain(secret);
    expect(redactConfig(config).database.url).toBe('postgresql://user:***@host:5432/db');
    expect(config.pacs.password).toBe('pacs-pass'); // the original is untouched
  });
});
