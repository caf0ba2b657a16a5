// Registered model packages and which one is active. Exactly one version (or none) is active;
// activation switches atomically so a worker never sees two or zero during the change.

import type { JsonValue, ModelVersionRecord } from '../domain/index.js';
import { ConflictError, NotFoundError, ValidationError } from '../domain/index.js';
import type { Db } from './database.js';
import { isUniqueViolation } from './prisma-errors.js';

export interface ModelVersionInput {
  version: string;
  architecture: string;
  packageHash: string;
  path: string;
  manifest: JsonValue;
  metrics?: JsonValue | null;
  threshold: number;
}

const asRecord = (row: unknown) => row as ModelVersionRecord;

export class ModelVersionRepository {
  constructor(private readonly db: Db) {}

  async register(input: ModelVersionInput): Promise<ModelVersionRecord> {
    if (!Number.isFinite(input.threshold) || input.threshold < 0 || input.threshold > 1) {
      throw new ValidationError('threshold', `must be in [0, 1]; got ${input.threshold}`);
    }
    try {
      const { metrics, manifest, ...rest } = input;
      return asRecord(
        await this.db.modelVersion.create({
          data: { ...rest, manifest: manifest as object, ...(metrics != null ? { metrics: metrics as object } : {}) },
        }),
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError(`model version ${input.version} is already registered`);
      throw error;
    }
  }

  async findByVersion(version: string): Promise<ModelVersionRecord | null> {
    return asRecord(await this.db.modelVersion.findUnique({ where: { version } }));
  }

  async list(): Promise<ModelVersionRecord[]> {
    return (await this.db.modelVersion.findMany({ orderBy: { createdAt: 'desc' } })).map(asRecord);
  }

  async findActive(): Promise<ModelVersionRecord | null> {
    return asRecord(await this.db.modelVersion.findFirst({ where: { active: true } }));
  }

  async updateMetrics(version: string, metrics: JsonValue): Promise<ModelVersionRecord> {
    const { count } = await this.db.modelVersion.updateMany({ where: { version }, data: { metrics: metrics as object } });
    if (count === 0) throw new NotFoundError('model version', version);
    return (await this.findByVersion(version))!;
  }

  /** Makes `version` the only active one (a partial unique index makes "only" hold under races). */
  async activate(version: string, actor: string): Promise<ModelVersionRecord> {
    try {
      return await this.switchActive(version, actor);
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError(`another model version was activated at the same moment as ${version}; try again`);
      throw error;
    }
  }

  private async switchActive(version: string, actor: string): Promise<ModelVersionRecord> {
    return this.db.$transaction(async (tx) => {
      const target = await tx.modelVersion.findUnique({ where: { version } });
      if (!target) throw new NotFoundError('model version', version);
      await tx.modelVersion.updateMany({ where: { active: true, NOT: { id: target.id } }, data: { active: false } });
      return asRecord(
        await tx.modelVersion.update({ where: { id: target.id }, data: { active: true, activatedAt: new Date(), activatedBy: actor } }),
      );
    });
  }
}
