// Validation of a PreprocessingSpec (documented in src/ml/model-manifest.ts). Objects are strict:
// a misspelt field would otherwise be ignored and the model silently fed different pixels.

import { z } from 'zod';
import { ValidationError } from '../../domain/errors.js';
import type { PreprocessingSpec } from '../model-manifest.js';

const positiveInt = z.number().int().positive();
const spacingMm = z.number().positive().finite();
const finite = z.number().finite();

const intensitySchema = z.discriminatedUnion('method', [
  z.strictObject({
    method: z.literal('window-then-breast-zscore'),
    useImageWindow: z.boolean(),
    windowPercentiles: z
      .tuple([z.number().min(0).max(100), z.number().min(0).max(100)])
      .refine(([low, high]) => low < high, 'the low percentile must be below the high one'),
    breastThreshold: z.number().min(0).lt(1),
    mean: finite,
    scale: finite.refine((s) => s !== 0, 'must not be 0'),
  }),
  z.strictObject({ method: z.literal('minmax'), mean: finite, scale: finite.refine((s) => s !== 0, 'must not be 0') }),
  z.strictObject({ method: z.literal('paper-uint16'), mean: finite, scale: finite.refine((s) => s !== 0, 'must not be 0') }),
]);

export const preprocessingSpecSchema = z
  .strictObject({
    inputHeight: positiveInt,
    inputWidth: positiveInt,
    targetPixelSpacingMm: spacingMm.nullable(),
    fallbackPixelSpacingMm: spacingMm,
    fit: z.enum(['pad', 'stretch']),
    resize: z.enum(['area', 'bilinear', 'bicubic']),
    intensity: intensitySchema,
    channels: z.union([z.literal(1), z.literal(3)]),
    canonicalFlip: z.boolean(),
    testTimeFlips: z
      .array(z.enum(['none', 'horizontal', 'vertical', 'both']))
      .min(1)
      .refine((flips) => new Set(flips).size === flips.length, 'lists a flip twice'),
  })
  .refine((spec) => spec.fit === 'pad' || spec.targetPixelSpacingMm === null, {
    message: "'stretch' ignores the pixel spacing: set targetPixelSpacingMm to null",
    path: ['fit'],
  }) satisfies z.ZodType<PreprocessingSpec>;

/** The field (dotted path under `prefix`) and problem of a failed parse's first issue: what a person fixes first. */
export function firstIssue(error: z.ZodError, prefix: string): { field: string; problem: string } {
  const issue = error.issues[0]!;
  const path = [prefix, ...issue.path.map(String)].filter((part) => part !== '');
  if (issue.code === 'unrecognized_keys') return { field: [...path, issue.keys.join(', ')].join('.'), problem: 'not a known field' };
  return { field: path.join('.') || '(root)', problem: issue.message };
}

/** Returns the spec when valid; throws ValidationError naming the first bad field otherwise. */
export function checkPreprocessingSpec(spec: PreprocessingSpec): PreprocessingSpec {
  const result = preprocessingSpecSchema.safeParse(spec);
  if (!result.success) {
    const { field, problem } = firstIssue(result.error, 'preprocessing');
    throw new ValidationError(field, problem);
  }
  return result.data;
}
