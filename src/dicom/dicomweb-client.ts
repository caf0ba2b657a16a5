// A DICOMweb client for any standard PACS: QIDO-RS (search), WADO-RS (retrieve, without
// transcoding: transfer-syntax=*), STOW-RS (store). Node's fetch, basic or bearer auth,
// a timeout per request, and retries with exponential backoff on connection errors and 5xx.
//
// Errors: PacsUnavailableError (retryable: unreachable, timeout, 5xx) or PacsRequestError
// (4xx: the request itself is wrong, or we are not allowed). Messages name the request but
// never the credentials.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { MammocadError, PacsRequestError, PacsUnavailableError } from '../domain/errors.js';
import { BodyTooLargeError, boundaryOf, buildMultipart, parseMultipart, readBody, readPrefix } from './multipart.js';
import { transferSyntaxOf } from './file-meta.js';

/** One DICOM JSON object (PS3.18 F.2): tag -> { vr, Value }. */
export type DicomJson = Record<string, { vr: string; Value?: unknown[]; InlineBinary?: string; BulkDataURI?: string }>;

export interface DicomwebClientOptions {
  /** The DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web */
  url: string;
  username?: string;
  password?: string;
  token?: string;
  timeoutMs: number;
  /** Attempts per request for retryable failures (default 3). */
  attempts?: number;
  /** First backoff delay; doubles per attempt (default 250 ms). */
  backoffMs?: number;
  /** Largest response accepted, in bytes (default 2 GiB). */
  maxResponseBytes?: number;
  /** Largest JSON answer (QIDO, metadata, STOW) accepted, in bytes (default 256 MiB). */
  maxJsonBytes?: number;
  logger?: Logger;
}

/** STOW failure reason 0111H: "Duplicate SOP Instance" (PS3.18 Annex I). */
const DUPLICATE_SOP_INSTANCE = 0x0111;

/** What a STOW-RS answer says about one instance the PACS refused (an item of its Failed SOP Sequence). */
export interface StowFailure {
  sopInstanceUid: string;
  /** Failure Reason (0008,1197), e.g. 0xC000; null when the PACS gave none. */
  reason: number | null;
}

/** The PACS answered a STOW-RS but refused some instances in its Failed SOP Sequence. */
export class StowRefusedError extends PacsRequestError {
  constructor(readonly failures: StowFailure[]) {
    const reasons = [...new Set(failures.map((f) => (f.reason === null ? 'none given' : `${f.reason.toString(16).toUpperCase().padStart(4, '0')}H`)))];
    super(`STOW: the PACS refused ${failures.length} instance(s) (failure reason ${reasons.join(', ')})`, 409);
    // A7xxH, "Refused: Out of Resources" (PS3.4): a full disk or queue clears; any other refusal
    // is about the object and comes back the same.
    (this as { retryable: boolean }).retryable = failures.every((f) => f.reason !== null && f.reason >= 0xa700 && f.reason <= 0xa7ff);
  }
}

/** The body's size as its headers declare it; null when unknown (a content-encoded body's Content-Length is the encoded size, not what we will hold). */
function declaredLength(response: Response): number | null {
  const length = response.headers.get('content-encoding') ? null : response.headers.get('content-length');
  return length ? Number(length) : null;
}

/** The Authorization header for the configured credentials: a bearer token, else basic, else none. */
export function authorizationOf(credentials: { username?: string; password?: string; token?: string }): string | undefined {
  if (credentials.token) return `Bearer ${credentials.token}`;
  if (credentials.username !== undefined) return `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ''}`).toString('base64')}`;
  return undefined;
}

export interface RetrievedInstance {
  /** The DICOM Part 10 bytes as stored in the PACS (not transcoded). */
  bytes: Uint8Array;
  /** The transfer syntax the PACS declared for the part, if it did. */
  transferSyntaxUid: string | null;
}

export class DicomwebClient {
  private readonly base: string;
  private readonly authorization: string | undefined;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxResponseBytes: number;

  constructor(private readonly options: DicomwebClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.authorization = authorizationOf(options);
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.backoffMs = options.backoffMs ?? 250;
    this.maxResponseBytes = options.maxResponseBytes ?? 2 ** 31;
  }

  /** QIDO-RS: `level` is a path such as "studies" or "studies/{uid}/series". */
  async search(level: string, query: Record<string, string | number | string[] | undefined> = {}): Promise<DicomJson[]> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) params.append(key, String(v));
    }
    const qs = params.toString();
    const response = await this.request('GET', `/${level}${qs ? `?${qs}` : ''}`, { accept: 'application/dicom+json' });
    if (response.status === 204) return [];
    return (await this.json(response, `QIDO ${level}`)) as DicomJson[];
  }

  /**
   * QIDO-RS over every page of results (limit/offset), until a page brings nothing new. A short
   * page does not end it: a PACS may cap its pages below our limit (PS3.18 lets it). The next
   * offset is what came back so far, and a page that repeats earlier results (a PACS that
   * ignores offset) ends the search instead of looping on it. At most `maxPages` pages.
   */
  async searchAll(level: string, query: Record<string, string | number | string[] | undefined> = {}, pageSize = 500, maxPages = 1_000): Promise<DicomJson[]> {
    const all: DicomJson[] = [];
    const seen = new Set<string>();
    for (let pages = 0; pages < maxPages; pages++) {
      const page = await this.search(level, { ...query, limit: pageSize, offset: all.length });
      const fresh = page.filter((item) => {
        const key = JSON.stringify(item);
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      all.push(...fresh);
      if (fresh.length === 0) return all;
    }
    throw new MammocadError('PACS_TOO_MANY_RESULTS', `QIDO ${level}: more than ${maxPages} pages of results; narrow the search`);
  }

  /** WADO-RS metadata of a study, series or instance ("studies/{uid}[/series/{uid}...]"). */
  async metadata(path: string): Promise<DicomJson[]> {
    const response = await this.request('GET', `/${path}/metadata`, { accept: 'application/dicom+json' });
    return (await this.json(response, `WADO metadata ${path}`)) as DicomJson[];
  }

  /** WADO-RS: one instance in its stored transfer syntax. `signal`: the caller's abort (no retry after it). */
  async retrieveInstance(studyUid: string, seriesUid: string, sopInstanceUid: string, signal?: AbortSignal): Promise<RetrievedInstance> {
    const path = `/studies/${studyUid}/series/${seriesUid}/instances/${sopInstanceUid}`;
    const response = await this.request('GET', path, { accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' }, undefined, signal);
    const parts = await this.multipart(response, `WADO instance ${sopInstanceUid}`);
    if (parts.length !== 1) throw new PacsRequestError(`WADO instance ${sopInstanceUid}: expected 1 part, got ${parts.length}`, 502);
    const part = parts[0]!;
    const declared = /transfer-syntax=([0-9.]+)/i.exec(part.headers['content-type'] ?? '')?.[1];
    return { bytes: part.body, transferSyntaxUid: declared ?? transferSyntaxOf(part.body) };
  }

  /**
   * WADO-RS frames: the pixel data of the given frames (1-based), each in the stored encoding
   * (compressed frames stay compressed), without the rest of the instance.
   */
  async retrieveFrames(studyUid: string, seriesUid: string, sopInstanceUid: string, frames: number[]): Promise<Uint8Array[]> {
    if (frames.length === 0 || frames.some((f) => !Number.isInteger(f) || f < 1)) {
      throw new PacsRequestError(`WADO frames ${sopInstanceUid}: frame numbers must be integers from 1`, 400);
    }
    const path = `/studies/${studyUid}/series/${seriesUid}/instances/${sopInstanceUid}/frames/${frames.join(',')}`;
    const response = await this.request('GET', path, { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' });
    const parts = await this.multipart(response, `WADO frames ${sopInstanceUid}`);
    if (parts.length !== frames.length) throw new PacsRequestError(`WADO frames ${sopInstanceUid}: asked for ${frames.length} frame(s), got ${parts.length}`, 502);
    return parts.map((p) => p.body);
  }

  /** STOW-RS: stores instances (into `studyUid` when given); returns the PACS's response. */
  async store(instances: Uint8Array[], studyUid?: string): Promise<DicomJson> {
    const { body, contentType } = buildMultipart(instances);
    // A 409 carries the same failure list as a 200 with failures (PS3.18 10.5.3): read it too.
    const response = await this.request('POST', studyUid ? `/studies/${studyUid}` : '/studies', {
      accept: 'application/dicom+json',
      'content-type': contentType,
    }, body, undefined, [409]);
    const reading = this.json(response, 'STOW');
    const result = (await (response.status === 409 ? reading.catch(() => ({})) : reading)) as DicomJson;
    // 00081198 FailedSOPSequence: the PACS refused some instances even with a 200. A refusal
    // because the instance is already stored (failure reason 0111H) is success for a retry.
    const failed = (result['00081198']?.Value ?? []) as DicomJson[];
    if (response.status === 409 && failed.length === 0) throw new PacsRequestError('POST /studies: the PACS answered 409, request rejected (no failure list)', 409);
    const refused = failed.filter((item) => Number(item['00081197']?.Value?.[0]) !== DUPLICATE_SOP_INSTANCE);
    if (refused.length > 0) {
      throw new StowRefusedError(
        refused.map((item) => {
          const reason = Number(item['00081197']?.Value?.[0] ?? Number.NaN);
          return { sopInstanceUid: String(item['00081155']?.Value?.[0] ?? ''), reason: Number.isInteger(reason) ? reason : null };
        }),
      );
    }
    return result;
  }

  private async json(response: Response, what: string): Promise<unknown> {
    let text: string;
    try {
      text = response.body ? Buffer.from(await readBody(response.body, declaredLength(response), this.options.maxJsonBytes ?? 2 ** 28)).toString('utf8') : '';
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw new MammocadError('PACS_RESPONSE_TOO_LARGE', `${what}: ${error.message}`, { cause: error });
      // The timeout also covers the body; a connection cut mid-body is as transient as one refused.
      throw new PacsUnavailableError(`${what}: the answer was cut off (${error instanceof Error ? error.message : String(error)})`, { cause: error });
    }
    try {
      return text ? JSON.parse(text) : [];
    } catch {
      throw new PacsUnavailableError(`${what}: the PACS answered with invalid JSON`, { status: response.status });
    }
  }

  private async multipart(response: Response, what: string) {
    const boundary = boundaryOf(response.headers.get('content-type') ?? '');
    if (!boundary) throw new PacsRequestError(`${what}: expected a multipart response, got '${response.headers.get('content-type')}'`, 502);
    try {
      const body = await readBody(response.body!, declaredLength(response), this.maxResponseBytes);
      return parseMultipart(body, boundary);
    } catch (error) {
      // Too large is what this PACS will answer again: that image fails, saying so, not the study.
      if (error instanceof BodyTooLargeError) throw new MammocadError('PACS_RESPONSE_TOO_LARGE', `${what}: ${error.message}`, { cause: error });
      // A connection cut mid-body is a transient fault; the PACS may serve it whole next time.
      throw new PacsUnavailableError(`${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  /** One HTTP exchange with retries; returns only 2xx responses and those of `answered` (statuses whose body the caller reads). */
  private async request(method: string, path: string, headers: Record<string, string>, body?: Uint8Array, abort?: AbortSignal, answered: readonly number[] = []): Promise<Response> {
    const url = `${this.base}${path}`;
    const what = `${method} ${path.split('?')[0]}`;
    let lastError: PacsUnavailableError | undefined;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await sleep(this.backoffMs * 2 ** (attempt - 2));
      // The caller gave up (the job failed meanwhile): no further attempt.
      abort?.throwIfAborted();
      const timeout = AbortSignal.timeout(this.options.timeoutMs);
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          // DICOM pixel data barely compresses; gzip would only cost CPU on both ends (and
          // hide the real size of the body).
          headers: { 'accept-encoding': 'identity', ...headers, ...(this.authorization ? { authorization: this.authorization } : {}) },
          body,
          signal: abort ? AbortSignal.any([abort, timeout]) : timeout,
        });
      } catch (error) {
        if (abort?.aborted) throw abort.reason;
        const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        lastError = new PacsUnavailableError(
          `${what}: ${timedOut ? `no answer within ${this.options.timeoutMs} ms` : `cannot reach the PACS (${cause ?? (error as Error).message})`}`,
          { cause: error },
        );
        this.options.logger?.warn({ attempt, request: what, err: lastError.message }, 'PACS request failed');
        continue;
      }
      if (response.ok || answered.includes(response.status)) return response;
      const detail = (await readPrefix(response, 4096).catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
      // 408 (the PACS timed our request out) and 429 (too many) pass, as 5xx do: try again.
      if (response.status >= 500 || response.status === 429 || response.status === 408) {
        lastError = new PacsUnavailableError(`${what}: the PACS answered ${response.status}${detail ? ` (${detail})` : ''}`, { status: response.status });
        this.options.logger?.warn({ attempt, request: what, status: response.status }, 'PACS request failed');
        continue;
      }
      const reason = response.status === 401 || response.status === 403 ? 'credentials refused' : response.status === 404 ? 'not found' : 'request rejected';
      throw new PacsRequestError(`${what}: the PACS answered ${response.status}, ${reason}${detail ? ` (${detail})` : ''}`, response.status);
    }
    throw lastError!;
  }
}
