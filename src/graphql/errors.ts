// What a client sees when something goes wrong. Known errors keep their message and get a stable
// code (extensions.code); everything else is masked as INTERNAL_SERVER_ERROR with a reference the
// operator finds in the log. GraphQL's own errors (syntax, unknown fields, wrong variable types)
// pass through: they describe the client's request, not our internals.

import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { ArgumentValidationError } from 'type-graphql';
import { MammocadError, ModelPackageError, ValidationError } from '../domain/index.js';

/** Domain error codes whose messages are meant for API clients. */
const CLIENT_CODES: Record<string, string> = {
  VALIDATION_FAILED: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NO_ACTIVE_MODEL: 'NO_ACTIVE_MODEL',
  STUDY_NOT_ON_PACS: 'STUDY_NOT_ON_PACS',
  PACS_UNAVAILABLE: 'PACS_UNAVAILABLE',
  PACS_UNAUTHORIZED: 'PACS_UNAVAILABLE',
  PACS_NOT_FOUND: 'STUDY_NOT_ON_PACS',
  MODEL_PACKAGE_INVALID: 'MODEL_PACKAGE_INVALID',
  DATASET_INVALID: 'BAD_USER_INPUT',
};

/** Codes set by GraphQL itself, Apollo or our limits for requests refused as asked. */
const REQUEST_CODES = new Set([
  'QUERY_TOO_DEEP',
  'QUERY_TOO_COMPLEX',
  'TOO_MANY_ROOT_FIELDS',
  'TOO_MANY_ALIASES',
  'RATE_LIMITED',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * GraphQL's "Did you mean ...?" hints name fields, arguments, types and enum values near what
 * the client typed: with introspection off they would give the schema away a guess at a time.
 */
const SUGGESTION = / ?Did you mean [^?]*\?/g;

export interface ErrorFormatOptions {
  /** Drop "Did you mean" suggestions from messages (set while introspection is off). */
  hideSuggestions: boolean;
}

/** The HTTP status an error asks for (Apollo's `extensions.http`), when it is a client error. */
function clientStatus(error: unknown): number | undefined {
  const status = error instanceof GraphQLError ? (error.extensions?.http as { status?: unknown } | undefined)?.status : undefined;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/** class-validator's error tree: nested inputs (a filter, a list of labels) report through `children`. */
interface FieldError {
  property: string;
  constraints?: Record<string, string>;
  children?: FieldError[];
}

/**
 * One entry per field that broke a rule, named by its path as resolvers name theirs
 * ("filter.minScore", "labels[1].studyInstanceUid"); without this a nested input's problems were
 * reported as its parent field with no message.
 */
function flattenValidation(errors: FieldError[], parent = ''): Array<{ field: string; problems: string[] }> {
  return errors.flatMap((error) => {
    const field = !parent ? error.property : /^\d+$/.test(error.property) ? `${parent}[${error.property}]` : `${parent}.${error.property}`;
    const own = error.constraints && Object.keys(error.constraints).length > 0 ? [{ field, problems: Object.values(error.constraints) }] : [];
    return [...own, ...flattenValidation(error.children ?? [], field)];
  });
}

function unwrap(error: unknown): unknown {
  let current = error;
  for (let i = 0; i < 5 && current && typeof current === 'object' && 'originalError' in current && current.originalError; i++) {
    current = current.originalError;
  }
  return current;
}

export function createErrorFormatter(logger: Logger, options: ErrorFormatOptions) {
  const format = classify(logger);
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const result = format(formatted, error);
    // The HTTP status travels in the extensions to Apollo, which removes it; graphql-ws sends
    // the extensions as they are.
    const { http: _http, ...extensions } = result.extensions ?? {};
    const message = options.hideSuggestions ? result.message.replace(SUGGESTION, '') : result.message;
    return { ...result, message, extensions };
  };
}

/**
 * A domain error's message as a client sees it: no server path (a model package's absolute
 * directory becomes its folder name) and no text of the PACS's own answer (it may echo what it
 * was sent); the whole message goes to the log with a reference the client gets.
 */
function clientMessage(error: MammocadError, logger: Logger): string {
  let message = error.message;
  if (error instanceof ModelPackageError) message = message.replace(error.packagePath, path.basename(error.packagePath));
  if (error.code.startsWith('PACS_')) message = message.replace(/(the PACS answered \d+[^()]*?) \(.*\)$/s, '$1');
  if (message === error.message) return message;
  const reference = randomUUID();
  logger.warn({ reference, err: error.message, code: error.code }, 'error answered to a GraphQL client without its details');
  return `${message} (reference ${reference})`;
}

function classify(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrap(error);
    const path = formatted.path;
    if (original instanceof ArgumentValidationError) {
      const problems = flattenValidation(original.extensions.validationErrors as FieldError[]);
      return {
        message: `invalid input: ${problems.map((p) => `${p.field}: ${p.problems.join(', ')}`).join('; ')}`,
        path,
        extensions: { code: 'BAD_USER_INPUT', fields: problems },
      };
    }
    if (original instanceof MammocadError && CLIENT_CODES[original.code]) {
      const extensions: Record<string, unknown> = { code: CLIENT_CODES[original.code] };
      if (original instanceof ValidationError) extensions.field = original.field;
      return { message: clientMessage(original, logger), path, extensions };
    }
    const code = formatted.extensions?.code;
    // Apollo relabels every validation error GRAPHQL_VALIDATION_FAILED, our depth limit's too:
    // the code our own rule gave is the more precise one.
    const ownCode = original instanceof GraphQLError ? original.extensions?.code : undefined;
    if (typeof ownCode === 'string' && REQUEST_CODES.has(ownCode) && ownCode !== code) return { ...formatted, extensions: { ...formatted.extensions, code: ownCode } };
    if (typeof code === 'string' && REQUEST_CODES.has(code)) return formatted;
    // Apollo's own refusals of a malformed request (a persisted-query hash that does not match
    // the query, an unsupported version) carry a 4xx status but no code: the client's mistake,
    // said as such, not an internal error logged with its stack for every such request.
    if (clientStatus(error) !== undefined || clientStatus(original) !== undefined) {
      return { ...formatted, extensions: { ...formatted.extensions, code: 'BAD_REQUEST' } };
    }
    const reference = randomUUID();
    logger.error({ err: original, reference, path }, 'internal error in a GraphQL request');
    return { message: `internal error (reference ${reference})`, path, extensions: { code: 'INTERNAL_SERVER_ERROR', reference } };
  };
}
