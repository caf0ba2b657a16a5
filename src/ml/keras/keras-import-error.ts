// The one error of the Keras import: the file cannot become a model package as it is. The
// message names the file, and the layer when one is at fault, so an admin knows what to fix or
// to report; nothing is written or registered when it is thrown.

import { MammocadError } from '../../domain/errors.js';

export class KerasImportError extends MammocadError {
  readonly file: string;
  /** The layer at fault, when there is one. */
  readonly layer: string | null;

  constructor(file: string, problem: string, options: { layer?: string; cause?: unknown } = {}) {
    super('KERAS_IMPORT_FAILED', `${file}: ${options.layer ? `layer ${options.layer}: ` : ''}${problem}`, { cause: options.cause });
    this.file = file;
    this.layer = options.layer ?? null;
  }
}
