// Who am I, API keys, and the audit trail.

import { Arg, Args, Authorized, Ctx, Mutation, Query, Resolver, UseMiddleware } from 'type-graphql';
import type { Role } from '../../domain/index.js';
import { createApiKey } from '../auth.js';
import { auditMiddleware } from '../audit.js';
import type { ApiContext } from '../context.js';
import { AuditArgs, CreateApiKeyArgs } from '../schema/inputs.js';
import { Actor, ApiKey, AuditEvent, CreatedApiKey, toApiKey, toAuditEvent } from '../schema/types.js';
import type { RoleValue } from '../schema/enums.js';

@UseMiddleware(auditMiddleware)
@Resolver()
export class AdminResolver {
  @Query(() => Actor, { description: 'The authenticated caller' })
  me(@Ctx() context: ApiContext): Actor {
    return { ...context.actor, role: context.actor.role as RoleValue };
  }

  @Authorized('admin')
  @Query(() => [ApiKey])
  async apiKeys(@Ctx() context: ApiContext): Promise<ApiKey[]> {
    return (await context.services.store.apiKeys.list()).map(toApiKey);
  }

  @Authorized('admin')
  @Mutation(() => CreatedApiKey, { description: 'Creates an API key; the key is in this answer only' })
  async createApiKey(@Args(() => CreateApiKeyArgs) args: CreateApiKeyArgs, @Ctx() context: ApiContext): Promise<CreatedApiKey> {
    const { key, record } = await createApiKey(context.services.store, { name: args.name, role: args.role as Role, createdBy: context.actor.id });
    return { key, apiKey: toApiKey(record) };
  }

  @Authorized('admin')
  @Mutation(() => ApiKey, { description: 'Revokes an API key at once' })
  async revokeApiKey(@Arg('prefix', () => String) prefix: string, @Ctx() context: ApiContext): Promise<ApiKey> {
    const revoked = toApiKey(await context.services.store.apiKeys.revoke(prefix));
    // Subscriptions of this process end now; other processes notice at their next re-check.
    context.sessions?.closeApiKey(prefix);
    return revoked;
  }

  @Authorized('admin')
  @Query(() => [AuditEvent], { description: 'Audit events, newest first' })
  async auditEvents(@Args(() => AuditArgs) args: AuditArgs, @Ctx() context: ApiContext): Promise<AuditEvent[]> {
    // An explicit null is no filter (Prisma refuses null on a required column).
    return (await context.services.store.audit.list({ actor: args.actor ?? undefined, action: args.action ?? undefined, since: args.since ?? undefined, take: args.first })).map(toAuditEvent);
  }
}
