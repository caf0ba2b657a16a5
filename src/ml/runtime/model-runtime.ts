// Scoring grey mammograms with one model package or an ensemble of them, on onnxruntime-node:
// images in, P(malignant) per image out. For each package, images are prepared with that
// package's own pre-processing spec, run in batches, and averaged over the spec's test-time
// flips; an ensemble averages the packages' P(malignant) (the paper's model averaging).
//
//   const runtime = await createModelRuntime([await readPackage(dir)], { intraOpThreads: 2 });
//   const [pMalignant] = await runtime.score([decodedImage]);
//   const [{ probability, outOfDistribution, outOfDistributionFlagged }] = await runtime.scoreDetailed([decodedImage]);
//   const [{ heatMap }] = await runtime.scoreWithHeatMaps([decodedImage]); // null: runtime.heatMapProblem says why
//   await runtime.dispose();
//
// scoreDetailed adds the out-of-distribution statistic (src/ml/ood, docs/ood.md), taken on the
// same prepared input as the probability: per member against its package's reference, then the
// mean over the members that have one, flagged when any of them flags it.
//
// scoreWithHeatMaps adds, from the same runs, each image's heat map (src/domain/heatmap.ts) when
// every member's model has the "heatmap" output (heatMapProblem says why not otherwise): per
// member, the cells' logits of P(malignant) averaged over the test-time flips (each flip undone
// first), turned into a probability and calibrated like the image's, mapped from the model input
// back onto the source image (src/ml/heatmap/heat-map-geometry.ts); then the mean over the
// members on the finest member's grid. score() and scoreDetailed() run exactly as before.

import { MammocadError, ModelInputError, ValidationError } from '../../domain/errors.js';
import type { HeatMap } from '../../domain/heatmap.js';
import { applyCalibration, sigmoid } from '../calibration.js';
import { imageGridSize, modelGridToImage, unflipGrid, type GridSize, type InputPlacement } from '../heatmap/heat-map-geometry.js';
import { contentMirrored } from '../ood/input-histogram.js';
import { checkGreyImage, fitImage, preprocessImage, toBatch, type GreyImage } from '../preprocess/preprocess.js';
import type { OodResult } from '../ood/reference.js';
import type { ModelPackage } from '../registry/model-package.js';
import { ModelSession } from './model-session.js';

export interface ModelRuntimeOptions {
  /** onnxruntime intra-op threads per model; default: onnxruntime's choice (one per physical core). */
  intraOpThreads?: number;
  /** Images per inference run (default 1). Larger batches pay off on GPUs; on CPUs they mostly cost memory. */
  batchSize?: number;
  /** onnxruntime execution providers in order of preference (default ['cpu']). */
  executionProviders?: string[];
}

/** What a caller stores with each prediction. */
export interface RuntimeMember {
  version: string;
  packageHash: string;
  preprocessingHash: string;
  threshold: number;
}

/** One image's result from scoreDetailed. */
export interface DetailedScore {
  /** P(malignant), exactly what score() returns for the image. */
  probability: number;
  /**
   * The out-of-distribution statistic (1 = the training images' 99th percentile): the mean over
   * the members whose package has a reference; null when none has one.
   */
  outOfDistribution: number | null;
  /** Above a member's threshold for any member with a reference; null when none has one. */
  outOfDistributionFlagged: boolean | null;
}

/** One image's result from scoreWithHeatMaps. */
export interface HeatMapScore extends DetailedScore {
  /** Where the model looks, on the probability's scale; null when a member's model has no heat map output (heatMapProblem). */
  heatMap: HeatMap | null;
}

/** Filled in by a scoring call that is given one: how long it waited for the runtime, and ran. */
export interface RunTiming {
  /** Queued behind other callers' requests (a threaded runtime runs one at a time); 0 in process. */
  waitedMs?: number;
  /** Pre-processing, inference, heat maps and the statistic: the runtime's own work. */
  ranMs?: number;
}

export interface ModelRuntime {
  /** The packages averaged, in the order given. */
  readonly members: readonly RuntimeMember[];
  /** Per member, the flag threshold of its out-of-distribution reference; null for a package without one. */
  readonly outOfDistributionThresholds: readonly (number | null)[];
  /** P(malignant) per image: mean over the test-time flips, then over the members. */
  score(images: readonly GreyImage[], timing?: RunTiming): Promise<number[]>;
  /** P(malignant) as score() gives it, with the out-of-distribution statistic, per image, in one pass. */
  scoreDetailed(images: readonly GreyImage[], timing?: RunTiming): Promise<DetailedScore[]>;
  /** What scoreDetailed gives, with each image's heat map, in one pass. */
  scoreWithHeatMaps(images: readonly GreyImage[], timing?: RunTiming): Promise<HeatMapScore[]>;
  /**
   * Why scoreWithHeatMaps gives null heat maps (a member's model.onnx has no "heatmap" output: it
   * was exported before heat maps); null when it gives them.
   */
  readonly heatMapProblem: string | null;
  /**
   * The pixels the members' pre-processing takes from an image of this stored size and spacing
   * (the largest fitImage over them): a decoder may stop at a coarser resolution that keeps at
   * least this many per side, since pre-processing would shrink the rest away.
   */
  minimumSize(stored: Pick<GreyImage, 'width' | 'height' | 'pixelSpacingMm'>): { width: number; height: number };
  /** Releases the sessions (each is closed when no other runtime shares it). Idempotent. */
  dispose(): Promise<void>;
}

const DEFAULT_BATCH_SIZE = 1;
const DEFAULT_EXECUTION_PROVIDERS = ['cpu'];

/** Opens a session for every package (packages already verified by readPackage). */
export async function createModelRuntime(packages: readonly ModelPackage[], options: ModelRuntimeOptions = {}): Promise<ModelRuntime> {
  if (packages.length === 0) throw new ValidationError('packages', 'a model runtime needs at least one model package');
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ValidationError('batchSize', `must be a positive integer; got ${batchSize}`);
  const { intraOpThreads } = options;
  if (intraOpThreads !== undefined && (!Number.isInteger(intraOpThreads) || intraOpThreads < 1)) {
    throw new ValidationError('intraOpThreads', `must be a positive integer; got ${intraOpThreads}`);
  }
  const settings = { intraOpThreads, executionProviders: options.executionProviders ?? DEFAULT_EXECUTION_PROVIDERS };

  const sessions: ModelSession[] = [];
  try {
    for (const pkg of packages) sessions.push(await ModelSession.open(pkg, settings));
  } catch (error) {
    await Promise.all(sessions.map((session) => session.close()));
    throw error;
  }
  return new OnnxModelRuntime(sessions, batchSize);
}

/** What a runtime of these packages says of its members (threaded-runtime.ts answers the same). */
export function describeMembers(packages: readonly ModelPackage[]): Pick<ModelRuntime, 'members' | 'outOfDistributionThresholds'> {
  return {
    members: packages.map((pkg) => ({ version: pkg.version, packageHash: pkg.packageHash, preprocessingHash: pkg.preprocessingHash, threshold: pkg.threshold })),
    outOfDistributionThresholds: packages.map((pkg) => pkg.outOfDistribution?.threshold ?? null),
  };
}

/** ModelRuntime.minimumSize for these packages: the largest fitImage over them. */
export function minimumSizeFor(packages: readonly ModelPackage[], stored: Pick<GreyImage, 'width' | 'height' | 'pixelSpacingMm'>): { width: number; height: number } {
  const sizes = packages.map((pkg) => fitImage(stored, pkg.manifest.preprocessing));
  return { width: Math.max(...sizes.map((s) => s.width)), height: Math.max(...sizes.map((s) => s.height)) };
}

/** What a run computes beyond the probabilities. */
interface RunExtras {
  ood: boolean;
  heatMaps: boolean;
}

/** One member's heat map of one image: calibrated probabilities on the model's grid (flips undone), and where the image lay in the input. */
interface MemberHeatMap {
  values: Float64Array;
  grid: GridSize;
  placement: InputPlacement;
}

class OnnxModelRuntime implements ModelRuntime {
  readonly members: readonly RuntimeMember[];
  readonly outOfDistributionThresholds: readonly (number | null)[];
  readonly heatMapProblem: string | null;
  private disposed = false;

  constructor(
    private readonly sessions: readonly ModelSession[],
    private readonly batchSize: number,
  ) {
    ({ members: this.members, outOfDistributionThresholds: this.outOfDistributionThresholds } = describeMembers(sessions.map(({ pkg }) => pkg)));
    const without = sessions.filter((session) => session.heatMapGrid === null).map(({ pkg }) => pkg.version);
    this.heatMapProblem =
      without.length === 0
        ? null
        : `no heat maps: the model.onnx of ${without.join(', ')} has no "heatmap" output (exported before heat maps; re-export it from its tfjs/ weights with addHeatMapOutput)`;
  }

  async score(images: readonly GreyImage[], timing?: RunTiming): Promise<number[]> {
    return (await this.timed(timing, () => this.run(images, { ood: false, heatMaps: false }))).map((result) => result.probability);
  }

  async scoreDetailed(images: readonly GreyImage[], timing?: RunTiming): Promise<DetailedScore[]> {
    return (await this.timed(timing, () => this.run(images, { ood: true, heatMaps: false }))).map(({ probability, outOfDistribution, outOfDistributionFlagged }) => ({
      probability,
      outOfDistribution,
      outOfDistributionFlagged,
    }));
  }

  async scoreWithHeatMaps(images: readonly GreyImage[], timing?: RunTiming): Promise<HeatMapScore[]> {
    return this.timed(timing, () => this.run(images, { ood: true, heatMaps: this.heatMapProblem === null }));
  }

  private async timed<T>(timing: RunTiming | undefined, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      if (timing) {
        timing.waitedMs = 0;
        timing.ranMs = performance.now() - started;
      }
    }
  }

  minimumSize(stored: Pick<GreyImage, 'width' | 'height' | 'pixelSpacingMm'>): { width: number; height: number } {
    return minimumSizeFor(this.sessions.map(({ pkg }) => pkg), stored);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.sessions.map((session) => session.close()));
  }

  /** Every member over the images; the statistic and the heat maps only when asked for. */
  private async run(images: readonly GreyImage[], extras: RunExtras): Promise<HeatMapScore[]> {
    if (this.disposed) throw new MammocadError('MODEL_RUNTIME_DISPOSED', 'the model runtime was disposed');
    // Refuse a bad image before any inference time is spent on the others.
    images.forEach((image, index) => withImageIndex(index, () => checkGreyImage(image)));
    const scores = new Array<number>(images.length).fill(0);
    const oodSums = new Float64Array(images.length);
    const flagged = new Array<boolean>(images.length).fill(false);
    const heatMaps: MemberHeatMap[][] = images.map(() => []);
    let oodMembers = 0;
    for (const session of this.sessions) {
      const member = await this.scoreWith(session, images, extras);
      member.probabilities.forEach((p, i) => (scores[i]! += p / this.sessions.length));
      if (member.ood) {
        oodMembers++;
        member.ood.forEach((r, i) => {
          oodSums[i]! += r.outOfDistribution;
          flagged[i] = flagged[i]! || r.outOfDistributionFlagged;
        });
      }
      member.heatMaps?.forEach((map, i) => heatMaps[i]!.push(map));
    }
    return scores.map((probability, i) => ({
      probability,
      outOfDistribution: oodMembers > 0 ? oodSums[i]! / oodMembers : null,
      outOfDistributionFlagged: oodMembers > 0 ? flagged[i]! : null,
      heatMap: extras.heatMaps ? imageHeatMap(images[i]!, heatMaps[i]!) : null,
    }));
  }

  /**
   * One member's P(malignant) per image, averaged over its test-time flips; with `extras.ood`
   * (and a reference in its package) the statistic of each prepared input; with
   * `extras.heatMaps` each image's heat map on the model's grid.
   */
  private async scoreWith(
    session: ModelSession,
    images: readonly GreyImage[],
    extras: RunExtras,
  ): Promise<{ probabilities: number[]; ood: OodResult[] | null; heatMaps: MemberHeatMap[] | null }> {
    const spec = session.pkg.manifest.preprocessing;
    const oodModel = extras.ood ? (session.pkg.outOfDistribution ?? null) : null;
    const grid = extras.heatMaps ? session.heatMapGrid : null;
    const flips = spec.testTimeFlips;
    const calibration = session.pkg.manifest.calibration;
    const calibrate = (p: number) => (calibration ? applyCalibration(calibration, p) : p);
    const batchSize = Math.min(this.batchSize, session.maxBatch);
    const scores: number[] = [];
    const ood: OodResult[] = [];
    const heatMaps: MemberHeatMap[] = [];
    for (let start = 0; start < images.length; start += batchSize) {
      const chunk = images.slice(start, start + batchSize);
      const prepared = chunk.map((image, i) => withImageIndex(start + i, () => preprocessImage(image, spec)));
      if (oodModel) prepared.forEach((input, i) => ood.push(oodModel.statisticOf(input, contentMirrored(chunk[i]!, spec))));
      const sums = new Float64Array(chunk.length);
      const cellSums = grid ? chunk.map(() => new Float64Array(grid.rows * grid.columns)) : [];
      for (const flip of flips) {
        const batch = toBatch(prepared, flip);
        if (grid) {
          const { probabilities, cellLogits } = await session.probabilitiesAndHeatMaps(batch);
          const cells = grid.rows * grid.columns;
          for (let i = 0; i < chunk.length; i++) {
            sums[i]! += probabilities[i]!;
            // Each flip's map is mirrored back before the flips are averaged.
            unflipGrid(cellLogits.subarray(i * cells, (i + 1) * cells), grid, flip).forEach((logit, cell) => (cellSums[i]![cell]! += logit));
          }
        } else {
          const probabilities = await session.probabilities(batch);
          for (let i = 0; i < chunk.length; i++) sums[i]! += probabilities[i]!;
        }
      }
      // The package's calibration (if any) maps the flip-averaged probability; the threshold is on that scale.
      for (let i = 0; i < chunk.length; i++) scores.push(calibrate(sums[i]! / flips.length));
      if (grid) {
        chunk.forEach((image, i) => {
          const values = cellSums[i]!.map((sum) => calibrate(sigmoid(sum / flips.length)));
          const placement: InputPlacement = {
            input: { width: spec.inputWidth, height: spec.inputHeight },
            content: prepared[i]!.content,
            contentMirrored: contentMirrored(image, spec),
            imageMirrored: image.flippedHorizontally === true,
          };
          heatMaps.push({ values, grid, placement });
        });
      }
    }
    return { probabilities: scores, ood: oodModel ? ood : null, heatMaps: grid ? heatMaps : null };
  }
}

/** The members' maps of one image on the finest of their natural grids over it, averaged. */
function imageHeatMap(image: GreyImage, maps: readonly MemberHeatMap[]): HeatMap | null {
  if (maps.length === 0) return null;
  const sizes = maps.map((map) => imageGridSize(map.grid, map.placement));
  const target: GridSize = { rows: Math.max(...sizes.map((s) => s.rows)), columns: Math.max(...sizes.map((s) => s.columns)) };
  const values = new Float32Array(target.rows * target.columns);
  const sum = new Float64Array(values.length);
  for (const map of maps) modelGridToImage(map.values, map.grid, map.placement, target).forEach((p, cell) => (sum[cell]! += p / maps.length));
  sum.forEach((p, cell) => (values[cell] = Math.min(1, Math.max(0, p))));
  return { rows: target.rows, columns: target.columns, imageRows: image.sourceHeight ?? image.height, imageColumns: image.sourceWidth ?? image.width, values };
}

/** Runs `fn`, prefixing an input error with the position of the image it is about. */
function withImageIndex<T>(index: number, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ModelInputError) throw new ModelInputError(`image ${index}: ${error.message}`);
    throw error;
  }
}
