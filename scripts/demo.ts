// `npm run demo` (after scripts/demo.sh has installed what is missing): the whole product on the
// embedded defaults, as a hospital would see it.
//   1. a local Orthanc (DICOMweb plugin, mammocad's Lua notifier) under var/demo/orthanc
//   2. a model: models/default when the repository ships one, else an UNTRAINED stand-in
//   3. `mammocad serve` (SQLite under var/demo, webhook + polling, in-process worker, GraphQL)
//   4. a demo study stored into Orthanc. By default a SYNTHETIC PHANTOM: four digital views
//      (L/R CC/MLO) drawn by src/dicom/convert/synthetic-mammogram.ts from a seed, so a fresh
//      clone needs no data from outside the repository. It is not a patient: its probability
//      means nothing clinically, and the output says so. MAMMOCAD_DEMO_SOURCE=mias (or
//      MAMMOCAD_DEMO_WOMAN=w002, a woman, or mdb003, one of her images) uses a mini-MIAS pair
//      instead, where that research-only data is present (MAMMOCAD_SHARED_DATA_DIR, default
//      ../shared/data): digitised film, scored and flagged as outside the default model's
//      intended use (digital mammograms).
//   5. Orthanc calls the study stable -> webhook -> scored -> one SR stored back into Orthanc
//   6. a clinician API key, the GraphQL URL, the web console's URL (sign in with that key), an
//      example query and its answer
// The last line of stdout is one JSON object: {studyInstanceUid, examProbability, srSopInstanceUid,
// ..., demoSource}. Interactive (a terminal on stdin) or MAMMOCAD_DEMO_KEEP=1: keeps serving until
// Ctrl-C. MAMMOCAD_DEMO_SEED pins the phantom (default: a new one each run, so a re-run against
// the same Orthanc stores a new study rather than one already scored).

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { JsonValue } from '../src/domain/index.js';
import { DicomwebClient } from '../src/dicom/dicomweb-client.js';
import { ciBeatsChance, headlineEvaluation, type HeadlineEvaluation } from '../src/ml/registry/model-evidence.js';
import { buildFilmMammogram } from '../src/dicom/convert/mias-to-dicom.js';
import { buildSyntheticStudy } from '../src/dicom/convert/synthetic-mammogram.js';
import { MIAS_PIXEL_SPACING_MM, readMiasDataset, readMiasPixels, type MiasDataset } from '../src/training/datasets/mias.js';
import { LocalOrthanc, freePort } from './lib/local-orthanc.js';
import { writeRandomModel } from './lib/random-model.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'mammocad.mjs');
const DATA_DIR = path.resolve(process.env.MAMMOCAD_DATA_DIR ?? path.join(ROOT, 'var', 'demo'));
const SHARED = path.resolve(process.env.MAMMOCAD_SHARED_DATA_DIR ?? path.join(ROOT, '..', 'shared', 'data'));
const MIAS_DIR = path.join(SHARED, 'mias');
const DEFAULT_MODEL = path.join(ROOT, 'models', 'default');
const UNTRAINED_VERSION = 'demo-untrained-1';
const TIMEOUT_MS = Number(process.env.MAMMOCAD_DEMO_TIMEOUT_S ?? 300) * 1000;
/** The MIAS demo pair: one woman's two MLO views from the mini-MIAS split, by woman (w002) or image (mdb003); default the first woman. */
const DEMO_WOMAN = process.env.MAMMOCAD_DEMO_WOMAN || undefined;
const PHANTOM_WORDS = 'a SYNTHETIC PHANTOM drawn by mammocad, not a patient: its probability means nothing clinically';

const say = (message: string) => process.stderr.write(`[mammocad demo] ${message}\n`);
const run = promisify(execFile);

const children: ChildProcess[] = [];
let orthanc: LocalOrthanc | undefined;

async function shutdown(): Promise<void> {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((resolve) => c.once('exit', resolve)) : undefined)));
  await orthanc?.stop();
}

function serviceEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, MAMMOCAD_DATA_DIR: DATA_DIR, ...extra };
}

async function mammocad(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run(process.execPath, [BIN, ...args], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** A stable webhook secret for this data folder (Orthanc and the service must agree). */
function webhookSecret(): string {
  const file = path.join(DATA_DIR, 'webhook-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(24).toString('base64url'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/** Makes sure a model version is active: the shipped default, else an untrained stand-in. */
async function ensureModel(env: NodeJS.ProcessEnv): Promise<{ version: string; untrained: boolean; validation: HeadlineEvaluation; beatsChance: boolean | null }> {
  type Listed = { version: string; active: boolean; metrics: JsonValue | null };
  const described = (m: Listed) => {
    const validation = headlineEvaluation(m.metrics);
    return { version: m.version, untrained: m.version === UNTRAINED_VERSION, validation, beatsChance: ciBeatsChance(validation.aucCi) };
  };
  // One JSON object per line, one line per version; the metrics say what its validation showed.
  const activeVersion = async () =>
    (await mammocad(['models', 'list', '--json'], env))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Listed)
      .find((m) => m.active);
  const active = await activeVersion();
  if (active) return described(active);
  let dir = DEFAULT_MODEL;
  let untrained = false;
  if (!existsSync(path.join(DEFAULT_MODEL, 'manifest.json'))) {
    untrained = true;
    dir = path.join(DATA_DIR, 'staging', UNTRAINED_VERSION);
    if (!existsSync(path.join(dir, 'manifest.json'))) {
      say('no trained default model ships with this checkout yet (models/default): building an UNTRAINED stand-in with random weights');
      await writeRandomModel(dir, UNTRAINED_VERSION, 'demo stand-in until a trained default model ships');
    }
  }
  const imported = JSON.parse(await mammocad(['models', 'import', dir, '--json'], env)) as { version: string };
  await mammocad(['models', 'activate', imported.version, '--json'], env);
  const activated = await activeVersion();
  if (activated?.version !== imported.version) throw new Error(`model ${imported.version} was activated but is not the active one`);
  return { ...described(activated), untrained };
}

/** The model's own validation, as a line of the demo's output. */
function validationLine(model: Awaited<ReturnType<typeof ensureModel>>): string {
  const { auc, aucCi } = model.validation;
  if (model.untrained) return 'UNTRAINED stand-in: the probability below means nothing';
  if (auc === null || !aucCi) return 'no validation AUC in its package: nothing shows its probabilities mean anything';
  const figure = `validation AUC ${auc.toFixed(2)} (95% CI ${aucCi[0].toFixed(2)}-${aucCi[1].toFixed(2)})`;
  return model.beatsChance ? figure : `${figure}: NOT above chance, the probability below is not evidence of malignancy`;
}

/** Where the demo study comes from: mammocad's synthetic phantom, or a mini-MIAS pair where that data is present. */
type DemoSource = { kind: 'synthetic'; seed: string } | { kind: 'mias'; dataset: MiasDataset; woman: string };

/** Decides the demo study's source before anything starts, and fails with what to do when it cannot be had. */
async function demoSource(): Promise<DemoSource> {
  const asked = (process.env.MAMMOCAD_DEMO_SOURCE || (DEMO_WOMAN ? 'mias' : 'synthetic')).toLowerCase();
  if (asked === 'synthetic') {
    if (DEMO_WOMAN) throw new Error(`MAMMOCAD_DEMO_WOMAN=${DEMO_WOMAN} names a mini-MIAS woman, but MAMMOCAD_DEMO_SOURCE=synthetic: unset one of them`);
    return { kind: 'synthetic', seed: process.env.MAMMOCAD_DEMO_SEED || `demo ${new Date().toISOString()}` };
  }
  if (asked !== 'mias') throw new Error(`MAMMOCAD_DEMO_SOURCE must be synthetic (the default) or mias; got '${process.env.MAMMOCAD_DEMO_SOURCE}'`);
  let dataset: MiasDataset;
  try {
    dataset = await readMiasDataset(MIAS_DIR);
  } catch (error) {
    throw new Error(
      `the mini-MIAS demo was asked for (MAMMOCAD_DEMO_SOURCE=mias or MAMMOCAD_DEMO_WOMAN), but its data is not readable under ${MIAS_DIR} ` +
        `(${error instanceof Error ? error.message : String(error)}). mini-MIAS is research-only data the repository does not hold: ` +
        'point MAMMOCAD_SHARED_DATA_DIR at the folder holding mias/, or unset both variables for the synthetic demo study',
    );
  }
  // A woman (w002) or one of her images (mdb003): the study holds both of her views.
  const woman = DEMO_WOMAN === undefined ? [...dataset.women.keys()][0] : dataset.women.has(DEMO_WOMAN) ? DEMO_WOMAN : dataset.images.find((i) => i.id === DEMO_WOMAN)?.womanId;
  if (!woman) {
    throw new Error(`MAMMOCAD_DEMO_WOMAN=${DEMO_WOMAN ?? ''} is neither a woman nor an image of the mini-MIAS data under ${MIAS_DIR} (women: ${[...dataset.women.keys()].slice(0, 5).join(', ')}, ...; images: mdbNNN)`);
  }
  return { kind: 'mias', dataset, woman };
}

/** Builds the demo study (dated today) and stores it into Orthanc; returns its Study Instance UID. */
async function storeDemoStudy(pacs: DicomwebClient, source: DemoSource): Promise<string> {
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  if (source.kind === 'synthetic') {
    const images = buildSyntheticStudy(source.seed, { studyDate: today });
    const studyUid = images[0]!.studyInstanceUid;
    await pacs.store(images.map((i) => i.bytes), studyUid);
    say(`stored the demo study into Orthanc: ${PHANTOM_WORDS} (${images.map((i) => `${i.laterality} ${i.view}`).join(', ')}; patient ${images[0]!.patientId}, seed '${source.seed}')`);
    return studyUid;
  }
  const images = source.dataset.images.filter((i) => i.womanId === source.woman);
  // A fresh copy each run: a re-run against the same Orthanc stores a new study.
  const seed = `demo ${new Date().toISOString()}`;
  let studyUid = '';
  const files: Uint8Array[] = [];
  for (const [index, image] of images.entries()) {
    const pgm = await readMiasPixels(image);
    const built = buildFilmMammogram({
      imageId: image.id,
      patientId: `DEMO-${image.womanId}`,
      patientName: `DEMO^MIAS${image.womanId}`,
      laterality: image.laterality,
      view: image.view,
      instanceNumber: index + 1,
      rows: pgm.height,
      columns: pgm.width,
      pixels: pgm.pixels,
      pixelSpacingMm: MIAS_PIXEL_SPACING_MM,
      collection: 'mini-MIAS',
      studyDate: today,
      uidSeed: seed,
    });
    studyUid = built.studyInstanceUid;
    files.push(built.bytes);
  }
  await pacs.store(files, studyUid);
  say(`stored the demo study (mini-MIAS ${images.map((i) => `${i.id} ${i.laterality} ${i.view}`).join(', ')}) into Orthanc`);
  return studyUid;
}

async function graphql<T>(url: string, key: string, query: string, variables: Record<string, unknown>): Promise<T> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { data?: T; errors?: Array<{ message: string }> };
  if (body.errors?.length) throw new Error(`GraphQL: ${body.errors.map((e) => e.message).join('; ')}`);
  return body.data as T;
}

const STUDY_QUERY = `query Demo($uid: String!) {
  study(studyInstanceUid: $uid) {
    studyInstanceUid studyDate status statusReason
    exam { probability positive modelVersion timings outOfDistribution outOfDistributionFlagged flags }
    breasts { laterality probability positive }
    images { sopInstanceUid laterality view status }
    reports { sopInstanceUid template status }
  }
}`;

interface DemoStudy {
  study: {
    status: string;
    statusReason: string | null;
    exam: { probability: number; positive: boolean; modelVersion: string; outOfDistribution: number | null; outOfDistributionFlagged: boolean | null; flags: string[] } | null;
    reports: Array<{ sopInstanceUid: string; status: string }>;
  };
}

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  const source = await demoSource();
  if (!LocalOrthanc.available()) throw new Error('Orthanc with its DICOMweb plugin is not installed (scripts/demo.sh installs it as root: apt-get install orthanc orthanc-dicomweb orthanc-gdcm)');
  const port = Number(process.env.MAMMOCAD_PORT ?? 0) || (await freePort());
  const secret = webhookSecret();
  const base = `http://127.0.0.1:${port}`;

  orthanc = new LocalOrthanc({ dir: path.join(DATA_DIR, 'orthanc'), stableAge: 3, webhookUrl: `${base}/webhooks/study-stable`, webhookSecret: secret });
  await orthanc.start();
  say(`Orthanc (PACS) at ${orthanc.url} (DICOMweb ${orthanc.dicomwebUrl}; user ${orthanc.username})`);

  const env = serviceEnv({
    MAMMOCAD_PORT: String(port),
    MAMMOCAD_PACS_URL: orthanc.dicomwebUrl,
    MAMMOCAD_PACS_USERNAME: orthanc.username,
    MAMMOCAD_PACS_PASSWORD: orthanc.password,
    MAMMOCAD_WEBHOOK_SECRET: secret,
    MAMMOCAD_POLL_INTERVAL_S: process.env.MAMMOCAD_POLL_INTERVAL_S ?? '30',
    MAMMOCAD_API_INTROSPECTION: process.env.MAMMOCAD_API_INTROSPECTION ?? 'true',
    // The demo's model is trained on research-only data: its reports are written, marked
    // RESEARCH USE ONLY (a site without research mode gets no report from such a model).
    MAMMOCAD_REPORT_RESEARCH_MODE: process.env.MAMMOCAD_REPORT_RESEARCH_MODE ?? 'true',
    // The synthetic study is digital, within the default model's intended use: the site
    // default (skip what is outside it) stands. The mini-MIAS pair is digitised film: a site's
    // default would skip it; that demo scores it and flags each result as outside the intended
    // use, so the flag can be seen in the API and SR.
    ...(source.kind === 'mias' ? { MAMMOCAD_IMAGE_CHECKS_OUTSIDE_INTENDED_USE: process.env.MAMMOCAD_IMAGE_CHECKS_OUTSIDE_INTENDED_USE ?? 'score-and-flag' } : {}),
  });
  const model = await ensureModel(env);
  say(`active model: ${model.version} (${validationLine(model)})`);
  if (source.kind === 'synthetic') {
    say(`the demo study is ${PHANTOM_WORDS}. It shows the service working end to end, nothing about the model's accuracy`);
  }
  if (env.MAMMOCAD_IMAGE_CHECKS_OUTSIDE_INTENDED_USE === 'score-and-flag') {
    say("images outside the model's intended use are scored and flagged as such (imageChecks.outsideIntendedUse = score-and-flag; a site's default skips them)");
    if (source.kind === 'mias') say("the demo study is digitised film (mini-MIAS), outside the default model's intended use (digital mammograms)");
  }
  if (env.MAMMOCAD_REPORT_RESEARCH_MODE === 'true') {
    say('research mode is on (report.researchMode): every report this demo writes into the PACS says RESEARCH USE ONLY, not for clinical decisions');
  }

  const logFile = path.join(DATA_DIR, 'service.log');
  const service = spawn(process.execPath, [BIN, 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(service);
  const log = createWriteStream(logFile, { flags: 'a' });
  service.stdout!.pipe(log);
  service.stderr!.pipe(log);
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    if (service.exitCode !== null) throw new Error(`the service exited during start-up (log: ${logFile})`);
    if (Date.now() > deadline) throw new Error(`the service did not become ready (log: ${logFile})`);
    const ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  say(`mammocad serving at ${base} (log: ${logFile})`);

  const { key } = JSON.parse(await mammocad(['apikey', 'create', '--role', 'clinician', '--name', 'demo clinician', '--json'], env)) as { key: string };
  const pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 30_000 });
  const started = Date.now();
  const studyUid = await storeDemoStudy(pacs, source);

  const url = `${base}/graphql`;
  let answer: DemoStudy | undefined;
  say('waiting for Orthanc to call the study stable, the score and the structured report ...');
  while (Date.now() < deadline) {
    try {
      answer = await graphql<DemoStudy>(url, key, STUDY_QUERY, { uid: studyUid });
      const { status, reports } = answer.study;
      if (status === 'FAILED' || status === 'SKIPPED') throw new Error(`the study ended ${status}: ${answer.study.statusReason}`);
      if (status === 'SCORED' && reports.some((r) => r.status === 'stored')) break;
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('not found')) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const study = answer?.study;
  const report = study?.reports.find((r) => r.status === 'stored');
  if (!study?.exam || !report) throw new Error(`no score and report within ${TIMEOUT_MS / 1000} s (log: ${logFile})`);
  const elapsed = (Date.now() - started) / 1000;

  // The report really is in the PACS: ask Orthanc, not our database.
  const srInPacs = (await pacs.search(`studies/${studyUid}/instances`, { SOPInstanceUID: report.sopInstanceUid })).length === 1;

  const exam = study.exam;
  const studyLine =
    source.kind === 'synthetic'
      ? `SYNTHETIC PHANTOM (seed '${source.seed}'), not a patient: its probability means nothing clinically`
      : `mini-MIAS woman ${source.woman} (digitised film, research-only data)`;
  const oodLine =
    exam.outOfDistributionFlagged === null
      ? 'not computed (the model package has no reference)'
      : `${exam.outOfDistributionFlagged ? 'FLAGGED' : 'not flagged'} (statistic ${exam.outOfDistribution?.toFixed(2)}; 1 = the training images' 99th percentile)` +
        (exam.outOfDistributionFlagged && source.kind === 'synthetic' ? ': a phantom may well look unlike the screening images the model learnt from' : '');
  const consoleUrl = `${base}/console`;
  const keepServing = process.stdin.isTTY || process.env.MAMMOCAD_DEMO_KEEP === '1';
  const curl = `curl -s ${url} -H 'content-type: application/json' -H 'authorization: Bearer ${key}' \\\n  -d '${JSON.stringify({ query: STUDY_QUERY.replace(/\s+/g, ' '), variables: { uid: studyUid } })}'`;
  process.stdout.write(
    [
      '',
      `mammocad demo: study scored and reported in ${elapsed.toFixed(1)} s after it was stored`,
      `  PACS (Orthanc):   ${orthanc.url}  (user ${orthanc.username})`,
      `  GraphQL API:      ${url}`,
      `  console:          ${consoleUrl}  (a browser: sign in with the clinician key below${keepServing ? '' : '; MAMMOCAD_DEMO_KEEP=1 keeps the demo serving'})`,
      `  clinician key:    ${key}`,
      `  model:            ${model.version}  -- ${validationLine(model)}`,
      `  demo study:       ${studyLine}`,
      `  exam:             probability ${exam.probability.toFixed(3)} (${exam.positive ? 'at or above' : 'below'} the model's threshold); out of distribution: ${oodLine}`,
      ...exam.flags.map((flag) => `  flag:             ${flag}`),
      `  SR in the PACS:   ${report.sopInstanceUid} (${srInPacs ? 'found by QIDO' : 'NOT found by QIDO'})${env.MAMMOCAD_REPORT_RESEARCH_MODE === 'true' ? ', marked RESEARCH USE ONLY (research mode)' : ''}`,
      '',
      'Example query:',
      curl,
      '',
      'Its answer:',
      JSON.stringify(answer, null, 2),
      '',
    ].join('\n'),
  );
  process.stdout.write(
    `${JSON.stringify({
      studyInstanceUid: studyUid,
      examProbability: study.exam.probability,
      srSopInstanceUid: report.sopInstanceUid,
      srInPacs,
      modelVersion: study.exam.modelVersion,
      untrainedModel: model.untrained,
      modelValidationAuc: model.validation.auc,
      modelValidationAucCi: model.validation.aucCi,
      modelBeatsChance: model.beatsChance,
      researchMode: env.MAMMOCAD_REPORT_RESEARCH_MODE === 'true',
      graphqlUrl: url,
      consoleUrl,
      seconds: Number(elapsed.toFixed(1)),
      // 'synthetic': a phantom, not a patient (its probability means nothing clinically).
      demoSource: source.kind,
      demoSeed: source.kind === 'synthetic' ? source.seed : null,
      demoWoman: source.kind === 'mias' ? source.woman : null,
      examOutOfDistributionFlagged: exam.outOfDistributionFlagged,
      examFlags: exam.flags,
    })}\n`,
  );
  if (!srInPacs) process.exitCode = 1;
  if (keepServing) {
    say(`serving; open ${consoleUrl} and sign in with the clinician key; press Ctrl-C to stop`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
      service.once('exit', () => resolve());
    });
  }
}

main()
  .catch((error: unknown) => {
    say(`failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  })
  .finally(() => shutdown().then(() => process.exit()));
