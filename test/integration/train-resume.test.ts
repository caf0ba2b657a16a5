// Kill and resume: a training run killed (SIGKILL) after some epochs and started again with the
// same run id goes on from its last checkpoint: the finished epochs are not trained again, and
// it ends with a valid package.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackage } from '../../src/ml/registry/index.js';
import { EPOCH_LOG_FILE, RUN_STATE_FILE, type EpochRecord, type RunState } from '../../src/training/trainer/index.js';
import { ROOT } from '../support/cli.js';
import { needsSharedData } from '../support/shared-data.js';
import { tinyConfigInput, tinyMiasDir } from '../support/tiny-training.js';

const CHILD = path.join(ROOT, 'test', 'support', 'train-child.ts');

function start(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

const readLog = (runDir: string): EpochRecord[] =>
  existsSync(path.join(runDir, EPOCH_LOG_FILE))
    ? readFileSync(path.join(runDir, EPOCH_LOG_FILE), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as EpochRecord)
    : [];

describe('a training run killed and started again', needsSharedData('mias'), () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'mammocad-resume-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('resumes from its last checkpoint without redoing finished epochs', async () => {
    const miasDir = await tinyMiasDir(root);
    const configFile = path.join(root, 'config.json');
    await writeFile(configFile, JSON.stringify(tinyConfigInput(miasDir, { version: 'tiny-resumed' })));
    const runDir = path.join(root, 'run');

    // First start: slowed down, killed once a few epochs are checkpointed.
    const first = start([configFile, 'run-1', runDir, '300']);
    for (let i = 0; i < 1200 && readLog(runDir).length < 5; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const before = readLog(runDir);
    expect(before.length).toBeGreaterThanOrEqual(5);
    // units (2 folds + the final model) x (stage-1 epochs + stage-2 phase-1 epochs)
    const config = tinyConfigInput('unused');
    const phases = Object.values(config.stage1!.phases!).reduce((sum, phase) => sum + (phase?.epochs ?? 0), 0);
    const total = 3 * (phases + config.stage2!.phase1!.epochs!);
    expect(before.length).toBeLessThan(total);

    // Second start, same run id: finishes.
    const second = await start([configFile, 'run-1', runDir]).done;
    expect(second.code, second.stderr.slice(-2000)).toBe(0);
    const result = JSON.parse(second.stdout.trim().split('\n').at(-1)!) as { version: string; packageDir: string; resumed: boolean; starts: number };
    expect(result).toMatchObject({ version: 'tiny-resumed', resumed: true, starts: 2 });

    const after = readLog(runDir);
    // Every epoch once: no epoch was trained twice, none is missing.
    const keys = after.map((r) => `${r.unit}/${r.stage}/${r.phase}/${r.epoch}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(after).toHaveLength(total);
    // The epochs finished before the kill are kept as they were (same times): not redone.
    expect(after.slice(0, before.length)).toEqual(before);
    const state = JSON.parse(readFileSync(path.join(runDir, RUN_STATE_FILE), 'utf8')) as RunState;
    expect(state.starts).toBe(2);
    expect(state.seeds.run).toBe(7);

    const pkg = await readPackage(result.packageDir);
    expect(pkg.version).toBe('tiny-resumed');
    expect(pkg.manifest.provenance.source).toBe('trained');
  }, 120_000);
});
