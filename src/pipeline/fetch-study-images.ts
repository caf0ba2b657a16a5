// The fetch and decode stages of scoring a study: retrieve each eligible image from the PACS
// in its stored encoding (the next one while this one is decoded) and decode it. An image that
// cannot be decoded (corrupt stream, unsupported encoding, missing pixels) is recorded as failed
// with its reason and the others go on; a PACS fault is thrown (retryable) so the whole job is
// retried later. With the image
// checks (image-checks.ts), an image whose header is implausible or outside the model's
// intended use is skipped before its pixel data is fetched (from the metadata the select stage
// read; the file's own attributes are checked again before decoding), one whose
// pixels are implausible right after decoding: recorded as skipped with the reason, never
// scored.

import type { Logger } from 'pino';
import { DEFAULT_DECODE_RESOLUTION_MARGIN } from '../config/config.schema.js';
import { MammocadError, NoEligibleViewsError, type ImageRecord } from '../domain/index.js';
import type { DicomwebClient } from '../dicom/dicomweb-client.js';
import { readPart10, type NaturalizedDataset } from '../dicom/part10.js';
import { decodeImage, type DecodedImage, type DecodeOptions } from '../dicom/pixels/decode-image.js';
import { checkGreyImage } from '../ml/preprocess/index.js';
import type { ModelRuntime } from '../ml/runtime/index.js';
import type { Store } from '../store/index.js';
import { checkHeader, checkPixels, type ImageCheckOptions } from './image-checks.js';
import { studyRef } from './study-discovery.js';

/** Images of a study retrieved at once: the one being decoded and the next. */
const RETRIEVALS_IN_FLIGHT = 2;

/** Error codes that make one image unusable without affecting the others. */
const IMAGE_FAULTS = new Set(['DICOM_PARSE_FAILED', 'UNSUPPORTED_TRANSFER_SYNTAX', 'PIXEL_DECODE_FAILED', 'PACS_NOT_FOUND', 'PACS_RESPONSE_TOO_LARGE', 'MODEL_INPUT_INVALID']);

export interface FetchedImage {
  image: ImageRecord;
  /** The instance's attributes (without pixel data), for the report. */
  dataset: NaturalizedDataset;
  decoded: DecodedImage;
  fetchMs: number;
  /** What the score must carry: "outside the model's intended use: ..." when configured to score and flag. */
  flags: string[];
}

export interface FetchResult {
  fetched: FetchedImage[];
  failed: Array<{ image: ImageRecord; reason: string; code: string }>;
  /** Kept from scoring by the image checks, with the attributes read and the reason ("implausible image: ...", "outside the model's intended use: ..."). */
  skipped: Array<{ image: ImageRecord; dataset: NaturalizedDataset; reason: string }>;
}

/**
 * Fetches and decodes the eligible images. `checks`: the image checks and the active model's
 * intended use (scoreStudy always passes them), with the select stage's metadata by SOP
 * Instance UID (`headers`) for the checks before fetching; without, no image is checked.
 * `decode.minimumSize`: the pixels the model takes, so JPEG 2000 is decoded at the coarsest
 * resolution that keeps them (decode-image.ts).
 */
export async function fetchStudyImages(
  deps: { pacs: DicomwebClient; store: Store; logger: Logger },
  studyUid: string,
  images: ImageRecord[],
  checks?: ImageCheckOptions & { headers?: ReadonlyMap<string, NaturalizedDataset> },
  decode: Pick<DecodeOptions, 'minimumSize'> = {},
): Promise<FetchResult> {
  const log = deps.logger.child({ component: 'fetch', study: studyRef(studyUid) });
  const result: FetchResult = { fetched: [], failed: [], skipped: [] };
  const eligible = images.filter((i) => i.status === 'eligible');
  const skip = async (image: ImageRecord, dataset: NaturalizedDataset, reason: string) => {
    await deps.store.images.setStatus(image.sopInstanceUid, 'skipped', reason);
    result.skipped.push({ image, dataset, reason });
    log.info({ image: studyRef(image.sopInstanceUid), reason }, 'image skipped by the image checks');
  };
  // From the PACS's metadata first, so an image the header rules out is never fetched.
  const wanted: ImageRecord[] = [];
  for (const image of eligible) {
    const header = checks?.headers?.get(image.sopInstanceUid);
    const early = checks && header ? checkHeader(header, image.view, checks) : null;
    if (early?.skip) await skip(image, header!, early.skip);
    else wanted.push(image);
  }
  // The next image is retrieved while this one is decoded and checked (RETRIEVALS_IN_FLIGHT at
  // a time): the PACS round trip overlaps the decoding instead of following it.
  const retrievals = wanted.map(() => undefined as Promise<{ bytes: Uint8Array; fetchMs: number }> | undefined);
  // Ends a retrieval still running when this stage throws (a PACS fault fails the job, which
  // is retried): it would otherwise go on against the PACS, with its own retries.
  const stop = new AbortController();
  const retrieve = (i: number) => {
    if (i >= wanted.length || retrievals[i]) return;
    const image = wanted[i]!;
    const started = performance.now();
    const retrieval = deps.pacs.retrieveInstance(studyUid, image.seriesUid, image.sopInstanceUid, stop.signal).then(({ bytes }) => ({ bytes, fetchMs: performance.now() - started }));
    // Awaited in its turn below; one stopped because the stage threw is not waited for.
    retrieval.catch(() => {});
    retrievals[i] = retrieval;
  };
  try {
    for (const [i, image] of wanted.entries()) {
      for (let ahead = 0; ahead < RETRIEVALS_IN_FLIGHT; ahead++) retrieve(i + ahead);
      const source = `study ${studyRef(studyUid)}, image ${image.sopInstanceUid}`;
      try {
        const { bytes, fetchMs } = await retrievals[i]!;
        retrievals[i] = undefined; // the bytes are not held longer than this image's turn
        const file = readPart10(bytes, source);
        // Then from the file's own attributes, still before decoding: a PACS may leave attributes
        // out of its metadata (or the instance was not in it).
        const verdict = checks ? checkHeader(file.dataset, image.view, checks) : null;
        if (verdict?.skip) {
          await skip(image, file.dataset, verdict.skip);
          continue;
        }
        const decoded = await decodeImage(file, decode);
        // Checked here, image by image: the model runs on the whole study at once and would
        // otherwise refuse every image for one that is empty or not finite.
        checkGreyImage(decoded);
        const pixels = checks ? checkPixels(decoded, file.dataset, checks) : null;
        if (pixels?.skip) {
          await skip(image, file.dataset, pixels.skip);
          continue;
        }
        result.fetched.push({ image, dataset: file.dataset, decoded, fetchMs, flags: verdict?.flags ?? [] });
      } catch (error) {
        // Only a fault of this image's data (or the image gone from the PACS) makes the image
        // unusable; anything else (refused credentials, a database error) is about the whole job.
        if (!(error instanceof MammocadError) || !IMAGE_FAULTS.has(error.code)) throw error;
        await deps.store.images.setStatus(image.sopInstanceUid, 'failed', error.message);
        result.failed.push({ image, reason: error.message, code: error.code });
        log.warn({ image: studyRef(image.sopInstanceUid), code: error.code }, 'image could not be used');
      }
    }
  } finally {
    stop.abort(new Error('the fetch stage ended'));
  }
  // Nothing left because the checks skipped every image: the caller ends the study skipped.
  // Nothing left and an image failed (or no image at all): the study fails, as before.
  if (result.fetched.length === 0 && (result.failed.length > 0 || result.skipped.length === 0)) {
    const reasons = [...result.failed, ...result.skipped].map((f) => f.reason).join('; ') || 'the study has no eligible image';
    throw new NoEligibleViewsError(`study ${studyRef(studyUid)}`, reasons);
  }
  return result;
}

/**
 * What the decoder is told of the model's needs: its pre-processing's pixels times `margin`
 * (worker.decodeResolutionMargin), unless turned off. At margin 1 (the coarsest level that still
 * has them) the shipped model's probabilities of 3328 x 2560 phantoms moved by up to 0.03 from a
 * full decode, always upwards; at 2 (the default), by up to 0.02: its 'minmax' intensity scaling
 * reads the extreme pixels, which the wavelet's averaging lowers (docs/benchmarks.md).
 */
export function decodeOptions(runtime: Pick<ModelRuntime, 'minimumSize'>, atModelResolution = true, margin = DEFAULT_DECODE_RESOLUTION_MARGIN): Pick<DecodeOptions, 'minimumSize'> {
  if (!atModelResolution) return {};
  return {
    minimumSize: (stored) => {
      const { width, height } = runtime.minimumSize(stored);
      return { width: Math.ceil(width * margin), height: Math.ceil(height * margin) };
    },
  };
}
