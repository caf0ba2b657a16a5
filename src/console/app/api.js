// The console's only way to the service: GraphQL over HTTP (POST /graphql), subscriptions over
// graphql-ws (the same path), and the rendered images (/images/...), each with the signed-in
// credential as a Bearer token. The credential lives in sessionStorage: it is gone when the tab
// closes, and no other site can read it. URLs are relative to the console's own address, so a
// reverse proxy that mounts the service under a prefix keeps working.

import { createClient } from 'graphql-ws/client';
import { OPERATIONS } from '../operations.js';

/** @typedef {import('../generated/operation-types.js').Operations} Operations */
/** @typedef {keyof Operations} OperationName */

const STORAGE_KEY = 'mammocad.console.credential';

/** @param {string} relative */
const serviceUrl = (relative) => new URL(relative, document.baseURI);
const GRAPHQL_URL = serviceUrl('../graphql').href;

/** An answer that is not data: the API's code (UNAUTHENTICATED, FORBIDDEN, ...) and message. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {string} code
   * @param {number} status
   */
  constructor(message, code, status) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

/** @returns {string | null} */
export function storedCredential() {
  return sessionStorage.getItem(STORAGE_KEY);
}

/** @param {string} credential */
export function storeCredential(credential) {
  sessionStorage.setItem(STORAGE_KEY, credential);
}

export function forgetCredential() {
  sessionStorage.removeItem(STORAGE_KEY);
  socket?.dispose();
  socket = null;
}

/** @type {Set<(error: ApiError) => void>} */
const refusedListeners = new Set();

/** Calls `listener` when the service refuses the credential (revoked key, expired token). */
export function onCredentialRefused(/** @type {(error: ApiError) => void} */ listener) {
  refusedListeners.add(listener);
  return () => refusedListeners.delete(listener);
}

/** @param {ApiError} error */
function refused(error) {
  if (error.code === 'UNAUTHENTICATED') for (const listener of refusedListeners) listener(error);
  return error;
}

/**
 * The variables without those set to null: the console means "no filter" by null, which is what
 * leaving a variable out says (some resolvers pass an explicit null on to the database).
 * @param {object} variables
 */
function withoutNulls(variables) {
  return Object.fromEntries(Object.entries(variables).filter(([, value]) => value !== null));
}

/**
 * Runs one operation of src/console/operations.ts.
 * @template {OperationName} K
 * @param {K} name
 * @param {Operations[K]['variables']} variables
 * @param {string | null} [credential] default: the signed-in one
 * @returns {Promise<Operations[K]['result']>}
 */
export async function gql(name, variables, credential = storedCredential()) {
  /** @type {Response} */
  let response;
  try {
    response = await fetch(GRAPHQL_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${credential ?? ''}` },
      body: JSON.stringify({ query: OPERATIONS[name], operationName: name, variables: withoutNulls(variables) }),
    });
  } catch {
    throw new ApiError('the service cannot be reached', 'NETWORK', 0);
  }
  /** @type {{ data?: Operations[K]['result'] | null, errors?: Array<{ message: string, extensions?: { code?: string } }> }} */
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`the service answered ${response.status} without JSON`, `HTTP_${response.status}`, response.status);
  }
  const first = body.errors?.[0];
  if (first) {
    const error = new ApiError(first.message, first.extensions?.code ?? 'ERROR', response.status);
    // A credential being tried (signing in) is not the signed-in one: no one is signed out.
    throw credential === storedCredential() ? refused(error) : error;
  }
  if (!body.data) throw new ApiError(`the service answered ${response.status} without data`, `HTTP_${response.status}`, response.status);
  return body.data;
}

/** @type {import('graphql-ws').Client | null} */
let socket = null;

function subscriptions() {
  socket ??= createClient({
    url: GRAPHQL_URL.replace(/^http/, 'ws'),
    connectionParams: () => ({ authorization: `Bearer ${storedCredential() ?? ''}` }),
    lazy: true,
    retryAttempts: 3,
  });
  return socket;
}

/**
 * Subscribes to a subscription of src/console/operations.ts; returns the function that ends it.
 * @template {OperationName} K
 * @param {K} name
 * @param {Operations[K]['variables']} variables
 * @param {{ next: (data: Operations[K]['result']) => void, error?: (error: ApiError) => void, complete?: () => void }} sink
 * @returns {() => void}
 */
export function subscribe(name, variables, sink) {
  return subscriptions().subscribe(
    { query: OPERATIONS[name], operationName: name, variables: /** @type {Record<string, unknown>} */ (variables) },
    {
      next: (result) => {
        const first = result.errors?.[0];
        if (first) sink.error?.(new ApiError(first.message, String(first.extensions?.code ?? 'ERROR'), 0));
        else if (result.data) sink.next(/** @type {Operations[K]['result']} */ (/** @type {unknown} */ (result.data)));
      },
      error: (error) => {
        const message = error instanceof Error ? error.message : error instanceof CloseEvent ? `connection closed (${error.code} ${error.reason})` : 'subscription failed';
        sink.error?.(new ApiError(message, 'SUBSCRIPTION', 0));
      },
      complete: () => sink.complete?.(),
    },
  );
}

/**
 * One image of a study as the service renders it from the PACS (a PNG, longest side `maxSize`),
 * as an object URL for an <img>; the caller revokes it. Null with the reason when the service
 * has no image endpoint or the PACS cannot give the image.
 * @param {string} studyInstanceUid
 * @param {string} sopInstanceUid
 * @param {number} maxSize
 * @returns {Promise<{ url: string } | { url: null, reason: string }>}
 */
export async function fetchImage(studyInstanceUid, sopInstanceUid, maxSize) {
  const url = serviceUrl(`../images/${encodeURIComponent(studyInstanceUid)}/${encodeURIComponent(sopInstanceUid)}.png?maxSize=${maxSize}`);
  /** @type {Response} */
  let response;
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${storedCredential() ?? ''}` } });
  } catch {
    return { url: null, reason: 'the service cannot be reached' };
  }
  if (response.ok) return { url: URL.createObjectURL(await response.blob()) };
  /** @type {{ error?: string, errors?: Array<{ message: string, extensions?: { code?: string } }> } | null} */
  const body = await response.json().catch(() => null);
  const message = body?.errors?.[0]?.message ?? body?.error ?? `answered ${response.status}`;
  if (response.status === 401) refused(new ApiError(message, 'UNAUTHENTICATED', 401));
  if (response.status === 404 && !body?.errors) return { url: null, reason: 'this service does not render images (no image endpoint); the heat map is shown alone' };
  return { url: null, reason: message };
}
