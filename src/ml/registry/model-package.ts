// Model packages on disk: writing them, verifying them, importing them into the model directory
// and listing what is there. A package is a folder (see src/ml/model-manifest.ts) whose
// manifest.json lists every other file with its size and sha256, so a package that was
// truncated, corrupted or tampered with is refused before a model ever runs on a patient image.
//
// Layout of the model directory (config `modelDir`): one package per version,
//   <modelDir>/<version>/manifest.json, model.onnx, tfjs/..., report/...
// Which version is active is recorded in the database by the caller, not here.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConflictError, ModelPackageError, type JsonValue } from '../../domain/index.js';
import { MANIFEST_FILE, MODEL_FILE, type ModelFileEntry, type ModelManifest } from '../model-manifest.js';
import { OodModel, oodReferenceSchema, preprocessingSpecSha256, type OodReference } from '../ood/reference.js';
import { preprocessingHash } from '../preprocess/preprocessing-hash.js';
import { firstIssue } from '../preprocess/preprocessing-spec.schema.js';
import { modelManifestSchema, packagePathProblem } from './manifest.schema.js';
import { readOnnxSignature, signatureProblem, type OnnxSignature } from './onnx-signature.js';

/** A verified package: what the runtime loads and what a caller records as a model version. */
export interface ModelPackage {
  /** Absolute path of the package folder. */
  path: string;
  version: string;
  architecture: string;
  /** sha256 (hex) of manifest.json's bytes; the manifest holds every other file's digest, so this identifies the whole package. */
  packageHash: string;
  manifest: ModelManifest;
  /** manifest.json as parsed, for storing as JSON (the database's ModelVersion.manifest). */
  manifestJson: JsonValue;
  metrics: NonNullable<ModelManifest['metrics']> | null;
  threshold: number;
  /** preprocessingHash(manifest.preprocessing), stored with each prediction. */
  preprocessingHash: string;
  model: {
    /** Absolute path of model.onnx. */
    path: string;
    sha256: string;
    signature: OnnxSignature;
  };
  /**
   * The out-of-distribution reference (manifest `outOfDistribution`) with its threshold, read
   * and checked with the package; null (or absent) when the package has none.
   */
  outOfDistribution?: OodModel | null;
}

export type FileStatus = 'ok' | 'missing' | 'not-a-file' | 'unreadable' | 'size-mismatch' | 'hash-mismatch';

export interface FileCheck {
  path: string;
  status: FileStatus;
  expected: { bytes: number; sha256: string };
  /** What is on disk (sha256 only when the size matched: a different size already decides). */
  actual: { bytes: number; sha256?: string } | null;
  /** The operating system's message, for 'unreadable'. */
  error?: string;
}

export interface PackageProblem {
  /** The file at fault, relative to the package folder; null for the folder itself. */
  file: string | null;
  problem: string;
}

export interface PackageVerification {
  path: string;
  ok: boolean;
  /** Every problem found; empty when ok. */
  problems: PackageProblem[];
  /** One entry per file the manifest lists (empty when the manifest could not be read). */
  files: FileCheck[];
  /** The model's input and output, when model.onnx could be read. */
  signature: OnnxSignature | null;
}

export type PackageListing =
  | { path: string; ok: true; version: string; architecture: string; packageHash: string; manifest: ModelManifest }
  | { path: string; ok: false; problem: string };

/**
 * Checks a package without throwing for what is wrong with it: the manifest, every listed
 * file's size and sha256, and model.onnx's input and output against the manifest.
 */
export async function verifyPackage(dir: string): Promise<PackageVerification> {
  return (await inspectPackage(path.resolve(dir))).verification;
}

/** Verifies a package and returns it; throws ModelPackageError naming the package, file and first problem. */
export async function readPackage(dir: string): Promise<ModelPackage> {
  const packagePath = path.resolve(dir);
  const { verification, manifest, oodReference } = await inspectPackage(packagePath);
  const [first, ...others] = verification.problems;
  if (first || !manifest || !verification.signature) {
    const more = others.length > 0 ? ` (and ${others.length} more problem${others.length > 1 ? 's' : ''}; verifyPackage lists them)` : '';
    throw new ModelPackageError(packagePath, first?.file ?? null, `${first?.problem ?? 'could not be verified'}${more}`);
  }
  const model = manifest.value.files.find((file) => file.path === MODEL_FILE)!;
  return {
    path: packagePath,
    version: manifest.value.version,
    architecture: manifest.value.architecture,
    packageHash: manifest.hash,
    manifest: manifest.value,
    manifestJson: manifest.json,
    metrics: manifest.value.metrics ?? null,
    threshold: manifest.value.threshold,
    preprocessingHash: preprocessingHash(manifest.value.preprocessing),
    model: { path: path.join(packagePath, MODEL_FILE), sha256: model.sha256, signature: verification.signature },
    outOfDistribution: oodReference && manifest.value.outOfDistribution ? new OodModel(oodReference, manifest.value.outOfDistribution.threshold) : null,
  };
}

/**
 * Writes a new package: the files, then manifest.json with their sizes and digests (written last,
 * so an interrupted write leaves a folder that is refused as having no manifest). Checks the
 * manifest and the file names, not the model itself: readPackage does that.
 */
export async function writePackage(dir: string, manifest: Omit<ModelManifest, 'files'>, files: Record<string, Uint8Array>): Promise<ModelManifest> {
  const packagePath = path.resolve(dir);
  for (const name of Object.keys(files)) {
    const problem = packagePathProblem(name);
    if (problem) throw new ModelPackageError(packagePath, name, `bad file name: ${problem}`);
  }
  const entries: ModelFileEntry[] = Object.entries(files)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, bytes]) => ({ path: name, sha256: sha256(bytes), bytes: bytes.byteLength }));
  const complete = { ...manifest, files: entries };
  const parsed = modelManifestSchema.safeParse(complete);
  if (!parsed.success) {
    const { field, problem } = firstIssue(parsed.error, '');
    throw new ModelPackageError(packagePath, MANIFEST_FILE, `${field}: ${problem}`);
  }
  if (await exists(path.join(packagePath, MANIFEST_FILE))) {
    throw new ConflictError(`model package ${packagePath} already exists (it has a ${MANIFEST_FILE})`);
  }
  for (const entry of entries) {
    const target = filePath(packagePath, entry.path);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, files[entry.path]!);
  }
  await writeFile(path.join(packagePath, MANIFEST_FILE), `${JSON.stringify(complete, null, 2)}\n`);
  return complete;
}

/**
 * Verifies the package in `srcDir` and copies it to `<modelDir>/<version>/` (manifest.json and
 * the listed files only). The copy is assembled in a hidden folder and renamed into place, so
 * the model directory never shows a half-copied version. Refuses a version that is already there.
 */
export async function importPackage(srcDir: string, modelDir: string): Promise<ModelPackage> {
  const source = await readPackage(srcDir);
  const root = path.resolve(modelDir);
  const target = path.join(root, source.version);
  if (await exists(target)) throw new ConflictError(`model version ${source.version} is already in ${root}`);

  await mkdir(root, { recursive: true });
  const staging = await mkdtemp(path.join(root, `.import-${source.version}-`));
  try {
    for (const name of [MANIFEST_FILE, ...source.manifest.files.map((file) => file.path)]) {
      const to = filePath(staging, name);
      await mkdir(path.dirname(to), { recursive: true });
      await copyFile(filePath(source.path, name), to);
    }
    await rename(staging, target);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') throw new ConflictError(`model version ${source.version} is already in ${root}`);
    throw error;
  }
  // Verify the copy too: it is what will run.
  return readPackage(target);
}

/**
 * The packages in the model directory, by folder name, with their manifests checked (not the
 * file digests, which would read every model: verifyPackage or readPackage does that). A
 * missing model directory has no packages; folders starting with "." (imports under way) are skipped.
 */
export async function listPackages(modelDir: string): Promise<PackageListing[]> {
  const root = path.resolve(modelDir);
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const listings: PackageListing[] = [];
  for (const name of names.sort()) {
    const packagePath = path.join(root, name);
    const manifest = await loadManifest(packagePath);
    if ('problem' in manifest) {
      const { file, problem } = manifest.problem;
      listings.push({ path: packagePath, ok: false, problem: file === null ? problem : `${file}: ${problem}` });
    } else if (manifest.value.version !== name) {
      listings.push({ path: packagePath, ok: false, problem: `${MANIFEST_FILE}: version ${manifest.value.version} does not match the folder name` });
    } else {
      const { version, architecture } = manifest.value;
      listings.push({ path: packagePath, ok: true, version, architecture, packageHash: manifest.hash, manifest: manifest.value });
    }
  }
  return listings;
}

// ---------------------------------------------------------------------------------------------

interface LoadedManifest {
  value: ModelManifest;
  json: JsonValue;
  hash: string;
}

async function inspectPackage(packagePath: string): Promise<{ verification: PackageVerification; manifest: LoadedManifest | null; oodReference: OodReference | null }> {
  const verification: PackageVerification = { path: packagePath, ok: false, problems: [], files: [], signature: null };
  const loaded = await loadManifest(packagePath);
  if ('problem' in loaded) {
    verification.problems.push(loaded.problem);
    return { verification, manifest: null, oodReference: null };
  }
  const manifest = loaded.value;
  for (const entry of manifest.files) {
    const check = await checkFile(packagePath, entry);
    verification.files.push(check);
    if (check.status !== 'ok') verification.problems.push({ file: entry.path, problem: describeFileCheck(check) });
  }
  const modelCheck = verification.files.find((file) => file.path === MODEL_FILE);
  if (modelCheck?.status === 'ok') {
    try {
      verification.signature = readOnnxSignature(await readFile(path.join(packagePath, MODEL_FILE)));
      const problem = signatureProblem(verification.signature, manifest.preprocessing, manifest.classes.length);
      if (problem) verification.problems.push({ file: MODEL_FILE, problem });
    } catch (error) {
      verification.problems.push({ file: MODEL_FILE, problem: (error as Error).message });
    }
  }
  let oodReference: OodReference | null = null;
  const ood = manifest.outOfDistribution;
  if (ood && verification.files.find((file) => file.path === ood.file)?.status === 'ok') {
    const checked = await loadOodReference(packagePath, manifest);
    if ('problem' in checked) verification.problems.push({ file: ood.file, problem: checked.problem });
    else oodReference = checked.reference;
  }
  verification.ok = verification.problems.length === 0;
  return { verification, manifest: loaded, oodReference };
}

/**
 * Reads the out-of-distribution reference the manifest names (its digest already checked) and
 * checks it: its format, the statistic and version the manifest states, and the pre-processing
 * it was computed under (a reference of other inputs would flag, or pass, the wrong images).
 */
async function loadOodReference(packagePath: string, manifest: ModelManifest): Promise<{ reference: OodReference } | { problem: string }> {
  const ood = manifest.outOfDistribution!;
  let json: unknown;
  try {
    json = JSON.parse(await readFile(filePath(packagePath, ood.file), 'utf8'));
  } catch (error) {
    return { problem: `not a readable JSON file (${(error as Error).message})` };
  }
  const parsed = oodReferenceSchema.safeParse(json);
  if (!parsed.success) {
    const { field, problem } = firstIssue(parsed.error, '');
    return { problem: `${field}: ${problem}` };
  }
  const reference = parsed.data;
  if (reference.statistic !== ood.statistic || reference.statisticVersion !== ood.version) {
    return { problem: `holds statistic ${reference.statistic} version ${reference.statisticVersion}; the manifest says ${ood.statistic} version ${ood.version}` };
  }
  if (reference.preprocessingSpecSha256 !== preprocessingSpecSha256(manifest.preprocessing)) {
    return { problem: "was computed under another pre-processing than the manifest's (preprocessingSpecSha256 differs)" };
  }
  return { reference };
}

/** Reads and validates manifest.json; the problem names what is wrong and where. */
async function loadManifest(packagePath: string): Promise<LoadedManifest | { problem: PackageProblem }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(packagePath, MANIFEST_FILE));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !(await exists(packagePath))) return { problem: { file: null, problem: 'no such folder' } };
    return { problem: { file: MANIFEST_FILE, problem: code === 'ENOENT' ? 'missing' : `unreadable (${(error as Error).message})` } };
  }
  let json: JsonValue;
  try {
    json = JSON.parse(bytes.toString('utf8')) as JsonValue;
  } catch (error) {
    return { problem: { file: MANIFEST_FILE, problem: `not valid JSON (${(error as Error).message})` } };
  }
  const parsed = modelManifestSchema.safeParse(json);
  if (!parsed.success) {
    const { field, problem } = firstIssue(parsed.error, '');
    return { problem: { file: MANIFEST_FILE, problem: `${field}: ${problem}` } };
  }
  return { value: parsed.data, json, hash: sha256(bytes) };
}

async function checkFile(packagePath: string, entry: ModelFileEntry): Promise<FileCheck> {
  const expected = { bytes: entry.bytes, sha256: entry.sha256 };
  const file = filePath(packagePath, entry.path);
  const result = (status: FileStatus, actual: FileCheck['actual'] = null): FileCheck => ({ path: entry.path, status, expected, actual });
  try {
    const info = await stat(file);
    if (!info.isFile()) return result('not-a-file');
    if (info.size !== entry.bytes) return result('size-mismatch', { bytes: info.size });
    const digest = await sha256File(file);
    return result(digest === entry.sha256 ? 'ok' : 'hash-mismatch', { bytes: info.size, sha256: digest });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result('missing');
    return { ...result('unreadable'), error: (error as Error).message };
  }
}

function describeFileCheck(check: FileCheck): string {
  switch (check.status) {
    case 'ok':
      return 'ok';
    case 'missing':
      return 'missing';
    case 'not-a-file':
      return 'not a regular file';
    case 'unreadable':
      return `cannot be read (${check.error})`;
    case 'size-mismatch':
      return `${check.actual!.bytes} bytes, but the manifest says ${check.expected.bytes}`;
    case 'hash-mismatch':
      return `sha256 ${check.actual!.sha256}, but the manifest says ${check.expected.sha256} (the file was changed or corrupted)`;
  }
}

/** A manifest path ('/'-separated, already checked to stay inside) under a folder. */
function filePath(packagePath: string, relative: string): string {
  return path.join(packagePath, ...relative.split('/'));
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Streams the file: model weights can be hundreds of megabytes. */
async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
