// What every resolver receives: the caller, the services of the layers below, and a per-request
// cache (model versions are few and referenced by many predictions of one answer).

import type { Logger } from 'pino';
import type { ModelVersionRecord } from '../domain/index.js';
import type { ModelService } from '../pipeline/model-service.js';
import type { StudyDiscovery } from '../pipeline/study-discovery.js';
import type { Store } from '../store/index.js';
import type { Actor } from './auth.js';
import type { ChangeFeed } from './change-feed.js';

export interface ApiServices {
  store: Store;
  discovery: StudyDiscovery;
  models: ModelService;
  feed: ChangeFeed;
  logger: Logger;
}

export class RequestCache {
  private versions: Promise<Map<string, ModelVersionRecord>> | undefined;

  constructor(private readonly store: Store) {}

  /** All model versions by id, read once per request. */
  modelVersions(): Promise<Map<string, ModelVersionRecord>> {
    this.versions ??= this.store.modelVersions.list().then((list) => new Map(list.map((v) => [v.id, v])));
    return this.versions;
  }

  async versionName(id: string): Promise<string> {
    return (await this.modelVersions()).get(id)?.version ?? id;
  }
}

/** The endpoint's open WebSocket connections, as resolvers that withdraw access need them. */
export interface Sessions {
  /** Closes at once the connections authenticated by this API key. */
  closeApiKey(prefix: string): void;
}

export interface ApiContext {
  actor: Actor;
  services: ApiServices;
  cache: RequestCache;
  sessions?: Sessions | undefined;
}

export function createContext(services: ApiServices, actor: Actor, sessions?: Sessions): ApiContext {
  return { actor, services, cache: new RequestCache(services.store), sessions };
}
