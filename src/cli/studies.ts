// Finding studies by hand: `mammocad discover` announces studies by Study Instance UID, as the
// PACS webhook would, and `mammocad poll` runs one QIDO-RS poll from the saved cursor. Both
// queue new or changed studies for the workers; discover tries every UID, then exits 1 if any failed.

import { CommanderError, type Command } from 'commander';
import { MammocadError } from '../domain/index.js';
import { EXIT, buildServices } from './context.js';
import { print } from './output.js';

export function registerDiscoverCommand(program: Command): Command {
  return program
    .command('discover')
    .description('announce studies by Study Instance UID, as the PACS webhook would (queues new or changed ones)')
    .argument('<studyUid...>', 'Study Instance UIDs')
    .option('--json', 'print one JSON object per study')
    .action(async (uids: string[], opts: { json?: boolean }, cmd: Command) => discoverCommand(cmd, uids, Boolean(opts.json)));
}

export function registerPollCommand(program: Command): Command {
  return program
    .command('poll')
    .description('poll the PACS once (QIDO-RS by StudyDate from the saved cursor) and queue new studies')
    .option('--json', 'print the summary as one JSON object')
    .action(async (opts: { json?: boolean }, cmd: Command) => pollCommand(cmd, Boolean(opts.json)));
}

async function discoverCommand(command: Command, uids: string[], json: boolean): Promise<void> {
  const { store, discovery } = await buildServices(command, 'warn');
  let failures = 0;
  try {
    // Every UID is tried; one that fails is reported and the others go on.
    for (const uid of uids) {
      try {
        const result = await discovery.announce(uid, 'manual');
        print(json, result, `${uid}: ${result.outcome}${result.jobId ? ` (job ${result.jobId})` : ''}`);
      } catch (error) {
        if (!(error instanceof MammocadError)) throw error;
        failures++;
        print(json, { studyUid: uid, outcome: 'failed', code: error.code, error: error.message }, `${uid}: failed`);
        process.stderr.write(`mammocad: ${error.code}: ${error.message}\n`);
      }
    }
  } finally {
    await store.close();
  }
  if (failures > 0) throw new CommanderError(EXIT.failed, 'mammocad.discover', `${failures} of ${uids.length} studies could not be announced`);
}

async function pollCommand(command: Command, json: boolean): Promise<void> {
  const { store, poller } = await buildServices(command, 'warn');
  try {
    const summary = await poller.pollOnce();
    print(
      json,
      summary,
      `StudyDate ${summary.window.from}-${summary.window.to}: ${summary.seen} studies, ${summary.new} new, ${summary.changed} changed, ${summary.unchanged} unchanged, ${summary.settling} settling (queued by the next poll if unchanged), ${summary.failed} failed`,
    );
  } finally {
    await store.close();
  }
}
