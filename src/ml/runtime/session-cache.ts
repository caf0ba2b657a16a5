// One onnxruntime session per model per process. A ResNet50 session holds ~100 MB of weights
// and takes a second to build, so every runtime that scores with the same package shares one:
// sessions are counted by their users and released when the last one lets go. Concurrent
// requests for a model that is still loading wait for the same load; a load that fails is not
// cached, so the next request tries again.

import type { InferenceSession } from 'onnxruntime-node';

/** A use of a shared session; `release` is idempotent. */
export interface SessionLease {
  session: InferenceSession;
  release(): Promise<void>;
}

interface Entry {
  session: Promise<InferenceSession>;
  users: number;
}

const sessions = new Map<string, Entry>();
let created = 0;

/**
 * The session for `key` (the model's path, digest and session settings), built by `create` if
 * no user holds one.
 */
export async function acquireSession(key: string, create: () => Promise<InferenceSession>): Promise<SessionLease> {
  let entry = sessions.get(key);
  if (!entry) {
    created++;
    const fresh: Entry = { session: create(), users: 0 };
    sessions.set(key, fresh);
    fresh.session.catch(() => {
      if (sessions.get(key) === fresh) sessions.delete(key);
    });
    entry = fresh;
  }
  const shared = entry;
  shared.users++;
  let session: InferenceSession;
  try {
    session = await shared.session;
  } catch (error) {
    shared.users--;
    throw error;
  }
  let released = false;
  return {
    session,
    release: async () => {
      if (released) return;
      released = true;
      shared.users--;
      if (shared.users === 0 && sessions.get(key) === shared) {
        sessions.delete(key);
        await session.release();
      }
    },
  };
}

/** Sessions built since the process started, and sessions open now (for tests and health reports). */
export function sessionCacheStats(): { created: number; open: number } {
  return { created, open: sessions.size };
}
