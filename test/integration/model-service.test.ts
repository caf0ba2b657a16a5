// Model versions end to end on a real database and real packages: import registers, activation
// checks the package again, a tampered package is never activated; scoring files with the
// active model gives image, breast and exam results.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/index.js';
import { DEFAULT_SELECTION_POLICY } from '../../src/dicom/view-selection.js';
import { createModelRuntime } from '../../src/ml/runtime/index.js';
import { ModelService } from '../../src/pipeline/model-service.js';
import { scoreFiles } from '../../src/pipeline/score-files.js';
import { openStore, type Store } from '../../src/store/index.js';
import { doseReport, mammogram, newStudyIds } from '../support/dicom-factory.js';
import { writeTestPackage } from '../support/onnx-fixtures.js';
import { PROVIDERS, createTestDatabase, type TestDatabase } from '../support/databases.js';

describe.each(PROVIDERS)('model versions on %s', (provider) => {
  let database: TestDatabase;
  let store: Store;
  let service: ModelService;
  const work = mkdtempSync(path.join(tmpdir(), 'mammocad-models-'));
  const modelDir = path.join(work, 'models');

  beforeAll(async () => {
    database = await createTestDatabase(provider);
    store = await openStore({ databaseUrl: database.url });
    service = new ModelService({ store, modelDir, logger: createLogger('silent') });
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it('imports a package (registered, inactive), activates it, and audits both', async () => {
    const source = await writeTestPackage(path.join(work, 'incoming'), { version: 'tiny-1' });
    const pkg = await service.import(source, 'admin:test');
    expect(pkg.path).toBe(path.join(modelDir, 'tiny-1'));
    expect((await service.list()).find((m) => m.version === 'tiny-1')).toMatchObject({ registered: true, active: false, architecture: 'test-conv4' });
    expect(await service.activePackage()).toBeNull();

    await service.activate('tiny-1', 'admin:test');
    expect((await service.activePackage())!.packageHash).toBe(pkg.packageHash);
    const actions = (await store.audit.list({ actor: 'admin:test' })).map((e) => e.action);
    expect(actions).toEqual(['model.activate', 'model.import']);
  });

  it('activates the shipped default model on a fresh install only', async () => {
    const fresh = await createTestDatabase(provider);
    const freshStore = await openStore({ databaseUrl: fresh.url });
    try {
      const freshService = new ModelService({ store: freshStore, modelDir: path.join(work, 'fresh-models'), logger: createLogger('silent') });
      expect(await freshService.ensureDefaultModel(path.join(work, 'no-such-default'))).toBeNull();
      expect(await freshStore.modelVersions.list()).toEqual([]);
      const shipped = await writeTestPackage(path.join(work, 'shipped'), { version: 'default-1' });
      expect(await freshService.ensureDefaultModel(shipped)).toMatchObject({ version: 'default-1', active: true, activatedBy: 'system:default-model' });
      // Once a site has versions, nothing changes: not even a newer shipped default is taken.
      const newer = await writeTestPackage(path.join(work, 'shipped-2'), { version: 'default-2' });
      expect(await freshService.ensureDefaultModel(newer)).toBeNull();
      expect((await freshStore.modelVersions.list()).map((v) => [v.version, v.active])).toEqual([['default-1', true]]);
    } finally {
      await freshStore.close();
      await fresh.drop();
    }
  });

  it("warns on activation when the version's validation does not show it beats chance (scores reach the PACS regardless)", async () => {
    const lines: Array<{ level: number; msg: string; version?: string; aucCi?: number[] }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const watched = new ModelService({ store, modelDir, logger });
    const versions = {
      'at-chance': { auc: 0.5, auc_ci: [0.39, 0.6] },
      validated: { auc: 0.82, auc_ci: [0.71, 0.91] },
      // An admin's later evaluation outranks the training report.
      'evaluated-lower': { auc: 0.8, auc_ci: [0.7, 0.9], evaluations: [{ auc: 0.55, auc_ci: [0.45, 0.65] }] },
    };
    for (const [version, metrics] of Object.entries(versions)) {
      await watched.import(await writeTestPackage(path.join(work, 'evidence'), { version, manifest: { metrics } }), 'admin:test');
    }
    const warned = async (version: string) => {
      lines.length = 0;
      await watched.activate(version, 'admin:test');
      return lines.filter((l) => l.level === 40 && l.version === version);
    };
    expect(await warned('at-chance')).toEqual([expect.objectContaining({ msg: expect.stringMatching(/not above chance/), aucCi: [0.39, 0.6] })]);
    expect(await warned('validated')).toEqual([]);
    expect(await warned('evaluated-lower')).toEqual([expect.objectContaining({ aucCi: [0.45, 0.65] })]);
    await service.activate('tiny-1', 'admin:test'); // as the tests below expect
  });

  it('refuses to import the same version twice, and to activate an unknown one', async () => {
    const again = await writeTestPackage(path.join(work, 'incoming-2'), { version: 'tiny-1' });
    await expect(service.import(again, 'admin:test')).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(service.activate('nope', 'admin:test')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('never activates a package whose files changed on disk', async () => {
    const source = await writeTestPackage(path.join(work, 'incoming-3'), { version: 'tiny-2', seed: 2 });
    const pkg = await service.import(source, 'admin:test');
    const onnx = path.join(pkg.path, 'model.onnx');
    const bytes = readFileSync(onnx);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(onnx, bytes);
    await expect(service.activate('tiny-2', 'admin:test')).rejects.toMatchObject({ code: 'MODEL_PACKAGE_INVALID', message: expect.stringContaining('model.onnx') });
    expect((await service.activePackage())!.version).toBe('tiny-1');
    expect((await service.verify('tiny-2')).ok).toBe(false);
  });

  it('scores files with the active model: images, breasts and exam; skips and failures named', async () => {
    const pkg = (await service.activePackage())!;
    const runtime = await createModelRuntime([pkg]);
    try {
      const ids = newStudyIds();
      const write = (name: string, bytes: Uint8Array) => {
        const file = path.join(work, name);
        writeFileSync(file, bytes);
        return file;
      };
      const files = [
        write('l-cc.dcm', mammogram(ids, { laterality: 'L', view: 'CC', size: 256 }).bytes),
        write('r-mlo.dcm', mammogram(ids, { laterality: 'R', view: 'MLO', size: 256 }).bytes),
        write('dose.dcm', doseReport(ids).bytes),
        write('junk.dcm', new TextEncoder().encode('junk')),
      ];
      const result = await scoreFiles(files, runtime, DEFAULT_SELECTION_POLICY);
      expect(result.images.map((i) => i.status)).toEqual(['scored', 'scored', 'skipped', 'failed']);
      const [left, right] = result.images;
      for (const p of [left!.probability!, right!.probability!]) {
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThanOrEqual(1);
      }
      expect(result.aggregate!.breasts.map((b) => [b.laterality, b.probability])).toEqual([
        ['L', left!.probability],
        ['R', right!.probability],
      ]);
      expect(result.aggregate!.exam.probability).toBe(Math.max(left!.probability!, right!.probability!));
      expect(result.images[3]!.reason).toMatch(/^DICOM_PARSE_FAILED: .*junk\.dcm/);
      expect(result).toMatchObject({ threshold: 0.5, models: ['tiny-1'] });
    } finally {
      await runtime.dispose();
    }
  });
});
