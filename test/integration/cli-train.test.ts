// `mammocad train` and `mammocad evaluate` as an operator runs them: a tiny two-stage training
// from a YAML file (the package registered, not active), then the evaluation of that version
// on a mini-MIAS folder, printed as the one JSON object scripts read.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../support/cli.js';
import { needsSharedData } from '../support/shared-data.js';
import { TINY_IMAGES, tinyConfigInput, tinyMiasDir } from '../support/tiny-training.js';

describe('mammocad train and evaluate', needsSharedData('mias'), () => {
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-cli-train-'));
  const env = { MAMMOCAD_DATA_DIR: path.join(work, 'data') };
  let miasDir: string;

  beforeAll(async () => {
    miasDir = await tinyMiasDir(work);
  });

  it('trains from a configuration file, registers the version inactive, and evaluates it', async () => {
    const configFile = path.join(work, 'tiny.yaml');
    writeFileSync(configFile, stringify(tinyConfigInput(miasDir, { version: 'cli-tiny-1' })));
    const trained = await runCli(['train', '--config', configFile, '--json'], env);
    expect(trained.code, trained.stderr).toBe(0);
    const result = JSON.parse(trained.stdout) as { version: string; metrics: Record<string, unknown> };
    expect(result.version).toBe('cli-tiny-1');
    expect(Object.keys(result.metrics).sort()).toEqual(['auc', 'auc_ci', 'n', 'positives', 'sensitivity_at_spec_0.8', 'sensitivity_at_spec_0.9', 'threshold']);

    const listed = (await runCli(['models', 'list', '--json'], env)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { version: string; registered: boolean; active: boolean });
    expect(listed.filter((m) => m.registered).map((m) => [m.version, m.active])).toEqual([['cli-tiny-1', false]]);

    // No active model and none named: a clear refusal.
    const none = await runCli(['evaluate', '--dataset', 'mias', '--dir', miasDir, '--json'], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no model version is active/);

    const evaluated = await runCli(['evaluate', '--model', 'cli-tiny-1', '--dataset', 'mias', '--dir', miasDir, '--json'], env);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const report = JSON.parse(evaluated.stdout) as Record<string, number | number[] | null>;
    expect(Object.keys(report).sort()).toEqual(['auc', 'auc_ci', 'n', 'positives', 'sensitivity_at_spec_0.8', 'sensitivity_at_spec_0.9', 'threshold']);
    expect(report.n).toBe(TINY_IMAGES.length);
    expect(report.positives).toBe(4); // mdb023, mdb058, mdb072, mdb090 (malignant in labels.txt)
    const [lower, upper] = report.auc_ci as number[];
    expect(lower).toBeLessThanOrEqual(report.auc as number);
    expect(upper).toBeGreaterThanOrEqual(report.auc as number);

    // A fresh install (no version registered) evaluates, as it scores, with the shipped default model.
    const fresh = { MAMMOCAD_DATA_DIR: path.join(work, 'fresh'), MAMMOCAD_DEFAULT_MODEL_DIR: (result as unknown as { packageDir: string }).packageDir };
    const byDefault = await runCli(['evaluate', '--dataset', 'mias', '--dir', miasDir, '--json'], fresh);
    expect(byDefault.code, byDefault.stderr).toBe(0);
    expect(JSON.parse(byDefault.stdout)).toEqual(report);
    const freshList = (await runCli(['models', 'list', '--json'], fresh)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { version: string; active: boolean });
    expect(freshList.map((m) => [m.version, m.active])).toEqual([['cli-tiny-1', true]]);
  }, 180_000);

  it('names a bad training configuration and the field', async () => {
    const bad = path.join(work, 'bad.yaml');
    writeFileSync(bad, stringify({ ...tinyConfigInput(miasDir), folds: 1 }));
    const result = await runCli(['train', '--config', bad, '--json'], env);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/training config folds/);
  });
});
