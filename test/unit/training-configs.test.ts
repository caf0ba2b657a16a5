// Every training configuration the repository ships (the default model's, the earlier default's, the
// ablation rows of docs/training.md) is one `mammocad train --config` accepts: a run that spans
// sessions must not find out at its next resume that its file no longer parses.

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTrainingConfig } from '../../src/training/trainer/config.js';

const MODELS = fileURLToPath(new URL('../../models/', import.meta.url));
const files = [
  path.join(MODELS, 'default-training.yaml'),
  ...['ablations', 'candidates'].flatMap((dir) => readdirSync(path.join(MODELS, dir)).filter((f) => f.endsWith('.yaml')).map((f) => path.join(MODELS, dir, f))),
];

describe('the training configurations in models/', () => {
  it('finds them', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it.each(files.map((f) => [path.relative(MODELS, f), f]))('%s parses', async (_name, file) => {
    const config = await loadTrainingConfig(file);
    expect(config.version).toBeTruthy();
  });

  it("the default is the earlier default's configuration plus whole-network fine-tuning, shipping fold 1's model", async () => {
    const shipped = await loadTrainingConfig(path.join(MODELS, 'default-training.yaml'));
    const earlier = await loadTrainingConfig(path.join(MODELS, 'ablations', 'default-rsna-2.yaml'));
    expect([shipped.version, earlier.version]).toEqual(['default-rsna-3', 'default-rsna-2']);
    expect(shipped.stage2.phase2).toMatchObject({ enabled: true, epochs: 3 });
    expect(earlier.stage2.phase2?.enabled ?? false).toBe(false);
    // One unit instead of five (docs/training.md): fold 1's model is the package.
    expect(shipped).toMatchObject({ foldsToRun: 1, packageModel: 'fold-1' });
    expect(earlier.packageModel).toBeUndefined(); // absent: the final unit on all women
    const { version: _a, foldsToRun: _f, packageModel: _m, stage2: { phase2: _p, ...stage2Shipped }, ...restShipped } = shipped;
    const { version: _b, packageModel: _n, stage2: { phase2: _q, ...stage2Earlier }, ...restEarlier } = earlier;
    expect(restShipped).toEqual(restEarlier);
    expect(stage2Shipped).toEqual(stage2Earlier);
  });

  it('the candidate default-rsna-4 differs from the default only where a run may be extended (its version, packageModel final)', async () => {
    const shipped = await loadTrainingConfig(path.join(MODELS, 'default-training.yaml'));
    const candidate = await loadTrainingConfig(path.join(MODELS, 'candidates', 'default-rsna-4.yaml'));
    expect([shipped.packageModel, candidate.packageModel, candidate.version]).toEqual(['fold-1', 'final', 'default-rsna-4']);
    const { version: _a, packageModel: _b, ...restShipped } = shipped;
    const { version: _c, packageModel: _d, ...restCandidate } = candidate;
    expect(restCandidate).toEqual(restShipped);
  });
});
