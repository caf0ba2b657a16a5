// The `mammocad` command as users and scripts meet it: help, configuration errors, JSON output,
// and the service's health endpoints.

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, startCli } from '../support/cli.js';

const dataDir = () => mkdtempSync(path.join(tmpdir(), 'mammocad-cli-'));

describe('mammocad --help', () => {
  it('lists the commands', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['migrate', 'config', 'serve', 'discover', 'poll']) expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  });

  it.each([['migrate'], ['config', 'check'], ['serve'], ['config'], ['discover'], ['poll']])('works on `%s`', async (...args) => {
    const result = await runCli([...args, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: mammocad ${args.join(' ')}`);
  });

  it('runs as the docs write it, `npm run -s mammocad -- ARGS` (`npx mammocad` reinstalls the package, which strict npm setups refuse)', async () => {
    const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'mammocad', '--', 'train', '--help'], { cwd: ROOT });
    expect(stdout).toContain('Usage: mammocad train');
  });

  it('rejects an unknown command with a usage error', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });
});

describe('mammocad config check', () => {
  it('exits non-zero with one line naming the malformed key', async () => {
    const result = await runCli(['config', 'check'], { MAMMOCAD_PORT: 'eighty' });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('server.port ($MAMMOCAD_PORT): must be an integer between 0 and 65535; got "eighty"');
  });

  it('prints the effective configuration as JSON, secrets hidden', async () => {
    const dir = dataDir();
    const result = await runCli(['config', 'check', '--json'], { MAMMOCAD_DATA_DIR: dir, MAMMOCAD_PACS_PASSWORD: 's3cret-pacs' });
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as { valid: boolean; config: { database: { url: string }; pacs: { password: string } } };
    expect(out.valid).toBe(true);
    expect(out.config.database.url).toBe(`file:${dir}/mammocad.db`);
    expect(out.config.pacs.password).toBe('***');
    expect(result.stdout).not.toContain('s3cret-pacs');
  });
});

describe('mammocad migrate', () => {
  it('creates the embedded SQLite database and reports what it applied as JSON', async () => {
    const dir = dataDir();
    const first = await runCli(['migrate', '--json'], { MAMMOCAD_DATA_DIR: dir });
    expect(first.code, first.stderr).toBe(0);
    const result = JSON.parse(first.stdout) as { provider: string; applied: string[]; available: string[] };
    expect(result.provider).toBe('sqlite');
    expect(result.applied).toEqual(result.available);
    const second = await runCli(['migrate'], { MAMMOCAD_DATA_DIR: dir });
    expect(second.stdout).toMatch(/sqlite database is up to date/);
  });

  it('names an unreachable database and exits 1', async () => {
    const result = await runCli(['migrate'], { MAMMOCAD_DATABASE_URL: 'postgresql://u:p@127.0.0.1:1/x' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("DATABASE_ERROR: database migration failed (postgresql): Can't reach database server");
    expect(result.stderr).not.toContain('u:p@'); // credentials stay out of messages
  });
});

describe('mammocad serve', () => {
  it('serves /healthz and /readyz, and stops cleanly on SIGTERM', async () => {
    const child = startCli(['serve', '--port', '0'], { MAMMOCAD_DATA_DIR: dataDir(), MAMMOCAD_LOG_LEVEL: 'info' });
    let logs = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        logs += d.toString();
        const match = /"port":(\d+),[^\n]*"msg":"mammocad is serving"/.exec(logs);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${logs}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok' } });
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^mammocad_queue_depth 0$/m);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(logs).toContain('"msg":"stopped"');
  });

  it('refuses a malformed --port', async () => {
    const result = await runCli(['serve', '--port', 'x1'], { MAMMOCAD_DATA_DIR: dataDir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--port');
  });
});
