// A bounded load and fault test of the whole loop, on loopback only (127.0.0.1):
//   PostgreSQL (a fresh database, dropped at the end; jobs delivered by graphile-worker) + a local
//   Orthanc (webhook to the service) + an UNTRAINED random-weight model package (MODEL=resnet50,
//   the paper's backbone, ~0.8 s per image on 2 cores, the default; or MODEL=yaroslavnet, ~0.15 s)
//   + `mammocad serve` (API, webhook, poller, one worker) + WORKERS-1 `mammocad worker` processes.
// Stores STUDIES studies (L CC + R MLO 1024x1024 + a dose report) at once by STOW-RS; after about
// a third are scored, SIGKILLs one `worker` process (mid-job when one holds a job; a replacement
// is started), and a little later restarts Orthanc. Waits (bounded by TIME_LIMIT_S) until every
// study is scored, then checks: one SR of ours per study in Orthanc, one exam prediction per
// study, no job queued/running/dead/failed. Prints throughput, per-stage timings and the fault
// events; exits 1 when a check failed.
//
//   npx tsx scripts/load-test.ts
//   STUDIES=50 WORKERS=3 MODEL=resnet50|yaroslavnet TIME_LIMIT_S=600 KILL=busy|idle STALE_AFTER_S=30 \
//     IMAGES=small|detector-j2k npx tsx scripts/load-test.ts
//
// IMAGES=detector-j2k stores four views per study at a detector's size instead (3328 x 2560 at
// 0.065 mm synthetic phantoms, JPEG 2000 10:1 by gdcmconv, ~1 MB each; made once, each study a
// copy under its own UIDs): where decoding weighs (issue 20). The service's own settings pass
// through the environment, e.g. MAMMOCAD_DECODE_AT_MODEL_RESOLUTION=false for a run without
// the reduced JPEG 2000 decode.
//
// PostgreSQL: MAMMOCAD_TEST_PG_URL (admin URL, must point at 127.0.0.1/localhost), or, when unset
// and running as root, `bash scripts/start-postgres.sh`. A job whose worker is killed mid-job stays
// 'running' until its lock is stale: MAMMOCAD_WORKER_STALE_AFTER_S (src/config, default 120 s; at
// least 30). The test sets it to STALE_AFTER_S (default 30 s), so the takeover happens within the
// run; the report says when it happened.
//
// Overhead beyond inference = 1 - sum(infer) / sum(all stages), over the stages of the succeeded
// score-study jobs (select, fetchDecode, infer, report, store: the job's result; the exam
// prediction's copy lacks 'store', which is timed after it is written). src times pre-processing
// inside 'infer', so the script also measures pre-processing alone (after the run, with its
// workers idle) and prints the share with it counted as overhead. Time outside the stages
// (claim, model look-up, outcome write) shows as job wall time minus stage time.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { LocalOrthanc, freePort } from './lib/local-orthanc.js';
import { writeRandomModel } from './lib/random-model.js';
import { adminQuery, postgresAdminUrl } from './lib/postgres-admin.js';
import { intEnv } from './lib/env.js';
import { mammogram, doseReport, newStudyIds } from '../test/support/dicom-factory.js';
import { buildSyntheticStudy } from '../src/dicom/convert/synthetic-mammogram.js';
import { DicomwebClient } from '../src/dicom/dicomweb-client.js';
import { openStore, type Store } from '../src/store/index.js';
import { readPart10 } from '../src/dicom/part10.js';
import { decodeImage } from '../src/dicom/pixels/decode-image.js';
import { holderIdOf } from '../src/pipeline/worker-liveness.js';
import { preprocessImage, toBatch } from '../src/ml/preprocess/preprocess.js';
import { DEFAULT_PREPROCESSING } from '../src/ml/preprocess/presets.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'bin', 'mammocad.mjs');
const STUDIES = intEnv('STUDIES', 50);
const WORKERS = intEnv('WORKERS', 3);
const TIME_LIMIT_S = intEnv('TIME_LIMIT_S', 600);
// Extra node flags for the service's processes, e.g. NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'
// (a profile per process, written when it stops; node refuses --cpu-prof in NODE_OPTIONS).
const QUEUE_KEY = 'inferQueue';
const NODE_ARGS = (process.env.NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const KILL_MODE = (process.env.KILL ?? 'busy') === 'idle' ? 'idle' : 'busy';
const MODEL = modelEnv();
const STALE_AFTER_S = intEnv('STALE_AFTER_S', 30);
const IMAGES = imagesEnv();
const HOST = '127.0.0.1';
const STAGES = ['select', 'fetchDecode', 'infer', 'report'] as const;

function imagesEnv(): 'small' | 'detector-j2k' {
  const raw = process.env.IMAGES || 'small';
  if (raw !== 'small' && raw !== 'detector-j2k') throw new Error(`IMAGES must be small or detector-j2k; got ${raw}`);
  return raw;
}

function modelEnv(): 'resnet50' | 'yaroslavnet' {
  const raw = process.env.MODEL || 'resnet50';
  if (raw !== 'resnet50' && raw !== 'yaroslavnet') throw new Error(`MODEL must be resnet50 or yaroslavnet; got ${raw}`);
  return raw;
}

const started = Date.now();
const deadline = started + TIME_LIMIT_S * 1000;
const stamp = () => `+${((Date.now() - started) / 1000).toFixed(1)}s`;
const say = (msg: string) => console.log(`[load ${stamp()}] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface FaultEvent {
  at: string;
  what: string;
  outcome: string;
}
const faults: FaultEvent[] = [];
const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  console.log(`  [${ok ? 'PASS' : 'FAIL'}] ${what}`);
  if (!ok) failures.push(what);
};

function assertLoopback(url: string, what: string): void {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new Error(`${what} must be on loopback; got host ${host}`);
}

// ---------------------------------------------------------------------------------------------
// processes

interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

const procs: Proc[] = [];
let workDir = '';

function startProcess(name: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const log = createWriteStream(path.join(workDir, `${name}.log`));
  const child = spawn(process.execPath, [...NODE_ARGS, CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const proc = { name, child, exited };
  procs.push(proc);
  return proc;
}

async function stopProcess(proc: Proc): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
  await proc.exited;
  clearTimeout(timer);
}

function runCli(args: string[], env: NodeJS.ProcessEnv): string {
  try {
    return execFileSync(process.execPath, [CLI, ...args], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`mammocad ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

async function waitReady(port: number, proc: Proc, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited during start-up (see ${workDir}/${proc.name}.log)`);
    try {
      if ((await fetch(`http://${HOST}:${port}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${proc.name} not ready within ${timeoutMs} ms`);
}

// ---------------------------------------------------------------------------------------------
// database

// ---------------------------------------------------------------------------------------------
// studies

/** A view to copy: its bytes and its Study, Series and SOP Instance UIDs (read once). */
interface TemplateView {
  bytes: Uint8Array;
  uids: string[];
}

/** IMAGES=detector-j2k: the four views of one synthetic woman at a detector's size, JPEG 2000 10:1 by gdcmconv. */
function detectorViews(dir: string): TemplateView[] {
  return buildSyntheticStudy('load-test detector', { rows: 3328, columns: 2560, pixelSpacingMm: 0.065 }).map((view, i) => {
    const raw = path.join(dir, `view-${i}.dcm`);
    const j2k = path.join(dir, `view-${i}-j2k.dcm`);
    writeFileSync(raw, view.bytes);
    execFileSync('gdcmconv', ['--j2k', '--lossy', '-r', '10', raw, j2k]);
    const bytes = new Uint8Array(readFileSync(j2k));
    const ds = readPart10(bytes, `view ${i}`).dataset;
    return { bytes, uids: [String(ds.StudyInstanceUID), String(ds.SeriesInstanceUID), String(ds.SOPInstanceUID)] };
  });
}

/**
 * A copy of the views as study `n`: their Study, Series and SOP Instance UIDs (file meta included)
 * replaced byte for byte by UIDs of the same length that end in `n`. The phantom's UIDs come from
 * the 2.25 root: their last component is long, so the change keeps them valid.
 */
function studyCopy(views: readonly TemplateView[], n: number): { uid: string; instances: Uint8Array[] } {
  const suffix = String(n).padStart(8, '0');
  const rename = (uid: string) => {
    if (uid.length - uid.lastIndexOf('.') - 1 <= suffix.length) throw new Error(`UID ${uid}: its last component is too short to number copies`);
    return uid.slice(0, uid.length - suffix.length) + suffix;
  };
  const instances = views.map(({ bytes, uids }) => {
    const copy = Buffer.from(bytes);
    for (const uid of uids) {
      const replacement = rename(uid);
      for (let at = copy.indexOf(uid); at >= 0; at = copy.indexOf(uid, at + uid.length)) copy.write(replacement, at, 'latin1');
    }
    return new Uint8Array(copy);
  });
  return { uid: rename(views[0]!.uids[0]!), instances };
}

// model

const writeModel = (dir: string, version: string) => writeRandomModel(dir, version, 'for load tests only', MODEL);
const modelChannels: 1 | 3 = MODEL === 'yaroslavnet' ? 1 : 3;

/** Pre-processing alone (what src times inside 'infer'): median ms per image, on the test's images. */
async function preprocessMs(images: Uint8Array[], runs = 5): Promise<number> {
  const spec = { ...DEFAULT_PREPROCESSING, channels: modelChannels, testTimeFlips: ['none' as const] };
  const decoded = await Promise.all(images.map((bytes, i) => decodeImage(readPart10(bytes, `image ${i}`))));
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    for (const image of decoded) {
      const t0 = performance.now();
      toBatch([preprocessImage(image, spec)], 'none');
      times.push(performance.now() - t0);
    }
  }
  return quantile(times.sort((a, b) => a - b), 0.5);
}

// ---------------------------------------------------------------------------------------------
// machine load: share of the CPUs busy (all processes), from /proc/stat

function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}
function busyCores(from: ReturnType<typeof cpuTimes>, to: ReturnType<typeof cpuTimes>): string {
  if (!from || !to || to.total <= from.total) return '-';
  return (((to.busy - from.busy) / (to.total - from.total)) * cpus().length).toFixed(2);
}

// ---------------------------------------------------------------------------------------------
// statistics

const PROBE_MS = 200;
const PROBE_TIMEOUT_MS = 10_000;

/** Asks `url` every PROBE_MS (one request at a time) until stopped: the latencies, a request not answered OK counted as PROBE_TIMEOUT_MS. */
function probeLatency(url: string): { stop(): Promise<number[]> } {
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
        await response.arrayBuffer();
        latencies.push(response.ok ? performance.now() - started : PROBE_TIMEOUT_MS);
      } catch {
        // not answered in time: the worst case, so that p95 and max show it
        latencies.push(PROBE_TIMEOUT_MS);
      }
      await sleep(PROBE_MS);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return latencies;
    },
  };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}
const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  workDir = mkdtempSync(path.join(tmpdir(), 'mammocad-load-'));
  say(`STUDIES=${STUDIES} IMAGES=${IMAGES} WORKERS=${WORKERS} MODEL=${MODEL} TIME_LIMIT_S=${TIME_LIMIT_S} KILL=${KILL_MODE} STALE_AFTER_S=${STALE_AFTER_S}; logs in ${workDir}`);
  const idleCheck = cpuTimes();
  await sleep(2000);
  say(`machine before the run: ${cpus().length} CPU(s), ${busyCores(idleCheck, cpuTimes())} core(s) busy over 2 s, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const cleanups: Array<[string, () => Promise<void> | void]> = [];
  let store: Store | undefined;
  let pgClient: pg.Client | undefined;
  try {
    if (!LocalOrthanc.available()) throw new Error('Orthanc with its DICOMweb plugin is not installed');

    // 1. PostgreSQL
    const admin = postgresAdminUrl();
    assertLoopback(admin, 'PostgreSQL');
    const dbName = `mammocad_load_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    await adminQuery(admin, `CREATE DATABASE "${dbName}"`);
    cleanups.push(['database', () => adminQuery(admin, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`)]);
    const dbUrlObj = new URL(admin);
    dbUrlObj.pathname = `/${dbName}`;
    const databaseUrl = dbUrlObj.toString();
    say(`database ${dbName} created`);

    // 2. Orthanc, notifying the service's port
    const port = await freePort();
    const webhookSecret = randomBytes(24).toString('hex');
    const orthanc = new LocalOrthanc({ stableAge: 2, webhookUrl: `http://${HOST}:${port}/webhooks/study-stable`, webhookSecret });
    cleanups.push(['orthanc', async () => {
      await orthanc.stop();
      rmSync(orthanc.dir, { recursive: true, force: true });
    }]);
    await orthanc.start();
    say(`Orthanc on ${orthanc.url}`);

    const dataDir = path.join(workDir, 'data');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MAMMOCAD_DATA_DIR: dataDir,
      MAMMOCAD_DATABASE_URL: databaseUrl,
      MAMMOCAD_PACS_URL: orthanc.dicomwebUrl,
      MAMMOCAD_PACS_USERNAME: orthanc.username,
      MAMMOCAD_PACS_PASSWORD: orthanc.password,
      // The test models carry no validation: research mode lets them write (marked) reports.
      MAMMOCAD_REPORT_RESEARCH_MODE: 'true',
      MAMMOCAD_WEBHOOK_SECRET: webhookSecret,
      MAMMOCAD_POLL_INTERVAL_S: '10',
      // A killed worker's job is taken over after this (the production default is 120 s).
      MAMMOCAD_WORKER_STALE_AFTER_S: String(STALE_AFTER_S),
      MAMMOCAD_LOG_LEVEL: 'warn',
      MAMMOCAD_HOST: HOST,
    };

    // 3. the model
    const version = `load-untrained-${MODEL}-${Date.now()}`;
    const packageDir = path.join(workDir, 'package', version);
    const t = Date.now();
    await writeModel(packageDir, version);
    say(`model package written in ${Date.now() - t} ms`);
    runCli(['migrate', '--json'], env);
    runCli(['models', 'import', packageDir, '--json'], env);
    runCli(['models', 'activate', version, '--json'], env);
    say(`model ${version} imported and active`);

    // 4. processes
    cleanups.push(['processes', async () => {
      await Promise.all(procs.map(stopProcess));
    }]);
    const serve = startProcess('serve', ['serve', '--port', String(port)], env);
    await waitReady(port, serve, 120_000);
    let workerSeq = 0;
    const workers: Proc[] = [];
    for (let i = 1; i < WORKERS; i++) workers.push(startProcess(`worker-${++workerSeq}`, ['worker'], env));
    await sleep(3000);
    for (const w of workers) if (w.child.exitCode !== null) throw new Error(`${w.name} exited at start (see ${workDir}/${w.name}.log)`);
    say(`serve on ${HOST}:${port} (pid ${serve.child.pid}) + ${workers.length} worker process(es): ${workers.map((w) => w.child.pid).join(', ')}`);

    store = await openStore({ databaseUrl, migrate: false });
    pgClient = new pg.Client({ connectionString: databaseUrl });
    await pgClient.connect();
    const db = pgClient;

    // 5. load
    const pacs = new DicomwebClient({ url: orthanc.dicomwebUrl, username: orthanc.username, password: orthanc.password, timeoutMs: 120_000 });
    const views = IMAGES === 'detector-j2k' ? detectorViews(workDir) : null;
    const studies = Array.from({ length: STUDIES }, (_, n) => {
      if (views) return studyCopy(views, n + 1);
      const ids = newStudyIds();
      return {
        uid: ids.studyUid,
        instances: [mammogram(ids, { laterality: 'L', view: 'CC', size: 1024 }).bytes, mammogram(ids, { laterality: 'R', view: 'MLO', size: 1024 }).bytes, doseReport(ids).bytes],
      };
    });
    const firstStow = Date.now();
    const cpuAtStow = cpuTimes();
    const probe = probeLatency(`http://${HOST}:${port}/healthz`);
    say(`storing ${STUDIES} studies at once`);
    const stowResults = await Promise.allSettled(studies.map((s) => pacs.store(s.instances, s.uid)));
    const stowFailed = stowResults.filter((r) => r.status === 'rejected');
    say(`STOW done in ${Date.now() - firstStow} ms; ${stowFailed.length} failed${stowFailed.length ? `: ${String((stowFailed[0] as PromiseRejectedResult).reason)}` : ''}`);
    check(stowFailed.length === 0, `all ${STUDIES} STOW-RS requests succeeded`);

    // 6. wait, injecting the faults on the way
    const killAt = Math.ceil(STUDIES / 3);
    let killed: { proc: Proc; workerId: string; jobIds: string[]; at: number; mode: string; eventIndex: number } | undefined;
    let orthancRestartedAt: number | undefined;
    let lastLine = '';
    let allScored = false;
    const statusCounts = async () => {
      const rows = (await db.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM "Study" GROUP BY status`)).rows;
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])) as Record<string, number>;
    };
    while (Date.now() < deadline) {
      const counts = await statusCounts();
      const scored = counts.scored ?? 0;
      const line = JSON.stringify(counts);
      if (line !== lastLine) {
        say(`studies by status ${line}`);
        lastLine = line;
      }

      if (!killed && scored >= killAt && workers.length > 0) {
        // Pick the victim: a `worker` process holding a job (busy) or holding none (idle).
        const running = (await db.query<{ id: string; lockedBy: string }>(`SELECT id, "lockedBy" FROM "Job" WHERE status = 'running'`)).rows;
        const holderOf = (p: Proc) => holderIdOf(p.child.pid!);
        // graphile-worker deliveries hold a job as "<host>:<pid>@<pid namespace>#<graphile job id>".
        const holds = (lockedBy: string | null, workerId: string) => lockedBy === workerId || (lockedBy ?? '').startsWith(`${workerId}#`);
        const busy = workers.filter((w) => running.some((j) => holds(j.lockedBy, holderOf(w))));
        const idle = workers.filter((w) => !busy.includes(w));
        const pool = KILL_MODE === 'busy' ? busy : idle;
        if (pool.length > 0 || Date.now() - firstStow > 0.8 * (deadline - firstStow)) {
          const victim = pool[0] ?? workers[0]!;
          const workerId = holderOf(victim);
          const jobIds = running.filter((j) => holds(j.lockedBy, workerId)).map((j) => j.id);
          victim.child.kill('SIGKILL');
          await victim.exited;
          workers.splice(workers.indexOf(victim), 1);
          const replacement = startProcess(`worker-${++workerSeq}`, ['worker'], env);
          workers.push(replacement);
          const mode = jobIds.length ? `mid-job (held ${jobIds.length} job(s))` : 'idle';
          faults.push({ at: stamp(), what: `SIGKILL ${victim.name} (pid ${victim.child.pid}) ${mode} at ${scored}/${STUDIES} scored; replacement ${replacement.name} pid ${replacement.child.pid}`, outcome: jobIds.length ? 'pending: job still running under the dead worker' : 'no job lost (it held none)' });
          killed = { proc: victim, workerId, jobIds, at: Date.now(), mode, eventIndex: faults.length - 1 };
          say(`fault: ${faults.at(-1)!.what}`);
        }
      }
      if (killed && killed.jobIds.length) {
        const rows = (await db.query<{ id: string; status: string; lockedBy: string | null; attempts: number }>(`SELECT id, status, "lockedBy", attempts FROM "Job" WHERE id = ANY($1)`, [killed.jobIds])).rows;
        const stillDead = rows.filter((r) => r.status === 'running' && (r.lockedBy === killed!.workerId || (r.lockedBy ?? '').startsWith(`${killed!.workerId}#`)));
        if (stillDead.length === 0 && faults[killed.eventIndex]!.outcome.startsWith('pending')) {
          faults[killed.eventIndex]!.outcome = `job taken over ${((Date.now() - killed.at) / 1000).toFixed(0)} s after the kill (now ${rows.map((r) => `${r.status}, attempts ${r.attempts}`).join('; ')})`;
          say(`fault outcome: ${faults[killed.eventIndex]!.outcome}`);
        }
      }
      if (killed && !orthancRestartedAt && Date.now() - killed.at > 5000) {
        const t0 = Date.now();
        const before = (await statusCounts()).scored ?? 0;
        await orthanc.restart();
        orthancRestartedAt = Date.now();
        faults.push({ at: stamp(), what: `Orthanc restarted (down ${orthancRestartedAt - t0} ms) at ${before}/${STUDIES} scored`, outcome: 'pending' });
        say(`fault: ${faults.at(-1)!.what}`);
      }

      if (scored === STUDIES) {
        allScored = true;
        break;
      }
      await sleep(1000);
    }
    const waitEnded = Date.now();
    const cpuAtEnd = cpuTimes();
    const healthz = await probe.stop();
    if (killed && faults[killed.eventIndex]!.outcome.startsWith('pending')) {
      faults[killed.eventIndex]!.outcome = `NOT taken over within the run: ${killed.jobIds.length} job(s) still 'running' under the dead worker ${((waitEnded - killed.at) / 1000).toFixed(0)} s after the kill (stale limit ${STALE_AFTER_S} s, MAMMOCAD_WORKER_STALE_AFTER_S)`;
    }
    check(allScored, `every study scored within TIME_LIMIT_S=${TIME_LIMIT_S}`);

    // 7. checks
    const studyRows = (await db.query<{ id: string; studyUid: string; status: string; statusReason: string | null }>(`SELECT id, "studyUid", status, "statusReason" FROM "Study"`)).rows;
    const byUid = new Map(studyRows.map((r) => [r.studyUid, r]));
    const unknown = studies.filter((s) => !byUid.has(s.uid)).length;
    check(unknown === 0 && studyRows.length === STUDIES, `the database knows exactly the ${STUDIES} studies stored (known ${studyRows.length}, missing ${unknown})`);
    const notScored = studyRows.filter((r) => r.status !== 'scored');
    if (notScored.length) for (const r of notScored.slice(0, 5)) console.log(`    not scored: ${r.studyUid} ${r.status} ${r.statusReason ?? ''}`);

    // SRs in Orthanc (after the restart it may need a moment to answer)
    const srCounts: number[] = [];
    for (const s of studies) {
      let n = -1;
      for (let attempt = 0; attempt < 5 && n < 0; attempt++) {
        try {
          const series = await pacs.search(`studies/${s.uid}/series`, { Modality: 'SR', includefield: ['Manufacturer', 'NumberOfSeriesRelatedInstances'] });
          n = 0;
          for (const se of series) {
            if (se['00080070']?.Value?.[0] !== 'mammocad') continue;
            const seriesUid = String(se['0020000E']?.Value?.[0]);
            n += (await pacs.search(`studies/${s.uid}/series/${seriesUid}/instances`)).length;
          }
        } catch {
          await sleep(1000);
        }
      }
      srCounts.push(n);
    }
    const srWrong = srCounts.filter((n) => n !== 1).length;
    check(srWrong === 0, `each study has exactly one mammocad SR in Orthanc (${srWrong} do not: counts ${JSON.stringify(histogram(srCounts))})`);

    // predictions, through the store
    const examTimings: Array<Record<string, number>> = [];
    const examCounts: number[] = [];
    for (const s of studies) {
      const row = byUid.get(s.uid);
      if (!row) {
        examCounts.push(0);
        continue;
      }
      const exams = (await store.predictions.listByStudy(row.id)).filter((p) => p.level === 'exam');
      examCounts.push(exams.length);
      for (const e of exams) if (e.timings) examTimings.push(e.timings);
    }
    const examWrong = examCounts.filter((n) => n !== 1).length;
    check(examWrong === 0, `each study has exactly one exam prediction (${examWrong} do not: counts ${JSON.stringify(histogram(examCounts))})`);

    const jobs = await store.jobs.countByStatus();
    console.log(`  jobs by state: ${JSON.stringify(jobs)}`);
    check(jobs.queued === 0 && jobs.running === 0 && jobs.dead === 0 && jobs.failed === 0, 'no job queued, running, dead or failed');

    // Orthanc restart outcome
    const restartIdx = faults.findIndex((f) => f.what.startsWith('Orthanc restarted'));
    if (restartIdx >= 0) {
      const retried = (await db.query<{ n: string }>(`SELECT count(*) AS n FROM "Job" WHERE kind = 'score-study' AND attempts > 1`)).rows[0]!.n;
      const errors = (await db.query<{ e: string; n: string }>(`SELECT "lastError" AS e, count(*) AS n FROM "Job" WHERE "lastError" IS NOT NULL GROUP BY "lastError" ORDER BY 2 DESC LIMIT 3`)).rows;
      faults[restartIdx]!.outcome = `${retried} score-study job(s) needed more than one attempt; lastError seen: ${errors.length ? errors.map((r) => `${r.n}x "${r.e.slice(0, 120)}"`).join('; ') : 'none'}`;
    }

    // 8. results
    const lastScored = (await db.query<{ t: Date | null }>(`SELECT max("finishedAt") AS t FROM "Job" WHERE kind = 'score-study' AND status = 'succeeded'`)).rows[0]!.t;
    const scoredCount = studyRows.filter((r) => r.status === 'scored').length;
    const spanMs = (lastScored ? lastScored.getTime() : waitEnded) - firstStow;
    console.log('\n== results ==');
    console.log(`studies scored: ${scoredCount}/${STUDIES}; first STOW -> last study scored: ${(spanMs / 1000).toFixed(1)} s; throughput ${((scoredCount / spanMs) * 60_000).toFixed(1)} studies/min (${WORKERS} workers)`);
    const finishes = (await db.query<{ t: Date }>(`SELECT "finishedAt" AS t FROM "Job" WHERE kind = 'score-study' AND status = 'succeeded' ORDER BY "finishedAt"`)).rows.map((r) => r.t.getTime());
    if (finishes.length >= 2) {
      const lastButOne = finishes.at(-2)! - firstStow;
      console.log(`all but the last study scored ${(lastButOne / 1000).toFixed(1)} s after the first STOW: ${(((finishes.length - 1) / lastButOne) * 60_000).toFixed(1)} studies/min (the last one is usually the job taken over after the kill)`);
    }
    if (healthz.length) {
      const sorted = [...healthz].sort((a, b) => a - b);
      console.log(`the service's /healthz during the run (every ${PROBE_MS} ms, n=${sorted.length}): median ${fmt(quantile(sorted, 0.5))} ms, p95 ${fmt(quantile(sorted, 0.95))} ms, max ${fmt(sorted.at(-1)!)} ms (how long the serve process's event loop kept a request waiting)`);
    }
    console.log(`CPU from the first STOW to the end of the wait: ${busyCores(cpuAtStow, cpuAtEnd)} of ${cpus().length} core(s) busy (all processes); load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

    // Stage times from the succeeded jobs' results (the exam prediction's copy has no 'store').
    const jobRows = (await db.query<{ result: { timingsMs?: Record<string, number> } | null; startedAt: Date | null; finishedAt: Date | null }>(
      `SELECT result, "startedAt", "finishedAt" FROM "Job" WHERE kind = 'score-study' AND status = 'succeeded'`,
    )).rows;
    const stageTimings = jobRows.map((r) => r.result?.timingsMs).filter((t): t is Record<string, number> => !!t && typeof t === 'object');
    const timings = stageTimings.length ? stageTimings : examTimings;
    console.log(`\nper-stage times (ms, n=${timings.length} studies, from ${stageTimings.length ? "the succeeded jobs' results" : "the exam predictions (no 'store' stage)"}):`);
    console.log('| stage | median | p95 | sum |');
    console.log('|---|---:|---:|---:|');
    // 'inferQueue' (waiting for the process's inference thread while it scores another study) is
    // not a stage of this study's work: listed, but left out of 'all stages' and the overhead.
    const keys = [...new Set([...STAGES, ...timings.flatMap((t) => Object.keys(t))])].filter((k) => k !== QUEUE_KEY);
    let total = 0;
    let inferSum = 0;
    for (const k of [...keys, QUEUE_KEY]) {
      const values = timings.map((t) => t[k]).filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
      if (k === QUEUE_KEY && values.length === 0) continue;
      const sum = values.reduce((a, b) => a + b, 0);
      if (k !== QUEUE_KEY) total += sum;
      if (k === 'infer') inferSum = sum;
      console.log(`| ${k === QUEUE_KEY ? `${k} (waiting for the inference thread; not in the sums; n=${values.length})` : k} | ${fmt(quantile(values, 0.5))} | ${fmt(quantile(values, 0.95))} | ${fmt(sum)} |`);
    }
    const perStudy = timings.map((t) => keys.reduce((a, k) => a + (t[k] ?? 0), 0)).sort((a, b) => a - b);
    console.log(`| all stages | ${fmt(quantile(perStudy, 0.5))} | ${fmt(quantile(perStudy, 0.95))} | ${fmt(total)} |`);
    const wall = jobRows.filter((r) => r.startedAt && r.finishedAt).map((r) => r.finishedAt!.getTime() - r.startedAt!.getTime()).sort((a, b) => a - b);
    const wallSum = wall.reduce((a, b) => a + b, 0);
    console.log(`| job wall time (claim -> finished) | ${fmt(quantile(wall, 0.5))} | ${fmt(quantile(wall, 0.95))} | ${fmt(wallSum)} |`);
    console.log(`pipeline overhead beyond inference: ${total > 0 ? ((1 - inferSum / total) * 100).toFixed(1) : '-'}% (1 - sum(infer)/sum(all stages); 'infer' includes pre-processing)`);
    // Pre-processing alone, measured now that the workers are idle, on this test's two images.
    const prepMs = await preprocessMs(studies[0]!.instances.slice(0, 2));
    const images = 2 * timings.length;
    const modelOnly = inferSum - prepMs * images;
    console.log(`pre-processing alone (after the run, our workers idle; median per image): ${prepMs.toFixed(0)} ms; counted as overhead: ${total > 0 ? ((1 - modelOnly / total) * 100).toFixed(1) : '-'}% (a lower bound: under load it took longer)`);
    const queueSum = timings.reduce((a, t) => a + (t[QUEUE_KEY] ?? 0), 0);
    if (wallSum > 0) console.log(`time in jobs outside the stages (claim, model look-up and load, outcome write): ${(((wallSum - total - queueSum) / wallSum) * 100).toFixed(1)}% of job wall time; waiting for the inference thread: ${((queueSum / wallSum) * 100).toFixed(1)}%`);
    console.log('\nfault events:');
    if (faults.length === 0) console.log('  none injected');
    for (const f of faults) console.log(`  ${f.at} ${f.what}\n      -> ${f.outcome}`);
    const stowToFirstScore = (await db.query<{ t: Date | null }>(`SELECT min("finishedAt") AS t FROM "Job" WHERE kind = 'score-study' AND status = 'succeeded'`)).rows[0]!.t;
    if (stowToFirstScore) console.log(`\nfirst study scored ${((stowToFirstScore.getTime() - firstStow) / 1000).toFixed(1)} s after the first STOW`);
    const sources = (await db.query<{ source: string; n: string }>(`SELECT source, count(*) AS n FROM "Study" GROUP BY source`)).rows;
    console.log(`studies by discovery source: ${JSON.stringify(Object.fromEntries(sources.map((r) => [r.source, Number(r.n)])))}`);
    for (const p of procs) {
      const text = readLog(p.name);
      const lines = text.split('\n').filter(Boolean);
      if (lines.length) console.log(`${p.name}.log: ${lines.length} line(s) at warn or above; first: ${lines[0]!.slice(0, 300)}`);
    }
    console.log(`\nchecks: ${failures.length === 0 ? 'all passed' : `${failures.length} FAILED`}`);
    for (const f of failures) console.log(`  FAILED: ${f}`);
    return failures.length === 0 ? 0 : 1;
  } catch (error) {
    console.error(`[load ${stamp()}] ERROR: ${(error as Error).stack ?? String(error)}`);
    return 1;
  } finally {
    await pgClient?.end().catch(() => undefined);
    await store?.close().catch(() => undefined);
    for (const [name, fn] of cleanups.reverse()) {
      try {
        await fn();
      } catch (error) {
        console.error(`cleanup ${name} failed: ${String(error)}`);
      }
    }
    say(`cleaned up (processes, Orthanc, database); logs kept in ${workDir}`);
  }
}

function readLog(name: string): string {
  try {
    return readFileSync(path.join(workDir, `${name}.log`), 'utf8');
  } catch {
    return '';
  }
}

function histogram(values: number[]): Record<string, number> {
  const h: Record<string, number> = {};
  for (const v of values) h[v] = (h[v] ?? 0) + 1;
  return h;
}

process.exit(await main());
