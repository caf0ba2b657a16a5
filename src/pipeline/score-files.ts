// `mammocad score`: the scoring stages on files instead of a PACS study — read, select,
// check the header, decode, check the pixels, pre-process and infer with the active model, then
// aggregate per breast and exam. Bad files are reported with their reason and never stop the
// others; an implausible image or one outside the model's intended use is skipped with its
// reason (or, configured so, scored with a flag), as in the PACS pipeline (image-checks.ts).
// Asked for heat maps (`mammocad score --heatmap`), it scores with them from the same run and
// hands each scored image's map, with the decoded image it belongs to, to the caller's sink.

import { readFile } from 'node:fs/promises';
import { MammocadError, aggregateScores, type AggregatedScores, type HeatMap, type Laterality } from '../domain/index.js';
import { readPart10 } from '../dicom/part10.js';
import { decodeImage } from '../dicom/pixels/decode-image.js';
import { selectView, type SelectionPolicy } from '../dicom/view-selection.js';
import type { GreyImage } from '../ml/preprocess/index.js';
import type { HeatMapScore, ModelRuntime } from '../ml/runtime/index.js';
import { decodeOptions } from './fetch-study-images.js';
import { DEFAULT_IMAGE_CHECK_OPTIONS, checkHeader, checkPixels, outOfDistributionFlag, type ImageCheckOptions } from './image-checks.js';

export interface FileScore {
  file: string;
  sopInstanceUid: string | null;
  laterality: Laterality | null;
  view: string | null;
  status: 'scored' | 'skipped' | 'failed';
  probability: number | null;
  reason: string | null;
  /** The out-of-distribution statistic (docs/ood.md; 1 = the training images' 99th percentile), null when the model has no reference. */
  outOfDistribution: number | null;
  /** What the score carries: "outside the model's intended use: ..." when configured to score and flag, "out of distribution: ..." above 1. */
  flags: string[];
  /** Only when heat maps were asked for: what the sink made of the image's map (e.g. the picture written); null when not scored. */
  heatMap?: string | null;
}

/**
 * Takes one scored image's heat map (on the image's probability scale, in its stored pixel
 * geometry) with the decoded image it belongs to, and says what it made of it (e.g. the file
 * written), which the image's line then carries. A sink that throws fails that image (with its
 * reason), not the others.
 */
export type HeatMapSink = (image: Readonly<FileScore>, decoded: GreyImage, heatMap: HeatMap) => Promise<string>;

export interface ScoreFilesOptions {
  /** Score with heat maps and pass each scored image's map here; the runtime must give maps (heatMapProblem null). */
  heatMaps?: HeatMapSink;
  /** worker.decodeAtModelResolution, as the service decodes (default true): JPEG 2000 at the coarsest resolution the model needs. */
  decodeAtModelResolution?: boolean;
  /** worker.decodeResolutionMargin (default 2). */
  decodeResolutionMargin?: number;
}

export interface FilesScore {
  images: FileScore[];
  /** Null when no image could be scored. */
  aggregate: AggregatedScores | null;
  threshold: number;
  models: string[];
}

/**
 * `checks`: the image checks and the active model's intended use (default: the default
 * thresholds, no intended use). An ensemble has no single intended use: not checked.
 */
export async function scoreFiles(
  files: string[],
  runtime: ModelRuntime,
  policy: SelectionPolicy,
  checks: ImageCheckOptions = DEFAULT_IMAGE_CHECK_OPTIONS,
  { heatMaps, decodeAtModelResolution, decodeResolutionMargin }: ScoreFilesOptions = {},
): Promise<FilesScore> {
  // Refused before any file is read: maps asked for and none to give is a setup problem, not an image's.
  if (heatMaps && runtime.heatMapProblem !== null) throw new MammocadError('HEAT_MAPS_UNAVAILABLE', runtime.heatMapProblem);
  const options: ImageCheckOptions = runtime.members.length === 1 ? checks : { ...checks, intendedUse: null };
  const images: FileScore[] = [];
  for (const file of files) {
    const entry: FileScore = { file, sopInstanceUid: null, laterality: null, view: null, status: 'failed', probability: null, outOfDistribution: null, reason: null, flags: [] };
    if (heatMaps) entry.heatMap = null;
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
      const header = checkHeader(dicom.dataset, decision.view, options);
      if (header.skip) {
        Object.assign(entry, { status: 'skipped', reason: header.skip });
        continue;
      }
      const decoded = await decodeImage(dicom, decodeOptions(runtime, decodeAtModelResolution, decodeResolutionMargin));
      const pixels = checkPixels(decoded, dicom.dataset, options);
      if (pixels.skip) {
        Object.assign(entry, { status: 'skipped', reason: pixels.skip });
        continue;
      }
      // One run either way: scoreWithHeatMaps is scoreDetailed plus the maps.
      const [{ probability, outOfDistribution, outOfDistributionFlagged, heatMap }] = (heatMaps
        ? await runtime.scoreWithHeatMaps([decoded])
        : await runtime.scoreDetailed([decoded]).then((scores) => scores.map((score) => ({ ...score, heatMap: null })))) as [HeatMapScore];
      const flags = outOfDistributionFlagged ? [...header.flags, outOfDistributionFlag(outOfDistribution!)] : header.flags;
      const scored = { status: 'scored' as const, probability, outOfDistribution, flags };
      // The picture is part of what was asked for: an image whose map the sink cannot take is
      // failed with the sink's reason (below), not reported as scored without it.
      if (heatMaps && heatMap) entry.heatMap = await heatMaps({ ...entry, ...scored }, decoded, heatMap);
      Object.assign(entry, scored);
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
