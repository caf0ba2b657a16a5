// The training configuration of the two-stage method (docs/method.md): which data, which
// backbone and input, stage 1 (patch classifier, in phases), stage 2 (whole-image classifier:
// top layers on cached backbone features, then optionally all layers), cross-validation over
// women, seeds. Read from a YAML or JSON file (`mammocad train --config FILE`) or built from
// the API's TrainingConfigInput; defaults are filled in and bad values refused with their path.
//
// Defaults are sized for a CPU: a YaroslavNet-style backbone at a quarter of its filters, one
// grey channel, the project's DEFAULT_PREPROCESSING input (1152 x 896 at 0.2 mm).
// Stage-2 phase 2 (every layer, end to end on whole images) is off by default: each of its
// epochs runs the backbone forward AND backward over every full-size image, roughly 3x the cost
// of computing the cached features once per epoch, against phase 1's seconds on cached features.

import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, ValidationError } from '../../domain/errors.js';
import { BACKBONE_NAMES, TOP_NAMES, minimumInputSize } from '../../ml/architectures/names.js';
import type { PreprocessingSpec } from '../../ml/model-manifest.js';
import { DEFAULT_PREPROCESSING } from '../../ml/preprocess/index.js';
import { intendedUseSchema } from '../../ml/registry/manifest.schema.js';

const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const learningRate = z.number().gt(0).max(1);

const phase = (epochs: number, lr: number) =>
  z.strictObject({ epochs: z.number().int().min(0).max(1000).default(epochs), learningRate: learningRate.default(lr) }).prefault({});

export const DATASET_KINDS = ['mias', 'labels', 'cbis', 'inbreast', 'image-folder'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];

export const trainingConfigSchema = z.strictObject({
  /** Version of the model package (default: generated from the backbone, top, date and run id). */
  version: z.string().regex(VERSION_PATTERN, 'must be 1-64 letters, digits, dots, dashes or underscores').optional(),
  /** Seeds every split, shuffle, patch draw, augmentation and the initial weights. */
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(12345),
  dataset: z.strictObject({
    kind: z.enum(DATASET_KINDS),
    /**
     * MIAS / INbreast folder, CBIS-DDSM image folder, image folder (manifest.csv + images; no
     * default: unlike MIAS there is no one folder to expect). Not used by 'labels' (the service's own).
     */
    dir: z.string().min(1).optional(),
    /** The image folder's name in reports and the package (default: the folder's base name). */
    name: z.string().min(1).optional(),
    /** CBIS-DDSM description CSVs. */
    csvFiles: z.array(z.string().min(1)).optional(),
    /** Use only the first N images (sorted by id): quick runs. */
    limit: z.number().int().min(1).optional(),
  }),
  /** Start stage 2 from this package's backbone (its tfjs/ weights) instead of training stage 1. */
  baseVersion: z.string().min(1).optional(),
  model: z
    .strictObject({
      backbone: z.enum(BACKBONE_NAMES).default('yaroslavnet'),
      filtersScale: z.number().gt(0).max(1).default(0.25),
      inputHeight: z.number().int().min(16).default(DEFAULT_PREPROCESSING.inputHeight),
      inputWidth: z.number().int().min(16).default(DEFAULT_PREPROCESSING.inputWidth),
      /** Default: 1 for yaroslavnet (grey), 3 for the ImageNet backbones. */
      channels: z.union([z.literal(1), z.literal(3)]).optional(),
      /**
       * Backbone weights to start from, in TensorFlow.js layers format (model.json + shards), by
       * layer name: the ImageNet MobileNet of ../shared/weights. A relative path is taken from
       * the working directory. Without it the backbone starts from stage 1 or from baseVersion.
       */
      pretrained: z.string().min(1).optional(),
      /**
       * How pixels reach the model. 'pad' keeps the aspect ratio at the target pixel size (the
       * project's default); 'stretch' resizes every image to the input whatever its shape, for
       * data sets that were themselves squashed to a square (rsna-screening). The intensity
       * scaling 'imagenet' maps each image's own grey range to [-1, 1], as MobileNet was trained;
       * 'breast-zscore' is the project's default window-then-breast z-score.
       */
      fit: z.enum(['pad', 'stretch']).default('pad'),
      intensity: z.enum(['breast-zscore', 'imagenet']).default('breast-zscore'),
      /** Test-time flips averaged at inference (and cached as training augmentation). */
      testTimeFlips: z
        .array(z.enum(['none', 'horizontal', 'vertical', 'both']))
        .min(1)
        .optional(),
      /** What the package declares it is for (the training images' kind, presentation, views, their history). */
      intendedUse: intendedUseSchema.optional(),
    })
    .prefault({}),
  stage1: z
    .strictObject({
      /**
       * Off: no patch classifier; the backbone comes from model.pretrained (or baseVersion) and
       * stage 2 needs no lesion outlines: the ablation "without stage 1", and the only way to
       * train on data sets with image-level labels only.
       */
      enabled: z.boolean().default(true),
      /** Patch side in input pixels (paper 224; at least the backbone's stride, 64 for yaroslavnet). */
      patchSize: z.number().int().min(1).default(224),
      set: z.enum(['S1', 'S10']).default('S10'),
      patchesPerRoi: z.number().int().min(1).optional(),
      backgroundPerImage: z.number().int().min(0).optional(),
      /** Hard negatives per image: the strongest lesion-like blobs away from every ROI, added to the background class (the authors' code). */
      hardNegativesPerImage: z.number().int().min(0).optional(),
      batchSize: z.number().int().min(1).max(1024).default(16),
      augmentation: z.boolean().default(true),
      /** The paper's three phases: the last layer, then the top layers, then all layers (method.md). */
      phases: z
        .strictObject({
          lastLayer: phase(1, 1e-3),
          topLayers: phase(5, 1e-3),
          allLayers: phase(15, 1e-4),
        })
        .prefault({}),
    })
    .prefault({}),
  stage2: z
    .strictObject({
      top: z.enum(TOP_NAMES).default('resnet'),
      /** Fraction of the paper's top filters (default: model.filtersScale). */
      topFiltersScale: z.number().gt(0).max(1).optional(),
      /** Top layers only, on backbone features computed once with onnxruntime. */
      phase1: z
        .strictObject({
          epochs: z.number().int().min(1).max(1000).default(20),
          learningRate: learningRate.default(1e-3),
          batchSize: z.number().int().min(1).max(1024).default(8),
          /** Train on the features of a randomly flipped image (the test-time flips are cached anyway). */
          flipAugmentation: z.boolean().default(true),
          /**
           * The first backbone layer this phase trains with the top (default: none, the backbone
           * stays frozen). Features are cached where that layer reads them, and the layers from
           * there on train on them: "partly fine-tuned" at the cost of only those layers.
           */
          trainFrom: z.string().min(1).optional(),
          /**
           * How cached features are held: 'float32' as computed, or 'uint8' (each map as bytes
           * with its own offset and scale: a quarter of the memory, rounding within 0.2% of the
           * map's range). Bytes suit bounded maps (MobileNet's ReLU6) on large data sets; an
           * unbounded ReLU map with a few large values loses its small ones.
           */
          featureStorage: z.enum(['float32', 'uint8']).default('float32'),
          /** L2 penalty on the trained kernels (0: none). */
          weightDecay: z.number().min(0).max(1).default(0),
        })
        .prefault({}),
      /** All layers end to end on whole images: off by default (slow on a CPU, see the header). */
      phase2: z
        .strictObject({
          enabled: z.boolean().default(false),
          epochs: z.number().int().min(1).max(1000).default(5),
          learningRate: learningRate.default(1e-4),
          batchSize: z.number().int().min(1).max(64).default(2),
          /**
           * Batch normalisation while every layer trains: 'batch' (each batch's own statistics,
           * moving averages updated) or 'frozen' (the statistics the model starts with; scale and
           * offset still train). Default: 'frozen' when the backbone comes trained (model.pretrained or
           * baseVersion: a batch of 2-4 whole images gives noisy statistics that would overwrite
           * the ones it learnt on many), else 'batch'.
           */
          batchNorm: z.enum(['batch', 'frozen']).optional(),
        })
        .prefault({}),
      /** 'balanced': each class weighs the same in the loss (malignant images are few). */
      classWeighting: z.enum(['balanced', 'none']).default('balanced'),
    })
    .prefault({}),
  /** Cross-validation folds over women (model selection and the reported metrics); the final model trains on all women. */
  folds: z.number().int().min(2).max(20).default(5),
  /**
   * Run only the first N folds (default: all): with 1, fold 1's women are a fixed validation
   * split, for backbones a CPU cannot cross-validate in one sitting. The reported figures then
   * cover those folds' women only, and the report says so.
   */
  foldsToRun: z.number().int().min(1).max(20).optional(),
  /**
   * The model the package holds. 'final' (default): one more unit trained on all women after the
   * folds. 'fold-1': fold 1's own model (trained on the other folds' women), with foldsToRun 1,
   * so every reported figure is on women the shipped model never saw and the run costs one unit
   * instead of two (for backbones a CPU fine-tunes in hours per epoch).
   */
  // Optional, not defaulted: a run's state compares its canonical configuration, and runs
  // started before this field existed must still resume. Absent means 'final'.
  packageModel: z.enum(['final', 'fold-1']).optional(),
  /** Fraction of women held out of stage-1 patch training to report patch accuracy. */
  validationFraction: z.number().gt(0).lt(1).default(0.1),
  /** The operating threshold: highest sensitivity at this specificity on the out-of-fold predictions. */
  thresholdSpecificity: z.number().gt(0).lt(1).default(0.9),
  bootstrapSamples: z.number().int().min(100).max(100_000).default(2000),
  /** tfjs backend: 'wasm' (with the training kernels of src/ml/training) or 'cpu' (pure JS, slower). */
  backend: z.enum(['wasm', 'cpu']).default('wasm'),
  /** Where the run writes its state, checkpoints and package (default <dataDir>/training/<run id>). */
  outputDir: z.string().min(1).optional(),
  /** Prepared whole images kept in memory up to this size; the rest are decoded again when needed. */
  imageCacheMb: z.number().int().min(0).default(512),
});

export type TrainingConfigInputFile = z.input<typeof trainingConfigSchema>;
export type TrainingConfig = z.output<typeof trainingConfigSchema>;

function firstIssue(error: z.ZodError): { path: string; message: string } {
  const issue = error.issues[0]!;
  return { path: issue.path.map(String).join('.') || '(root)', message: issue.message };
}

/** Validates a configuration object and fills in the defaults; ValidationError names the field. */
export function parseTrainingConfig(value: unknown): TrainingConfig {
  const parsed = trainingConfigSchema.safeParse(value);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error);
    throw new ValidationError(`training config ${path}`, message);
  }
  const config = parsed.data;
  if (config.dataset.kind !== 'labels' && config.dataset.kind !== 'mias' && !config.dataset.dir) {
    throw new ValidationError('training config dataset.dir', `is required for dataset ${config.dataset.kind}`);
  }
  if (config.dataset.name !== undefined && config.dataset.kind !== 'image-folder') {
    throw new ValidationError('training config dataset.name', `names an image folder; dataset ${config.dataset.kind} has its own name`);
  }
  if (config.dataset.kind === 'cbis' && !config.dataset.csvFiles?.length) {
    throw new ValidationError('training config dataset.csvFiles', 'CBIS-DDSM needs its description CSV files');
  }
  // Sizes the models would refuse only after stage 1 had run (an hour on the default model).
  const { backbone, inputHeight, inputWidth } = config.model;
  const wholeMinimum = minimumInputSize(backbone, config.stage2.top);
  for (const [field, value] of [['inputHeight', inputHeight], ['inputWidth', inputWidth]] as const) {
    if (value < wholeMinimum) {
      throw new ValidationError(`training config model.${field}`, `must be at least ${wholeMinimum} for ${backbone} with the ${config.stage2.top} top; got ${value}`);
    }
  }
  if (config.foldsToRun !== undefined && config.foldsToRun > config.folds) {
    throw new ValidationError('training config foldsToRun', `must be at most folds (${config.folds}); got ${config.foldsToRun}`);
  }
  if (config.packageModel === 'fold-1' && config.foldsToRun !== 1) {
    throw new ValidationError('training config packageModel', `'fold-1' ships fold 1's model and validates it on fold 1's women only: it needs foldsToRun 1; got ${config.foldsToRun ?? 'all folds'}`);
  }
  if (!config.stage1.enabled && !config.model.pretrained && !config.baseVersion) {
    throw new ValidationError('training config stage1.enabled', 'stage 1 off needs a backbone to start from: model.pretrained or baseVersion');
  }
  const patchMinimum = minimumInputSize(backbone);
  if (!config.stage1.enabled) return config;
  if (config.stage1.patchSize < patchMinimum) {
    throw new ValidationError('training config stage1.patchSize', `must be at least ${patchMinimum} for ${backbone}; got ${config.stage1.patchSize}`);
  }
  if (config.stage1.patchSize > Math.min(inputHeight, inputWidth)) {
    throw new ValidationError('training config stage1.patchSize', `must fit the ${inputHeight}x${inputWidth} input; got ${config.stage1.patchSize}`);
  }
  return config;
}

/** Reads a YAML or JSON configuration file. */
export async function loadTrainingConfig(file: string): Promise<TrainingConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError('training config', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let value: unknown;
  try {
    value = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError('training config', `${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`);
  }
  return parseTrainingConfig(value);
}

/** The fields of the API's TrainingConfigInput (src/graphql/schema/inputs.ts), as the 'train' job's payload carries them. */
export interface ApiTrainingInput {
  dataset: 'labels' | 'mias';
  baseVersion?: string | null;
  version?: string | null;
  epochs: number;
  folds: number;
  learningRate: number;
  batchSize: number;
  seed: number;
  trainAllLayers: boolean;
}

/**
 * The configuration an API request stands for: its epochs, learning rate and batch size are
 * stage 2's (the stage retrained on a site's image-level labels); trainAllLayers turns on
 * stage-2 phase 2 with the same epochs and a tenth of the learning rate (the paper's step).
 */
export function configFromApiInput(input: ApiTrainingInput, defaults: { miasDir?: string } = {}): TrainingConfig {
  return parseTrainingConfig({
    ...(input.version == null ? {} : { version: input.version }),
    ...(input.baseVersion == null ? {} : { baseVersion: input.baseVersion }),
    seed: input.seed,
    folds: input.folds,
    dataset: { kind: input.dataset, ...(input.dataset === 'mias' && defaults.miasDir ? { dir: defaults.miasDir } : {}) },
    stage2: {
      phase1: { epochs: input.epochs, learningRate: input.learningRate, batchSize: input.batchSize },
      phase2: { enabled: input.trainAllLayers, epochs: input.epochs, learningRate: input.learningRate / 10, batchSize: Math.min(input.batchSize, 2) },
    },
  });
}

/** The pre-processing of the model trained with `config`: the project's default at the configured input, or as configured. */
export function preprocessingFor(config: TrainingConfig): PreprocessingSpec {
  const { fit, intensity, testTimeFlips } = config.model;
  return {
    ...DEFAULT_PREPROCESSING,
    inputHeight: config.model.inputHeight,
    inputWidth: config.model.inputWidth,
    channels: channelsFor(config),
    ...(fit === 'stretch' ? { fit: 'stretch', targetPixelSpacingMm: null } : {}),
    // MobileNet's own scaling: the image's grey range to [-1, 1].
    ...(intensity === 'imagenet' ? { intensity: { method: 'minmax', mean: 1, scale: 2 } } : {}),
    ...(testTimeFlips ? { testTimeFlips } : {}),
  };
}

export function channelsFor(config: TrainingConfig): 1 | 3 {
  return config.model.channels ?? (config.model.backbone === 'yaroslavnet' ? 1 : 3);
}
