// The service's HTTP front door: liveness (/healthz), readiness (/readyz), Prometheus
// /metrics, the PACS's study-stable webhook, the GraphQL endpoint (/graphql), the rendered
// images (/images/..., src/graphql/image-endpoint.ts) and the web console (/console, static
// files built from src/console).

import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { loadConsoleAssets, type ConsoleAssets } from '../console/build.js';
import { MammocadError } from '../domain/index.js';

export const WEBHOOK_PATH = '/webhooks/study-stable';
const MAX_WEBHOOK_BODY = 64 * 1024;

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

export interface StudyWebhook {
  /** The shared secret the PACS presents as `Authorization: Bearer <secret>`. */
  secret: string;
  /** Records the announcement for later handling; throws a ValidationError for a bad UID, QUEUE_FULL when busy. */
  accept(studyUid: string): Promise<{ accepted: boolean; queued: boolean }>;
}

export interface HttpServerOptions {
  logger: Logger;
  version: string;
  readiness: ReadinessCheck[];
  /** Absent: the webhook answers 404 (polling only). */
  webhook?: StudyWebhook;
  /** Prometheus text exposition for /metrics (absent: 404). */
  metrics?: () => Promise<string>;
  /** The GraphQL endpoint (absent: 404). */
  graphql?: { path: string; handle(req: IncomingMessage, res: ServerResponse): Promise<void> };
  /** Rendered images for the console (an ImageEndpoint under /images/; absent: 404, and the console shows the heat maps alone). */
  images?: { prefix: string; handle(req: IncomingMessage, res: ServerResponse): Promise<void> };
  /** The web console at /console (default true). */
  console?: boolean;
}

export const CONSOLE_PATH = '/console';

/**
 * The console's pages may load only the console's own files, talk only to this service, show
 * images from it (and the heat maps it sends as data: URLs), and may not be framed.
 */
const CONSOLE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // Revalidated on every load (the ETag makes that a 304): a rebuilt console is seen at once.
  'cache-control': 'no-cache',
};

function secretMatches(header: string | undefined, secret: string): boolean {
  const presented = Buffer.from(/^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '');
  const expected = Buffer.from(secret);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/** Reads a request body of at most `limit` bytes (BODY_TOO_LARGE beyond). */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new MammocadError('BODY_TOO_LARGE', `request body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const text = await readBody(req, limit);
  try {
    return JSON.parse(text);
  } catch {
    throw new MammocadError('BAD_JSON', 'request body is not valid JSON');
  }
}

/** HTTP status for a known error of the webhook. */
function webhookStatus(error: MammocadError): number {
  if (error.code === 'VALIDATION_FAILED' || error.code === 'BAD_JSON') return 400;
  if (error.code === 'BODY_TOO_LARGE') return 413;
  if (error.code === 'QUEUE_FULL') return 503;
  return 422;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readiness(checks: ReadinessCheck[]): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const results = await Promise.all(
    checks.map(async ({ name, check }) => {
      try {
        await check();
        return [name, 'ok'] as const;
      } catch (error) {
        return [name, error instanceof Error ? error.message.split('\n')[0]! : 'failed'] as const;
      }
    }),
  );
  return { ready: results.every(([, r]) => r === 'ok'), checks: Object.fromEntries(results) };
}

export function createHttpServer(options: HttpServerOptions): Server {
  const log = options.logger.child({ component: 'http' });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === WEBHOOK_PATH) return handleWebhook(req, res);
    if (options.graphql && path === options.graphql.path) return options.graphql.handle(req, res);
    if (options.images && path.startsWith(options.images.prefix)) return options.images.handle(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
    if (options.console !== false && (path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`))) return serveConsole(req, res, path);
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok', version: options.version });
    if (path === '/metrics' && options.metrics) {
      const text = await options.metrics();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text);
      return;
    }
    if (path === '/readyz') {
      const result = await readiness(options.readiness);
      return sendJson(res, result.ready ? 200 : 503, { status: result.ready ? 'ready' : 'not ready', checks: result.checks });
    }
    return sendJson(res, 404, { error: 'not found', path });
  };
  // Loaded at the first request: the built files, or a build when they are missing or stale.
  let consoleAssets: Promise<ConsoleAssets> | undefined;
  const serveConsole = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    // Relative to /console/, so the console's own relative addresses work (behind a proxy's prefix too).
    if (path === CONSOLE_PATH) {
      res.writeHead(308, { location: 'console/' });
      res.end();
      return;
    }
    consoleAssets ??= loadConsoleAssets(log).catch((error: unknown) => {
      consoleAssets = undefined;
      throw error;
    });
    let assets: ConsoleAssets;
    try {
      assets = await consoleAssets;
    } catch (error) {
      log.error({ err: error }, 'the web console is not built and could not be built');
      return sendJson(res, 503, { error: 'the web console is not built (npm run console:build)' });
    }
    const name = path === `${CONSOLE_PATH}/` ? 'index.html' : path.slice(CONSOLE_PATH.length + 1);
    const asset = assets.get(name);
    if (!asset) return sendJson(res, 404, { error: 'not found', path });
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, { etag: asset.etag, ...CONSOLE_HEADERS });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': asset.contentType, 'content-length': String(asset.body.length), etag: asset.etag, ...CONSOLE_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };
  const handleWebhook = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const webhook = options.webhook;
    if (!webhook) return sendJson(res, 404, { error: 'the study webhook is not enabled (set webhook.secret)' });
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
    if (!secretMatches(req.headers.authorization, webhook.secret)) {
      log.warn({ remote: req.socket.remoteAddress }, 'webhook call with a wrong or missing secret');
      return sendJson(res, 401, { error: 'missing or wrong webhook secret' });
    }
    try {
      const body = (await readJson(req, MAX_WEBHOOK_BODY)) as { StudyInstanceUID?: unknown };
      const uid = typeof body?.StudyInstanceUID === 'string' ? body.StudyInstanceUID : '';
      return sendJson(res, 202, await webhook.accept(uid));
    } catch (error) {
      if (!(error instanceof MammocadError)) throw error;
      return sendJson(res, webhookStatus(error), { error: error.message, code: error.code });
    }
  };

  return createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log.error({ err: error, path: req.url }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
}

/** Listens and resolves with the bound port (useful with port 0). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
