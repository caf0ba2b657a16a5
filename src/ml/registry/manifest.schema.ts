// Validation of manifest.json (the ModelManifest type of src/ml/model-manifest.ts). Beyond the
// shape it checks what would make a package unusable or unsafe: two distinct classes with the
// positive one among them, a version usable as a folder name, and file paths that stay inside
// the package folder.

import { z } from 'zod';
import type { JsonValue } from '../../domain/index.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, MODEL_FILE, type ModelManifest } from '../model-manifest.js';
import { preprocessingSpecSchema } from '../preprocess/preprocessing-spec.schema.js';

/** Letters, digits, '.', '_' and '-', starting with a letter or digit: safe as a folder name on every OS. */
const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** Why a package file path is unsafe or ambiguous, or null when it is a plain relative path. */
export function packagePathProblem(filePath: string): string | null {
  if (filePath === '' || filePath.startsWith('/') || filePath.includes('\\')) return 'must be a relative path with / separators';
  if (filePath.split('/').some((part) => part === '' || part === '.' || part === '..')) return 'must not contain empty, "." or ".." parts';
  if (filePath === MANIFEST_FILE) return `${MANIFEST_FILE} is not listed in itself`;
  return null;
}

const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

const fileEntrySchema = z.strictObject({
  path: z.string().superRefine((value, ctx) => {
    const problem = packagePathProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  sha256: z.string().regex(SHA256_PATTERN, 'must be 64 lower-case hex digits'),
  bytes: z.number().int().nonnegative(),
});

export const intendedUseSchema = z.strictObject({
  imaging: z.enum(['digital', 'digitised-film']),
  presentation: z.enum(['for-presentation', 'for-processing']),
  views: z.array(z.string().min(1)).min(1),
  notes: z.string(),
  pixelSpacingMm: z
    .tuple([z.number().positive(), z.number().positive()])
    .refine(([min, max]) => min <= max, 'must be [min, max] with min <= max')
    .optional(),
  researchUseOnly: z.boolean().optional(),
});

const outOfDistributionSchema = z.strictObject({
  file: z.string().superRefine((value, ctx) => {
    const problem = packagePathProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  statistic: z.string().min(1),
  version: z.number().int().positive(),
  threshold: z.number().positive().finite(),
});

export const modelManifestSchema = z
  .strictObject({
    format: z.literal(MANIFEST_FORMAT),
    version: z.string().regex(VERSION_PATTERN, 'must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit'),
    name: z.string().min(1),
    architecture: z.string().min(1),
    classes: z
      .array(z.string().min(1))
      .length(2, 'must list the two output classes (not malignant, malignant)')
      .refine((classes) => classes[0] !== classes[1], 'must be two different classes'),
    positiveClass: z.string(),
    preprocessing: preprocessingSpecSchema,
    threshold: z.number().min(0).max(1),
    provenance: z.strictObject({
      source: z.enum(['trained', 'keras-import', 'imported']),
      createdAt: z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 date-time'),
      notes: z.string().optional(),
    }),
    trainingData: z
      .strictObject({
        datasets: z.array(z.string()),
        images: z.number().int().nonnegative(),
        women: z.number().int().nonnegative(),
        positives: z.number().int().nonnegative(),
      })
      .optional(),
    intendedUse: intendedUseSchema.optional(),
    outOfDistribution: outOfDistributionSchema.optional(),
    calibration: z
      .strictObject({ method: z.literal('platt'), a: z.number().finite(), b: z.number().finite(), fittedOn: z.string() })
      .optional(),
    metrics: z.record(z.string(), jsonValue).optional(),
    files: z
      .array(fileEntrySchema)
      .refine((files) => new Set(files.map((f) => f.path)).size === files.length, 'lists a file twice')
      .refine((files) => files.some((f) => f.path === MODEL_FILE), `must list ${MODEL_FILE}`),
  })
  .refine((manifest) => manifest.classes.includes(manifest.positiveClass), {
    message: 'must be one of the classes',
    path: ['positiveClass'],
  })
  .refine((manifest) => !manifest.outOfDistribution || manifest.files.some((f) => f.path === manifest.outOfDistribution!.file), {
    message: 'names a file the manifest does not list',
    path: ['outOfDistribution', 'file'],
  }) satisfies z.ZodType<ModelManifest>;
