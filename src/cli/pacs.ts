// The `mammocad pacs` command group: `pacs check` runs the PACS check (src/pipeline/pacs-check.ts)
// with the configured settings and prints each step, or one JSON object with --json. Exit code
// 0 when every step that ran is ok, 1 otherwise (2, as everywhere, for bad configuration).

import { CommanderError, type Command } from 'commander';
import { createLogger, type Config } from '../config/index.js';
import { ConfigError } from '../domain/index.js';
import { WEBHOOK_PATH } from '../graphql/http-server.js';
import { checkPacs, type PacsCheckResult, type StepResult } from '../pipeline/pacs-check.js';
import { EXIT, VERSION, configFrom } from './context.js';
import { print } from './output.js';

interface PacsCheckOptions {
  json?: boolean;
  webhookUrl?: string;
}

export function registerPacsCommands(program: Command): Command {
  const pacs = program.command('pacs').description('the PACS connection');
  pacs
    .command('check')
    .description(
      'check the configured PACS step by step: QIDO-RS, WADO-RS (metadata and a frame of a real instance), STOW-RS of a test SR ' +
        '(kept? then deleted where the PACS allows), and the webhook endpoint when webhook.secret is set',
    )
    .option('--webhook-url <url>', `the service's webhook as the PACS calls it (default: http://<server.host>:<server.port>${WEBHOOK_PATH})`)
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: PacsCheckOptions, cmd: Command) => pacsCheckCommand(cmd, opts));
  pacs.exitOverride();
  for (const command of pacs.commands) command.exitOverride();
  return pacs;
}

async function pacsCheckCommand(command: Command, opts: PacsCheckOptions): Promise<void> {
  const { config, sources } = configFrom(command);
  const secret = config.webhook.secret;
  const result = await checkPacs({
    pacs: config.pacs,
    webhook: secret ? { url: opts.webhookUrl ? parseUrl(opts.webhookUrl) : defaultWebhookUrl(config), secret } : undefined,
    softwareVersion: VERSION,
    // The steps are the command's output; unless log.level is set, only failed ones reach the log too.
    logger: createLogger(sources['log.level'] ? config.log.level : 'warn'),
  });
  print(Boolean(opts.json), result, formatPacsCheck(result));
  if (!result.ok) throw new CommanderError(EXIT.failed, 'mammocad.pacs.check', 'the PACS check failed');
}

function parseUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.toString();
  } catch {
    // reported below
  }
  throw new ConfigError('--webhook-url', `must be an http:// or https:// URL; got '${raw}'`);
}

/** Where this configuration's service listens; a wildcard address is reached on loopback. */
function defaultWebhookUrl(config: Config): string {
  const host = config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host === '::' ? '::1' : config.server.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.server.port}${WEBHOOK_PATH}`;
}

const MARK: Record<StepResult['status'], string> = { ok: 'ok     ', failed: 'FAILED ', skipped: 'skipped' };

export function formatPacsCheck(result: PacsCheckResult): string {
  const lines = [`PACS check of ${result.pacsUrl}`];
  for (const step of result.steps) {
    lines.push(`  ${MARK[step.status]}  ${step.title}${step.status === 'skipped' ? '' : ` (${step.durationMs} ms)`}`);
    lines.push(`           ${step.status === 'failed' ? step.cause : step.detail}`);
  }
  const failed = result.steps.filter((s) => s.status === 'failed').length;
  if (result.testStudy?.leftInPacs) lines.push(`left in the PACS: the test study ${result.testStudy.studyUid}; remove it`);
  lines.push(result.ok ? 'the PACS check passed' : `the PACS check failed: ${failed} step(s)`);
  return lines.join('\n');
}
