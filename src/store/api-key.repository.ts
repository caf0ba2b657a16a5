// API keys for the GraphQL API. Only a hash of each secret is stored; the public prefix finds
// the row, the hash proves the secret.

import type { ApiKeyRecord, Role } from '../domain/index.js';
import { ConflictError, NotFoundError, ROLES, ValidationError, assertOneOf } from '../domain/index.js';
import type { Db } from './database.js';
import { isUniqueViolation } from './prisma-errors.js';

export interface ApiKeyInput {
  name: string;
  role: Role;
  prefix: string;
  secretHash: string;
  createdBy?: string | null;
}

const asRecord = (row: unknown) => row as ApiKeyRecord;

export class ApiKeyRepository {
  constructor(private readonly db: Db) {}

  async create(input: ApiKeyInput): Promise<ApiKeyRecord> {
    assertOneOf('role', input.role, ROLES);
    if (!input.name.trim()) throw new ValidationError('name', 'is required');
    try {
      return asRecord(await this.db.apiKey.create({ data: input }));
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError('an API key with this prefix already exists');
      throw error;
    }
  }

  async findByPrefix(prefix: string): Promise<ApiKeyRecord | null> {
    return asRecord(await this.db.apiKey.findUnique({ where: { prefix } }));
  }

  async list(): Promise<ApiKeyRecord[]> {
    return (await this.db.apiKey.findMany({ orderBy: { createdAt: 'asc' } })).map(asRecord);
  }

  async revoke(prefix: string): Promise<ApiKeyRecord> {
    const { count } = await this.db.apiKey.updateMany({ where: { prefix, revokedAt: null }, data: { revokedAt: new Date() } });
    const key = await this.findByPrefix(prefix);
    if (!key) throw new NotFoundError('API key', prefix);
    if (count === 0 && key.revokedAt === null) throw new ConflictError(`API key ${prefix} could not be revoked`);
    return key;
  }

  async touch(prefix: string): Promise<void> {
    await this.db.apiKey.updateMany({ where: { prefix }, data: { lastUsedAt: new Date() } });
  }
}
