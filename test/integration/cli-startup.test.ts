// What the command line loads before it runs a command: every `mammocad` start (a worker
// restarted after a crash, `models list`, `--version`) pays for it. tfjs (~1 s to load here) is
// for training, evaluation and model conversion only; the modules every command imports must
// not pull it in (it came in once through the model registry's heat-map re-export).

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Imports `modules` in a fresh Node process (through tsx, as bin/mammocad.mjs does) and says whether tfjs was loaded. */
function loadsTfjs(modules: string[]): boolean {
  const script = `for (const m of ${JSON.stringify(modules)}) await import(m); console.log(JSON.stringify(typeof globalThis._tfengine !== 'undefined'));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').at(-1)!) as boolean;
}

describe('command-line start-up', () => {
  it('the CLI and the services every command builds load without tfjs; training does load it', () => {
    expect(loadsTfjs(['./src/main.ts', './src/cli/context.ts', './src/ml/registry/index.ts'])).toBe(false);
    // The check itself sees tfjs when it is loaded.
    expect(loadsTfjs(['./src/ml/keras/tfjs-files.ts'])).toBe(true);
  }, 60_000);
});
