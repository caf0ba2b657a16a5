// A clone stands on its own (issue 17): what a site that clones the repository gets, with no
// ../shared beside it (the research-only data sets live there, and a site has none of them).
// The committed HEAD of this checkout is cloned into an empty temporary folder, its
// dependencies installed the way the README says (npm ci, here from the npm cache the CI's own
// `npm ci` filled), and `npm run demo` run there without a terminal and without
// MAMMOCAD_SHARED_DATA_DIR: it must score its synthetic demo study and store the SR in Orthanc.
//
// Uncommitted changes are not in a clone: this tests what is committed.
//
// Why npm ci and not a link to this checkout's node_modules: a link would hide a clone's real
// failure modes (the Prisma clients in src/store/generated are gitignored and made by
// postinstall; a package missing from the lock file), and demo.sh runs `npm ci` itself when
// package-lock.json is newer than node_modules (a fresh clone's always is), which through a
// link would reinstall this checkout's node_modules. From the cache it took 2.5-3.5 min on the
// 2-core development machine while two training runs were going, and the demo about 1 min.

import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, cliEnv } from '../support/cli.js';

const run = promisify(execFile);

/** Runs a command to its end, stdin closed (no terminal), and gives its output whatever its exit status. */
function runToEnd(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const tail = (text: string) => text.slice(-4000);

describe('a fresh clone without ../shared', async () => {
  const head = await run('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).then(({ stdout }) => stdout.trim(), () => null);
  if (!head && process.env.CI) throw new Error('the checkout is not a git repository (or git is missing): CI must test a clone of it');
  const parent = mkdtempSync(path.join(tmpdir(), 'mammocad-clone-'));
  const clone = path.join(parent, 'mammocad');
  // The clone's node_modules is over a gigabyte: removing it takes minutes on a busy disk.
  afterAll(() => rm(parent, { recursive: true, force: true }), 600_000);

  it.skipIf(!head)(
    'installs with npm ci and runs `npm run demo` to a scored synthetic study with its SR in the PACS',
    async () => {
      await run('git', ['clone', '--quiet', '--no-checkout', ROOT, clone]);
      await run('git', ['checkout', '--quiet', head!], { cwd: clone });
      // Nothing beside the clone: the default shared data folder (../shared/data) does not exist.
      expect(readdirSync(parent)).toEqual(['mammocad']);
      expect(existsSync(path.join(clone, 'node_modules'))).toBe(false);

      // No mammocad settings from this process (cliEnv drops MAMMOCAD_*, MAMMOCAD_SHARED_DATA_DIR included).
      const env = cliEnv({ CI: 'true' });
      const installStarted = Date.now();
      const install = await runToEnd('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], clone, env);
      expect(install.code, `npm ci in the clone failed:\n${tail(install.stderr)}`).toBe(0);
      const installSeconds = (Date.now() - installStarted) / 1000;
      // postinstall made the Prisma clients the store imports (gitignored, so not in the clone).
      expect(existsSync(path.join(clone, 'src', 'store', 'generated', 'sqlite'))).toBe(true);

      const demoStarted = Date.now();
      const demo = await runToEnd('npm', ['run', 'demo'], clone, env);
      const demoSeconds = (Date.now() - demoStarted) / 1000;
      expect(demo.code, `npm run demo in the clone failed:\n${tail(demo.stderr)}`).toBe(0);
      console.log(`clone of ${head!.slice(0, 12)}: npm ci ${installSeconds.toFixed(0)} s, npm run demo ${demoSeconds.toFixed(0)} s`);

      const last = JSON.parse(demo.stdout.trim().split('\n').at(-1)!) as {
        studyInstanceUid: string;
        examProbability: number;
        srSopInstanceUid: string;
        srInPacs: boolean;
        untrainedModel: boolean;
        demoSource: string;
        examFlags: string[];
      };
      expect(last.demoSource).toBe('synthetic');
      expect(last.studyInstanceUid).toMatch(/^2\.25\.\d+$/);
      expect(last.examProbability).toBeGreaterThanOrEqual(0);
      expect(last.examProbability).toBeLessThanOrEqual(1);
      expect(last.srSopInstanceUid).toMatch(/^[0-9]+(\.[0-9]+)+$/);
      expect(last.srInPacs).toBe(true);
      // The clone ships the trained default model; the synthetic study is within its intended use.
      expect(last.untrainedModel).toBe(false);
      expect(last.examFlags.filter((f) => f.startsWith("outside the model's intended use"))).toEqual([]);
      // It says what the study is.
      expect(demo.stderr).toContain('SYNTHETIC PHANTOM');
      expect(demo.stdout).toContain('not a patient');
      // The data stayed inside the clone (var/demo), and nothing appeared beside it.
      expect(existsSync(path.join(clone, 'var', 'demo', 'mammocad.db'))).toBe(true);
      expect(readdirSync(parent)).toEqual(['mammocad']);
    },
    1_500_000,
  );
});
