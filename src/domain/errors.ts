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
  readonly problem: string;
  constructor(field: string, problem: string) {
    super('VALIDATION_FAILED', `${field}: ${problem}`);
    this.field = field;
    this.problem = problem;
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

// DICOM input -------------------------------------------------------------------------------

/** Bytes that are not a readable DICOM Part 10 object (truncated, not DICOM, bad structure). */
export class DicomParseError extends MammocadError {
  constructor(source: string, problem: string, options: { cause?: unknown } = {}) {
    super('DICOM_PARSE_FAILED', `${source}: ${problem}`, options);
  }
}

/** A transfer syntax the decoder does not handle. */
export class UnsupportedTransferSyntaxError extends MammocadError {
  readonly transferSyntaxUid: string;
  constructor(source: string, transferSyntaxUid: string) {
    super('UNSUPPORTED_TRANSFER_SYNTAX', `${source}: unsupported transfer syntax ${transferSyntaxUid}`);
    this.transferSyntaxUid = transferSyntaxUid;
  }
}

/** Pixel data that is missing, shorter than declared, or a corrupt compressed stream. */
export class PixelDecodeError extends MammocadError {
  constructor(source: string, problem: string, options: { cause?: unknown } = {}) {
    super('PIXEL_DECODE_FAILED', `${source}: ${problem}`, options);
  }
}

/** The PACS could not be reached or answered 5xx/timeout: worth retrying later. */
export class PacsUnavailableError extends MammocadError {
  readonly status?: number;
  constructor(message: string, options: { status?: number; cause?: unknown } = {}) {
    super('PACS_UNAVAILABLE', message, { retryable: true, cause: options.cause });
    this.status = options.status;
  }
}

/** The PACS refused the request (4xx): retrying the same request will not help. */
export class PacsRequestError extends MammocadError {
  readonly status: number;
  constructor(message: string, status: number) {
    super(status === 401 || status === 403 ? 'PACS_UNAUTHORIZED' : status === 404 ? 'PACS_NOT_FOUND' : 'PACS_REQUEST_REJECTED', message);
    this.status = status;
  }
}

/** A study has no image the classifier is meant for. */
export class NoEligibleViewsError extends MammocadError {
  constructor(studyRef: string, reasons: string) {
    super('NO_ELIGIBLE_VIEWS', `${studyRef}: no eligible views (${reasons})`);
  }
}

// Models ------------------------------------------------------------------------------------

/** An image or tensor a model cannot take: empty, non-finite values, or the wrong shape. */
export class ModelInputError extends MammocadError {
  constructor(problem: string) {
    super('MODEL_INPUT_INVALID', problem);
  }
}

/**
 * A model package that is missing, corrupt, tampered with, or does not fit its own manifest.
 * The message names the package folder, the file (when one is at fault) and the problem.
 */
export class ModelPackageError extends MammocadError {
  readonly packagePath: string;
  readonly file: string | null;
  constructor(packagePath: string, file: string | null, problem: string, options: { cause?: unknown } = {}) {
    super('MODEL_PACKAGE_INVALID', `model package ${packagePath}: ${file === null ? '' : `${file}: `}${problem}`, options);
    this.packagePath = packagePath;
    this.file = file;
  }
}

// Structured reports ----------------------------------------------------------------------------

/** A structured report that cannot be read back: not one of ours, or its content tree lacks what the template requires. */
export class ReportParseError extends MammocadError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SR_PARSE_FAILED', message, options);
  }
}

// Training data -------------------------------------------------------------------------------

/** A training data set on disk that cannot be read: a missing label file, a bad label row, an unreadable image. The message names the file. */
export class DatasetError extends MammocadError {
  readonly file: string;
  constructor(file: string, problem: string, options: { cause?: unknown } = {}) {
    super('DATASET_INVALID', `${file}: ${problem}`, options);
    this.file = file;
  }
}

// Jobs ----------------------------------------------------------------------------------------

/**
 * A job that cannot run yet for a reason of the installation rather than of the job (no model
 * is active): it waits without using up an attempt.
 */
export class JobPostponedError extends MammocadError {
  readonly delayMs: number;
  constructor(message: string, delayMs: number) {
    super('JOB_POSTPONED', message, { retryable: true });
    this.delayMs = delayMs;
  }
}

/** A running job whose cancellation was requested stopped at a checkpoint. */
export class JobCancelledError extends MammocadError {
  constructor(jobId: string) {
    super('JOB_CANCELLED', `job ${jobId} was cancelled on request`);
  }
}
