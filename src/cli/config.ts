// `mammocad config check`: validates the configuration (defaults, file, environment) and prints
// every setting, secrets hidden, with where each one that is not a default came from.

import type { Command } from 'commander';
import { redactConfig } from '../config/index.js';
import { configFrom } from './context.js';
import { print } from './output.js';

export function registerConfigCommands(program: Command): Command {
  const configCommand = program.command('config').description('inspect the configuration');
  configCommand
    .command('check')
    .description('validate the configuration (defaults, file, environment) and print it with secrets hidden')
    .option('--json', 'print the result as one JSON object')
    .action((opts: { json?: boolean }, cmd: Command) => configCheckCommand(cmd, Boolean(opts.json)));
  for (const command of configCommand.commands) command.exitOverride();
  return configCommand;
}

function configCheckCommand(command: Command, json: boolean): void {
  const { config, sources } = configFrom(command);
  const shown = redactConfig(config);
  const lines = ['configuration is valid', ...flatten(shown).map(([k, v]) => `  ${k} = ${v}${sources[k] ? `   (from ${sources[k]})` : ''}`)];
  print(json, { valid: true, config: shown, sources }, lines.join('\n'));
}

/** Nested settings as dotted keys and their values: `pacs.url = http://...`, `selection.views.0 = CC`. */
function flatten(value: unknown, prefix = ''): Array<[string, string]> {
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
  }
  return [[prefix, String(value)]];
}
