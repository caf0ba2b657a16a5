// The GraphQL endpoint: the schema (type-graphql), Apollo Server for queries and mutations over
// HTTP, graphql-ws for subscriptions over WebSocket, both at /graphql. Every request is
// rate-limited and authenticated first (unauthenticated ones never reach GraphQL), then held to
// the same limits on both transports before anything runs: document size, depth, root fields,
// aliases, text arguments and cost. A WebSocket's credential is checked again on every
// operation and periodically, so a revoked key or an expired token loses an open connection too.
// Kept whole (just over 400 lines): GraphqlEndpoint is one request path whose limits both transports share.

import 'reflect-metadata';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ApolloServer, HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { GraphQLError, NoSchemaIntrospectionCustomRule, getOperationAST, parse, specifiedRules, validate, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import type { WebSocket } from 'ws';
import { CloseCode, handleProtocols, makeServer } from 'graphql-ws';
import type { Logger } from 'pino';
import { buildSchema } from 'type-graphql';
import { WebSocketServer } from 'ws';
import { MammocadError } from '../domain/index.js';
import { readBody } from './http-server.js';
import { AuthenticationError, ForbiddenError, roleAllows, type Actor, type Authenticator } from './auth.js';
import { recordAudit } from './audit.js';
import { createContext, type ApiContext, type ApiServices, type Sessions } from './context.js';
import { createErrorFormatter } from './errors.js';
import { checkOperation, documentLimits, fragmentsOf, rootFieldCount } from './limits.js';
import { RateLimiter, type RateDecision } from './rate-limit.js';
import { AdminResolver } from './resolvers/admin.resolver.js';
import { JobResolver } from './resolvers/job.resolver.js';
import { LabelResolver } from './resolvers/label.resolver.js';
import { ModelVersionResolver } from './resolvers/model.resolver.js';
import { PacsResolver } from './resolvers/pacs.resolver.js';
import { PredictionResolver, ReportResolver, StudyResolver } from './resolvers/study.resolver.js';
import { SubscriptionResolver } from './resolvers/subscription.resolver.js';
import type { Role } from '../domain/index.js';

export const GRAPHQL_PATH = '/graphql';
/** The largest request body, and the largest WebSocket message. */
export const MAX_BODY = 1024 * 1024;

export interface ApiSettings {
  introspection: boolean;
  landingPage: boolean;
  maxDepth: number;
  maxCost: number;
  maxRootFields: number;
  maxAliases: number;
  maxTokens: number;
  wsRecheckMs: number;
  rateLimit: { perKeyPerMinute: number; perAddressPerMinute: number };
}

/** The defaults of `api.*` in the configuration (src/config/load-config.ts). */
export const DEFAULT_API_SETTINGS: ApiSettings = {
  introspection: false,
  landingPage: false,
  maxDepth: 10,
  maxCost: 20_000,
  maxRootFields: 20,
  maxAliases: 30,
  maxTokens: 5_000,
  wsRecheckMs: 5_000,
  rateLimit: { perKeyPerMinute: 600, perAddressPerMinute: 1_200 },
};

/** The WebSocket close code for a credential that is refused (graphql-ws's Forbidden). */
export const WS_FORBIDDEN = 4403;
/** The WebSocket close code for a client over its rate limit. */
export const WS_TOO_MANY_REQUESTS = 4429;

function rateLimitedError(decision: RateDecision, who: string): GraphQLError {
  return new GraphQLError(`too many requests from this ${who}; retry after ${decision.retryAfterSeconds} s`, {
    extensions: { code: 'RATE_LIMITED', retryAfter: decision.retryAfterSeconds, http: { status: 429, headers: new HeaderMap([['retry-after', String(decision.retryAfterSeconds)]]) } },
  });
}

export function buildApiSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [StudyResolver, PredictionResolver, ReportResolver, LabelResolver, ModelVersionResolver, JobResolver, AdminResolver, PacsResolver, SubscriptionResolver],
    // A refusal is audited here: type-graphql checks roles before the global middlewares run.
    authChecker: async ({ context, info, args }, roles) => {
      const { actor } = context as ApiContext;
      if (roleAllows(actor.role, roles as Role[])) return true;
      await recordAudit(context as ApiContext, actor, info, args, 'denied');
      throw new ForbiddenError(`role ${actor.role} may not use ${info.parentType.name.toLowerCase()} ${info.fieldName}`);
    },
    // The audit middleware sits on each resolver class (@UseMiddleware), not globally: global
    // middlewares wrap every field of every object, ~400 extra async calls per page of studies.
    validate: { forbidUnknownValues: false },
    // Every subscription brings its own `subscribe` (the database change feed: workers may be
    // other processes), so type-graphql's topic-based PubSub is never used; it insists on one.
    pubSub: {
      publish: () => {
        throw new Error('subscriptions read the change feed; publishing to topics is not used');
      },
      subscribe: () => {
        throw new Error('subscriptions read the change feed; topics are not used');
      },
    },
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export interface GraphqlEndpointOptions {
  services: ApiServices;
  authenticator: Authenticator;
  settings: ApiSettings;
  logger: Logger;
}

/** An open WebSocket connection: what it authenticated with, and as whom. */
interface Connection {
  socket: WebSocket;
  authorization: string | undefined;
  actor: Actor;
  address: string;
}

export class GraphqlEndpoint implements Sessions {
  private wss: WebSocketServer | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;
  private readonly connections = new Map<WebSocket, Connection>();
  private readonly perKey: RateLimiter;
  private readonly perAddress: RateLimiter;

  private constructor(
    private readonly options: GraphqlEndpointOptions,
    readonly schema: GraphQLSchema,
    private readonly apollo: ApolloServer<ApiContext>,
    limiters: { perKey: RateLimiter; perAddress: RateLimiter },
  ) {
    this.perKey = limiters.perKey;
    this.perAddress = limiters.perAddress;
  }

  static async create(options: GraphqlEndpointOptions): Promise<GraphqlEndpoint> {
    const schema = await buildApiSchema();
    const { settings } = options;
    const perKey = new RateLimiter(settings.rateLimit.perKeyPerMinute);
    const perAddress = new RateLimiter(settings.rateLimit.perAddressPerMinute);
    const operationLimits: ApolloServerPlugin<ApiContext> = {
      requestDidStart: async () => ({
        didResolveOperation: async ({ request, document, contextValue, operation }) => {
          // Over HTTP graphql-js would run a subscription's field like a query's, past its
          // subscribe step (where its role check and audit entry are): subscriptions are served
          // over WebSocket only.
          if (operation?.operation === 'subscription') {
            throw new GraphQLError('subscriptions are served over WebSocket (graphql-transport-ws) at this endpoint, not over HTTP', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
          }
          const refusal = checkOperation(schema, document, request.variables ?? {}, request.operationName, settings.maxCost);
          if (refusal) throw refusal;
          // One token was taken when the request arrived; each further root field takes one more.
          const extra = operationRootFields(document, request.operationName) - 1;
          const decision = perKey.take(contextValue.actor.id, extra);
          if (!decision.allowed) throw rateLimitedError(decision, 'caller');
        },
      }),
    };
    const apollo = new ApolloServer<ApiContext>({
      schema,
      introspection: settings.introspection,
      parseOptions: { maxTokens: settings.maxTokens },
      validationRules: [documentLimits(settings)],
      formatError: createErrorFormatter(options.logger.child({ component: 'graphql' }), { hideSuggestions: !settings.introspection }),
      includeStacktraceInErrorResponses: false,
      plugins: [operationLimits, settings.landingPage ? ApolloServerPluginLandingPageLocalDefault({ embed: true }) : ApolloServerPluginLandingPageDisabled(), ApolloServerPluginCacheControlDisabled()],
    });
    await apollo.start();
    return new GraphqlEndpoint(options, schema, apollo, { perKey, perAddress });
  }

  /** Handles an HTTP request to /graphql. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const address = req.socket.remoteAddress ?? 'unknown';
    // Before authentication, so guessing keys costs the guesser its allowance too.
    const fromAddress = this.perAddress.take(address);
    if (!fromAddress.allowed) return sendRateLimited(res, fromAddress, 'address');
    const wantsPage = req.method === 'GET' && (req.headers.accept ?? '').includes('text/html');
    let actor: Actor | undefined;
    if (!(wantsPage && this.options.settings.landingPage)) {
      try {
        actor = await this.options.authenticator.authenticate(req.headers.authorization);
      } catch (error) {
        if (!(error instanceof AuthenticationError)) throw error;
        this.options.logger.warn({ remote: address, reason: error.message }, 'GraphQL request refused: not authenticated');
        return sendJson(res, 401, { errors: [{ message: error.message, extensions: { code: 'UNAUTHENTICATED' } }] }, { 'www-authenticate': 'Bearer' });
      }
      const fromKey = this.perKey.take(actor.id);
      if (!fromKey.allowed) return sendRateLimited(res, fromKey, 'caller');
    }
    let raw: string;
    try {
      raw = await readBody(req, MAX_BODY);
    } catch (error) {
      if (error instanceof MammocadError) return sendJson(res, 413, { errors: [{ message: error.message, extensions: { code: error.code } }] });
      throw error;
    }
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    let body: unknown = raw;
    if ((req.headers['content-type'] ?? '').includes('application/json') && raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        return sendJson(res, 400, { errors: [{ message: 'request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }] });
      }
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const response = await this.apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
      context: async () => {
        if (!actor) throw new AuthenticationError('authentication required');
        return createContext(this.options.services, actor, this);
      },
    });
    const outHeaders: Record<string, string> = {};
    for (const [name, value] of response.headers) outHeaders[name] = value;
    res.writeHead(response.status ?? 200, outHeaders);
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }

  /** Serves subscriptions (graphql-ws protocol) on the HTTP server's /graphql upgrades. */
  attach(server: Server): void {
    const { authenticator, services, settings, logger } = this.options;
    this.wss = new WebSocketServer({ server, path: GRAPHQL_PATH, maxPayload: MAX_BODY, handleProtocols });
    const schema = this.schema;
    const formatError = createErrorFormatter(logger.child({ component: 'graphql-ws' }), { hideSuggestions: !settings.introspection });
    const rules = [...specifiedRules, documentLimits(settings), ...(settings.introspection ? [] : [NoSchemaIntrospectionCustomRule])];
    type Extra = { socket: WebSocket; request: IncomingMessage };
    const protocol = makeServer<Record<string, unknown>, Extra>(
      {
        schema,
        onConnect: async (ctx) => {
          const { socket, request } = ctx.extra;
          const address = request.socket.remoteAddress ?? 'unknown';
          const decision = this.perAddress.take(address);
          if (!decision.allowed) {
            socket.close(WS_TOO_MANY_REQUESTS, `Too many requests: retry after ${decision.retryAfterSeconds} s`);
            return false;
          }
          const authorization = typeof ctx.connectionParams?.authorization === 'string' ? ctx.connectionParams.authorization : undefined;
          try {
            const actor = await authenticator.authenticate(authorization);
            this.connections.set(socket, { socket, authorization, actor, address });
            socket.once('close', () => this.connections.delete(socket));
            return true;
          } catch (error) {
            logger.warn({ remote: address, reason: error instanceof Error ? error.message : String(error) }, 'subscription connection refused: not authenticated');
            return false; // graphql-ws closes with 4403 Forbidden
          }
        },
        onSubscribe: async (ctx, _id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> => {
          const connection = this.connections.get(ctx.extra.socket);
          if (!connection) return [new GraphQLError('the connection is closed', { extensions: { code: 'UNAUTHENTICATED' } })];
          // The key may have been revoked (or the token expired) since the connection opened.
          let actor: Actor;
          try {
            actor = await authenticator.authenticate(connection.authorization);
          } catch (error) {
            if (!(error instanceof AuthenticationError)) throw error;
            this.refuse(connection, error.message);
            return [new GraphQLError(error.message, { extensions: { code: 'UNAUTHENTICATED' } })];
          }
          for (const [limiter, key, who] of [[this.perAddress, connection.address, 'address'], [this.perKey, actor.id, 'caller']] as const) {
            const decision = limiter.take(key);
            if (!decision.allowed) return [rateLimitedError(decision, who)];
          }
          // The same rules and limits as over HTTP, before anything runs. The rules passed to
          // validate replace GraphQL's own, so those are named too (without them an unknown field
          // reached graphql-ws's validation and came back as an internal error), and so is the
          // introspection switch (a query over WebSocket could read the schema while it is off).
          let document: DocumentNode;
          try {
            document = parse(payload.query, { maxTokens: settings.maxTokens });
          } catch (error) {
            return [new GraphQLError(error instanceof Error ? error.message : String(error), { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
          }
          const errors = validate(schema, document, rules);
          if (errors.length > 0) {
            return errors.map((e) => (e.extensions.code ? e : new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })));
          }
          const variables = payload.variables ?? {};
          const refusal = checkOperation(schema, document, variables, payload.operationName, settings.maxCost);
          if (refusal) return [refusal];
          const decision = this.perKey.take(actor.id, operationRootFields(document, payload.operationName) - 1);
          if (!decision.allowed) return [rateLimitedError(decision, 'caller')];
          return { schema, document, variableValues: variables, operationName: payload.operationName ?? null, contextValue: createContext(services, actor, this) };
        },
        onNext: (_ctx, _id, _payload, _args, result) => {
          if (!('errors' in result) || !result.errors) return result;
          return { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e) as never) };
        },
        onError: (_ctx, _id, _payload, errors) =>
          errors.map((e) => {
            const formatted = formatError(e.toJSON(), e);
            return new GraphQLError(formatted.message, { extensions: formatted.extensions });
          }),
      },
    );
    this.wss.on('connection', (socket, request) => this.serveSocket(protocol, socket, request));
    this.recheckTimer = setInterval(() => void this.recheckConnections(), settings.wsRecheckMs);
    this.recheckTimer.unref();
  }

  /**
   * Runs the graphql-ws protocol on one socket. graphql-ws's own `useServer` logs every socket
   * error with its stack on the console, and a message over the size limit is one: anyone could
   * fill the log without a credential. Here such errors are one warning line.
   */
  private serveSocket(protocol: ReturnType<typeof makeServer<Record<string, unknown>, { socket: WebSocket; request: IncomingMessage }>>, socket: WebSocket, request: IncomingMessage): void {
    const { logger } = this.options;
    const remote = request.socket.remoteAddress ?? 'unknown';
    // ws closes the socket itself (1009 for a message too large); only the record is ours.
    socket.on('error', (error) => logger.warn({ remote, reason: error.message }, 'WebSocket closed on a protocol error'));
    // Keep-alive: a peer that stops answering pings is dropped, so dead sockets do not pile up.
    let alive = true;
    socket.on('pong', () => (alive = true));
    const keepAlive = setInterval(() => {
      if (!alive) return socket.terminate();
      alive = false;
      socket.ping();
    }, 12_000);
    keepAlive.unref();
    const closed = protocol.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', (data) => {
            handle(String(data)).catch((error: unknown) => {
              logger.error({ err: error, remote }, 'internal error in a WebSocket message');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      { socket, request },
    );
    socket.once('close', (code, reason) => {
      clearInterval(keepAlive);
      void closed(code, String(reason));
    });
  }

  /** Closes the connections opened with this API key (it was just revoked). */
  closeApiKey(prefix: string): void {
    for (const connection of this.connections.values()) {
      if (connection.actor.id === `apikey:${prefix}`) this.refuse(connection, `API key ${prefix} was revoked`);
    }
  }

  private refuse(connection: Connection, reason: string): void {
    this.connections.delete(connection.socket);
    this.options.logger.warn({ remote: connection.address, actor: connection.actor.id, reason }, 'subscription connection closed: credential no longer accepted');
    connection.socket.close(WS_FORBIDDEN, 'Forbidden: credential revoked or expired');
  }

  private rechecking = false;

  /** Checks every open connection's credential again: revoked keys and expired tokens lose theirs. */
  private async recheckConnections(): Promise<void> {
    if (this.rechecking) return;
    this.rechecking = true;
    try {
      for (const connection of [...this.connections.values()]) {
        try {
          await this.options.authenticator.authenticate(connection.authorization);
        } catch (error) {
          if (error instanceof AuthenticationError) this.refuse(connection, error.message);
          else this.options.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not re-check a subscription connection');
        }
      }
    } finally {
      this.rechecking = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.recheckTimer);
    for (const client of this.wss?.clients ?? []) client.close(1001, 'Going away');
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    await this.apollo.stop();
  }
}

/** Root fields of the operation that will run (0 when it cannot be identified: execution says why). */
function operationRootFields(document: DocumentNode, operationName: string | null | undefined): number {
  const operation = getOperationAST(document, operationName);
  return operation ? rootFieldCount(operation.selectionSet, fragmentsOf(document)) : 0;
}

function sendRateLimited(res: ServerResponse, decision: RateDecision, who: string): void {
  const error = rateLimitedError(decision, who);
  sendJson(res, 429, { errors: [{ message: error.message, extensions: { code: 'RATE_LIMITED', retryAfter: decision.retryAfterSeconds } }] }, { 'retry-after': String(decision.retryAfterSeconds) });
}
