#!/usr/bin/env node
// The `mammocad` command. Runs the TypeScript sources through tsx, so the command, the tests
// and the container all execute the same code without a separate build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
