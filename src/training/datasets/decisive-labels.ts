// Which recorded label counts when one target (an image, or a breast of a study) has several:
// the most authoritative source (pathology over follow-up over a radiologist's call), then the
// latest. Shared by evaluation (src/pipeline/evaluate-model-job.ts) and training
// (labelled-images.ts), so both judge a model against the same truth.

import type { LabelSource } from '../../domain/index.js';
import type { LabelledResult } from '../../store/index.js';

/** Which label wins when one target has several: pathology over follow-up over a radiologist's call. */
export const LABEL_AUTHORITY: Record<LabelSource, number> = { pathology: 3, 'follow-up': 2, radiologist: 1 };

/** One label per target (image or breast): the most authoritative, then the latest. */
export function decisiveLabels(rows: readonly LabelledResult[]): LabelledResult[] {
  const best = new Map<string, LabelledResult>();
  for (const row of rows) {
    const key = row.scope === 'image' ? `image:${row.imageId}` : `breast:${row.studyUid}:${row.laterality}`;
    const current = best.get(key);
    const better =
      !current ||
      LABEL_AUTHORITY[row.source] > LABEL_AUTHORITY[current.source] ||
      (LABEL_AUTHORITY[row.source] === LABEL_AUTHORITY[current.source] && row.recordedAt > current.recordedAt);
    if (better) best.set(key, row);
  }
  return [...best.values()];
}
