// The state of a training run on disk (<run dir>/state.json), rewritten after every epoch, so a
// run started again with the same run id goes on from its last finished epoch. Weights live in
// checkpoint files named by a sequence number; state.json (written last, atomically) names the
// current ones, so a crash between the two writes leaves the previous, consistent pair in force.

import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ConflictError, type JsonValue } from '../../domain/index.js';
import type { DatasetSkip } from '../datasets/dataset.js';
import { writeFileAtomic } from './weights-file.js';

export const RUN_STATE_FILE = 'state.json';
export const EPOCH_LOG_FILE = 'epochs.jsonl';

/** One finished epoch, as the report and the API show it. */
export interface EpochRecord {
  /** 'fold-1' ... 'fold-k', or 'final' (all training women). */
  unit: string;
  stage: 'stage1' | 'stage2';
  phase: string;
  /** 1-based. */
  epoch: number;
  epochs: number;
  /** Mean training loss over the epoch's batches (training mode). */
  loss: number;
  /** Stage 2: AUC of the fold's validation images (monitoring only; no checkpoint is chosen by it). */
  valAuc: number | null;
  /** Stage 1: accuracy on the validation women's patches. */
  valAccuracy: number | null;
  seconds: number;
  at: string;
}

export interface OutOfFoldScore {
  imageId: string;
  womanId: string;
  laterality: 'L' | 'R';
  label: 0 | 1;
  score: number;
  fold: number;
}

export interface CheckpointRef {
  unit: string;
  /** Which model the weights belong to. */
  model: 'patch' | 'top' | 'whole';
  /** The step being trained and how many of its epochs are done. */
  step: string;
  epochsDone: number;
  weights: string;
  optimizer: string;
}

export interface RunState {
  format: 'mammocad-training-run/1';
  runId: string;
  /** The configuration as started (canonical JSON): a restart with another one is refused. */
  config: string;
  version: string;
  startedAt: string;
  seeds: Record<string, number>;
  /** Steps finished, as "<unit>/<step>". */
  done: string[];
  checkpoint: CheckpointRef | null;
  sequence: number;
  oof: OutOfFoldScore[];
  log: EpochRecord[];
  /** Seconds per "<unit>/<step>". */
  timings: Record<string, number>;
  skipped: DatasetSkip[];
  notes: Record<string, JsonValue>;
  /** Times this run was started (1 = never resumed). */
  starts: number;
}

export class RunStore {
  constructor(readonly dir: string) {}

  file(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  async load(): Promise<RunState | null> {
    const file = this.file(RUN_STATE_FILE);
    if (!existsSync(file)) return null;
    return JSON.parse(await readFile(file, 'utf8')) as RunState;
  }

  /** The saved state when its configuration matches, a fresh one otherwise (refusing a changed configuration). */
  async open(fresh: RunState): Promise<{ state: RunState; resumed: boolean }> {
    await mkdir(this.dir, { recursive: true });
    const saved = await this.load();
    if (!saved) {
      await this.save(fresh);
      return { state: fresh, resumed: false };
    }
    if (saved.config !== fresh.config) {
      if (trainingPart(saved.config) !== trainingPart(fresh.config)) {
        throw new ConflictError(`training run ${fresh.runId} in ${this.dir} was started with another configuration; start a new run (another run id) or restore the configuration`);
      }
      // Only what the package declares about its use changed (model.intendedUse): it does not
      // touch a single weight, so the run goes on and its package will declare the new one.
      saved.config = fresh.config;
    }
    saved.starts += 1;
    await this.save(saved);
    return { state: saved, resumed: true };
  }

  async save(state: RunState): Promise<void> {
    await writeFileAtomic(this.file(EPOCH_LOG_FILE), state.log.map((r) => JSON.stringify(r)).join('\n') + (state.log.length ? '\n' : ''));
    await writeFileAtomic(this.file(RUN_STATE_FILE), `${JSON.stringify(state, null, 1)}\n`);
  }

  /** Removes checkpoint files that state.json no longer names. */
  async prune(state: RunState, previous: CheckpointRef | null): Promise<void> {
    if (!previous) return;
    for (const name of [previous.weights, previous.optimizer]) {
      if (name && name !== state.checkpoint?.weights && name !== state.checkpoint?.optimizer) await rm(this.file('checkpoint', name), { force: true });
    }
  }
}

/** A run's canonical configuration without model.intendedUse (what a package declares, not how it is trained). */
function trainingPart(config: string): string {
  const parsed = JSON.parse(config) as { model?: Record<string, unknown> };
  if (parsed.model) delete parsed.model.intendedUse;
  return JSON.stringify(parsed);
}
