// A training run resumes only with the configuration it was started with; what changes no
// trained weight may change in between: the package's intended use and version name, and
// packageModel from 'fold-1' to 'final' (the run is extended by a unit on all women).

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

  it('says whether the configuration changed: a package written before is then out of date', async () => {
    const store = new RunStore(mkdtempSync(path.join(tmpdir(), 'run-state-')));
    await store.open(state(base));
    expect((await store.open(state(base))).changed).toBe(false);
    const renamed = { ...base, version: 'v2' };
    const { state: resumed, changed } = await store.open({ ...state(renamed), version: 'v2' });
    expect(changed).toBe(true);
    expect(resumed.version).toBe('v2');
  });

  it("extends a fold-1 run to a final unit on all women, never the other way", async () => {
    const fold1 = { ...base, foldsToRun: 1, packageModel: 'fold-1' };
    const store = new RunStore(mkdtempSync(path.join(tmpdir(), 'run-state-')));
    await store.open(state(fold1));
    // packageModel left out is 'final'.
    const { changed } = await store.open(state({ ...fold1, packageModel: undefined }));
    expect(changed).toBe(true);
    await expect(store.open(state(fold1))).rejects.toThrow(/packageModel 'final': it cannot become fold 1's model/);
    // Another training change alongside the extension is still refused.
    const other = new RunStore(mkdtempSync(path.join(tmpdir(), 'run-state-')));
    await other.open(state(fold1));
    await expect(other.open(state({ ...fold1, packageModel: 'final', seed: 2 }))).rejects.toThrow(/another configuration/);
  });
});
