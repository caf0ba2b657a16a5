// The two-stage trainer (docs/method.md): configuration, the resumable run, scoring data sets with a package.
export {
  DATASET_KINDS,
  configFromApiInput,
  loadTrainingConfig,
  parseTrainingConfig,
  preprocessingFor,
  trainingConfigSchema,
  type ApiTrainingInput,
  type DatasetKind,
  type TrainingConfig,
  type TrainingConfigInputFile,
} from './config.js';
export { EPOCH_LOG_FILE, RUN_STATE_FILE, type EpochRecord, type OutOfFoldScore, type RunState } from './run-state.js';
export { evaluatePackage, scoreImages, summarise, type DatasetEvaluation, type ImageScore } from './score-dataset.js';
export { configDigest, loadTfjsModel, trainModel, type TrainOptions, type TrainerContext, type TrainingResult } from './trainer.js';
export { readConfiguredDataset } from './training-data.js';
