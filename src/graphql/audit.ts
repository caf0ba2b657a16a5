// The audit trail of the API: every root query, mutation and subscription start is recorded with
// the actor, the action, its target and the outcome (ok, denied, or the error code) — reads of
// results included. Nested fields are covered by their root field's event. A list read of
// studies (studies, worklist) also names the studies it returned (`studies`: their UIDs), so that
// "who saw this study's results" has an answer for list reads too, not only for study(uid).
//
// An event's size is bounded whatever the request: long strings are cut and carry their length
// and a hash (enough to match them against a suspect request), long lists are counted. A request
// that is refused still writes its event, so without the bound an attacker chose how much each
// refusal wrote.

import { createHash } from 'node:crypto';
import type { GraphQLResolveInfo } from 'graphql';
import type { MiddlewareFn } from 'type-graphql';
import { MammocadError, type JsonValue } from '../domain/index.js';
import type { Actor } from './auth.js';
import type { ApiContext } from './context.js';

const ROOT_TYPES = new Set(['Query', 'Mutation', 'Subscription']);

/** Strings longer than this are kept as their start, length and hash. */
export const AUDIT_MAX_STRING = 128;
/** Lists longer than this keep their first items and their length. */
const AUDIT_MAX_ITEMS = 20;
/** Nesting kept in details; deeper values are summarised. */
const AUDIT_MAX_DEPTH = 4;

/** A string as the audit trail keeps it: whole when short, else cut, with its length and sha256. */
export function auditString(value: string, max = AUDIT_MAX_STRING): string {
  if (value.length <= max) return value;
  const digest = createHash('sha256').update(value).digest('hex').slice(0, 16);
  return `${value.slice(0, max - 48)}...(${value.length} chars, sha256 ${digest})`;
}

function bounded(value: unknown, depth = 0): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return auditString(value);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (value instanceof Date) return value.toISOString();
  if (depth >= AUDIT_MAX_DEPTH) return `(${Array.isArray(value) ? 'list' : 'object'} nested too deep)`;
  if (Array.isArray(value)) {
    const items = value.slice(0, AUDIT_MAX_ITEMS).map((item) => bounded(item, depth + 1));
    return value.length > AUDIT_MAX_ITEMS ? { items, length: value.length } : items;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const kept = Object.fromEntries(entries.slice(0, AUDIT_MAX_ITEMS).map(([k, v]) => [auditString(k, 64), bounded(v, depth + 1)]));
  if (entries.length > AUDIT_MAX_ITEMS) kept.omittedKeys = entries.length - AUDIT_MAX_ITEMS;
  return kept;
}

/** The entity an operation is about, from its arguments ("study:<uid>", "model:<version>", ...). */
export function auditTarget(args: Record<string, unknown>): string | null {
  const target = (kind: string, id: unknown) => `${kind}:${auditString(String(id))}`;
  if (typeof args.studyInstanceUid === 'string') return target('study', args.studyInstanceUid);
  if (typeof args.version === 'string') return target('model', args.version);
  if (typeof args.id === 'string') return target('job', args.id);
  if (typeof args.prefix === 'string') return target('apikey', args.prefix);
  if (Array.isArray(args.labels)) {
    const studies = [...new Set(args.labels.map((l: { studyInstanceUid?: unknown }) => String(l?.studyInstanceUid)))];
    return studies.length === 1 ? target('study', studies[0]) : `studies:${studies.length}`;
  }
  return null;
}

/** Keys of an event's details that the recorder itself writes (who, and how it ended). */
const RECORDER_KEYS = new Set(['outcome', 'role', 'count', 'studies']);

/**
 * What to keep of the arguments: filters and options, summarised where they are long. An
 * argument named like one of the recorder's keys (createApiKey's `role`) is kept as
 * `requested<Name>`, so it can never pass for the caller's role or the outcome.
 */
function auditDetails(args: Record<string, unknown>): Record<string, JsonValue> {
  const details: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    const name = RECORDER_KEYS.has(key) ? `requested${key[0]!.toUpperCase()}${key.slice(1)}` : key;
    if (key === 'labels' && Array.isArray(value)) details.labels = value.length;
    else details[name] = bounded(JSON.parse(JSON.stringify(value)));
  }
  return details;
}

function outcomeOf(error: unknown): string {
  if (error instanceof MammocadError) return error.code === 'FORBIDDEN' ? 'denied' : error.code;
  const name = (error as { name?: unknown })?.name;
  return name === 'ArgumentValidationError' ? 'VALIDATION_FAILED' : 'error';
}

export async function recordAudit(context: ApiContext, actor: Actor, info: Pick<GraphQLResolveInfo, 'parentType' | 'fieldName'>, args: Record<string, unknown>, outcome: string, extra: Record<string, JsonValue> = {}): Promise<void> {
  await context.services.store.audit.record({
    actor: actor.id,
    action: `${info.parentType.name.toLowerCase()}.${info.fieldName}`,
    target: auditTarget(args),
    details: { ...auditDetails(args), ...extra, outcome, role: actor.role },
  });
}

/** Global middleware: records one audit event per root field, after it resolved or failed. */
export const auditMiddleware: MiddlewareFn<ApiContext> = async ({ context, info, args }, next) => {
  if (!ROOT_TYPES.has(info.parentType.name) || info.parentType.name === 'Subscription') return next();
  try {
    const result: unknown = await next();
    const extra: Record<string, JsonValue> = {};
    const nodes = (result as { nodes?: unknown })?.nodes;
    if (Array.isArray(result)) extra.count = result.length;
    else if (Array.isArray(nodes)) {
      extra.count = nodes.length;
      // UIDs read from the database (at most a page: 200 x 64 characters), not caller input.
      const uids = nodes.map((n) => (n as { studyInstanceUid?: unknown })?.studyInstanceUid).filter((u): u is string => typeof u === 'string');
      if (uids.length > 0) extra.studies = uids;
    }
    await recordAudit(context, context.actor, info, args, 'ok', extra);
    return result;
  } catch (error) {
    await recordAudit(context, context.actor, info, args, outcomeOf(error)).catch((auditError: unknown) =>
      context.services.logger.error({ err: auditError instanceof Error ? auditError.message : String(auditError) }, 'could not write an audit event'),
    );
    throw error;
  }
};
