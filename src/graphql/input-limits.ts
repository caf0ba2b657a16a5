// Limits on the text a client may send as arguments, checked for the whole operation before any
// resolver runs (role checks and audit events included): a maximum length for every string and
// ID argument and input field, and no NUL or unpaired surrogate anywhere. PostgreSQL refuses NUL
// in text and SQLite stores it, so without this the same request failed on one database
// (as an internal error) and was stored on the other; and a long argument was copied into the
// audit event of every refused alias.

import {
  GraphQLError,
  Kind,
  getArgumentValues,
  getNamedType,
  getNullableType,
  isInputObjectType,
  isListType,
  isObjectType,
  isInterfaceType,
  isScalarType,
  type FragmentDefinitionNode,
  type GraphQLArgument,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** A DICOM UID is at most 64 characters (PS3.5 §9.1). */
export const UID_MAX_LENGTH = 64;

/**
 * The longest value each string or ID argument and input field may have, by name. Every such
 * name in the schema must be listed (a test checks), so a new argument gets a deliberate limit.
 */
export const STRING_LIMITS: Readonly<Record<string, number>> = {
  studyInstanceUid: UID_MAX_LENGTH,
  sopInstanceUid: UID_MAX_LENGTH,
  id: 64, // job ids (uuid)
  prefix: 16, // mk_ and 8 hex digits
  version: 128,
  modelVersion: 128,
  baseVersion: 128,
  after: 512, // a cursor this API returned
  from: 10,
  to: 10,
  kind: 32,
  name: 200,
  note: 2000,
  actor: 256,
  action: 128,
};

/** Any string not listed above (none should be: the limit for names the table forgot). */
export const DEFAULT_STRING_LIMIT = 256;

// NUL, and a surrogate half without its partner (JSON can carry "\ud800" alone; it is not text).
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const NOT_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const refusal = (field: string, problem: string) =>
  new GraphQLError(`invalid input: ${field}: ${problem}`, { extensions: { code: 'BAD_USER_INPUT', field, fields: [{ field, problems: [problem] }], http: { status: 400 } } });

/** The problem with one string value, or undefined. */
export function stringProblem(name: string, value: string): string | undefined {
  const max = STRING_LIMITS[name] ?? DEFAULT_STRING_LIMIT;
  if (value.length > max) return `must be at most ${max} characters; got ${value.length}`;
  if (NOT_TEXT.test(value)) return 'must not contain NUL (U+0000) or unpaired surrogate characters';
  return undefined;
}

/** Checks a coerced value of an input type; returns the first refusal. */
function checkValue(type: GraphQLInputType, value: unknown, name: string, path: string): GraphQLError | undefined {
  if (value === null || value === undefined) return undefined;
  const nullable = getNullableType(type);
  if (isListType(nullable)) {
    if (!Array.isArray(value)) return checkValue(nullable.ofType, value, name, path);
    for (const [i, item] of value.entries()) {
      const problem = checkValue(nullable.ofType, item, name, `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (isInputObjectType(nullable)) {
    const fields = nullable.getFields();
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const field = fields[key];
      const problem = field && checkValue(field.type, item, key, `${path}.${key}`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (isScalarType(nullable) && typeof value === 'string') {
    const problem = stringProblem(name, value);
    return problem ? refusal(path, problem) : undefined;
  }
  return undefined;
}

function checkArguments(definitions: readonly GraphQLArgument[], values: Record<string, unknown>): GraphQLError | undefined {
  for (const arg of definitions) {
    const problem = checkValue(arg.type, values[arg.name], arg.name, arg.name);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * The first argument of the operation (fragments included, each read once) whose text breaks a
 * limit, as a BAD_USER_INPUT refusal naming the field; undefined when all are acceptable.
 * Argument values that do not coerce throw GraphQL's own errors.
 */
export function checkInputs(schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, variables: Record<string, unknown>): GraphQLError | undefined {
  const visited = new Set<string>();
  function walk(parent: GraphQLNamedType | undefined | null, set: SelectionSetNode): GraphQLError | undefined {
    for (const selection of set.selections) {
      let problem: GraphQLError | undefined;
      if (selection.kind === Kind.FIELD) {
        const field = parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[selection.name.value] : undefined;
        if (!field) continue;
        problem = checkArguments(field.args, getArgumentValues(field, selection, variables));
        if (!problem && selection.selectionSet) problem = walk(getNamedType(field.type), selection.selectionSet);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        problem = walk(selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent, selection.selectionSet);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || visited.has(fragment.name.value)) continue;
        visited.add(fragment.name.value);
        problem = walk(schema.getType(fragment.typeCondition.name.value), fragment.selectionSet);
      }
      if (problem) return problem;
    }
    return undefined;
  }
  return walk(schema.getRootType(operation.operation), operation.selectionSet);
}

/** Every string or ID argument and input field name of the schema (for the completeness test). */
export function stringInputNames(schema: GraphQLSchema): Set<string> {
  const names = new Set<string>();
  const seenInputs = new Set<string>();
  const visitInput = (name: string, type: GraphQLInputType) => {
    const named = getNamedType(type);
    if (isScalarType(named) && (named.name === 'String' || named.name === 'ID')) names.add(name);
    if (isInputObjectType(named) && !seenInputs.has(named.name)) {
      seenInputs.add(named.name);
      for (const field of Object.values(named.getFields())) visitInput(field.name, field.type);
    }
  };
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
    for (const field of Object.values(type.getFields())) for (const arg of field.args) visitInput(arg.name, arg.type);
  }
  return names;
}
