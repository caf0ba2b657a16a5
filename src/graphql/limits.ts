// Limits on what one operation may ask for, checked before anything runs: selection depth (a
// validation rule) and estimated cost (each field costs 1; a paginated field multiplies what it
// selects by its page size, other lists by a typical length).

import {
  GraphQLError,
  Kind,
  getNullableType,
  isListType,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type DocumentNode,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';

/** How many items an unpaginated list (images of a study, labels) counts for. */
export const TYPICAL_LIST_LENGTH = 10;

function depthOf(selectionSet: SelectionSetNode | undefined, fragments: Map<string, FragmentDefinitionNode>, seen: Set<string>): number {
  if (!selectionSet) return 0;
  let deepest = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value.startsWith('__')) continue; // introspection is limited by its own switch
      deepest = Math.max(deepest, 1 + depthOf(selection.selectionSet, fragments, seen));
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      deepest = Math.max(deepest, depthOf(selection.selectionSet, fragments, seen));
    } else {
      const name = selection.name.value;
      const fragment = fragments.get(name);
      if (!fragment || seen.has(name)) continue; // unknown or cyclic fragments are reported by GraphQL's own rules
      deepest = Math.max(deepest, depthOf(fragment.selectionSet, fragments, new Set([...seen, name])));
    }
  }
  return deepest;
}

/** A validation rule refusing operations nested deeper than `maxDepth` fields. */
export function depthLimit(maxDepth: number) {
  return (context: ValidationContext): ASTVisitor => {
    const document = context.getDocument();
    const fragments = new Map(
      document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
    );
    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet, fragments, new Set());
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(`query is ${depth} levels deep; at most ${maxDepth} are allowed`, { nodes: [node], extensions: { code: 'QUERY_TOO_DEEP' } }),
          );
        }
      },
    };
  };
}

const estimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  const first = typeof args.first === 'number' ? args.first : undefined;
  const isList = isListType(getNullableType(field.type));
  // A connection's `nodes` list is already counted by its field's page size.
  const multiplier = first ?? (isList && field.name !== 'nodes' ? TYPICAL_LIST_LENGTH : 1);
  return 1 + childComplexity * multiplier;
};

/** The estimated cost of an operation (throws GraphQL's own errors for unknown operations). */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown>, operationName?: string): number {
  return getComplexity({ schema, query: document, variables, operationName, estimators: [estimator] });
}

// `http` sets the status of the HTTP answer (Apollo takes it out of the extensions it sends):
// these are refusals of the client's request, not faults of ours (500).
export function costLimitError(cost: number, maxCost: number): GraphQLError {
  return new GraphQLError(`query cost ${cost} exceeds the limit of ${maxCost}; ask for fewer items per page or fewer fields`, {
    extensions: { code: 'QUERY_TOO_COMPLEX', cost, maxCost, http: { status: 400 } },
  });
}

/**
 * The error that refuses an operation for its cost, or undefined when it may run. Estimating
 * coerces the variables, before GraphQL execution would: a variable of the wrong type fails
 * here, and is the client's mistake (BAD_USER_INPUT, as execution would say), not an internal error.
 */
export function costCheck(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown>, operationName: string | undefined, maxCost: number): GraphQLError | undefined {
  let cost: number;
  try {
    cost = operationCost(schema, document, variables, operationName);
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    return new GraphQLError(error.message, { nodes: error.nodes, extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
  }
  return cost > maxCost ? costLimitError(cost, maxCost) : undefined;
}
