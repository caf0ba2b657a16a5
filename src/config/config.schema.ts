// The configuration schema: every setting mammocad reads, with its type, default and the
// environment variable that sets it. A setting comes from (lowest to highest precedence) the
// default, the optional config file (MAMMOCAD_CONFIG, YAML or JSON), then the environment.

import { z } from 'zod';
import { REPORT_TEMPLATES } from '../domain/vocabulary.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Accepts a number or a string of digits (environment values are strings). */
const integer = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : v),
    z
      .number({ error: `must be an integer between ${min} and ${max}` })
      .int({ error: `must be an integer between ${min} and ${max}` })
      .min(min, { error: `must be an integer between ${min} and ${max}` })
      .max(max, { error: `must be an integer between ${min} and ${max}` }),
  );

const httpUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, { error: 'must be an http:// or https:// URL' });

const databaseUrl = z
  .string()
  .regex(/^(file:.+|postgres(ql)?:\/\/.+)$/, {
    error: "must be 'file:PATH' (SQLite) or 'postgresql://USER:PASSWORD@HOST:PORT/DB' (PostgreSQL)",
  });

const nonEmpty = z.string().min(1, { error: 'must not be empty' });

/** [min, max] with lo <= min <= max <= hi. */
const range = (lo: number, hi: number) =>
  z
    .tuple([z.number(), z.number()], { error: `must be [min, max], numbers between ${lo} and ${hi}` })
    .refine(([min, max]) => lo <= min && min <= max && max <= hi, { error: `must be [min, max], numbers between ${lo} and ${hi}, min <= max` });

export const OUTSIDE_INTENDED_USE_POLICIES = ['skip', 'score-and-flag'] as const;

export const configSchema = z.strictObject({
  dataDir: nonEmpty,
  modelDir: nonEmpty,
  sharedDataDir: nonEmpty,
  /** The model package a fresh install activates when it has no model version yet. */
  defaultModelDir: nonEmpty,
  database: z.strictObject({
    url: databaseUrl,
    /** Apply pending migrations when a command opens the database. */
    migrateOnStart: z.boolean(),
  }),
  pacs: z.strictObject({
    url: httpUrl,
    username: z.string().optional(),
    password: z.string().optional(),
    token: z.string().optional(),
    timeoutMs: integer(100, 600_000),
  }),
  watch: z.strictObject({
    /** Seconds between QIDO polls of the PACS; 0 turns polling off (webhook only). */
    pollIntervalSeconds: integer(0, 86_400),
    /** How many days back a poll looks (by StudyDate) on first start and at minimum. */
    lookbackDays: integer(0, 3650),
  }),
  selection: z.strictObject({
    /** Modalities accepted besides MG (e.g. RG for digitised film stored as Secondary Capture). */
    extraModalities: z.array(z.string().regex(/^[A-Z]{1,16}$/, { error: 'must be DICOM modality codes such as RG' })),
    /** Views the classifier is meant for. */
    views: z.array(z.enum(['CC', 'MLO', 'ML', 'LM', 'XCCL', 'XCCM', 'LMO', 'FB', 'SIO', 'ISO', 'AT', 'CV'], { error: 'must be view codes such as CC, MLO' })).min(1, { error: 'must name at least one view' }),
    /** View modifiers that make an image diagnostic rather than screening. */
    skipModifiers: z.array(z.enum(['magnification', 'spot-compression', 'implant-displaced'], { error: 'must be magnification, spot-compression or implant-displaced' })),
  }),
  worker: z.strictObject({
    /** A job whose worker has not reported for this long is taken over by another worker. */
    staleAfterSeconds: integer(30, 86_400),
    /**
     * onnxruntime threads per worker process (0: onnxruntime's default, one per core). With
     * several worker processes on one machine, cores / processes avoids oversubscription.
     */
    inferenceThreads: integer(0, 256),
    /**
     * Threads a training job computes gradients on (1: one core, the default: the machine is
     * shared with scoring). More share each batch out where the result stays the same (BN
     * frozen: fine-tuning pretrained weights, docs/training.md); 0: one per core.
     */
    trainingThreads: integer(0, 256),
    /**
     * Jobs each worker process runs at once (0: 2 on a machine of two or more cores, else 1).
     * Inference runs on its own thread, one study at a time, so a second job fetches, decodes
     * and reports while the first is scored: the cores stay busy while a job waits for the PACS.
     */
    concurrency: integer(0, 16),
    /**
     * How much lower than the service's own threads the inference thread runs, as a nice
     * increment (Linux; 0: the same priority). Inference then takes the CPU nothing else of its
     * scheduling group wants: the event loops (PACS exchanges, database, API, heartbeats), and a
     * PACS or database started in the same group, are not slowed by a backlog, which still
     * drains as fast. (Linux applies nice within a cgroup or autogroup only: docs/architecture.md.)
     */
    inferenceNice: integer(0, 19),
    /**
     * Decode JPEG 2000 images at the coarsest wavelet resolution that still has the pixels the
     * active model takes, instead of every stored pixel (3-9x faster for detector images; the
     * probabilities agree within the tolerance docs/benchmarks.md states). Default true.
     */
    decodeAtModelResolution: z.boolean(),
    /**
     * How many times the model's input pixels per side such a decode keeps (1: the coarsest level
     * that still has them, fastest; 2, the default: closer to a full decode). docs/benchmarks.md.
     */
    decodeResolutionMargin: z.preprocess(
      (v) => (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v.trim()) : v),
      z.number({ error: 'must be a number from 1 to 8' }).min(1, { error: 'must be a number from 1 to 8' }).max(8, { error: 'must be a number from 1 to 8' }),
    ),
  }),
  server: z.strictObject({
    host: nonEmpty,
    port: integer(0, 65535),
  }),
  webhook: z.strictObject({
    secret: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  }),
  api: z.strictObject({
    /** Whether the GraphQL schema can be introspected (tools, code generators). Off by default on a hospital network. */
    introspection: z.boolean(),
    /** Serve Apollo's landing page (an embedded explorer that loads from the internet) at GET /graphql. */
    landingPage: z.boolean(),
    /** Deepest selection a query may have. */
    maxDepth: integer(2, 50),
    /** Largest estimated cost of one operation (one per field, lists count by their page size). */
    maxCost: integer(10, 10_000_000),
    /** How often subscriptions look for new results and job progress in the database (any process may write them). */
    feedIntervalMs: integer(100, 60_000),
    /** Most root fields one operation may run (each is one resolver call and one audit event). */
    maxRootFields: integer(1, 1_000),
    /** Most aliases one document may use (aliases are how a request asks for one field many times). */
    maxAliases: integer(0, 10_000),
    /** Most lexical tokens in one document: parsing stops there, before validation does any work. */
    maxTokens: integer(100, 1_000_000),
    /** How often open WebSocket connections have their credential checked again (revoked or expired: closed). */
    wsRecheckMs: integer(100, 600_000),
    rateLimit: z.strictObject({
      /** Root fields per minute one API key or token subject may run (a burst of a minute's worth, then the rate); 0: no limit. */
      perKeyPerMinute: integer(0, 1_000_000),
      /** Requests (HTTP, WebSocket connections and operations) per minute from one client address; 0: no limit. */
      perAddressPerMinute: integer(0, 1_000_000),
    }),
    jwt: z.strictObject({
      /** Shared secret for HS256 tokens (at least 32 characters). */
      hs256Secret: z.string().min(32, { error: 'must be at least 32 characters' }).optional(),
      /** PEM file with the public key for RS256 tokens. */
      publicKeyFile: z.string().min(1).optional(),
      issuer: z.string().min(1).optional(),
      audience: z.string().min(1).optional(),
      /** Claim that carries the role (pacs, clinician or admin). */
      roleClaim: nonEmpty,
      /** Longest lifetime a token may have (exp - iat, or exp - now without iat); longer ones are refused. */
      maxLifetimeSeconds: integer(60, 30 * 86_400),
    }),
  }),
  report: z.strictObject({
    /** The structured report written for each scored study: TID 1500 (Comprehensive SR) or TID 4000 (Mammography CAD SR). */
    template: z.preprocess((v) => (typeof v === 'string' ? v.trim().toUpperCase() : v), z.enum(REPORT_TEMPLATES, { error: `must be one of ${REPORT_TEMPLATES.join(', ')}` })),
    /**
     * Research mode. Off (the default): a model whose validation does not show discrimination
     * above chance (95% CI of its AUC not above 0.5, or no validation at all), or whose package
     * says it is for research use only, writes no report into the PACS; its results stay in
     * mammocad's store and API. On: every report is written and says, where viewers show it,
     * "RESEARCH USE ONLY" and why. docs/structured-reports.md, "Model evidence".
     */
    researchMode: z.boolean(),
    /**
     * Write a Grayscale Softcopy Presentation State beside each report that marks regions: the
     * regions' outlines drawn on the images, for viewers that do not render an SR's coordinates
     * (default true). docs/heatmaps.md.
     */
    presentationState: z.boolean(),
  }),
  log: z.strictObject({
    level: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  }),
  /** What an image must be before a model scores it: docs/image-checks.md (each threshold and why). */
  imageChecks: z.strictObject({
    plausibility: z.strictObject({
      /** Fewest rows and fewest columns (each). */
      minMatrix: integer(1, 65_535),
      /** Plausible height and width of the imaged field in mm, when the header gives a pixel spacing. */
      fieldOfViewMm: range(0, 10_000),
      /** Fewest distinct grey values the decoded image must have. */
      minGreyLevels: integer(2, 65_536),
      /** Smallest share of the 2^BitsStored stored values the image's grey range must span. */
      minUsedDepthFraction: z.number({ error: 'must be a number between 0 and 1' }).min(0, { error: 'must be a number between 0 and 1' }).max(1, { error: 'must be a number between 0 and 1' }),
      /** Largest share of the pixels that may sit at the minimum value, or at the maximum value. */
      maxExtremeShare: z.number({ error: 'must be a number above 0, at most 1' }).gt(0, { error: 'must be a number above 0, at most 1' }).max(1, { error: 'must be a number above 0, at most 1' }),
      /** A pixel is breast when above the background level by this fraction of the grey range above it (the pre-processing's breastThreshold). */
      breastThreshold: z.number({ error: 'must be a number between 0 and 1 (exclusive)' }).gt(0, { error: 'must be a number between 0 and 1 (exclusive)' }).lt(1, { error: 'must be a number between 0 and 1 (exclusive)' }),
      /** Share of the image the breast region (the largest connected area of breast pixels) must cover, [min, max]. */
      breastShare: range(0, 1),
    }),
    /** An image outside the active model's declared intended use: not scored ('skip') or scored with a flag. */
    outsideIntendedUse: z.enum(OUTSIDE_INTENDED_USE_POLICIES, { error: `must be one of ${OUTSIDE_INTENDED_USE_POLICIES.join(', ')}` }),
  }),
});

export type Config = z.infer<typeof configSchema>;

/** worker.inferenceNice's default (docs/benchmarks.md, "Inference at a lower priority"). */
export const DEFAULT_INFERENCE_NICE = 10;

/** worker.decodeResolutionMargin's default: twice the model's pixels per side (docs/benchmarks.md, "Decoding at the model's resolution"). */
export const DEFAULT_DECODE_RESOLUTION_MARGIN = 2;

/** The image checks' defaults (load-config.ts fills them in; docs/image-checks.md says why each). */
export const IMAGE_CHECK_DEFAULTS: Config['imageChecks'] = {
  plausibility: {
    minMatrix: 256,
    fieldOfViewMm: [50, 500],
    minGreyLevels: 16,
    minUsedDepthFraction: 1 / 1024,
    maxExtremeShare: 0.98,
    breastThreshold: 0.1,
    breastShare: [0.03, 0.98],
  },
  outsideIntendedUse: 'skip',
};

/** Environment variables, each mapped to its dotted configuration key. First match wins. */
export const ENVIRONMENT_KEYS: ReadonlyArray<{ env: string; key: string; boolean?: true; list?: true }> = [
  { env: 'MAMMOCAD_DATA_DIR', key: 'dataDir' },
  { env: 'MAMMOCAD_MODEL_DIR', key: 'modelDir' },
  { env: 'MAMMOCAD_SHARED_DATA_DIR', key: 'sharedDataDir' },
  { env: 'MAMMOCAD_DEFAULT_MODEL_DIR', key: 'defaultModelDir' },
  { env: 'MAMMOCAD_DATABASE_URL', key: 'database.url' },
  { env: 'DATABASE_URL', key: 'database.url' },
  { env: 'MAMMOCAD_MIGRATE_ON_START', key: 'database.migrateOnStart', boolean: true },
  { env: 'MAMMOCAD_PACS_URL', key: 'pacs.url' },
  { env: 'MAMMOCAD_PACS_USERNAME', key: 'pacs.username' },
  { env: 'MAMMOCAD_PACS_PASSWORD', key: 'pacs.password' },
  { env: 'MAMMOCAD_PACS_TOKEN', key: 'pacs.token' },
  { env: 'MAMMOCAD_PACS_TIMEOUT_MS', key: 'pacs.timeoutMs' },
  { env: 'MAMMOCAD_POLL_INTERVAL_S', key: 'watch.pollIntervalSeconds' },
  { env: 'MAMMOCAD_POLL_LOOKBACK_DAYS', key: 'watch.lookbackDays' },
  { env: 'MAMMOCAD_SELECTION_EXTRA_MODALITIES', key: 'selection.extraModalities', list: true },
  { env: 'MAMMOCAD_SELECTION_VIEWS', key: 'selection.views', list: true },
  { env: 'MAMMOCAD_SELECTION_SKIP_MODIFIERS', key: 'selection.skipModifiers', list: true },
  { env: 'MAMMOCAD_WORKER_STALE_AFTER_S', key: 'worker.staleAfterSeconds' },
  { env: 'MAMMOCAD_INFERENCE_THREADS', key: 'worker.inferenceThreads' },
  { env: 'MAMMOCAD_TRAINING_THREADS', key: 'worker.trainingThreads' },
  { env: 'MAMMOCAD_WORKER_CONCURRENCY', key: 'worker.concurrency' },
  { env: 'MAMMOCAD_INFERENCE_NICE', key: 'worker.inferenceNice' },
  { env: 'MAMMOCAD_DECODE_AT_MODEL_RESOLUTION', key: 'worker.decodeAtModelResolution', boolean: true },
  { env: 'MAMMOCAD_DECODE_RESOLUTION_MARGIN', key: 'worker.decodeResolutionMargin' },
  { env: 'MAMMOCAD_HOST', key: 'server.host' },
  { env: 'MAMMOCAD_PORT', key: 'server.port' },
  { env: 'PORT', key: 'server.port' },
  { env: 'MAMMOCAD_WEBHOOK_SECRET', key: 'webhook.secret' },
  { env: 'MAMMOCAD_REPORT_TEMPLATE', key: 'report.template' },
  { env: 'MAMMOCAD_REPORT_RESEARCH_MODE', key: 'report.researchMode', boolean: true },
  { env: 'MAMMOCAD_REPORT_PRESENTATION_STATE', key: 'report.presentationState', boolean: true },
  { env: 'MAMMOCAD_API_INTROSPECTION', key: 'api.introspection', boolean: true },
  { env: 'MAMMOCAD_API_LANDING_PAGE', key: 'api.landingPage', boolean: true },
  { env: 'MAMMOCAD_API_MAX_DEPTH', key: 'api.maxDepth' },
  { env: 'MAMMOCAD_API_MAX_COST', key: 'api.maxCost' },
  { env: 'MAMMOCAD_API_FEED_INTERVAL_MS', key: 'api.feedIntervalMs' },
  { env: 'MAMMOCAD_API_MAX_ROOT_FIELDS', key: 'api.maxRootFields' },
  { env: 'MAMMOCAD_API_MAX_ALIASES', key: 'api.maxAliases' },
  { env: 'MAMMOCAD_API_MAX_TOKENS', key: 'api.maxTokens' },
  { env: 'MAMMOCAD_API_WS_RECHECK_MS', key: 'api.wsRecheckMs' },
  { env: 'MAMMOCAD_API_RATE_LIMIT_PER_KEY', key: 'api.rateLimit.perKeyPerMinute' },
  { env: 'MAMMOCAD_API_RATE_LIMIT_PER_ADDRESS', key: 'api.rateLimit.perAddressPerMinute' },
  { env: 'MAMMOCAD_JWT_HS256_SECRET', key: 'api.jwt.hs256Secret' },
  { env: 'MAMMOCAD_JWT_PUBLIC_KEY_FILE', key: 'api.jwt.publicKeyFile' },
  { env: 'MAMMOCAD_JWT_ISSUER', key: 'api.jwt.issuer' },
  { env: 'MAMMOCAD_JWT_AUDIENCE', key: 'api.jwt.audience' },
  { env: 'MAMMOCAD_JWT_ROLE_CLAIM', key: 'api.jwt.roleClaim' },
  { env: 'MAMMOCAD_JWT_MAX_LIFETIME_S', key: 'api.jwt.maxLifetimeSeconds' },
  { env: 'MAMMOCAD_LOG_LEVEL', key: 'log.level' },
  { env: 'MAMMOCAD_IMAGE_CHECKS_OUTSIDE_INTENDED_USE', key: 'imageChecks.outsideIntendedUse' },
];

/** Keys whose values are never printed. */
export const SECRET_KEYS = ['pacs.password', 'pacs.token', 'webhook.secret', 'api.jwt.hs256Secret'] as const;
