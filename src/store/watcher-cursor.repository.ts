// Persisted watcher positions (e.g. the last QIDO polling window), so a restart neither
// misses nor repeats studies.

import type { Db } from './database.js';

export class WatcherCursorRepository {
  constructor(private readonly db: Db) {}

  async get(name: string): Promise<string | null> {
    return (await this.db.watcherCursor.findUnique({ where: { name } }))?.value ?? null;
  }

  async set(name: string, value: string): Promise<void> {
    await this.db.watcherCursor.upsert({ where: { name }, create: { name, value }, update: { value } });
  }
}
