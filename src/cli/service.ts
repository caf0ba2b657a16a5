// The long-running commands: `mammocad serve` (the HTTP API with /healthz, /readyz, the PACS
// webhook and GraphQL, the QIDO poller and a worker) and `mammocad worker` (a worker only).
// Both run until SIGTERM or SIGINT, then let in-flight work finish and close the store.

import { Option, type Command } from 'commander';
import type { Logger } from '../config/index.js';
import { Authenticator } from '../graphql/auth.js';
import { ChangeFeed } from '../graphql/change-feed.js';
import { createHttpServer, listen } from '../graphql/http-server.js';
import { IMAGE_PATH_PREFIX, ImageEndpoint } from '../graphql/image-endpoint.js';
import { AnnouncementQueue } from '../pipeline/announcement-queue.js';
import { PipelineMetrics } from '../pipeline/metrics.js';
import { ModelService } from '../pipeline/model-service.js';
import { pacsPixelFetcher } from '../pipeline/train-model-job.js';
import { VERSION, buildServices, buildWorker, ensureDefaultModel, workerConcurrency } from './context.js';
import { parsePort } from './options.js';

export function registerServeCommand(program: Command): Command {
  return program
    .command('serve')
    .description('run the service: HTTP API (/healthz, /readyz, the PACS webhook), the QIDO poller and a worker that scores queued studies (migrates the database first)')
    .addOption(new Option('-p, --port <port>', 'port to listen on (default: server.port, $PORT)').argParser(parsePort))
    .action(async (opts: { port?: number }, cmd: Command) => serveCommand(cmd, opts.port));
}

export function registerWorkerCommand(program: Command): Command {
  return program
    .command('worker')
    .description('run a worker only: scores queued studies with the active model (several may share one database)')
    .action(async (_opts: unknown, cmd: Command) => workerCommand(cmd));
}

/** Resolves on SIGTERM or SIGINT (the first one), after logging it. */
function untilSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

async function serveCommand(command: Command, port: number | undefined): Promise<void> {
  const services = await buildServices(command);
  const { config, logger, store, discovery, poller } = services;
  await ensureDefaultModel(services);
  const metrics = new PipelineMetrics(store);
  const { worker, scoring } = buildWorker(services, metrics);
  const webhookSecret = config.webhook.secret;
  const announcements = new AnnouncementQueue(discovery, store, logger);
  const feed = new ChangeFeed(store, config.api.feedIntervalMs, logger.child({ component: 'feed' }));
  // Loaded here, not at the top: the GraphQL stack takes a second to load, and only `serve` needs it.
  const { GRAPHQL_PATH, GraphqlEndpoint } = await import('../graphql/server.js');
  // One authenticator for the API and the console's images: the same keys and tokens, revocation seen by both.
  const authenticator = new Authenticator(store, config.api.jwt);
  const graphql = await GraphqlEndpoint.create({
    services: { store, discovery, models: new ModelService({ store, modelDir: config.modelDir, logger }), feed, logger },
    authenticator,
    settings: config.api,
    logger,
  });
  const images = new ImageEndpoint({ fetchPixels: pacsPixelFetcher(services.pacs), store, authenticator, logger, perKeyPerMinute: config.api.rateLimit.perKeyPerMinute });
  const server = createHttpServer({
    logger,
    version: VERSION,
    readiness: [{ name: 'database', check: () => store.ping() }],
    webhook: webhookSecret ? { secret: webhookSecret, accept: (uid) => announcements.accept(uid) } : undefined,
    metrics: () => metrics.render(),
    graphql: { path: GRAPHQL_PATH, handle: (req, res) => graphql.handle(req, res) },
    images: { prefix: IMAGE_PATH_PREFIX, handle: (req, res) => images.handle(req, res) },
  });
  graphql.attach(server);
  const bound = await listen(server, port ?? config.server.port, config.server.host);
  await announcements.resumePending();
  poller.start();
  await worker.start();
  void scoring.warmUp();
  logger.info(
    { host: config.server.host, port: bound, provider: store.provider, version: VERSION, webhook: Boolean(webhookSecret), pollSeconds: config.watch.pollIntervalSeconds },
    'mammocad is serving',
  );
  logger.info(
    { url: `http://${config.server.host}:${bound}${GRAPHQL_PATH}`, introspection: config.api.introspection },
    'GraphQL API (Authorization: Bearer <API key or token>; mammocad apikey create --role admin)',
  );
  logger.info({ url: `http://${config.server.host}:${bound}/console` }, 'web console (sign in with an API key or token)');
  await untilSignal(logger);
  feed.close();
  await graphql.stop();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  // In-flight work finishes: the running job, the poll, queued announcements.
  await Promise.all([poller.stop(), worker.stop(), announcements.idle()]);
  await scoring.dispose();
  await store.close();
  logger.info('stopped');
}

async function workerCommand(command: Command): Promise<void> {
  const services = await buildServices(command);
  await ensureDefaultModel(services);
  const { worker, scoring } = buildWorker(services, new PipelineMetrics(services.store));
  await worker.start();
  void scoring.warmUp();
  services.logger.info({ worker: worker.workerId, provider: services.store.provider, queue: worker.kind, concurrency: workerConcurrency(services.config) }, 'mammocad worker is running');
  await untilSignal(services.logger);
  await worker.stop();
  await scoring.dispose();
  await services.store.close();
  services.logger.info('stopped');
}
