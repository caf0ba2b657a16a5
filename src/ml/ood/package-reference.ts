// Adding (or replacing) the out-of-distribution reference of an existing package: the file is
// written, then manifest.json is rewritten to list it with its digest and to point to it, so
// the package verifies as before, with a new package hash (the manifest changed). Run on a
// copy outside the model folder, then import the copy (`mammocad models ood-reference`).

import { createHash } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelPackageError, type JsonValue } from '../../domain/index.js';
import { MANIFEST_FILE, type ModelFileEntry, type ModelManifest } from '../model-manifest.js';
import { firstIssue } from '../preprocess/preprocessing-spec.schema.js';
import { modelManifestSchema } from '../registry/manifest.schema.js';
import { readPackage, type ModelPackage } from '../registry/model-package.js';
import { DEFAULT_OOD_THRESHOLD, OOD_REFERENCE_FILE, oodReferenceBytes, preprocessingSpecSha256, type OodReference } from './reference.js';

export interface WriteReferenceOptions {
  /** Flag threshold (default: the package's current one, else 1 = the training images' 99th percentile). */
  threshold?: number;
  /** A new version for the package (it can then be imported next to the original). */
  version?: string;
}

/**
 * Writes `reference` into the package in `dir` (verified first) as ood-reference.json and
 * rewrites its manifest; returns the package as readPackage reads it afterwards.
 */
export async function writeOodReference(dir: string, reference: OodReference, options: WriteReferenceOptions = {}): Promise<ModelPackage> {
  const pkg = await readPackage(dir);
  if (reference.preprocessingSpecSha256 !== preprocessingSpecSha256(pkg.manifest.preprocessing)) {
    throw new ModelPackageError(pkg.path, OOD_REFERENCE_FILE, "the reference was computed under another pre-processing than the package's");
  }
  const bytes = oodReferenceBytes(reference);
  const previous = pkg.manifest.outOfDistribution;
  const entry: ModelFileEntry = { path: OOD_REFERENCE_FILE, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength };
  const files = [...pkg.manifest.files.filter((f) => f.path !== OOD_REFERENCE_FILE && f.path !== previous?.file), entry].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const outOfDistribution: NonNullable<ModelManifest['outOfDistribution']> = {
    file: OOD_REFERENCE_FILE,
    statistic: reference.statistic,
    version: reference.statisticVersion,
    threshold: options.threshold ?? previous?.threshold ?? DEFAULT_OOD_THRESHOLD,
  };

  // The manifest as stored, its fields in their order, the pointer before the metrics.
  const stored = pkg.manifestJson as { [key: string]: JsonValue };
  const manifest: { [key: string]: unknown } = {};
  for (const [key, value] of Object.entries(stored)) {
    if (key === 'outOfDistribution') continue;
    if (key === 'metrics' || key === 'files') manifest.outOfDistribution ??= outOfDistribution;
    manifest[key] = key === 'files' ? files : key === 'version' && options.version !== undefined ? options.version : value;
  }
  const parsed = modelManifestSchema.safeParse(manifest);
  if (!parsed.success) {
    const { field, problem } = firstIssue(parsed.error, '');
    throw new ModelPackageError(pkg.path, MANIFEST_FILE, `${field}: ${problem}`);
  }

  await writeAtomically(path.join(pkg.path, OOD_REFERENCE_FILE), bytes);
  await writeAtomically(path.join(pkg.path, MANIFEST_FILE), new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
  return readPackage(pkg.path);
}

async function writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
  const partial = `${file}.partial`;
  await writeFile(partial, bytes);
  await rename(partial, file);
}
