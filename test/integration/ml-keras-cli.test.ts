// `mammocad models import-keras` as an admin runs it: a Keras 2 file (written here in Keras's
// HDF5 layout) becomes a registered, inactive model version that verifies, activates and
// scores; files that cannot be imported fail with one line naming the problem and register
// nothing.

import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { mammogram, newStudyIds } from '../support/dicom-factory.js';
import { tinyResNet, writeKerasH5, type KerasModelFixture } from '../support/keras-h5.js';

const work = mkdtempSync(path.join(tmpdir(), 'mammocad-keras-cli-'));
const env = { MAMMOCAD_DATA_DIR: path.join(work, 'data') };
const modelDir = path.join(work, 'data', 'models');

/** Versions registered or in the model folder, from `models list --json`. */
async function listedVersions(): Promise<Array<{ version: string; registered: boolean; active: boolean }>> {
  const listed = await runCli(['models', 'list', '--json'], env);
  expect(listed.code, listed.stderr).toBe(0);
  return listed.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { version: string; registered: boolean; active: boolean });
}

// Each case runs the CLI as a process several times (3-4 s each to start on this 2-core machine,
// more beside other test files): a longer timeout than the suite's default.
describe('mammocad models import-keras', { timeout: 180_000 }, () => {
  let good: string;
  beforeAll(async () => {
    good = await writeKerasH5(path.join(work, 'ddsm_tiny_resnet.h5'), tinyResNet());
  });

  it('imports a Keras file as an inactive version that verifies, activates and scores', async () => {
    const imported = await runCli(['models', 'import-keras', good, '--model-version', 'tiny-keras-1', '--dataset-mean', 'inbreast', '--json'], env);
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({
      version: 'tiny-keras-1', path: path.join(modelDir, 'tiny-keras-1'), kerasVersion: '2.1.6', datasetMean: 44.33, threshold: 0.5,
      thresholdGiven: false, removedLayers: ['dropout_1'], active: false,
    });
    expect(await listedVersions()).toEqual([expect.objectContaining({ version: 'tiny-keras-1', registered: true, active: false })]);
    expect((await runCli(['models', 'verify', 'tiny-keras-1'], env)).stdout).toContain('tiny-keras-1: ok');
    const shown = JSON.parse((await runCli(['models', 'show', 'tiny-keras-1', '--json'], env)).stdout) as { manifest: { provenance: { source: string; notes: string } } };
    expect(shown.manifest.provenance).toMatchObject({ source: 'keras-import', notes: expect.stringContaining('ddsm_tiny_resnet.h5, saved by Keras 2.1.6') });

    expect((await runCli(['models', 'activate', 'tiny-keras-1'], env)).code).toBe(0);
    const ids = newStudyIds();
    const image = path.join(work, 'l.dcm');
    writeFileSync(image, mammogram(ids, { laterality: 'L', view: 'CC', size: 256 }).bytes);
    const scored = await runCli(['score', '--json', image], env);
    expect(scored.code, scored.stderr).toBe(0);
    const first = JSON.parse(scored.stdout.trim().split('\n')[0]!) as { status: string; probability: number };
    expect(first.status).toBe('scored');
    expect(first.probability).toBeGreaterThan(0);
    expect(first.probability).toBeLessThan(1);
  });

  it('says the default threshold is not calibrated', async () => {
    const imported = await runCli(['models', 'import-keras', good, '--model-version', 'tiny-keras-2'], env);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain('threshold 0.5 is a default, not calibrated for this site');
  });

  it('refuses files it cannot import, naming the problem, and registers nothing', async () => {
    const before = await listedVersions();
    const text = path.join(work, 'notes.h5');
    writeFileSync(text, 'not a model');
    const fixture = tinyResNet();
    const wrongShape: KerasModelFixture = {
      ...fixture,
      weights: { ...fixture.weights, bn_conv1: fixture.weights.bn_conv1!.map((w, i) => (i === 0 ? { ...w, shape: [5], values: new Float32Array(5) } : w)) },
    };
    const lstmConfig = {
      class_name: 'Model',
      config: {
        name: 'recurrent',
        layers: [
          { name: 'input_1', class_name: 'InputLayer', config: { batch_input_shape: [null, 4, 4, 3], dtype: 'float32', sparse: false, name: 'input_1' }, inbound_nodes: [] },
          { name: 'lstm_1', class_name: 'LSTM', config: { name: 'lstm_1', units: 4 }, inbound_nodes: [[['input_1', 0, 0, {}]]] },
        ],
        input_layers: [['input_1', 0, 0]],
        output_layers: [['lstm_1', 0, 0]],
      },
    };
    const cases: Array<[string, RegExp]> = [
      [text, /KERAS_IMPORT_FAILED: .*notes\.h5: not an HDF5 file/],
      [await writeKerasH5(path.join(work, 'weights.h5'), fixture, { layout: 'weights-only' }), /weights\.h5: holds weights only/],
      [await writeKerasH5(path.join(work, 'shape.h5'), wrongShape), /layer bn_conv1: weight gamma has shape \[5\] in the file, but the topology needs \[4\]/],
      [await writeKerasH5(path.join(work, 'lstm.h5'), fixture, { config: lstmConfig }), /unsupported layers: lstm_1 \(LSTM\)/],
    ];
    for (const [file, message] of cases) {
      const result = await runCli(['models', 'import-keras', file, '--model-version', 'must-not-exist'], env);
      expect(result.code, file).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe('');
    }
    expect(await listedVersions()).toEqual(before);
    // No staging folder is left behind either.
    expect(readdirSync(modelDir).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('refuses a bad --dataset-mean or --threshold as bad usage', async () => {
    const mean = await runCli(['models', 'import-keras', good, '--dataset-mean', 'mias'], env);
    expect(mean.code).toBe(2);
    expect(mean.stderr).toContain("--dataset-mean: must be ddsm, inbreast or a number between 0 and 255; got 'mias'");
    const threshold = await runCli(['models', 'import-keras', good, '--threshold', '1.5'], env);
    expect(threshold.code).toBe(2);
    expect(threshold.stderr).toContain("--threshold: must be a number between 0 and 1; got '1.5'");
  });
});
