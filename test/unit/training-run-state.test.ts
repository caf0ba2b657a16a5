// A training run resumes only with the configuration it was started with; what changes no
// trained weight may change in between: the package's intended use and version name, and
// packageModel from 'fold-1' to 'final' (the run is extended by a unit on all women).

import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
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

  it('says whether the configuration changed, and removes a package written before the change', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'run-state-'));
    const store = new RunStore(dir);
    await store.open(state(base));
    mkdirSync(path.join(dir, 'package'));
    writeFileSync(path.join(dir, 'package', 'manifest.json'), '{}');
    expect((await store.open(state(base))).changed).toBe(false);
    expect(existsSync(path.join(dir, 'package', 'manifest.json'))).toBe(true);
    const { state: resumed, changed } = await store.open(state({ ...base, version: 'v2' }));
    expect(changed).toBe(true);
    expect(resumed.version).toBe('v2');
    expect(existsSync(path.join(dir, 'package'))).toBe(false);
    // A configuration without a version keeps the name the run was given when it started.
    const unnamed = new RunStore(mkdtempSync(path.join(tmpdir(), 'run-state-')));
    await unnamed.open(state(base));
    const relabelled = { ...base, model: { ...base.model, intendedUse: { imaging: 'digital', notes: 'c' } } };
    expect((await unnamed.open({ ...state(relabelled), version: 'auto-name-of-another-day' })).state.version).toBe('v1');
  });

  it('extends a fold-1 run to a final unit on all women under another name, never the other way', async () => {
    const fold1 = { ...base, version: 'v1', foldsToRun: 1, packageModel: 'fold-1' };
    const store = new RunStore(mkdtempSync(path.join(tmpdir(), 'run-state-')));
    await store.open(state(fold1));
    // The final unit's model is another model: it needs another name.
    await expect(store.open(state({ ...fold1, packageModel: 'final' }))).rejects.toThrow(/give that model another version name than v1/);
    await expect(store.open(state({ ...fold1, packageModel: 'final', version: undefined }))).rejects.toThrow(/another version name/);
    // packageModel left out is 'final'.
    const { changed, state: extended } = await store.open(state({ ...fold1, packageModel: undefined, version: 'v1-all' }));
    expect(changed).toBe(true);
    expect(extended.version).toBe('v1-all');
    await expect(store.open(state({ ...fold1, version: 'v1-again' }))).rejects.toThrow(/packageModel 'final': it cannot become fold 1's model/);
    // Another training change alongside the extension is still refused.
    const other = new RunStore(mkdtempSync(path.join(tmpdir(), 'run-state-')));
    await other.open(state(fold1));
    await expect(other.open(state({ ...fold1, packageModel: 'final', version: 'v2', seed: 2 }))).rejects.toThrow(/another configuration/);
  });
});
