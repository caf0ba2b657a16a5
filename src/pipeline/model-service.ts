// Model versions as an admin sees them: packages on disk (src/ml/registry) joined with what the
// database knows (registered, active). Importing registers; activating verifies the package
// again first, so a package damaged on disk is never made active.

import path from 'node:path';
import type { Logger } from 'pino';
import { ConflictError, NotFoundError, type JsonValue, type ModelVersionRecord } from '../domain/index.js';
import { importPackage, listPackages, readPackage, verifyPackage, type ModelPackage, type PackageVerification } from '../ml/registry/index.js';
import type { Store } from '../store/index.js';
import { versionEvidence } from './model-evidence.js';

export interface ModelVersionView {
  version: string;
  architecture: string | null;
  path: string;
  registered: boolean;
  active: boolean;
  threshold: number | null;
  packageHash: string | null;
  metrics: JsonValue | null;
  /** Set when the package on disk cannot be read. */
  problem: string | null;
}

export class ModelService {
  constructor(private readonly deps: { store: Store; modelDir: string; logger: Logger }) {}

  /** Every package in the model folder and every registered version, newest registrations first. */
  async list(): Promise<ModelVersionView[]> {
    const [records, listings] = await Promise.all([this.deps.store.modelVersions.list(), listPackages(this.deps.modelDir)]);
    const views = new Map<string, ModelVersionView>();
    for (const r of records) views.set(r.version, this.view(r));
    for (const l of listings) {
      if (!l.ok) {
        views.set(l.path, { version: '?', architecture: null, path: l.path, registered: false, active: false, threshold: null, packageHash: null, metrics: null, problem: l.problem });
      } else if (!views.has(l.version)) {
        views.set(l.version, {
          version: l.version, architecture: l.architecture, path: l.path, registered: false, active: false,
          threshold: l.manifest.threshold, packageHash: l.packageHash, metrics: (l.manifest.metrics ?? null) as JsonValue | null, problem: null,
        });
      }
    }
    return [...views.values()];
  }

  async show(version: string): Promise<ModelVersionView & { manifest: JsonValue | null }> {
    const record = await this.deps.store.modelVersions.findByVersion(version);
    if (!record) throw new NotFoundError('model version', version);
    return { ...this.view(record), manifest: record.manifest };
  }

  /** Verifies a package folder, copies it into the model folder and registers it (inactive). */
  async import(dir: string, actor: string): Promise<ModelPackage> {
    const pkg = await importPackage(dir, this.deps.modelDir);
    await this.register(pkg);
    await this.deps.store.audit.record({ actor, action: 'model.import', target: `model:${pkg.version}`, details: { packageHash: pkg.packageHash } });
    return pkg;
  }

  async verify(version: string): Promise<PackageVerification> {
    const record = await this.deps.store.modelVersions.findByVersion(version);
    if (!record) throw new NotFoundError('model version', version);
    return verifyPackage(record.path);
  }

  /** Makes `version` the active model after checking its files and hash against the registration. */
  async activate(version: string, actor: string): Promise<ModelVersionRecord> {
    const record = await this.deps.store.modelVersions.findByVersion(version);
    if (!record) throw new NotFoundError('model version', version);
    const pkg = await readPackage(record.path);
    if (pkg.packageHash !== record.packageHash) {
      throw new ConflictError(`model version ${version}: the package on disk (${pkg.packageHash.slice(0, 12)}) is not the one registered (${record.packageHash.slice(0, 12)})`);
    }
    const active = await this.deps.store.modelVersions.activate(version, actor);
    await this.deps.store.audit.record({ actor, action: 'model.activate', target: `model:${version}` });
    this.deps.logger.info({ version, actor }, 'model version activated');
    const { auc, aucCi, beatsChance } = versionEvidence(active.metrics);
    if (beatsChance !== true) {
      // Scores are written to the PACS as they come: say plainly when nothing shows they mean anything.
      this.deps.logger.warn(
        { version, auc, aucCi },
        auc === null
          ? 'the active model has no validation AUC: nothing shows that its scores tell malignant from other images'
          : "the active model's validation AUC is not above chance (its 95% CI reaches 0.5): its scores are not evidence of malignancy; evaluate it on this site's labelled studies, retrain, or import a validated model",
      );
    }
    return active;
  }

  /**
   * A fresh install scores out of the box: when no model version was ever registered and the
   * checkout ships a default package (models/default), it is imported and activated. Once a site
   * has any version of its own, nothing is done (a site's choice is never overridden). Safe to
   * run from several processes at once: the loser of the race sees the version registered.
   */
  async ensureDefaultModel(defaultDir: string): Promise<ModelVersionRecord | null> {
    if ((await this.deps.store.modelVersions.list()).length > 0) return null;
    let pkg: ModelPackage;
    try {
      pkg = await readPackage(defaultDir);
    } catch (error) {
      // No default shipped (or unreadable): say so once; scoring waits for an admin's model.
      this.deps.logger.warn({ dir: defaultDir, reason: error instanceof Error ? error.message.split('\n')[0] : String(error) }, 'no default model to activate on this fresh install');
      return null;
    }
    try {
      await this.import(pkg.path, 'system:default-model');
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      // Another process is importing it, or an earlier start copied it and stopped before
      // registering: register that copy unless someone already has.
      if (!(await this.deps.store.modelVersions.findByVersion(pkg.version))) {
        await this.register(await readPackage(path.join(this.deps.modelDir, pkg.version))).catch((again: unknown) => {
          if (!(again instanceof ConflictError)) throw again;
        });
      }
    }
    return this.activate(pkg.version, 'system:default-model');
  }

  /** The active model's package; on a fresh install, the shipped default, activated first (see ensureDefaultModel). */
  async activeOrDefaultPackage(defaultDir: string): Promise<ModelPackage | null> {
    const active = await this.activePackage();
    if (active) return active;
    const record = await this.ensureDefaultModel(defaultDir);
    return record ? readPackage(record.path) : null;
  }

  /** The active model's verified package, or null when none is active. */
  async activePackage(): Promise<ModelPackage | null> {
    const record = await this.deps.store.modelVersions.findActive();
    return record ? readPackage(record.path) : null;
  }

  private async register(pkg: ModelPackage): Promise<void> {
    await this.deps.store.modelVersions.register({
      version: pkg.version,
      architecture: pkg.architecture,
      packageHash: pkg.packageHash,
      path: pkg.path,
      manifest: pkg.manifestJson,
      metrics: (pkg.metrics ?? null) as JsonValue | null,
      threshold: pkg.threshold,
    });
  }

  private view(r: ModelVersionRecord): ModelVersionView {
    return {
      version: r.version, architecture: r.architecture, path: r.path, registered: true, active: r.active,
      threshold: r.threshold, packageHash: r.packageHash, metrics: r.metrics, problem: null,
    };
  }
}
