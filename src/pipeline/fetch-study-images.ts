// The fetch and decode stages of scoring a study: retrieve each eligible image from the PACS
// in its stored encoding and decode it. An image that cannot be decoded (corrupt stream,
// unsupported encoding, missing pixels) is recorded as failed with its reason and the others go
// on; a PACS fault is thrown (retryable) so the whole job is retried later.

import type { Logger } from 'pino';
import { MammocadError, NoEligibleViewsError, type ImageRecord } from '../domain/index.js';
import type { DicomwebClient } from '../dicom/dicomweb-client.js';
import { readPart10, type NaturalizedDataset } from '../dicom/part10.js';
import { decodeImage, type DecodedImage } from '../dicom/pixels/decode-image.js';
import { checkGreyImage } from '../ml/preprocess/index.js';
import type { Store } from '../store/index.js';
import { studyRef } from './study-discovery.js';

/** Error codes that make one image unusable without affecting the others. */
const IMAGE_FAULTS = new Set(['DICOM_PARSE_FAILED', 'UNSUPPORTED_TRANSFER_SYNTAX', 'PIXEL_DECODE_FAILED', 'PACS_NOT_FOUND', 'MODEL_INPUT_INVALID']);

export interface FetchedImage {
  image: ImageRecord;
  /** The instance's attributes (without pixel data), for the report. */
  dataset: NaturalizedDataset;
  decoded: DecodedImage;
  fetchMs: number;
}

export interface FetchResult {
  fetched: FetchedImage[];
  failed: Array<{ image: ImageRecord; reason: string; code: string }>;
}

export async function fetchStudyImages(
  deps: { pacs: DicomwebClient; store: Store; logger: Logger },
  studyUid: string,
  images: ImageRecord[],
): Promise<FetchResult> {
  const log = deps.logger.child({ component: 'fetch', study: studyRef(studyUid) });
  const result: FetchResult = { fetched: [], failed: [] };
  for (const image of images.filter((i) => i.status === 'eligible')) {
    const source = `study ${studyRef(studyUid)}, image ${image.sopInstanceUid}`;
    const started = performance.now();
    try {
      const { bytes } = await deps.pacs.retrieveInstance(studyUid, image.seriesUid, image.sopInstanceUid);
      const fetchMs = performance.now() - started;
      const file = readPart10(bytes, source);
      const decoded = await decodeImage(file);
      // Checked here, image by image: the model runs on the whole study at once and would
      // otherwise refuse every image for one that is empty or not finite.
      checkGreyImage(decoded);
      result.fetched.push({ image, dataset: file.dataset, decoded, fetchMs });
    } catch (error) {
      // Only a fault of this image's data (or the image gone from the PACS) makes the image
      // unusable; anything else (refused credentials, a database error) is about the whole job.
      if (!(error instanceof MammocadError) || !IMAGE_FAULTS.has(error.code)) throw error;
      await deps.store.images.setStatus(image.sopInstanceUid, 'failed', error.message);
      result.failed.push({ image, reason: error.message, code: error.code });
      log.warn({ image: studyRef(image.sopInstanceUid), code: error.code }, 'image could not be used');
    }
  }
  if (result.fetched.length === 0) {
    const reasons = result.failed.map((f) => f.reason).join('; ') || 'the study has no eligible image';
    throw new NoEligibleViewsError(`study ${studyRef(studyUid)}`, reasons);
  }
  return result;
}
