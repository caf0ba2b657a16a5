// The GraphQL endpoint: the schema (type-graphql), Apollo Server for queries and mutations over
// HTTP, graphql-ws for subscriptions over WebSocket, both at /graphql. Every request is
// authenticated first; unauthenticated ones never reach GraphQL.

import 'reflect-metadata';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ApolloServer, HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { GraphQLError, NoSchemaIntrospectionCustomRule, parse, specifiedRules, validate, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { Logger } from 'pino';
import { buildSchema } from 'type-graphql';
import { WebSocketServer } from 'ws';
import { MammocadError } from '../domain/index.js';
import { readBody } from './http-server.js';
import { AuthenticationError, ForbiddenError, roleAllows, type Actor, type Authenticator } from './auth.js';
import { recordAudit } from './audit.js';
import { createContext, type ApiContext, type ApiServices } from './context.js';
import { createErrorFormatter } from './errors.js';
import { costCheck, depthLimit } from './limits.js';
import { AdminResolver } from './resolvers/admin.resolver.js';
import { JobResolver } from './resolvers/job.resolver.js';
import { LabelResolver } from './resolvers/label.resolver.js';
import { ModelVersionResolver } from './resolvers/model.resolver.js';
import { PacsResolver } from './resolvers/pacs.resolver.js';
import { PredictionResolver, ReportResolver, StudyResolver } from './resolvers/study.resolver.js';
import { SubscriptionResolver } from './resolvers/subscription.resolver.js';
import type { Role } from '../domain/index.js';

export const GRAPHQL_PATH = '/graphql';
const MAX_BODY = 1024 * 1024;

export interface ApiSettings {
  introspection: boolean;
  landingPage: boolean;
  maxDepth: number;
  maxCost: number;
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

export class GraphqlEndpoint {
  private wsCleanup: { dispose(): void | Promise<void> } | undefined;
  private wss: WebSocketServer | undefined;

  private constructor(
    private readonly options: GraphqlEndpointOptions,
    readonly schema: GraphQLSchema,
    private readonly apollo: ApolloServer<ApiContext>,
  ) {}

  static async create(options: GraphqlEndpointOptions): Promise<GraphqlEndpoint> {
    const schema = await buildApiSchema();
    const { settings } = options;
    const costLimit: ApolloServerPlugin<ApiContext> = {
      requestDidStart: async () => ({
        didResolveOperation: async ({ request, document }) => {
          const refusal = costCheck(schema, document, request.variables ?? {}, request.operationName, settings.maxCost);
          if (refusal) throw refusal;
        },
      }),
    };
    const apollo = new ApolloServer<ApiContext>({
      schema,
      introspection: settings.introspection,
      validationRules: [depthLimit(settings.maxDepth)],
      formatError: createErrorFormatter(options.logger.child({ component: 'graphql' })),
      includeStacktraceInErrorResponses: false,
      plugins: [costLimit, settings.landingPage ? ApolloServerPluginLandingPageLocalDefault({ embed: true }) : ApolloServerPluginLandingPageDisabled(), ApolloServerPluginCacheControlDisabled()],
    });
    await apollo.start();
    return new GraphqlEndpoint(options, schema, apollo);
  }

  /** Handles an HTTP request to /graphql. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const wantsPage = req.method === 'GET' && (req.headers.accept ?? '').includes('text/html');
    let actor: Actor | undefined;
    if (!(wantsPage && this.options.settings.landingPage)) {
      try {
        actor = await this.options.authenticator.authenticate(req.headers.authorization);
      } catch (error) {
        if (!(error instanceof AuthenticationError)) throw error;
        this.options.logger.warn({ remote: req.socket.remoteAddress, reason: error.message }, 'GraphQL request refused: not authenticated');
        return sendJson(res, 401, { errors: [{ message: error.message, extensions: { code: 'UNAUTHENTICATED' } }] }, { 'www-authenticate': 'Bearer' });
      }
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
        return createContext(this.options.services, actor);
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
    this.wss = new WebSocketServer({ server, path: GRAPHQL_PATH });
    const schema = this.schema;
    const formatError = createErrorFormatter(logger.child({ component: 'graphql-ws' }));
    const actors = new WeakMap<object, Actor>();
    this.wsCleanup = useServer<Record<string, unknown>, { actor?: Actor }>(
      {
        schema,
        onConnect: async (ctx) => {
          const header = typeof ctx.connectionParams?.authorization === 'string' ? ctx.connectionParams.authorization : undefined;
          try {
            actors.set(ctx.extra, await authenticator.authenticate(header));
            return true;
          } catch (error) {
            logger.warn({ reason: error instanceof Error ? error.message : String(error) }, 'subscription connection refused: not authenticated');
            return false; // graphql-ws closes with 4403 Forbidden
          }
        },
        context: (ctx) => createContext(services, actors.get(ctx.extra)!),
        onSubscribe: (_ctx, _id, payload) => {
          // The same rules and limits as over HTTP, before anything runs. The rules passed to
          // validate replace GraphQL's own, so those are named too (without them an unknown field
          // reached graphql-ws's validation and came back as an internal error), and so is the
          // introspection switch (a query over WebSocket could read the schema while it is off).
          let document;
          try {
            document = parse(payload.query);
          } catch (error) {
            return [new GraphQLError(error instanceof Error ? error.message : String(error), { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
          }
          const rules = [...specifiedRules, depthLimit(settings.maxDepth), ...(settings.introspection ? [] : [NoSchemaIntrospectionCustomRule])];
          const errors = validate(schema, document, rules);
          if (errors.length > 0) {
            return errors.map((e) => (e.extensions.code ? e : new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })));
          }
          const refusal = costCheck(schema, document, payload.variables ?? {}, payload.operationName ?? undefined, settings.maxCost);
          return refusal ? [refusal] : undefined;
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
      this.wss,
    );
  }

  async stop(): Promise<void> {
    await this.wsCleanup?.dispose();
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    await this.apollo.stop();
  }
}
