// Model packages on disk: writing, reading, verifying, importing and listing them, and the
// refusal of packages that are missing, corrupt, tampered with or do not fit their manifest,
// each with one error naming the package, the file and the problem.

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, ModelPackageError } from '../../src/domain/errors.js';
import { importPackage, listPackages, readPackage, verifyPackage, writePackage } from '../../src/ml/registry/index.js';
import { preprocessingHash } from '../../src/ml/preprocess/index.js';
import { buildClassifierOnnx, testPreprocessing, writeTestPackage } from '../support/onnx-fixtures.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mammocad-registry-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

async function editManifest(dir: string, edit: (manifest: Record<string, unknown>) => void): Promise<void> {
  const file = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  edit(manifest);
  await writeFile(file, JSON.stringify(manifest));
}

describe('writePackage and readPackage', () => {
  it('writes the files and a manifest with their sizes and digests, and reads the package back', async () => {
    const tfjs = new TextEncoder().encode('{"format":"layers-model"}');
    const dir = await writeTestPackage(work, { extraFiles: { 'tfjs/model.json': tfjs } });
    const onnxBytes = await readFile(path.join(dir, 'model.onnx'));
    const manifestBytes = await readFile(path.join(dir, 'manifest.json'));

    const pkg = await readPackage(dir);
    expect(pkg.path).toBe(dir);
    expect(pkg.version).toBe('test-model-1');
    expect(pkg.architecture).toBe('test-conv4');
    expect(pkg.threshold).toBe(0.5);
    expect(pkg.metrics).toBeNull();
    expect(pkg.packageHash).toBe(sha256(manifestBytes));
    expect(pkg.preprocessingHash).toBe(preprocessingHash(testPreprocessing()));
    expect(pkg.manifest.files).toEqual([
      { path: 'model.onnx', sha256: sha256(onnxBytes), bytes: onnxBytes.length },
      { path: 'tfjs/model.json', sha256: sha256(tfjs), bytes: tfjs.length },
    ]);
    expect(pkg.manifestJson).toEqual(JSON.parse(manifestBytes.toString('utf8')));
    expect(pkg.model.signature).toEqual({
      input: { name: 'input', elementType: 'FLOAT', shape: ['batch', 1, 32, 24] },
      output: { name: 'probabilities', elementType: 'FLOAT', shape: ['batch', 2] },
    });
  });

  it('refuses to overwrite an existing package or to write an invalid manifest', async () => {
    const dir = await writeTestPackage(work);
    await expect(writeTestPackage(work)).rejects.toThrow(ConflictError);
    await expect(writeTestPackage(work, { version: 'bad version!' })).rejects.toThrow(/manifest\.json: version: must be 1-128 letters/);
    await expect(writeTestPackage(work, { version: 'v2', manifest: { positiveClass: 'cancer' } })).rejects.toThrow(/positiveClass: must be one of the classes/);
    await expect(writeTestPackage(work, { version: 'v3', extraFiles: { '../escape.bin': new Uint8Array(1) } })).rejects.toThrow(/\.\.\/escape\.bin: bad file name/);
    expect(await readdir(dir)).toEqual(['manifest.json', 'model.onnx']);
  });

  it('requires model.onnx', async () => {
    const error = await rejection(
      writePackage(path.join(work, 'no-model'), { ...(await readPackage(await writeTestPackage(work))).manifest }, { 'weights.bin': new Uint8Array(4) }),
    );
    expect(error.message).toMatch(/manifest\.json: files: must list model\.onnx/);
  });
});

describe('refused packages', () => {
  it('names a missing folder and a missing manifest', async () => {
    const missing = path.join(work, 'nowhere');
    expect((await rejection(readPackage(missing))).message).toBe(`model package ${missing}: no such folder`);
    await mkdir(path.join(work, 'empty'));
    expect((await rejection(readPackage(path.join(work, 'empty')))).message).toBe(`model package ${path.join(work, 'empty')}: manifest.json: missing`);
  });

  it('refuses a manifest that is not JSON or not a manifest', async () => {
    const dir = await writeTestPackage(work);
    await writeFile(path.join(dir, 'manifest.json'), '{"format": ');
    expect((await rejection(readPackage(dir))).message).toMatch(/manifest\.json: not valid JSON/);
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ format: 'mammocad-model/1' }));
    expect((await rejection(readPackage(dir))).message).toMatch(/manifest\.json: version: /);
  });

  it('refuses a missing file', async () => {
    const dir = await writeTestPackage(work, { extraFiles: { 'report/metrics.json': new TextEncoder().encode('{}') } });
    await rm(path.join(dir, 'report'), { recursive: true });
    const error = await rejection(readPackage(dir));
    expect(error).toBeInstanceOf(ModelPackageError);
    expect((error as ModelPackageError).code).toBe('MODEL_PACKAGE_INVALID');
    expect((error as ModelPackageError).file).toBe('report/metrics.json');
    expect(error.message).toBe(`model package ${dir}: report/metrics.json: missing`);
  });

  it('refuses a file whose content was changed (same size, other digest)', async () => {
    const dir = await writeTestPackage(work);
    const model = await readFile(path.join(dir, 'model.onnx'));
    model[model.length - 1]! ^= 0xff;
    await writeFile(path.join(dir, 'model.onnx'), model);
    expect((await rejection(readPackage(dir))).message).toMatch(
      new RegExp(`^model package ${dir}: model\\.onnx: sha256 ${sha256(model)}, but the manifest says [0-9a-f]{64} \\(the file was changed or corrupted\\)$`),
    );
    const verification = await verifyPackage(dir);
    expect(verification.ok).toBe(false);
    expect(verification.files.map((f) => [f.path, f.status])).toEqual([['model.onnx', 'hash-mismatch']]);
  });

  it('refuses a tampered manifest digest and a truncated file', async () => {
    const dir = await writeTestPackage(work);
    await editManifest(dir, (m) => ((m.files as Array<{ sha256: string }>)[0]!.sha256 = '0'.repeat(64)));
    expect((await rejection(readPackage(dir))).message).toMatch(/model\.onnx: sha256 [0-9a-f]{64}, but the manifest says 0{64}/);

    const other = await writeTestPackage(work, { version: 'truncated' });
    const model = await readFile(path.join(other, 'model.onnx'));
    await writeFile(path.join(other, 'model.onnx'), model.subarray(0, 100));
    expect((await rejection(readPackage(other))).message).toBe(`model package ${other}: model.onnx: 100 bytes, but the manifest says ${model.length}`);
  });

  it('refuses a model.onnx that is not an ONNX model, even with matching digests', async () => {
    const dir = await writeTestPackage(work, { model: new TextEncoder().encode('this is not a protobuf at all, just text') });
    expect((await rejection(readPackage(dir))).message).toMatch(new RegExp(`^model package ${dir}: model\\.onnx: not an ONNX model`));
  });

  it('refuses a model whose input does not match the preprocessing size or channels', async () => {
    const wrongSize = await writeTestPackage(work, { version: 'wrong-size', model: buildClassifierOnnx({ channels: 1, height: 64, width: 24 }) });
    expect((await rejection(readPackage(wrongSize))).message).toBe(
      `model package ${wrongSize}: model.onnx: input "input" has shape [batch, 1, 64, 24]: height 64, but the manifest's preprocessing gives 32 (expected [N, 1, 32, 24])`,
    );
    const wrongChannels = await writeTestPackage(work, { version: 'wrong-channels', model: buildClassifierOnnx({ channels: 3, height: 32, width: 24 }) });
    expect((await rejection(readPackage(wrongChannels))).message).toMatch(/model\.onnx: input "input" has shape \[batch, 3, 32, 24\]: channels 3/);
  });

  it('accepts a model that takes any height and width (all-convolutional)', async () => {
    const dir = await writeTestPackage(work, { model: buildClassifierOnnx({ channels: 1, height: null, width: null }) });
    expect((await readPackage(dir)).model.signature.input.shape).toEqual(['batch', 1, 'height', 'width']);
  });

  it('refuses an output that is not [N, 2] and an input that is not float', async () => {
    const threeClasses = await writeTestPackage(work, { version: 'three', model: buildClassifierOnnx({ channels: 1, height: 32, width: 24, classes: 3 }) });
    expect((await rejection(readPackage(threeClasses))).message).toMatch(/model\.onnx: output "probabilities" has shape \[batch, 3\]; expected \[N, 2\]/);
    const uint8 = await writeTestPackage(work, { version: 'uint8', model: buildClassifierOnnx({ channels: 1, height: 32, width: 24, inputType: 2 }) });
    expect((await rejection(readPackage(uint8))).message).toMatch(/model\.onnx: input "input" is UINT8; the runtime feeds FLOAT/);
  });

  it('refuses a folder where the manifest lists a file', async () => {
    const dir = await writeTestPackage(work, { extraFiles: { 'weights.bin': new Uint8Array(4) } });
    await rm(path.join(dir, 'weights.bin'));
    await mkdir(path.join(dir, 'weights.bin'));
    expect((await rejection(readPackage(dir))).message).toBe(`model package ${dir}: weights.bin: not a regular file`);
  });

  it('reports rather than throws in verifyPackage, even for a missing folder', async () => {
    const missing = path.join(work, 'nowhere');
    expect(await verifyPackage(missing)).toEqual({ path: missing, ok: false, problems: [{ file: null, problem: 'no such folder' }], files: [], signature: null });
  });

  it('lists every problem in verifyPackage and counts the others in the error', async () => {
    const dir = await writeTestPackage(work, { extraFiles: { 'a.bin': new Uint8Array(8), 'b.bin': new Uint8Array(8) } });
    await rm(path.join(dir, 'a.bin'));
    await writeFile(path.join(dir, 'b.bin'), new Uint8Array(9));
    const verification = await verifyPackage(dir);
    expect(verification.problems).toEqual([
      { file: 'a.bin', problem: 'missing' },
      { file: 'b.bin', problem: '9 bytes, but the manifest says 8' },
    ]);
    expect(verification.files.map((f) => f.status)).toEqual(['missing', 'size-mismatch', 'ok']);
    expect((await rejection(readPackage(dir))).message).toBe(`model package ${dir}: a.bin: missing (and 1 more problem; verifyPackage lists them)`);
  });
});

describe('importPackage and listPackages', () => {
  it('copies a verified package into <modelDir>/<version> and lists it', async () => {
    const source = await writeTestPackage(path.join(work, 'incoming'), { extraFiles: { 'tfjs/model.json': new Uint8Array([123, 125]) } });
    await writeFile(path.join(source, 'notes.txt'), 'not listed, not copied');
    const modelDir = path.join(work, 'models');

    const imported = await importPackage(source, modelDir);
    expect(imported.path).toBe(path.join(modelDir, 'test-model-1'));
    expect(imported.packageHash).toBe((await readPackage(source)).packageHash);
    expect((await readdir(imported.path)).sort()).toEqual(['manifest.json', 'model.onnx', 'tfjs']);
    expect(await readdir(modelDir)).toEqual(['test-model-1']); // no staging folder left

    const listing = await listPackages(modelDir);
    expect(listing).toEqual([
      { path: imported.path, ok: true, version: 'test-model-1', architecture: 'test-conv4', packageHash: imported.packageHash, manifest: imported.manifest },
    ]);
  });

  it('refuses a version that is already there, and a package that does not verify', async () => {
    const modelDir = path.join(work, 'models');
    const source = await writeTestPackage(path.join(work, 'incoming'));
    await importPackage(source, modelDir);
    await expect(importPackage(source, modelDir)).rejects.toThrow(`model version test-model-1 is already in ${modelDir}`);

    const broken = await writeTestPackage(path.join(work, 'incoming'), { version: 'broken' });
    await writeFile(path.join(broken, 'model.onnx'), 'garbage');
    await expect(importPackage(broken, modelDir)).rejects.toThrow(ModelPackageError);
    expect(await readdir(modelDir)).toEqual(['test-model-1']);
  });

  it('lists broken packages with their problem and a missing model directory as empty', async () => {
    const modelDir = path.join(work, 'models');
    expect(await listPackages(modelDir)).toEqual([]);
    await writeTestPackage(modelDir, { version: 'good' });
    await mkdir(path.join(modelDir, 'empty'));
    const misnamed = await writeTestPackage(modelDir, { version: 'misnamed' });
    await editManifest(misnamed, (m) => (m.version = 'other'));
    await mkdir(path.join(modelDir, '.import-x-123'));

    const listing = await listPackages(modelDir);
    expect(listing.map((l) => [path.basename(l.path), l.ok, l.ok ? l.version : l.problem])).toEqual([
      ['empty', false, 'manifest.json: missing'],
      ['good', true, 'good'],
      ['misnamed', false, 'manifest.json: version other does not match the folder name'],
    ]);
  });
});
