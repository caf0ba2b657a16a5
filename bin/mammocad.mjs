#!/usr/bin/env node
// The `mammocad` command. Runs the TypeScript sources through tsx, so the command, the tests
// and the container all execute the same code without a separate build step.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

// The project's tsconfig, wherever the command is run from: it turns on the decorators the
// GraphQL schema is written with (tsx would otherwise look for a tsconfig in the working folder).
register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { runCli } = await import('../src/main.ts');
const code = await runCli(process.argv.slice(2));
// Exit as soon as the command is done: Prisma's wasm schema engine leaves a 10 s timer armed
// after migrating PostgreSQL, which would otherwise hold a finished command open.
// (stdout and stderr are synchronous for files and pipes on Linux, so nothing is cut off.)
process.exit(code);
