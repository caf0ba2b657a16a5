// What a client sees when something goes wrong. Known errors keep their message and get a stable
// code (extensions.code); everything else is masked as INTERNAL_SERVER_ERROR with a reference the
// operator finds in the log. GraphQL's own errors (syntax, unknown fields, wrong variable types)
// pass through: they describe the client's request, not our internals.

import { randomUUID } from 'node:crypto';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { ArgumentValidationError } from 'type-graphql';
import { MammocadError, ValidationError } from '../domain/index.js';

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

/** Codes set by GraphQL itself or Apollo for malformed requests. */
const REQUEST_CODES = new Set(['QUERY_TOO_DEEP', 'QUERY_TOO_COMPLEX', 'GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'BAD_REQUEST', 'PERSISTED_QUERY_NOT_FOUND', 'OPERATION_RESOLUTION_FAILURE']);

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

export function createErrorFormatter(logger: Logger) {
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
      return { message: original.message, path, extensions };
    }
    const code = formatted.extensions?.code;
    // Apollo relabels every validation error GRAPHQL_VALIDATION_FAILED, our depth limit's too:
    // the code our own rule gave is the more precise one.
    const ownCode = original instanceof GraphQLError ? original.extensions?.code : undefined;
    if (typeof ownCode === 'string' && REQUEST_CODES.has(ownCode) && ownCode !== code) return { ...formatted, extensions: { ...formatted.extensions, code: ownCode } };
    if (typeof code === 'string' && REQUEST_CODES.has(code)) return formatted;
    const reference = randomUUID();
    logger.error({ err: original, reference, path }, 'internal error in a GraphQL request');
    return { message: `internal error (reference ${reference})`, path, extensions: { code: 'INTERNAL_SERVER_ERROR', reference } };
  };
}
