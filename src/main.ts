// The `mammocad` command line: assembles the program from the command groups in src/cli (one
// file per command or group, each with its register function; src/cli/context.ts builds the
// services they use) and runs it, turning every outcome into an exit code.

import { Command, CommanderError } from 'commander';
import type { Config } from './config/index.js';
import { ConfigError, MammocadError } from './domain/index.js';
import { registerApiKeyCommands } from './cli/apikey.js';
import { registerConfigCommands } from './cli/config.js';
import { EXIT, VERSION } from './cli/context.js';
import { registerConvertCommands } from './cli/convert.js';
import { registerEvaluateCommand } from './cli/evaluate.js';
import { registerInspectCommand } from './cli/inspect.js';
import { registerMigrateCommand } from './cli/migrate.js';
import { registerModelCommands } from './cli/models.js';
import { registerPacsCommands } from './cli/pacs.js';
import { registerScoreCommand } from './cli/score.js';
import { registerServeCommand, registerWorkerCommand } from './cli/service.js';
import { registerSrCommand } from './cli/sr.js';
import { registerDiscoverCommand, registerPollCommand } from './cli/studies.js';
import { registerTrainCommand } from './cli/train.js';

export { EXIT };

export function buildCli(): Command {
  const program = new Command('mammocad')
    .description('Breast-cancer classifier service: watches a DICOMweb PACS, scores mammograms, writes DICOM SR, serves GraphQL')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'configuration file (YAML or JSON); also MAMMOCAD_CONFIG')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  // In this order: `mammocad --help` lists the commands as they are registered.
  registerMigrateCommand(program);
  registerConfigCommands(program);
  registerServeCommand(program);
  registerInspectCommand(program);
  registerWorkerCommand(program);
  registerDiscoverCommand(program);
  registerPollCommand(program);
  registerModelCommands(program);
  registerScoreCommand(program);
  registerSrCommand(program);
  registerTrainCommand(program);
  registerEvaluateCommand(program);
  registerConvertCommands(program);
  registerApiKeyCommands(program);
  registerPacsCommands(program);

  for (const command of [program, ...program.commands]) command.exitOverride();
  return program;
}

/** Runs the command line and returns the process exit code; never throws. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0; a command may end with its own code.
      if (error.code.startsWith('mammocad.')) return error.exitCode;
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`mammocad: configuration error: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof MammocadError) {
      process.stderr.write(`mammocad: ${error.code}: ${error.message}\n`);
      return EXIT.failed;
    }
    process.stderr.write(`mammocad: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT.failed;
  }
}

export type { Config };
