// The argument parsers the commands share: each turns one option's text into its value, or
// throws the error that names the option (a ConfigError ends the command with exit code 2).
// Also the data set kinds `evaluate` and `models ood-reference` take, and how each is read.

import { ConfigError, REPORT_TEMPLATES, ROLES, ValidationError, type ReportTemplate, type Role } from '../domain/index.js';
import { PAPER_DATASET_MEANS } from '../ml/preprocess/index.js';
import { readMiasDataset } from '../training/datasets/mias.js';
import { miasTrainingDataset } from '../training/datasets/mias-training.js';
import type { TrainingDataset } from '../training/datasets/dataset.js';

export function parsePort(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new ConfigError('--port', `must be an integer between 0 and 65535; got '${raw}'`);
  return Number(raw);
}

export function parseRole(raw: string): Role {
  if (!(ROLES as readonly string[]).includes(raw)) throw new ConfigError('--role', `must be one of ${ROLES.join(', ')}; got '${raw}'`);
  return raw as Role;
}

export function parseTemplate(raw: string, key: string): ReportTemplate {
  const template = raw.trim().toUpperCase();
  if (!(REPORT_TEMPLATES as readonly string[]).includes(template)) throw new ConfigError(key, `must be one of ${REPORT_TEMPLATES.join(', ')} (any case); got '${raw}'`);
  return template as ReportTemplate;
}

export function parseDatasetMean(raw: string): number {
  const name = raw.toLowerCase();
  if (Object.hasOwn(PAPER_DATASET_MEANS, name)) return PAPER_DATASET_MEANS[name as keyof typeof PAPER_DATASET_MEANS];
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) > 255) throw new ConfigError('--dataset-mean', `must be ddsm, inbreast or a number between 0 and 255; got '${raw}'`);
  return Number(raw);
}

export function parseThreshold(raw: string): number {
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) > 1) throw new ConfigError('--threshold', `must be a number between 0 and 1; got '${raw}'`);
  return Number(raw);
}

export function parsePositive(value: string): number {
  const number = Number(value);
  if (!(Number.isFinite(number) && number > 0)) throw new ValidationError('--threshold', `must be a positive number; got ${value}`);
  return number;
}

export const EVALUATE_DATASETS = ['mias', 'image-folder', 'rsna-screening'] as const;

/** Checked in the action, not as a parser: a wrong kind fails as a validation error (exit code 1). */
export function checkDatasetKind(kind: string): void {
  if (!(EVALUATE_DATASETS as readonly string[]).includes(kind)) {
    throw new ValidationError('--dataset', `must be one of ${EVALUATE_DATASETS.join(', ')}; got ${kind}`);
  }
}

/** The data set of a kind checkDatasetKind accepted: mini-MIAS, else an image folder (rsna-screening is one). */
export async function readDataset(kind: string, dir: string): Promise<TrainingDataset> {
  if (kind === 'mias') return miasTrainingDataset(await readMiasDataset(dir));
  // Loaded on demand, as only these commands need it.
  const { readImageFolderDataset } = await import('../training/datasets/image-folder.js');
  return readImageFolderDataset(dir, kind === 'rsna-screening' ? { name: 'rsna-screening' } : {});
}
