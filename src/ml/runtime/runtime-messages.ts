// The messages between a threaded model runtime (threaded-runtime.ts) and its worker thread
// (runtime-thread.ts), and how an error crosses between them: structured cloning keeps an
// Error's message but not its class, so the project's errors travel as their fields and are
// rebuilt as the same class (instanceof, code, retryable and field survive).

import * as errors from '../../domain/errors.js';
import type { GreyImage } from '../preprocess/preprocess.js';
import type { DetailedScore, HeatMapScore } from './model-runtime.js';

export type RuntimeMethod = 'score' | 'scoreDetailed' | 'scoreWithHeatMaps';

export type RuntimeRequest = { type: 'run'; id: number; method: RuntimeMethod; images: readonly GreyImage[] } | { type: 'dispose' };

export type RuntimeReply =
  | { type: 'ready'; heatMapProblem?: string | null; priority?: ThreadPriority; error?: SerialisedError }
  | { type: 'result'; id: number; results?: Array<number | DetailedScore | HeatMapScore>; inferenceMs?: number; error?: SerialisedError }
  | { type: 'disposed' };

/** The scheduling priority the inference thread runs at: its nice value, or why it could not be lowered. */
export type ThreadPriority = { nice: number } | { problem: string };

export interface SerialisedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  retryable?: boolean;
  /** Own fields of the error class (ValidationError's field, ConfigError's key...). */
  fields?: Record<string, unknown>;
}

export function serialiseError(error: unknown): SerialisedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key !== 'code' && key !== 'retryable' && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')) fields[key] = value;
  }
  const base = { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}), fields };
  return error instanceof errors.MammocadError ? { ...base, code: error.code, retryable: error.retryable } : base;
}

/** The error as thrown in the thread: the project's classes by name, a plain Error otherwise. */
export function rebuildError(serialised: SerialisedError): Error {
  const classes = errors as unknown as Record<string, unknown>;
  const known = classes[serialised.name];
  let error: Error;
  if (serialised.code !== undefined) {
    error = new errors.MammocadError(serialised.code, serialised.message, { retryable: serialised.retryable ?? false });
    if (typeof known === 'function' && known.prototype instanceof errors.MammocadError) Object.setPrototypeOf(error, known.prototype as object);
    Object.defineProperty(error, 'name', { value: serialised.name, writable: true, configurable: true });
  } else {
    error = new Error(serialised.message);
    error.name = serialised.name;
  }
  Object.assign(error, serialised.fields ?? {});
  if (serialised.stack) error.stack = serialised.stack;
  return error;
}
