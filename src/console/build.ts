// The web console as static files (Node side; the app itself is in ./app). esbuild bundles
// app/main.jsx with preact into one ES module (console.js) and one style sheet (console.css),
// and index.html names them with their content hash, so nothing is loaded from anywhere else and
// the console works air-gapped. The bundle is built at install (`npm ci` runs the package's
// `prepare` script, scripts/build-console.ts) into dist/console/, with build.json listing every
// input and its hash. `mammocad serve` serves that folder; when it is missing or any input has
// changed since (an edited checkout), loadConsoleAssets builds again, into the folder when it can
// write there, else in memory only.

import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** src/console */
const SOURCE_DIR = path.dirname(fileURLToPath(import.meta.url));
/** The package's root (the folder holding package.json). */
const PACKAGE_ROOT = path.resolve(SOURCE_DIR, '..', '..');
export const CONSOLE_APP_DIR = path.join(SOURCE_DIR, 'app');
export const CONSOLE_OUT_DIR = path.join(PACKAGE_ROOT, 'dist', 'console');

export interface ConsoleAsset {
  body: Buffer;
  contentType: string;
  /** A strong ETag: the content's hash. */
  etag: string;
}

/** The console's files by name: index.html, console.js, console.css. */
export type ConsoleAssets = ReadonlyMap<string, ConsoleAsset>;

interface BuildStamp {
  builtAt: string;
  /** Every file esbuild read, relative to the package root, with its sha256. */
  inputs: Record<string, string>;
  files: string[];
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

function asset(name: string, body: Buffer): ConsoleAsset {
  return { body, contentType: CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream', etag: `"${sha256(body).slice(0, 32)}"` };
}

export interface BuildResult {
  assets: ConsoleAssets;
  /** Where the files were written; null when built in memory only. */
  outDir: string | null;
  ms: number;
}

/**
 * Bundles the console. `outDir`: where to write it (default dist/console); null keeps it in
 * memory. The files are written under temporary names first, so a reader never sees half a file.
 */
export async function buildConsole(options: { outDir?: string | null; minify?: boolean } = {}): Promise<BuildResult> {
  const started = performance.now();
  const outDir = options.outDir === undefined ? CONSOLE_OUT_DIR : options.outDir;
  // Loaded here: the service needs esbuild only when the bundle is missing or stale.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: PACKAGE_ROOT,
    entryPoints: { console: path.join(CONSOLE_APP_DIR, 'main.jsx') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // Browsers a hospital workstation may still run (evergreen Chromium/Edge, Firefox ESR, Safari 16).
    target: ['chrome109', 'edge109', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: options.minify ?? true,
    legalComments: 'eof',
    charset: 'utf8',
    write: false,
    outdir: 'out',
    metafile: true,
    logLevel: 'silent',
  });
  const files = new Map<string, Buffer>();
  for (const file of result.outputFiles) files.set(path.basename(file.path), Buffer.from(file.contents));
  for (const name of ['console.js', 'console.css']) if (!files.has(name)) throw new Error(`the console build produced no ${name}`);
  const version = (name: string) => sha256(files.get(name)!).slice(0, 12);
  const template = await readFile(path.join(CONSOLE_APP_DIR, 'index.html'), 'utf8');
  const html = template.replaceAll('%JS_VERSION%', version('console.js')).replaceAll('%CSS_VERSION%', version('console.css'));
  files.set('index.html', Buffer.from(html));

  const inputs: Record<string, string> = {};
  for (const input of [...Object.keys(result.metafile.inputs), path.relative(PACKAGE_ROOT, path.join(CONSOLE_APP_DIR, 'index.html'))].sort()) {
    inputs[input] = sha256(await readFile(path.join(PACKAGE_ROOT, input)));
  }
  const stamp: BuildStamp = { builtAt: new Date().toISOString(), inputs, files: [...files.keys()].sort() };
  if (outDir !== null) {
    await mkdir(outDir, { recursive: true });
    for (const [name, body] of [...files, ['build.json', Buffer.from(`${JSON.stringify(stamp, null, 2)}\n`)] as const]) {
      await writeFile(path.join(outDir, `${name}.partial`), body);
      await rename(path.join(outDir, `${name}.partial`), path.join(outDir, name));
    }
  }
  return { assets: new Map([...files].map(([name, body]) => [name, asset(name, body)])), outDir, ms: performance.now() - started };
}

/**
 * The built console from `dir` when it is there and every input is as it was built from; null
 * when it is missing or stale (an input changed or is gone).
 */
export async function readBuiltConsole(dir = CONSOLE_OUT_DIR): Promise<ConsoleAssets | null> {
  let stamp: BuildStamp;
  try {
    stamp = JSON.parse(await readFile(path.join(dir, 'build.json'), 'utf8')) as BuildStamp;
  } catch {
    return null;
  }
  for (const [input, hash] of Object.entries(stamp.inputs ?? {})) {
    const now = await readFile(path.join(PACKAGE_ROOT, input)).then(sha256, () => null);
    if (now !== hash) return null;
  }
  const assets = new Map<string, ConsoleAsset>();
  for (const name of stamp.files ?? []) {
    const body = await readFile(path.join(dir, name)).catch(() => null);
    if (!body) return null;
    assets.set(name, asset(name, body));
  }
  return assets.has('index.html') ? assets : null;
}

/**
 * What `mammocad serve` serves at /console: the built files, or a fresh build when they are
 * missing or stale (written to dist/console when possible, else kept in memory).
 */
export async function loadConsoleAssets(log?: { info(o: object, m: string): void; warn(o: object, m: string): void }): Promise<ConsoleAssets> {
  const built = await readBuiltConsole();
  if (built) return built;
  try {
    const { assets, ms } = await buildConsole();
    log?.info({ dir: CONSOLE_OUT_DIR, ms: Math.round(ms) }, 'web console built (it was missing or older than its sources)');
    return assets;
  } catch (error) {
    // A read-only installation: build in memory (an esbuild failure throws again here).
    const { assets, ms } = await buildConsole({ outDir: null });
    log?.warn({ dir: CONSOLE_OUT_DIR, reason: error instanceof Error ? error.message : String(error), ms: Math.round(ms) }, 'web console built in memory (could not write its folder)');
    return assets;
  }
}
