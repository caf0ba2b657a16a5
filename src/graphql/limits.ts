// Limits on what one operation may ask for, checked before anything runs: selection depth, root
// fields and aliases (validation rules), then estimated cost (each field costs 1; a paginated
// field multiplies what it selects by its page size, other lists by a typical length).
//
// Every walk here visits each fragment once and remembers what it measured: a fragment that
// spreads the next one twice, 24 levels down, expands to 2^24 selections, and walking the
// expansion kept the server busy for tens of seconds before the depth limit said no.

import {
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
  isObjectType,
  isInterfaceType,
  type ASTVisitor,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type FragmentSpreadNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type InlineFragmentNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  getArgumentValues,
  getDirectiveValues,
  getOperationAST,
  getVariableValues,
} from 'graphql';
import { checkInputs } from './input-limits.js';

/** How many items an unpaginated list (images of a study, labels) counts for. */
export const TYPICAL_LIST_LENGTH = 10;

/** The status and code of a refused request: the client's doing, so 400, never 500. */
const refusal = (message: string, code: string, extra: Record<string, unknown> = {}, nodes?: readonly OperationDefinitionNode[]) =>
  new GraphQLError(message, { nodes, extensions: { code, ...extra, http: { status: 400 } } });

/**
 * A measure of a selection set computed once per fragment: `measure(selectionSet)` combines the
 * measures of its fields and fragments; a fragment's measure depends only on the fragment (and
 * on the request's variables, fixed for one request), so it is remembered by name. A cyclic
 * spread measures 0: GraphQL's own NoFragmentCycles rule reports it.
 */
function memoised<T>(fragments: ReadonlyMap<string, FragmentDefinitionNode>, measureFragment: (fragment: FragmentDefinitionNode) => T, cyclic: T): (spread: FragmentSpreadNode) => T | undefined {
  const known = new Map<string, T>();
  const inProgress = new Set<string>();
  return (spread) => {
    const name = spread.name.value;
    const cached = known.get(name);
    if (cached !== undefined) return cached;
    const fragment = fragments.get(name);
    if (!fragment) return undefined; // unknown fragments are reported by GraphQL's own rules
    if (inProgress.has(name)) return cyclic;
    inProgress.add(name);
    const value = measureFragment(fragment);
    inProgress.delete(name);
    known.set(name, value);
    return value;
  };
}

export function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  return new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
}

/** The deepest chain of fields below a selection set (introspection fields not counted). */
export function selectionDepth(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>): number {
  const spreadDepth = memoised(fragments, (fragment) => depthOf(fragment.selectionSet), 0);
  function depthOf(set: SelectionSetNode | undefined): number {
    if (!set) return 0;
    let deepest = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value.startsWith('__')) continue; // introspection is limited by its own switch
        deepest = Math.max(deepest, 1 + depthOf(selection.selectionSet));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        deepest = Math.max(deepest, depthOf(selection.selectionSet));
      } else {
        deepest = Math.max(deepest, spreadDepth(selection) ?? 0);
      }
    }
    return deepest;
  }
  return depthOf(selectionSet);
}

/**
 * How many root fields an operation runs, fragments expanded (a spread counts each time it is
 * spread). Each root field is one resolver call with its own audit event, so this bounds the
 * events and the work one request can cause.
 */
export function rootFieldCount(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>): number {
  const spreadCount = memoised(fragments, (fragment) => countOf(fragment.selectionSet), 0);
  function countOf(set: SelectionSetNode): number {
    let count = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) count += selection.name.value.startsWith('__') ? 0 : 1;
      else if (selection.kind === Kind.INLINE_FRAGMENT) count += countOf(selection.selectionSet);
      else count += spreadCount(selection) ?? 0;
    }
    return count;
  }
  return countOf(selectionSet);
}

export interface DocumentLimits {
  maxDepth: number;
  maxRootFields: number;
  maxAliases: number;
}

/**
 * A validation rule refusing operations nested deeper than `maxDepth` fields
 * (QUERY_TOO_DEEP), running more than `maxRootFields` root fields (TOO_MANY_ROOT_FIELDS), and
 * documents with more than `maxAliases` aliases (TOO_MANY_ALIASES; aliases are how one request
 * asks for the same field many times).
 */
export function documentLimits(limits: DocumentLimits) {
  return (context: ValidationContext): ASTVisitor => {
    const document = context.getDocument();
    const fragments = fragmentsOf(document);
    let aliases = 0;
    return {
      Field(node) {
        if (node.alias) aliases++;
      },
      OperationDefinition(node) {
        const depth = selectionDepth(node.selectionSet, fragments);
        if (depth > limits.maxDepth) {
          context.reportError(refusal(`query is ${depth} levels deep; at most ${limits.maxDepth} are allowed`, 'QUERY_TOO_DEEP', {}, [node]));
        }
        const roots = rootFieldCount(node.selectionSet, fragments);
        if (roots > limits.maxRootFields) {
          context.reportError(
            refusal(`operation runs ${roots} root fields; at most ${limits.maxRootFields} are allowed (send several requests)`, 'TOO_MANY_ROOT_FIELDS', { maxRootFields: limits.maxRootFields }, [node]),
          );
        }
      },
      Document: {
        leave() {
          if (aliases > limits.maxAliases) {
            context.reportError(refusal(`the document has ${aliases} aliases; at most ${limits.maxAliases} are allowed`, 'TOO_MANY_ALIASES', { maxAliases: limits.maxAliases }));
          }
        },
      },
    };
  };
}

/** @skip and @include, as execution reads them. */
function included(node: FieldNode | InlineFragmentNode | FragmentSpreadNode, variables: Record<string, unknown>): boolean {
  if (getDirectiveValues(GraphQLSkipDirective, node, variables)?.if === true) return false;
  return getDirectiveValues(GraphQLIncludeDirective, node, variables)?.if !== false;
}

function fieldOf(type: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
  return type && (isObjectType(type) || isInterfaceType(type)) ? type.getFields()[name] : undefined;
}

/**
 * Fields that render an image cost by the pixels they make: a 512-pixel heat-map overlay 16, a
 * 2048-pixel one 256 (each is drawn and compressed on the event loop), so a request cannot ask
 * for thousands of large renders at the price of as many numbers.
 */
const RENDERED: Readonly<Record<string, (args: Record<string, unknown>) => number>> = {
  heatMapOverlayPng: (args) => Math.max(1, Math.ceil(((typeof args.maxSize === 'number' ? args.maxSize : 512) / 128) ** 2)),
};

/**
 * The estimated cost of an operation with its (coerced) variables. Argument values that do not
 * coerce throw GraphQL's own errors.
 */
export function operationCost(schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, variables: Record<string, unknown>): number {
  const spreadCost = memoised(fragments, (fragment) => costOf(schema.getType(fragment.typeCondition.name.value), fragment.selectionSet), 0);
  function costOf(parent: GraphQLNamedType | undefined, set: SelectionSetNode): number {
    let total = 0;
    for (const selection of set.selections) {
      if (!included(selection, variables)) continue;
      if (selection.kind === Kind.FIELD) {
        const field = fieldOf(parent, selection.name.value);
        if (!field) continue; // introspection, or unknown (reported by validation)
        const args = getArgumentValues(field, selection, variables);
        const child = selection.selectionSet ? costOf(getNamedType(field.type), selection.selectionSet) : 0;
        const first = typeof args.first === 'number' ? args.first : undefined;
        const isList = isListType(getNullableType(field.type));
        // A connection's `nodes` list is already counted by its field's page size.
        const multiplier = first ?? (isList && field.name !== 'nodes' ? TYPICAL_LIST_LENGTH : 1);
        total += (RENDERED[field.name]?.(args) ?? 1) + child * multiplier;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        total += costOf(isCompositeType(type) ? type : parent, selection.selectionSet);
      } else {
        total += spreadCost(selection) ?? 0;
      }
    }
    return Math.min(total, Number.MAX_SAFE_INTEGER);
  }
  return costOf(schema.getRootType(operation.operation) ?? undefined, operation.selectionSet);
}

export function costLimitError(cost: number, maxCost: number): GraphQLError {
  return refusal(`query cost ${cost} exceeds the limit of ${maxCost}; ask for fewer items per page or fewer fields`, 'QUERY_TOO_COMPLEX', { cost, maxCost });
}

const badInput = (error: GraphQLError) => new GraphQLError(error.message, { nodes: error.nodes, extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });

/**
 * The checks that need the request's variables, run after validation and before any resolver
 * (over HTTP and WebSocket alike): the variables coerce (a wrong type is the client's mistake,
 * BAD_USER_INPUT), every text argument is within its limits, and the estimated cost is at most
 * `maxCost`. Returns the refusal, or undefined when the operation may run.
 */
export function checkOperation(schema: GraphQLSchema, document: DocumentNode, rawVariables: Record<string, unknown>, operationName: string | undefined | null, maxCost: number): GraphQLError | undefined {
  const operation = getOperationAST(document, operationName);
  if (!operation) return undefined; // GraphQL execution reports the unknown or ambiguous operation
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables, { maxErrors: 1 });
  if (coerced.errors) return badInput(coerced.errors[0]!);
  const fragments = fragmentsOf(document);
  try {
    const inputProblem = checkInputs(schema, operation, fragments, coerced.coerced);
    if (inputProblem) return inputProblem;
    const cost = operationCost(schema, operation, fragments, coerced.coerced);
    return cost > maxCost ? costLimitError(cost, maxCost) : undefined;
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    return badInput(error);
  }
}
