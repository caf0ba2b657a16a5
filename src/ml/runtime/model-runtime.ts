// Scoring grey mammograms with one model package or an ensemble of them, on onnxruntime-node:
// images in, P(malignant) per image out. For each package, images are prepared with that
// package's own pre-processing spec, run in batches, and averaged over the spec's test-time
// flips; an ensemble averages the packages' P(malignant) (the paper's model averaging).
//
//   const runtime = await createModelRuntime([await readPackage(dir)], { intraOpThreads: 2 });
//   const [pMalignant] = await runtime.score([decodedImage]);
//   const [{ probability, outOfDistribution, outOfDistributionFlagged }] = await runtime.scoreDetailed([decodedImage]);
//   await runtime.dispose();
//
// scoreDetailed adds the out-of-distribution statistic (src/ml/ood, docs/ood.md), taken on the
// same prepared input as the probability: per member against its package's reference, then the
// mean over the members that have one, flagged when any of them flags it.

import { MammocadError, ModelInputError, ValidationError } from '../../domain/errors.js';
import { applyCalibration } from '../calibration.js';
import { contentMirrored } from '../ood/input-histogram.js';
import { checkGreyImage, preprocessImage, toBatch, type GreyImage } from '../preprocess/preprocess.js';
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

export interface ModelRuntime {
  /** The packages averaged, in the order given. */
  readonly members: readonly RuntimeMember[];
  /** Per member, the flag threshold of its out-of-distribution reference; null for a package without one. */
  readonly outOfDistributionThresholds: readonly (number | null)[];
  /** P(malignant) per image: mean over the test-time flips, then over the members. */
  score(images: readonly GreyImage[]): Promise<number[]>;
  /** P(malignant) as score() gives it, with the out-of-distribution statistic, per image, in one pass. */
  scoreDetailed(images: readonly GreyImage[]): Promise<DetailedScore[]>;
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

class OnnxModelRuntime implements ModelRuntime {
  readonly members: readonly RuntimeMember[];
  readonly outOfDistributionThresholds: readonly (number | null)[];
  private disposed = false;

  constructor(
    private readonly sessions: readonly ModelSession[],
    private readonly batchSize: number,
  ) {
    this.members = sessions.map(({ pkg }) => ({
      version: pkg.version,
      packageHash: pkg.packageHash,
      preprocessingHash: pkg.preprocessingHash,
      threshold: pkg.threshold,
    }));
    this.outOfDistributionThresholds = sessions.map(({ pkg }) => pkg.outOfDistribution?.threshold ?? null);
  }

  async score(images: readonly GreyImage[]): Promise<number[]> {
    return (await this.run(images, false)).map((result) => result.probability);
  }

  async scoreDetailed(images: readonly GreyImage[]): Promise<DetailedScore[]> {
    return this.run(images, true);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.sessions.map((session) => session.close()));
  }

  /** Every member over the images; the statistic only when `detailed`. */
  private async run(images: readonly GreyImage[], detailed: boolean): Promise<DetailedScore[]> {
    if (this.disposed) throw new MammocadError('MODEL_RUNTIME_DISPOSED', 'the model runtime was disposed');
    // Refuse a bad image before any inference time is spent on the others.
    images.forEach((image, index) => withImageIndex(index, () => checkGreyImage(image)));
    const scores = new Array<number>(images.length).fill(0);
    const oodSums = new Float64Array(images.length);
    const flagged = new Array<boolean>(images.length).fill(false);
    let oodMembers = 0;
    for (const session of this.sessions) {
      const member = await this.scoreWith(session, images, detailed);
      member.probabilities.forEach((p, i) => (scores[i]! += p / this.sessions.length));
      if (member.ood) {
        oodMembers++;
        member.ood.forEach((r, i) => {
          oodSums[i]! += r.outOfDistribution;
          flagged[i] = flagged[i]! || r.outOfDistributionFlagged;
        });
      }
    }
    return scores.map((probability, i) => ({
      probability,
      outOfDistribution: oodMembers > 0 ? oodSums[i]! / oodMembers : null,
      outOfDistributionFlagged: oodMembers > 0 ? flagged[i]! : null,
    }));
  }

  /**
   * One member's P(malignant) per image, averaged over its test-time flips, and (when
   * `detailed` and its package has a reference) the statistic of each prepared input.
   */
  private async scoreWith(session: ModelSession, images: readonly GreyImage[], detailed: boolean): Promise<{ probabilities: number[]; ood: OodResult[] | null }> {
    const spec = session.pkg.manifest.preprocessing;
    const oodModel = detailed ? (session.pkg.outOfDistribution ?? null) : null;
    const flips = spec.testTimeFlips;
    const calibration = session.pkg.manifest.calibration;
    const batchSize = Math.min(this.batchSize, session.maxBatch);
    const scores: number[] = [];
    const ood: OodResult[] = [];
    for (let start = 0; start < images.length; start += batchSize) {
      const chunk = images.slice(start, start + batchSize);
      const prepared = chunk.map((image, i) => withImageIndex(start + i, () => preprocessImage(image, spec)));
      if (oodModel) prepared.forEach((input, i) => ood.push(oodModel.statisticOf(input, contentMirrored(chunk[i]!, spec))));
      const sums = new Float64Array(chunk.length);
      for (const flip of flips) {
        const probabilities = await session.probabilities(toBatch(prepared, flip));
        for (let i = 0; i < chunk.length; i++) sums[i]! += probabilities[i]!;
      }
      // The package's calibration (if any) maps the flip-averaged probability; the threshold is on that scale.
      for (let i = 0; i < chunk.length; i++) scores.push(calibration ? applyCalibration(calibration, sums[i]! / flips.length) : sums[i]! / flips.length);
    }
    return { probabilities: scores, ood: oodModel ? ood : null };
  }
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
