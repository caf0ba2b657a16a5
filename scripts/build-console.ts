// The web console's build steps.
//   tsx scripts/build-console.ts           bundles src/console/app into dist/console (npm's
//                                          `prepare` runs it at `npm ci`; `npm run console:build`)
//   tsx scripts/build-console.ts --types   writes src/console/generated/operation-types.ts: the
//                                          TypeScript types of every operation in
//                                          src/console/operations.ts, from the schema the server
//                                          builds (`npm run console:types`)
// test/integration/console-operations.test.ts fails when the types file is not what --types
// writes, so a schema change that breaks the console shows up there.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  Kind,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  parse,
  typeFromAST,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type FragmentDefinitionNode,
} from 'graphql';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OPERATION_TYPES_FILE = path.join(ROOT, 'src', 'console', 'generated', 'operation-types.ts');

/** TypeScript for the schema's scalars (as they travel in JSON). */
const SCALARS: Record<string, string> = {
  String: 'string',
  ID: 'string',
  Int: 'number',
  Float: 'number',
  Boolean: 'boolean',
  DateTimeISO: 'string',
  JSON: 'JsonValue',
};

const indent = (level: number) => '  '.repeat(level);

class TypeWriter {
  readonly enums = new Set<string>();
  readonly inputs = new Map<string, string>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly fragments: Map<string, FragmentDefinitionNode>,
  ) {}

  named(type: GraphQLNamedType): string {
    if (isScalarType(type)) {
      const ts = SCALARS[type.name];
      if (!ts) throw new Error(`scalar ${type.name} has no TypeScript type: add it to SCALARS in scripts/build-console.ts`);
      return ts;
    }
    if (isEnumType(type)) {
      this.enums.add(type.name);
      return type.name;
    }
    if (isInputObjectType(type)) {
      this.input(type.name);
      return type.name;
    }
    throw new Error(`unexpected type ${type.name}`);
  }

  /** An input object type as an interface (optional where it may be left out). */
  private input(name: string): void {
    if (this.inputs.has(name)) return;
    this.inputs.set(name, ''); // recursion guard
    const type = this.schema.getType(name);
    if (!isInputObjectType(type)) throw new Error(`${name} is not an input type`);
    const lines = Object.values(type.getFields()).map((field) => {
      const optional = !isNonNullType(field.type) || field.defaultValue !== undefined;
      return `${indent(1)}${field.name}${optional ? '?' : ''}: ${this.inputType(field.type)};`;
    });
    this.inputs.set(name, `export interface ${name} {\n${lines.join('\n')}\n}`);
  }

  inputType(type: GraphQLInputType): string {
    if (isNonNullType(type)) return this.inputTypeInner(type.ofType);
    return `${this.inputTypeInner(type)} | null`;
  }

  private inputTypeInner(type: GraphQLInputType): string {
    if (isListType(type)) return `Array<${this.inputType(type.ofType)}>`;
    return this.named(type as GraphQLNamedType);
  }

  output(type: GraphQLOutputType, selection: SelectionSetNode | undefined, level: number): string {
    if (isNonNullType(type)) return this.outputInner(type.ofType, selection, level);
    return `${this.outputInner(type, selection, level)} | null`;
  }

  private outputInner(type: GraphQLOutputType, selection: SelectionSetNode | undefined, level: number): string {
    if (isListType(type)) return `Array<${this.output(type.ofType, selection, level)}>`;
    if (isObjectType(type)) {
      if (!selection) throw new Error(`${type.name} needs a selection`);
      return this.object(type, selection, level);
    }
    return this.named(type as GraphQLNamedType);
  }

  object(type: GraphQLObjectType, selection: SelectionSetNode, level: number): string {
    const lines: string[] = [];
    for (const [key, value] of this.fields(type, selection, level + 1)) lines.push(`${indent(level + 1)}${key}: ${value};`);
    return `{\n${lines.join('\n')}\n${indent(level)}}`;
  }

  /** The fields a selection set yields, by response key (fragments of the same type inlined). */
  private fields(type: GraphQLObjectType, selection: SelectionSetNode, level: number): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const node of selection.selections) {
      if (node.kind === Kind.FIELD) {
        const key = node.alias?.value ?? node.name.value;
        if (node.name.value === '__typename') {
          out.push([key, `'${type.name}'`]);
          continue;
        }
        const field = type.getFields()[node.name.value];
        if (!field) throw new Error(`${type.name} has no field ${node.name.value}`);
        out.push([key, this.output(field.type, node.selectionSet, level)]);
      } else {
        const set = node.kind === Kind.INLINE_FRAGMENT ? node.selectionSet : this.fragments.get(node.name.value)?.selectionSet;
        const on = node.kind === Kind.INLINE_FRAGMENT ? node.typeCondition?.name.value : this.fragments.get(node.name.value)?.typeCondition.name.value;
        if (!set || (on && on !== type.name)) throw new Error(`fragments on other types than ${type.name} are not supported by the console's type writer`);
        out.push(...this.fields(type, set, level));
      }
    }
    return out;
  }
}

/**
 * The TypeScript types of `operations` (name -> document) against `schema`: per operation
 * `<Name>Variables` and `<Name>Result`, the enums and input types they use, and the map
 * `Operations` that the console's client is typed by.
 */
export function generateOperationTypes(schema: GraphQLSchema, operations: Record<string, string>): string {
  const blocks: string[] = [];
  const table: string[] = [];
  const writers: TypeWriter[] = [];
  for (const [name, source] of Object.entries(operations)) {
    const document = parse(source);
    const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
    const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    if (!operation || operation.name?.value !== name) throw new Error(`operation ${name}: the document must define an operation named ${name}`);
    const root = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
    if (!root) throw new Error(`the schema has no ${operation.operation} type`);
    const writer = new TypeWriter(schema, fragments);
    writers.push(writer);
    const variables = (operation.variableDefinitions ?? []).map((v) => {
      const type = typeFromAST(schema, v.type as never) as GraphQLInputType | undefined;
      if (!type) throw new Error(`operation ${name}: unknown type of $${v.variable.name.value}`);
      const optional = !isNonNullType(type) || v.defaultValue !== undefined;
      return `${indent(1)}${v.variable.name.value}${optional ? '?' : ''}: ${writer.inputType(type)};`;
    });
    blocks.push(variables.length ? `export interface ${name}Variables {\n${variables.join('\n')}\n}` : `export type ${name}Variables = Record<string, never>;`);
    blocks.push(`export type ${name}Result = ${writer.object(root, operation.selectionSet, 0)};`);
    table.push(`${indent(1)}${name}: { kind: '${operation.operation}'; variables: ${name}Variables; result: ${name}Result };`);
  }
  const enums = [...new Set(writers.flatMap((w) => [...w.enums]))].sort();
  const inputs = new Map(writers.flatMap((w) => [...w.inputs]));
  const enumBlocks = enums.map((name) => {
    const type = schema.getType(name);
    if (!isEnumType(type)) throw new Error(`${name} is not an enum`);
    return `export type ${name} = ${type
      .getValues()
      .map((v) => `'${v.name}'`)
      .join(' | ')};`;
  });
  return [
    '// Generated by `npm run console:types` (scripts/build-console.ts) from the schema the server builds',
    '// and the documents in src/console/operations.ts. Do not edit: change those and run it again.',
    '',
    'export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };',
    '',
    ...enumBlocks,
    '',
    ...[...inputs.keys()].sort().map((k) => `${inputs.get(k)}\n`),
    ...blocks.map((b) => `${b}\n`),
    'export interface Operations {',
    ...table,
    '}',
    '',
  ].join('\n');
}

/** The generated file as --types writes it now (builds the server's schema). */
export async function currentOperationTypes(): Promise<string> {
  const { buildApiSchema } = await import('../src/graphql/server.js');
  const { OPERATIONS } = await import('../src/console/operations.js');
  return generateOperationTypes(await buildApiSchema(), OPERATIONS);
}

async function main(): Promise<void> {
  const say = (message: string) => process.stderr.write(`[console] ${message}\n`);
  if (process.argv.includes('--types')) {
    await writeFile(OPERATION_TYPES_FILE, await currentOperationTypes());
    say(`wrote ${path.relative(ROOT, OPERATION_TYPES_FILE)}`);
    return;
  }
  const { buildConsole } = await import('../src/console/build.js');
  const { assets, outDir, ms } = await buildConsole();
  const sizes = [...assets].map(([name, a]) => `${name} ${(a.body.length / 1024).toFixed(1)} KiB`).join(', ');
  say(`built the web console into ${path.relative(ROOT, outDir ?? '') || '.'} in ${Math.round(ms)} ms (${sizes})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`[console] build failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
