// Builds the validated, typed Config from defaults, an optional file and the environment.
// Any bad value becomes one ConfigError naming the key (and the variable that set it).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../domain/errors.js';
import { DEFAULT_DECODE_RESOLUTION_MARGIN, DEFAULT_INFERENCE_NICE, ENVIRONMENT_KEYS, IMAGE_CHECK_DEFAULTS, SECRET_KEYS, configSchema, type Config } from './config.schema.js';

/** The repository root (where package.json lives), for defaults relative to the checkout. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

type Tree = { [key: string]: unknown };

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Explicit config file; otherwise MAMMOCAD_CONFIG, otherwise none. */
  file?: string;
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  /** For each key set from outside the defaults: where its value came from. */
  sources: Record<string, string>;
}

function getPath(tree: Tree, key: string): unknown {
  return key.split('.').reduce<unknown>((node, part) => (node as Tree | undefined)?.[part], tree);
}

function setPath(tree: Tree, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1]!] = value;
}

function readConfigFile(file: string): Tree {
  if (!existsSync(file)) throw new ConfigError('MAMMOCAD_CONFIG', `config file not found: ${file}`);
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8')); // YAML is a superset of JSON
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ConfigError('MAMMOCAD_CONFIG', `cannot parse ${file}: ${reason}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('MAMMOCAD_CONFIG', `${file} must contain a mapping of settings`);
  }
  return parsed as Tree;
}

function parseBoolean(env: string, raw: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(env, `must be true or false; got '${raw}'`);
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const sources: Record<string, string> = {};
  const tree: Tree = {};

  const file = options.file ?? env.MAMMOCAD_CONFIG;
  if (file) {
    const absolute = path.resolve(cwd, file);
    const fromFile = readConfigFile(absolute);
    Object.assign(tree, fromFile);
    for (const key of listLeafKeys(fromFile)) sources[key] = absolute;
  }

  for (const { env: name, key, boolean, list } of ENVIRONMENT_KEYS) {
    const raw = env[name];
    if (raw === undefined || sources[key]?.startsWith('$')) continue;
    if (raw === '' && !list) continue;
    const value = boolean ? parseBoolean(name, raw) : list ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
    setPath(tree, key, value);
    sources[key] = `$${name}`;
  }

  const dataDir = path.resolve(cwd, String(getPath(tree, 'dataDir') ?? 'var'));
  const withDefaults: Tree = {
    dataDir,
    modelDir: path.resolve(cwd, String(getPath(tree, 'modelDir') ?? path.join(dataDir, 'models'))),
    sharedDataDir: path.resolve(cwd, String(getPath(tree, 'sharedDataDir') ?? path.join(PROJECT_ROOT, '..', 'shared', 'data'))),
    defaultModelDir: path.resolve(cwd, String(getPath(tree, 'defaultModelDir') ?? path.join(PROJECT_ROOT, 'models', 'default'))),
    database: { url: `file:${path.join(dataDir, 'mammocad.db')}`, migrateOnStart: true, ...(tree.database as Tree) },
    pacs: { url: 'http://127.0.0.1:8042/dicom-web', timeoutMs: 30_000, ...(tree.pacs as Tree) },
    watch: { pollIntervalSeconds: 60, lookbackDays: 1, ...(tree.watch as Tree) },
    selection: { extraModalities: [], views: ['CC', 'MLO'], skipModifiers: ['magnification', 'spot-compression'], ...(tree.selection as Tree) },
    worker: { staleAfterSeconds: 120, inferenceThreads: 0, trainingThreads: 1, concurrency: 0, inferenceNice: DEFAULT_INFERENCE_NICE, decodeAtModelResolution: true, decodeResolutionMargin: DEFAULT_DECODE_RESOLUTION_MARGIN, ...(tree.worker as Tree) },
    server: { host: '127.0.0.1', port: 4000, ...(tree.server as Tree) },
    webhook: { ...(tree.webhook as Tree) },
    api: {
      introspection: false,
      landingPage: false,
      maxDepth: 10,
      maxCost: 20_000,
      feedIntervalMs: 1_000,
      maxRootFields: 20,
      maxAliases: 30,
      maxTokens: 5_000,
      wsRecheckMs: 5_000,
      ...(tree.api as Tree),
      rateLimit: { perKeyPerMinute: 600, perAddressPerMinute: 1_200, ...((tree.api as Tree | undefined)?.rateLimit as Tree) },
      jwt: { roleClaim: 'role', maxLifetimeSeconds: 43_200, ...((tree.api as Tree | undefined)?.jwt as Tree) },
    },
    report: { template: 'TID1500', researchMode: false, presentationState: true, ...(tree.report as Tree) },
    log: { level: 'info', ...(tree.log as Tree) },
    imageChecks: {
      ...structuredClone(IMAGE_CHECK_DEFAULTS),
      ...(tree.imageChecks as Tree),
      plausibility: { ...structuredClone(IMAGE_CHECK_DEFAULTS.plausibility), ...((tree.imageChecks as Tree | undefined)?.plausibility as Tree) },
    },
  };
  for (const key of Object.keys(tree)) {
    if (!(key in withDefaults)) withDefaults[key] = tree[key]; // let the schema reject unknown keys
  }

  const result = configSchema.safeParse(withDefaults);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(root)');
    const fullKey = issue.code === 'unrecognized_keys' ? [...issue.path, ...issue.keys].join('.') : key;
    // The source of a list element is the source of its list.
    const source = sources[fullKey] ?? sources[fullKey.replace(/\.\d+$/, '')];
    const value = getPath(withDefaults, fullKey);
    const shown = SECRET_KEYS.includes(fullKey as (typeof SECRET_KEYS)[number]) ? '' : value === undefined ? '' : `; got ${JSON.stringify(value)}`;
    const problem = issue.code === 'unrecognized_keys' ? 'is not a known setting' : `${issue.message}${shown}`;
    throw new ConfigError(source ? `${fullKey} (${source})` : fullKey, problem);
  }
  const config = result.data;
  if (config.database.url.startsWith('file:') && !config.database.url.startsWith('file:/')) {
    config.database.url = `file:${path.resolve(cwd, config.database.url.slice('file:'.length))}`;
  }
  return { config, sources };
}

function listLeafKeys(tree: Tree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([k, v]) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? listLeafKeys(v as Tree, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

/** The configuration with secrets replaced, for printing. */
export function redactConfig(config: Config): Config {
  const copy = structuredClone(config) as unknown as Tree;
  for (const key of SECRET_KEYS) if (getPath(copy, key) !== undefined) setPath(copy, key, '***');
  if (/^postgres(ql)?:/.test(config.database.url)) {
    const url = new URL(config.database.url);
    if (url.password) url.password = '***';
    setPath(copy, 'database.url', url.toString());
  }
  return copy as unknown as Config;
}
