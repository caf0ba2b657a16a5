// GET /images/<Study Instance UID>/<SOP Instance UID>.png?maxSize=N: one image of a study the
// service knows, fetched from the PACS (WADO-RS, the stored encoding) and decoded by the
// project's decoder (the pipeline's pacsPixelFetcher, as training reads labelled images), sent
// as a grey PNG at screen size (longest side maxSize, 64..2048, default 1024), in the stored
// pixel matrix's orientation: the orientation of the heat map and of the marked
// regions, so the API's heat-map overlay lies on it unchanged. For the web console, which has
// no other way to show the pixels.
//
// Held to the API's rules: a Bearer credential (API key or JWT) of a clinician or admin, the
// per-caller rate limit, every answer (served, refused, not found) audited as `http.image` with
// the study as target. Only images recorded for that study are fetched, so it is no open proxy
// to the PACS. Rendered pictures are kept in a small cache (LRU), and at most two are rendered
// at once (decoding a full-field mammogram takes a core for a moment).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { MammocadError, type JsonValue } from '../domain/index.js';
import type { Store } from '../store/index.js';
import type { PixelFetcher } from '../training/datasets/labelled-images.js';
import { encodePngRgb } from '../training/evaluation/png.js';
import { AuthenticationError, roleAllows, type Actor, type Authenticator } from './auth.js';
import { RateLimiter } from './rate-limit.js';

export const IMAGE_PATH_PREFIX = '/images/';
export const DEFAULT_IMAGE_SIZE = 1024;
export const MIN_IMAGE_SIZE = 64;
export const MAX_IMAGE_SIZE = 2048;
const UID = /^[0-9]+(\.[0-9]+)*$/;
const CACHE_ENTRIES = 48;
const CONCURRENT_RENDERS = 2;

export interface ImageEndpointOptions {
  /** An image's decoded pixels from the PACS: pacsPixelFetcher(pacs) of src/pipeline/train-model-job.ts. */
  fetchPixels: PixelFetcher;
  store: Store;
  authenticator: Authenticator;
  logger: Logger;
  /** Requests a minute per caller (the API's `api.rateLimit.perKeyPerMinute`; 0: no limit). */
  perKeyPerMinute?: number;
}

interface Answer {
  status: number;
  code: string;
  message: string;
}

const answer = (status: number, code: string, message: string): Answer => ({ status, code, message });

export interface GreyPixels {
  width: number;
  height: number;
  /** Row-major, higher is brighter. */
  pixels: Float32Array | Uint16Array | Uint8Array;
  /** True when the decoder mirrored the image (the stored orientation is the mirror of `pixels`). */
  flippedHorizontally?: boolean;
}

/** `image` shrunk to `width` x `height` by averaging the pixels that fall into each output pixel. */
export function shrink(image: GreyPixels, width: number, height: number): Float32Array {
  const sums = new Float64Array(width * height);
  const counts = new Uint32Array(width * height);
  const column = new Uint32Array(image.width);
  for (let x = 0; x < image.width; x++) column[x] = Math.min(width - 1, Math.floor((x * width) / image.width));
  for (let y = 0; y < image.height; y++) {
    const row = Math.min(height - 1, Math.floor((y * height) / image.height)) * width;
    const from = y * image.width;
    for (let x = 0; x < image.width; x++) {
      sums[row + column[x]!]! += image.pixels[from + x]!;
      counts[row + column[x]!]!++;
    }
  }
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = counts[i]! > 0 ? sums[i]! / counts[i]! : 0;
  return out;
}

/** A grey image as 8-bit RGB at most `maxSize` on its longest side, in the stored orientation, from its background (black) to the 99.5th percentile of the rest (white). */
export function renderGrey(image: GreyPixels, maxSize: number): { width: number; height: number; rgb: Uint8Array } {
  const scale = Math.min(1, maxSize / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const plane = width === image.width && height === image.height ? Float32Array.from(image.pixels) : shrink(image, width, height);
  const [low, high] = displayWindow(plane, 0.995);
  const span = high > low ? high - low : 1;
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // The decoder may have mirrored the image (breast to the left): undo it.
      const source = y * width + (image.flippedHorizontally ? width - 1 - x : x);
      const g = Math.round(Math.min(255, Math.max(0, ((plane[source]! - low) / span) * 255)));
      const at = (y * width + x) * 3;
      rgb[at] = rgb[at + 1] = rgb[at + 2] = g;
    }
  }
  return { width, height, rgb };
}

/** The minimum (the background) and the `highQ` quantile of the pixels above it, from a 1024-bin histogram. */
function displayWindow(values: Float32Array, highQ: number): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!(max > min)) return [min, min + 1];
  const bins = new Uint32Array(1024);
  const width = (max - min) / bins.length;
  let counted = 0;
  for (const v of values) {
    if (v <= min) continue;
    bins[Math.min(bins.length - 1, Math.floor((v - min) / width))]!++;
    counted++;
  }
  if (counted === 0) return [min, max];
  let sum = 0;
  for (let i = 0; i < bins.length; i++) {
    sum += bins[i]!;
    if (sum >= highQ * counted) return [min, min + (i + 1) * width];
  }
  return [min, max];
}

export class ImageEndpoint {
  private readonly cache = new Map<string, Buffer>();
  private readonly inFlight = new Map<string, Promise<Buffer>>();
  private readonly limiter: RateLimiter;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly options: ImageEndpointOptions) {
    this.limiter = new RateLimiter(options.perKeyPerMinute ?? 600);
  }

  /** Handles a request under IMAGE_PATH_PREFIX. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { logger, authenticator } = this.options;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, answer(405, 'METHOD_NOT_ALLOWED', 'only GET'));
    let actor: Actor;
    try {
      actor = await authenticator.authenticate(req.headers.authorization);
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      logger.warn({ remote: req.socket.remoteAddress, reason: error.message }, 'image request refused: not authenticated');
      return send(res, answer(401, 'UNAUTHENTICATED', error.message), { 'www-authenticate': 'Bearer' });
    }
    const decision = this.limiter.take(actor.id);
    if (!decision.allowed) {
      return send(res, answer(429, 'RATE_LIMITED', `too many requests from this caller; retry after ${decision.retryAfterSeconds} s`), { 'retry-after': String(decision.retryAfterSeconds) });
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    // UIDs are digits and dots: nothing to decode, and anything else is refused below.
    const match = /^\/images\/([0-9.]{1,64})\/([0-9.]{1,64})\.png$/.exec(url.pathname);
    const [studyUid, sopUid] = match ? [match[1]!, match[2]!] : ['', ''];
    const sizeText = url.searchParams.get('maxSize');
    const maxSize = sizeText === null ? DEFAULT_IMAGE_SIZE : Number(sizeText);
    const details: Record<string, JsonValue> = { sopInstanceUid: sopUid.slice(0, 64), maxSize: Number.isFinite(maxSize) ? maxSize : String(sizeText).slice(0, 16) };
    // Whether the event was written: an image is sent only when its read is on the record (as
    // the GraphQL path refuses an answer whose audit write failed); refusals are sent anyway.
    const audit = (outcome: string): Promise<boolean> =>
      this.options.store.audit
        .record({ actor: actor.id, action: 'http.image', target: UID.test(studyUid) ? `study:${studyUid}` : null, details: { ...details, outcome, role: actor.role } })
        .then(
          () => true,
          (error: unknown) => {
            logger.error({ err: error instanceof Error ? error.message : String(error) }, 'could not write an audit event');
            return false;
          },
        );

    if (!roleAllows(actor.role, ['clinician'])) {
      await audit('denied');
      return send(res, answer(403, 'FORBIDDEN', `role ${actor.role} may not read images`));
    }
    if (!UID.test(studyUid) || !UID.test(sopUid)) {
      await audit('BAD_USER_INPUT');
      return send(res, answer(400, 'BAD_USER_INPUT', 'expected /images/<Study Instance UID>/<SOP Instance UID>.png'));
    }
    if (!(Number.isInteger(maxSize) && maxSize >= MIN_IMAGE_SIZE && maxSize <= MAX_IMAGE_SIZE)) {
      await audit('BAD_USER_INPUT');
      return send(res, answer(400, 'BAD_USER_INPUT', `maxSize must be an integer from ${MIN_IMAGE_SIZE} to ${MAX_IMAGE_SIZE}`));
    }
    const { store } = this.options;
    const [study, image] = await Promise.all([store.studies.findByUid(studyUid), store.images.findBySopInstanceUid(sopUid)]);
    if (!study || !image || image.studyId !== study.id) {
      await audit('NOT_FOUND');
      return send(res, answer(404, 'NOT_FOUND', `no image ${sopUid} in study ${studyUid}`));
    }
    let png: Buffer;
    try {
      png = await this.rendered(studyUid, image.seriesUid, sopUid, maxSize);
    } catch (error) {
      if (!(error instanceof MammocadError)) throw error;
      const status = error.code === 'PACS_NOT_FOUND' ? 404 : error.code.startsWith('PACS_') ? 502 : 422;
      await audit(error.code);
      logger.warn({ code: error.code, reason: error.message }, 'image could not be rendered');
      return send(res, answer(status, error.code, status === 502 ? `the PACS could not give the image: ${error.message}` : error.message));
    }
    if (!(await audit('ok'))) return send(res, answer(503, 'AUDIT_UNAVAILABLE', 'the read could not be recorded in the audit trail; try again'), { 'retry-after': '5' });
    res.writeHead(200, {
      'content-type': 'image/png',
      'content-length': String(png.length),
      // The browser may keep it for the session; no shared cache may.
      'cache-control': 'private, max-age=600',
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : png);
  }

  /** The PNG of one image at one size: from the cache, from a render already running, or rendered now. */
  private rendered(studyUid: string, seriesUid: string, sopUid: string, maxSize: number): Promise<Buffer> {
    const key = `${sopUid}@${maxSize}`;
    const cached = this.cache.get(key);
    if (cached) {
      this.cache.delete(key);
      this.cache.set(key, cached); // most recently used last
      return Promise.resolve(cached);
    }
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.withSlot(async () => {
        const pixels = await this.options.fetchPixels({ studyUid, seriesUid, sopInstanceUid: sopUid });
        const { width, height, rgb } = renderGrey(pixels, maxSize);
        return encodePngRgb(width, height, rgb);
      }).then(
        (png) => {
          this.inFlight.delete(key);
          this.cache.set(key, png);
          while (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
          return png;
        },
        (error: unknown) => {
          this.inFlight.delete(key);
          throw error;
        },
      );
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async withSlot<T>(work: () => Promise<T>): Promise<T> {
    while (this.running >= CONCURRENT_RENDERS) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await work();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

function send(res: ServerResponse, { status, code, message }: Answer, headers: Record<string, string> = {}): void {
  const text = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}
