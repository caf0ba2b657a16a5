// A training run resumes only with the configuration it was started with; what the package
// declares about its intended use may change in between (it changes no weight).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunStore, type RunState } from '../../src/training/trainer/run-state.js';

function state(config: unknown): RunState {
  return {
    format: 'mammocad-training-run/1',
    runId: 'r1',
    config: JSON.stringify(config),
    version: 'v1',
    startedAt: '2026-12-03T00:00:00.000Z',
    seeds: { run: 1, folds: 1, patches: 1 },
    done: [],
    checkpoint: null,
    sequence: 0,
    oof: [],
    log: [],
    timings: {},
    skipped: [],
    notes: {},
    starts: 1,
  } as unknown as RunState;
}

const base = { seed: 1, model: { backbone: 'mobilenet', inputHeight: 512, intendedUse: { imaging: 'digital', notes: 'a' } } };

describe('training run state', () => {
  it('refuses a changed training configuration', async () => {
    const store = new RunStore(mkdtempSync(path.join(tmpdir(), 'run-state-')));
    await store.open(state(base));
    await expect(store.open(state({ ...base, model: { ...base.model, inputHeight: 640 } }))).rejects.toThrow(/another configuration/);
  });

  it('resumes when only the intended use changed, and keeps the new one', async () => {
    const store = new RunStore(mkdtempSync(path.join(tmpdir(), 'run-state-')));
    await store.open(state(base));
    const changed = { ...base, model: { ...base.model, intendedUse: { imaging: 'digital', notes: 'b', researchUseOnly: true } } };
    const { state: resumed, resumed: wasResumed } = await store.open(state(changed));
    expect(wasResumed).toBe(true);
    expect(resumed.starts).toBe(2);
    expect(JSON.parse(resumed.config)).toEqual(changed);
    expect(JSON.parse((await store.load())!.config)).toEqual(changed);
  });
});
