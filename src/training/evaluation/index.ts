// Evaluation statistics for comparing model versions: ROC and AUC (tie-aware), bootstrap CIs
// clustered by woman, operating points, per-breast results, calibration and its reliability
// diagram, the report and its ROC plot, and the
// shortcut checks beside it (AUC per machine and site, of age alone, within age bands).
export { auc, roc, rankScores, trapezoidArea, validateScoresAndLabels, type Label, type RankedScores, type RocPoint } from './roc.js';
export { bootstrapAucCi, quantile, seededRandom, type AucConfidenceInterval, type BootstrapOptions } from './bootstrap.js';
export {
  chooseOperatingThreshold,
  operatingPoints,
  performanceAtThreshold,
  sensitivityAtSpecificity,
  thresholdForSpecificity,
  type OperatingPoint,
  type ThresholdRule,
} from './operating-point.js';
export { perBreast, type BreastRecord, type ImageRecord } from './per-breast.js';
export { evaluationReport, evaluationReportPerBreast, type EvaluationInput, type EvaluationOptions, type EvaluationReport, type RocPointJson } from './report.js';
export { rocPng, type RocPngOptions } from './roc-png.js';
export { pairedAucDifference, type PairedAucDifference, type PairedImage } from './paired.js';
export { crossFittedCalibration, fitPlatt, reliability, type Reliability, type ReliabilityBin } from './calibration.js';
export { reliabilityPng, type ReliabilitySeries } from './reliability-png.js';
export { crc32, encodePngRgb } from './png.js';
export { ageBand, compareAgeBands, stratifiedAuc, type StratifiedAuc, type StratifiedAucInput, type StratifiedAucOptions, type StratumAuc } from './stratified-auc.js';
export {
  BLANK_GROUP,
  DEFAULT_GROUP_COLUMNS,
  groupAuc,
  groupedEvaluation,
  type AgeBandAuc,
  type AgeOnlyAuc,
  type AgeStratifiedAuc,
  type GroupAuc,
  type GroupedEvaluation,
  type GroupedEvaluationOptions,
  type ScoredRecord,
} from './group-report.js';
