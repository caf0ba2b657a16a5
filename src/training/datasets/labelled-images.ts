// The service's own training data: the outcome labels clinicians recorded (store.labels) joined
// to the stored images they apply to, in the shared training form (dataset.ts). This is what
// "retrain on our own site's data" trains on: image-level labels only, no lesion outlines.
//
// - An image label applies to its image; a breast label to every usable image of that breast
//   in its study. An image with both gets one: the most authoritative source (pathology over
//   follow-up over a radiologist), then the latest, then the image label (the same rule as the
//   evaluation job, decisive-labels.ts).
// - Usable images are those the view selection accepted (eligible or scored). Everything left
//   out is recorded in `skipped` with the reason: labels of studies without images, of breasts
//   without a usable image, of images the selection refused, and labels overruled by another.
// - Pixels come from `fetchPixels`, which the pipeline implements with WADO-RS: this reader does
//   not know the PACS. Its errors (PACS unavailable, decode failures) reach the caller as they are.

import type { ImageRecord, LabelValue } from '../../domain/index.js';
import type { LabelledResult, Store } from '../../store/index.js';
import { trainingDataset, type DatasetSkip, type TrainingDataset, type TrainingImage, type TrainingPixels } from './dataset.js';
import { LABEL_AUTHORITY, decisiveLabels } from './decisive-labels.js';

/** What the PACS needs to hand out one instance (WADO-RS: study, series, instance). */
export interface StoredImageRef {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
}

/**
 * Pixels of one stored image. `flippedHorizontally` (as decodeImage reports it) is undone, so
 * that every data set hands out pixels as stored.
 */
export type PixelFetcher = (image: StoredImageRef) => Promise<TrainingPixels & { flippedHorizontally?: boolean }>;

const USABLE_STATUSES = new Set(['eligible', 'scored']);

/** Labels are read with labelledResults, which joins one model's predictions; none is wanted here. */
const NO_MODEL = '';

const describeLabel = (l: LabelledResult) => `${l.source} label ${l.labelId} (${l.value}, ${l.recordedAt.toISOString()})`;

/** True when `a` should decide over `b` (authority, then recency; a tie keeps `b`). */
function decides(a: LabelledResult, b: LabelledResult): boolean {
  return LABEL_AUTHORITY[a.source] > LABEL_AUTHORITY[b.source] || (LABEL_AUTHORITY[a.source] === LABEL_AUTHORITY[b.source] && a.recordedAt > b.recordedAt);
}

function mirrored(pixels: TrainingPixels['pixels'], width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    for (let a = y * width, b = a + width - 1; a < b; a++, b--) {
      const t = pixels[a]!;
      pixels[a] = pixels[b]!;
      pixels[b] = t;
    }
  }
}

/** Reads every recorded label and builds the data set of the stored images they label. */
export async function readLabelledImages(store: Store, fetchPixels: PixelFetcher): Promise<TrainingDataset> {
  const all = await store.labels.labelledResults(NO_MODEL);
  const decisive = new Set(decisiveLabels(all));
  const skipped: DatasetSkip[] = [];
  const winnerOf = new Map<string, LabelledResult>();
  for (const label of decisive) winnerOf.set(label.scope === 'image' ? `image:${label.imageId}` : `breast:${label.studyUid}:${label.laterality}`, label);
  for (const label of all) {
    if (decisive.has(label)) continue;
    const winner = winnerOf.get(label.scope === 'image' ? `image:${label.imageId}` : `breast:${label.studyUid}:${label.laterality}`)!;
    skipped.push({ item: `label ${label.labelId}`, reason: `${describeLabel(label)} is overruled by ${describeLabel(winner)}` });
  }

  const studies = new Map<string, Promise<ImageRecord[] | null>>();
  const imagesOf = (studyUid: string) => {
    let images = studies.get(studyUid);
    if (!images) {
      images = store.studies.findByUid(studyUid).then((study) => (study ? store.images.listByStudy(study.id) : null));
      studies.set(studyUid, images);
    }
    return images;
  };

  // Each usable image and the label that decides it.
  const chosen = new Map<string, { image: ImageRecord; label: LabelledResult; woman: string; studyUid: string }>();
  const offer = (image: ImageRecord, label: LabelledResult) => {
    const current = chosen.get(image.id);
    if (!current) {
      chosen.set(image.id, { image, label, woman: label.woman, studyUid: label.studyUid });
      return;
    }
    const imageFirst = (l: LabelledResult) => (l.scope === 'image' ? 1 : 0);
    const better = decides(label, current.label) || (!decides(current.label, label) && imageFirst(label) > imageFirst(current.label));
    const [winner, loser] = better ? [label, current.label] : [current.label, label];
    skipped.push({ item: `label ${loser.labelId}`, reason: `for image ${image.sopInstanceUid}, ${describeLabel(loser)} is overruled by ${describeLabel(winner)}` });
    if (better) chosen.set(image.id, { image, label, woman: label.woman, studyUid: label.studyUid });
  };

  for (const label of [...decisive].sort((a, b) => a.recordedAt.getTime() - b.recordedAt.getTime())) {
    const item = `label ${label.labelId}`;
    const images = await imagesOf(label.studyUid);
    if (!images) {
      skipped.push({ item, reason: `study ${label.studyUid} is not in the database` });
      continue;
    }
    if (images.length === 0) {
      skipped.push({ item, reason: `study ${label.studyUid} has no stored images` });
      continue;
    }
    if (label.scope === 'image') {
      const image = images.find((i) => i.id === label.imageId);
      if (!image) skipped.push({ item, reason: `image ${label.imageId} is not stored in study ${label.studyUid}` });
      else if (!USABLE_STATUSES.has(image.status)) skipped.push({ item, reason: `image ${image.sopInstanceUid} was not selected for the classifier (${image.status}${image.statusReason ? `: ${image.statusReason}` : ''})` });
      else if (image.laterality !== 'L' && image.laterality !== 'R') skipped.push({ item, reason: `image ${image.sopInstanceUid} has no breast side (laterality ${image.laterality})` });
      else offer(image, label);
      continue;
    }
    const breast = images.filter((i) => i.laterality === label.laterality);
    const usable = breast.filter((i) => USABLE_STATUSES.has(i.status));
    if (usable.length === 0) {
      const refused = breast.map((i) => `${i.sopInstanceUid} ${i.status}${i.statusReason ? ` (${i.statusReason})` : ''}`);
      skipped.push({ item, reason: `no usable ${label.laterality} image in study ${label.studyUid}${refused.length > 0 ? `: ${refused.join(', ')}` : ''}` });
      continue;
    }
    for (const image of usable) offer(image, label);
  }

  const images = [...chosen.values()].map(({ image, label, woman, studyUid }) => labelledImage(image, label, woman, studyUid, fetchPixels));
  return trainingDataset('labelled-images', images, skipped);
}

function labelledImage(image: ImageRecord, label: LabelledResult, woman: string, studyUid: string, fetchPixels: PixelFetcher): TrainingImage {
  const value: LabelValue = label.value;
  const malignant = value === 'malignant';
  const ref: StoredImageRef = { studyUid, seriesUid: image.seriesUid, sopInstanceUid: image.sopInstanceUid };
  return {
    id: image.sopInstanceUid,
    womanId: woman,
    laterality: image.laterality as 'L' | 'R',
    view: image.view ?? 'unknown',
    malignant,
    label: malignant ? 1 : 0,
    imageClass: value,
    lesions: [],
    attributes: { studyUid, labelId: label.labelId, labelScope: label.scope, labelSource: label.source },
    source: image.sopInstanceUid,
    loadPixels: async () => {
      const { width, height, pixels, pixelSpacingMm, flippedHorizontally } = await fetchPixels(ref);
      if (flippedHorizontally) mirrored(pixels, width, height);
      return { width, height, pixels, pixelSpacingMm };
    },
  };
}
