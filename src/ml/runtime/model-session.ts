// One model package on onnxruntime: prepared image batches in, P(positive class) out. It checks
// what goes in (the package's input size, finite values) and what comes out (one probability
// row per image that sums to 1), so a pre-processing or export mistake fails loudly instead of
// yielding plausible-looking scores. A model exported with the "heatmap" output also gives, in
// the same run, the positive class's logit per cell of its last feature map (the heat map).

import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelInputError, ModelPackageError } from '../../domain/errors.js';
import { MODEL_FILE } from '../model-manifest.js';
import type { ImageBatch } from '../preprocess/preprocess.js';
import { positiveLogit } from '../heatmap/cell-logits.js';
import type { GridSize } from '../heatmap/heat-map-geometry.js';
import type { ModelPackage } from '../registry/model-package.js';
import { acquireSession, type SessionLease } from './session-cache.js';

export interface SessionSettings {
  /** onnxruntime intra-op threads; undefined lets onnxruntime choose (one per physical core). */
  intraOpThreads: number | undefined;
  /** Execution providers in order of preference, e.g. ['cuda', 'cpu']. */
  executionProviders: readonly string[];
}

/** How far a softmax row may stray from summing to 1 (float32 rounding over two classes is ~1e-7). */
const PROBABILITY_SUM_TOLERANCE = 1e-3;

export class ModelSession {
  /** Largest batch the model takes: its fixed batch dimension, if it has one. */
  readonly maxBatch: number;
  /** The heat map's grid (the model's last feature map) when the model has the "heatmap" output; null when it has not. */
  readonly heatMapGrid: GridSize | null;
  private readonly positiveIndex: number;

  private constructor(
    readonly pkg: ModelPackage,
    private readonly lease: SessionLease,
  ) {
    const batchDimension = pkg.model.signature.input.shape[0];
    this.maxBatch = typeof batchDimension === 'number' ? batchDimension : Infinity;
    this.positiveIndex = pkg.manifest.classes.indexOf(pkg.manifest.positiveClass);
    // The registry checked the output's shape: [N, classes, rows, columns], rows and columns fixed.
    const heatMap = pkg.model.signature.heatMap;
    this.heatMapGrid = heatMap ? { rows: heatMap.shape[2] as number, columns: heatMap.shape[3] as number } : null;
  }

  /**
   * Opens (or shares) the session of a package read by readPackage. The model file is read and
   * its digest checked again here, so the session runs exactly the bytes that were verified.
   */
  static async open(pkg: ModelPackage, settings: SessionSettings): Promise<ModelSession> {
    const key = [pkg.model.path, pkg.model.sha256, settings.intraOpThreads ?? 'default', settings.executionProviders.join(',')].join('|');
    const lease = await acquireSession(key, () => createSession(pkg, settings));
    const { input, output, heatMap } = pkg.model.signature;
    const outputs = heatMap ? [output.name, heatMap.name] : [output.name];
    if (!lease.session.inputNames.includes(input.name) || outputs.some((name) => !lease.session.outputNames.includes(name))) {
      await lease.release();
      throw new ModelPackageError(
        pkg.path,
        MODEL_FILE,
        `onnxruntime sees inputs ${lease.session.inputNames.join(', ')} and outputs ${lease.session.outputNames.join(', ')}, not "${input.name}" -> "${outputs.join('", "')}"`,
      );
    }
    return new ModelSession(pkg, lease);
  }

  /** P(positive class) for each image of the batch. */
  async probabilities(batch: ImageBatch): Promise<Float32Array> {
    this.checkBatch(batch);
    const { input, output } = this.pkg.model.signature;
    const images = batch.shape[0];
    const tensor = new Tensor('float32', batch.data, batch.shape);
    let results: InferenceSession.ReturnType | undefined;
    try {
      results = await this.lease.session.run({ [input.name]: tensor }, [output.name]);
      return this.positiveColumn(results[output.name]!, images);
    } finally {
      tensor.dispose();
      for (const value of Object.values(results ?? {})) value.dispose();
    }
  }

  /**
   * P(positive class) per image, exactly as probabilities() gives it, and from the same run the
   * heat map: per image, rows x columns cells (row-major) of the positive class's logit against
   * the others, log(p / (1 - p)) of the cell's softmax (with two classes: the difference of the
   * two logits, whose mean over the cells is the image's logit). Only for a model with the
   * "heatmap" output (heatMapGrid not null).
   */
  async probabilitiesAndHeatMaps(batch: ImageBatch): Promise<{ probabilities: Float32Array; cellLogits: Float64Array }> {
    const grid = this.heatMapGrid;
    const heatMap = this.pkg.model.signature.heatMap;
    if (!grid || !heatMap) throw new ModelPackageError(this.pkg.path, MODEL_FILE, 'the model has no "heatmap" output (exported before heat maps)');
    this.checkBatch(batch);
    const { input, output } = this.pkg.model.signature;
    const images = batch.shape[0];
    const tensor = new Tensor('float32', batch.data, batch.shape);
    let results: InferenceSession.ReturnType | undefined;
    try {
      results = await this.lease.session.run({ [input.name]: tensor }, [output.name, heatMap.name]);
      return { probabilities: this.positiveColumn(results[output.name]!, images), cellLogits: this.positiveCellLogits(results[heatMap.name]!, images, grid) };
    } finally {
      tensor.dispose();
      for (const value of Object.values(results ?? {})) value.dispose();
    }
  }

  async close(): Promise<void> {
    await this.lease.release();
  }

  private checkBatch(batch: ImageBatch): void {
    const { channels, inputHeight, inputWidth } = this.pkg.manifest.preprocessing;
    const [images, c, h, w] = batch.shape;
    const expected = `[N, ${channels}, ${inputHeight}, ${inputWidth}]`;
    if (batch.shape.length !== 4 || c !== channels || h !== inputHeight || w !== inputWidth || !(images >= 1)) {
      throw new ModelInputError(`model ${this.pkg.version} takes ${expected}; got [${batch.shape.join(', ')}]`);
    }
    if (images > this.maxBatch) throw new ModelInputError(`model ${this.pkg.version} takes at most ${this.maxBatch} images per run; got ${images}`);
    const itemSize = channels * inputHeight * inputWidth;
    if (batch.data.length !== images * itemSize) {
      throw new ModelInputError(`a batch of shape [${batch.shape.join(', ')}] needs ${images * itemSize} values; got ${batch.data.length}`);
    }
    const data = batch.data;
    for (let i = 0; i < data.length; i++) {
      // v - v is 0 for finite values and NaN for NaN and the infinities.
      if (data[i]! - data[i]! !== 0) throw new ModelInputError(`input value ${i % itemSize} of batch image ${Math.floor(i / itemSize)} is ${data[i]}: inputs must be finite`);
    }
  }

  private positiveColumn(output: InferenceSession.OnnxValueMapType[string], images: number): Float32Array {
    const classes = this.pkg.manifest.classes.length;
    const name = this.pkg.model.signature.output.name;
    if (!(output.data instanceof Float32Array) || output.dims.length !== 2 || output.dims[0] !== images || output.dims[1] !== classes) {
      throw new ModelPackageError(this.pkg.path, MODEL_FILE, `output "${name}" came back as ${output.type} [${output.dims.join(', ')}]; expected float32 [${images}, ${classes}]`);
    }
    const rows = output.data;
    const positive = new Float32Array(images);
    for (let n = 0; n < images; n++) {
      let sum = 0;
      for (let k = 0; k < classes; k++) sum += rows[n * classes + k]!;
      if (!(Math.abs(sum - 1) <= PROBABILITY_SUM_TOLERANCE)) {
        throw new ModelPackageError(this.pkg.path, MODEL_FILE, `output "${name}" row ${n} sums to ${sum}, not 1: the model must end in a softmax (logits?)`);
      }
      positive[n] = rows[n * classes + this.positiveIndex]!;
    }
    return positive;
  }

  private positiveCellLogits(output: InferenceSession.OnnxValueMapType[string], images: number, grid: GridSize): Float64Array {
    const classes = this.pkg.manifest.classes.length;
    const { rows, columns } = grid;
    const name = this.pkg.model.signature.heatMap!.name;
    const dims = output.dims;
    if (!(output.data instanceof Float32Array) || dims.length !== 4 || dims[0] !== images || dims[1] !== classes || dims[2] !== rows || dims[3] !== columns) {
      throw new ModelPackageError(this.pkg.path, MODEL_FILE, `output "${name}" came back as ${output.type} [${dims.join(', ')}]; expected float32 [${images}, ${classes}, ${rows}, ${columns}]`);
    }
    const data = output.data;
    const cells = rows * columns;
    const out = new Float64Array(images * cells);
    const logits = new Float64Array(classes);
    for (let n = 0; n < images; n++) {
      for (let cell = 0; cell < cells; cell++) {
        for (let k = 0; k < classes; k++) logits[k] = data[(n * classes + k) * cells + cell]!;
        const value = positiveLogit(logits, this.positiveIndex);
        if (!Number.isFinite(value)) throw new ModelPackageError(this.pkg.path, MODEL_FILE, `output "${name}" has a non-finite logit in cell ${cell} of image ${n}`);
        out[n * cells + cell] = value;
      }
    }
    return out;
  }
}

async function createSession(pkg: ModelPackage, settings: SessionSettings): Promise<InferenceSession> {
  const bytes = await readFile(pkg.model.path);
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== pkg.model.sha256) {
    throw new ModelPackageError(pkg.path, MODEL_FILE, `sha256 ${digest}, but it was ${pkg.model.sha256} when the package was verified (the file was changed)`);
  }
  try {
    return await InferenceSession.create(bytes, {
      executionProviders: settings.executionProviders,
      ...(settings.intraOpThreads === undefined ? {} : { intraOpNumThreads: settings.intraOpThreads }),
      // One model at a time; its operators use the intra-op threads.
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    throw new ModelPackageError(pkg.path, MODEL_FILE, `onnxruntime cannot load it: ${(error as Error).message}`, { cause: error });
  }
}
