// `mammocad score`: the scoring stages on files instead of a PACS study — read, select,
// decode, pre-process and infer with the active model, then aggregate per breast and exam.
// Bad files are reported with their reason and never stop the others.

import { readFile } from 'node:fs/promises';
import { MammocadError, aggregateScores, type AggregatedScores, type Laterality } from '../domain/index.js';
import { readPart10 } from '../dicom/part10.js';
import { decodeImage } from '../dicom/pixels/decode-image.js';
import { selectView, type SelectionPolicy } from '../dicom/view-selection.js';
import type { ModelRuntime } from '../ml/runtime/index.js';

export interface FileScore {
  file: string;
  sopInstanceUid: string | null;
  laterality: Laterality | null;
  view: string | null;
  status: 'scored' | 'skipped' | 'failed';
  probability: number | null;
  reason: string | null;
}

export interface FilesScore {
  images: FileScore[];
  /** Null when no image could be scored. */
  aggregate: AggregatedScores | null;
  threshold: number;
  models: string[];
}

export async function scoreFiles(files: string[], runtime: ModelRuntime, policy: SelectionPolicy): Promise<FilesScore> {
  const images: FileScore[] = [];
  for (const file of files) {
    const entry: FileScore = { file, sopInstanceUid: null, laterality: null, view: null, status: 'failed', probability: null, reason: null };
    images.push(entry);
    try {
      const dicom = readPart10(new Uint8Array(await readFile(file)), file);
      const decision = selectView(dicom.dataset, policy);
      Object.assign(entry, {
        sopInstanceUid: typeof dicom.dataset.SOPInstanceUID === 'string' ? dicom.dataset.SOPInstanceUID : null,
        laterality: decision.laterality,
        view: decision.view,
      });
      if (!decision.eligible) {
        Object.assign(entry, { status: 'skipped', reason: decision.reason ?? null });
        continue;
      }
      const decoded = await decodeImage(dicom);
      const [probability] = await runtime.score([decoded]);
      Object.assign(entry, { status: 'scored', probability });
    } catch (error) {
      entry.reason = error instanceof MammocadError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
    }
  }
  const scored = images.filter((i) => i.status === 'scored');
  const aggregate = scored.length
    ? aggregateScores(scored.map((i) => ({ sopInstanceUid: i.sopInstanceUid ?? i.file, laterality: i.laterality ?? 'U', probability: i.probability! })))
    : null;
  // The operating threshold of an ensemble is its members' mean threshold.
  const threshold = runtime.members.reduce((sum, m) => sum + m.threshold, 0) / runtime.members.length;
  return { images, aggregate, threshold, models: runtime.members.map((m) => m.version) };
}
