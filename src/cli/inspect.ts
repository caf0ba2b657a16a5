// `mammocad inspect`: reads DICOM files the way the service would and says, per file, whether it
// is eligible or skipped (and why), its laterality, view, size, transfer syntax and decode time.
// Exit code 1 when a file cannot be read or decoded.

import { CommanderError, type Command } from 'commander';
import { inspectFile } from '../dicom/inspect-file.js';
import { EXIT, configFrom } from './context.js';
import { print } from './output.js';

export function registerInspectCommand(program: Command): Command {
  return program
    .command('inspect')
    .description('read DICOM files: eligible or skipped (with the reason), laterality, view, size, transfer syntax, decode time')
    .argument('<file...>', 'DICOM Part 10 files')
    .option('--json', 'print one JSON object per file')
    .action(async (files: string[], opts: { json?: boolean }, cmd: Command) => {
      if (!(await inspectCommand(cmd, files, Boolean(opts.json)))) throw new CommanderError(EXIT.failed, 'mammocad.inspect', 'some files could not be read or decoded');
    });
}

async function inspectCommand(command: Command, files: string[], json: boolean): Promise<boolean> {
  const { config } = configFrom(command);
  let allReadable = true;
  for (const file of files) {
    const r = await inspectFile(file, config.selection);
    allReadable &&= r.status !== 'failed';
    const text =
      r.status === 'failed'
        ? `${file}: failed: ${r.reason}`
        : `${file}: ${r.status}${r.reason ? ` (${r.reason})` : ''}, ${r.laterality ?? '?'} ${r.view ?? 'view unknown'}` +
          `${r.modifiers.length ? ` [${r.modifiers.join(', ')}]` : ''}, ${r.rows ?? '?'}x${r.columns ?? '?'}, ${r.transferSyntaxUid}` +
          `${r.decodeMs === null ? ', no pixel data' : `, decoded in ${r.decodeMs} ms`}`;
    print(json, r, text);
  }
  return allReadable;
}
