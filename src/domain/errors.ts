// The project's error hierarchy: one root class with a stable machine-readable `code` and a
// `retryable` flag, so jobs can decide between "retry later" and "record as failed", and the
// API can map known codes to client errors while masking everything else.

export class MammocadError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** A configuration value is missing or malformed. `key` is the dotted configuration path. */
export class ConfigError extends MammocadError {
  readonly key: string;
  constructor(key: string, problem: string) {
    super('CONFIG_INVALID', `${key}: ${problem}`);
    this.key = key;
  }
}

/** The database could not be opened, migrated or queried for reasons the caller cannot fix. */
export class DatabaseError extends MammocadError {
  constructor(message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super('DATABASE_ERROR', message, options);
  }
}

/** A value handed to the domain is outside its vocabulary or range. */
export class ValidationError extends MammocadError {
  readonly field: string;
  constructor(field: string, problem: string) {
    super('VALIDATION_FAILED', `${field}: ${problem}`);
    this.field = field;
  }
}

/** A referenced entity (study, image, model version, job) does not exist. */
export class NotFoundError extends MammocadError {
  constructor(entity: string, id: string) {
    super('NOT_FOUND', `${entity} not found: ${id}`);
  }
}

/** A state change that contradicts the current state (e.g. activating a missing model). */
export class ConflictError extends MammocadError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}
