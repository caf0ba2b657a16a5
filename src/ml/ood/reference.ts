// The training distribution of the out-of-distribution statistic, as a package carries it: the
// file ood-reference.json (listed, hashed, in the manifest's files), pointed to by the
// manifest's `outOfDistribution` field, which also holds the flag threshold. The file:
//
//   {
//     "format": "mammocad-ood-reference/1",
//     "statistic": "input-histogram-nn-jsd", "statisticVersion": 1,
//     "preprocessingSpecSha256": "<sha256 of the canonical JSON of the spec the histograms were taken under>",
//     "bins": 64, "range": [low, high], "backgroundWeight": 0.25,   the histogram (input-histogram.ts)
//     "images": n,                                   training histograms kept (all, up to 20,000)
//     "histograms": "<base64 of n x bins float32, little-endian>",   one per kept training image
//     "scale": d99,                                  s = distance / scale
//     "percentile": 99,                              which percentile `scale` is
//     "distances": { "n", "mean", "p50", "p90", "p95", "p99", "max" },  the training images' own
//                                                    distances (to the nearest image of another woman)
//     "source": { "datasets": [...], "createdAt": "...", "notes"?: "..." }
//   }

import { z } from 'zod';
import type { PreprocessingSpec } from '../model-manifest.js';
import type { GreyImage } from '../preprocess/preprocess.js';
import { preprocessImage } from '../preprocess/preprocess.js';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../preprocess/preprocessing-hash.js';
import {
  DEFAULT_BACKGROUND_WEIGHT,
  DEFAULT_OOD_BINS,
  OOD_STATISTIC,
  OOD_STATISTIC_VERSION,
  contentMirrored,
  histogramSettingsFor,
  inputHistogram,
  jsDivergence,
  type HistogramSettings,
} from './input-histogram.js';

export const OOD_REFERENCE_FILE = 'ood-reference.json';
export const OOD_REFERENCE_FORMAT = 'mammocad-ood-reference/1';
/** The flag threshold a new reference gets: the training images' 99th percentile. */
export const DEFAULT_OOD_THRESHOLD = 1;
export const OOD_REFERENCE_PERCENTILE = 99;
/** Fewer training images give no spread to speak of (with few, the 99th percentile is about the largest). */
export const MIN_REFERENCE_IMAGES = 10;
/**
 * Most training histograms a reference keeps (an evenly spaced selection beyond): 20,000 x 64
 * float32 is 5 MB, and a search over them a few milliseconds per image.
 */
export const MAX_REFERENCE_IMAGES = 20_000;

const finite = z.number().finite();
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const oodReferenceSchema = z
  .strictObject({
    format: z.literal(OOD_REFERENCE_FORMAT),
    statistic: z.literal(OOD_STATISTIC),
    statisticVersion: z.literal(OOD_STATISTIC_VERSION),
    preprocessingSpecSha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'),
    bins: z.number().int().min(2).max(4096),
    range: z.tuple([finite, finite]).refine(([low, high]) => low < high, 'the low end must be below the high end'),
    backgroundWeight: z.number().positive().max(1),
    images: z.number().int().positive(),
    histograms: z.string().regex(BASE64, 'must be base64'),
    scale: z.number().positive().finite(),
    percentile: z.number().gt(0).max(100),
    distances: z.strictObject({ n: z.number().int().positive(), mean: finite, p50: finite, p90: finite, p95: finite, p99: finite, max: finite }),
    source: z.strictObject({ datasets: z.array(z.string()), createdAt: z.string(), notes: z.string().optional() }),
  })
  .refine((r) => Buffer.from(r.histograms, 'base64').byteLength === r.images * r.bins * 4, {
    message: 'must hold images x bins float32 values',
    path: ['histograms'],
  });

export type OodReference = z.infer<typeof oodReferenceSchema>;

/** One image's statistic: s (1 = the training images' 99th percentile) and whether it is above the threshold. */
export interface OodResult {
  outOfDistribution: number;
  outOfDistributionFlagged: boolean;
}

/**
 * A package's reference ready to score with: the training histograms decoded, and the flag
 * threshold of the package's manifest.
 */
export class OodModel {
  readonly settings: HistogramSettings;
  private readonly prototypes: Float64Array;

  constructor(
    readonly reference: OodReference,
    readonly threshold: number,
  ) {
    this.settings = { bins: reference.bins, range: reference.range, backgroundWeight: reference.backgroundWeight };
    this.prototypes = Float64Array.from(decodeHistograms(reference.histograms));
  }

  /** s for a histogram taken with `settings`. */
  statistic(histogram: ArrayLike<number>): OodResult {
    const s = Math.sqrt(nearestDivergence(histogram, this.prototypes, this.settings.bins, () => false)) / this.reference.scale;
    return { outOfDistribution: s, outOfDistributionFlagged: s > this.threshold };
  }

  /** s for a prepared input of the reference's pre-processing. */
  statisticOf(prepared: Parameters<typeof inputHistogram>[0], mirrored: boolean): OodResult {
    return this.statistic(inputHistogram(prepared, this.settings, mirrored));
  }
}

/** Accumulates the histograms of training images (with their woman, or other group) and builds their reference. */
export class OodReferenceBuilder {
  readonly settings: HistogramSettings;
  private readonly histograms: Float64Array[] = [];
  private readonly groups: string[] = [];

  constructor(
    readonly spec: PreprocessingSpec,
    options: { bins?: number; backgroundWeight?: number } = {},
  ) {
    this.settings = histogramSettingsFor(spec, options.bins ?? DEFAULT_OOD_BINS, options.backgroundWeight ?? DEFAULT_BACKGROUND_WEIGHT);
  }

  get count(): number {
    return this.histograms.length;
  }

  /** Pre-processes a grey image as the runtime does and adds its histogram. */
  addImage(image: GreyImage, group: string): void {
    this.addHistogram(inputHistogram(preprocessImage(image, this.spec), this.settings, contentMirrored(image, this.spec)), group);
  }

  /** Adds a histogram taken with `settings`; `group` (the woman) keeps her other images from being her nearest neighbours. */
  addHistogram(histogram: Float64Array, group: string): void {
    if (histogram.length !== this.settings.bins) throw new RangeError(`a histogram of ${histogram.length} bins; the reference has ${this.settings.bins}`);
    this.histograms.push(histogram);
    this.groups.push(group);
  }

  build(source: OodReference['source']): OodReference {
    return buildOodReference(this.histograms, this.groups, this.settings, this.spec, source);
  }
}

/**
 * The reference of a set of training histograms (each taken with `settings`; `groups[i]` is the
 * woman of histogram i). Each training image's own distance is to the nearest training image of
 * another woman: her other views are near copies, and a new woman has none in the reference.
 */
export function buildOodReference(
  histograms: readonly Float64Array[],
  groups: readonly string[],
  settings: HistogramSettings,
  spec: PreprocessingSpec,
  source: OodReference['source'],
): OodReference {
  if (histograms.length !== groups.length) throw new RangeError(`${histograms.length} histograms but ${groups.length} groups`);
  if (histograms.length < MIN_REFERENCE_IMAGES) {
    throw new RangeError(`an out-of-distribution reference needs at least ${MIN_REFERENCE_IMAGES} training images; got ${histograms.length}`);
  }
  const { bins } = settings;
  const kept = evenlySpaced(histograms.length, MAX_REFERENCE_IMAGES);
  const prototypes = new Float64Array(kept.length * bins);
  // Rounded as the file stores them, so the scale is measured against what the runtime loads.
  kept.forEach((index, k) => prototypes.set(histograms[index]!.map(Math.fround), k * bins));
  const keptGroups = kept.map((index) => groups[index]!);
  const distances = histograms
    .map((h, i) => Math.sqrt(nearestDivergence(h, prototypes, bins, (k) => keptGroups[k] === groups[i])))
    .filter((d) => Number.isFinite(d))
    .sort((a, b) => a - b);
  if (distances.length < MIN_REFERENCE_IMAGES) {
    throw new RangeError(`an out-of-distribution reference needs images of at least two women (${distances.length} images have a neighbour of another woman)`);
  }
  const at = (p: number) => percentile(distances, p);
  const scale = at(OOD_REFERENCE_PERCENTILE);
  if (!(scale > 0)) throw new RangeError('the training images have identical histograms: no spread to scale the distance by');
  return {
    format: OOD_REFERENCE_FORMAT,
    statistic: OOD_STATISTIC,
    statisticVersion: OOD_STATISTIC_VERSION,
    preprocessingSpecSha256: preprocessingSpecSha256(spec),
    bins,
    range: settings.range,
    backgroundWeight: settings.backgroundWeight,
    images: kept.length,
    histograms: encodeHistograms(prototypes),
    scale,
    percentile: OOD_REFERENCE_PERCENTILE,
    distances: { n: distances.length, mean: distances.reduce((s, d) => s + d, 0) / distances.length, p50: at(50), p90: at(90), p95: at(95), p99: scale, max: distances.at(-1)! },
    source,
  };
}

/**
 * What ties a reference to its pre-processing: sha256 of the spec's canonical JSON. Unlike
 * preprocessingHash it leaves out the pre-processing code's version, so a change of that code
 * does not make every package with a reference unreadable (recompute the references then).
 */
export function preprocessingSpecSha256(spec: PreprocessingSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

/** The reference file's bytes as a package stores them. */
export function oodReferenceBytes(reference: OodReference): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(reference, null, 2)}\n`);
}

/**
 * The smallest JS divergence between `histogram` and a prototype not `excluded`; Infinity when
 * every prototype is excluded.
 */
function nearestDivergence(histogram: ArrayLike<number>, prototypes: Float64Array, bins: number, excluded: (k: number) => boolean): number {
  let best = Infinity;
  const count = prototypes.length / bins;
  for (let k = 0; k < count; k++) {
    if (excluded(k)) continue;
    const d = jsDivergence(histogram, 0, prototypes, k * bins, bins, best);
    if (d < best) best = d;
  }
  return best;
}

function encodeHistograms(values: Float64Array): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

function decodeHistograms(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const values = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < values.length; i++) values[i] = bytes.readFloatLE(i * 4);
  return values;
}

/** `limit` indices spread evenly over 0..n-1 (all of them when n <= limit). */
function evenlySpaced(n: number, limit: number): number[] {
  if (n <= limit) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: limit }, (_, i) => Math.floor((i * n) / limit));
}

/** Linear interpolation between order statistics (numpy's default) of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  const rank = (p / 100) * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.min(sorted.length - 1, lower + 1);
  return sorted[lower]! + (rank - lower) * (sorted[upper]! - sorted[lower]!);
}

/**
 * The statistic of a breast or an exam from its images': the largest value, flagged when any
 * image is; nulls when no image has one (a model without a reference).
 */
export function combineOod(results: ReadonlyArray<{ outOfDistribution: number | null; outOfDistributionFlagged: boolean | null }>): {
  outOfDistribution: number | null;
  outOfDistributionFlagged: boolean | null;
} {
  const known = results.filter((r) => r.outOfDistribution !== null);
  if (known.length === 0) return { outOfDistribution: null, outOfDistributionFlagged: null };
  return { outOfDistribution: Math.max(...known.map((r) => r.outOfDistribution!)), outOfDistributionFlagged: known.some((r) => r.outOfDistributionFlagged === true) };
}
