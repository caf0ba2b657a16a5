// The GraphQL latency benchmark (`npm run bench:graphql`): p50/p95 latency and throughput of the
// API's `studies` query with 100,000 predictions in the database, on SQLite and on PostgreSQL,
// with concurrent clients, measured by autocannon over real HTTP.
//
// For each provider: a fresh database, 25,000 seeded studies (4 predictions each, seedResults;
// its model version is the active one, so the default search uses it), a clinician API key made
// by `mammocad apikey create`, and `mammocad serve` in a child process, configured as in
// production through the environment (polling off, a PACS URL on a closed port, logs to a file).
// The bench process is the client: after one checked request per scenario (HTTP 200, no errors,
// 50 nodes), a warm-up and then MAMMOCAD_BENCH_DURATION_S seconds of autocannon per number of
// connections. Every response must be byte-identical to the checked one (autocannon's
// expectBody), so a GraphQL error answered with HTTP 200 counts as a mismatch.
//
// Scenarios:
//   page 1   studies(filter: {from: 2025-03-01, to: 2025-06-30, minScore: 0.3}, sort: SCORE_DESC, first: 50)
//   page 2   the same with after = page 1's endCursor
//   detail   study(studyInstanceUid) with images, predictions and labels (a labelled study)
// and, in the same run and process, the alternative without HTTP, GraphQL, authentication and
// audit: the same reads called on the repositories (store.search.search, ...) one after another.
// Every API request authenticates its key (a read, and a last-use write that is not awaited) and
// writes one audit event (by design, reads included); the HTTP figures include those writes.
//
// PostgreSQL gets a VACUUM (ANALYZE) after seeding, as autovacuum would do on its own some time
// after a bulk load (left to itself, it runs during the first measurements).
// PostgreSQL: MAMMOCAD_TEST_PG_URL (an admin URL on loopback), or, when unset and running as
// root, `bash scripts/start-postgres.sh`; otherwise only SQLite is measured.
//
//   npm run bench:graphql
//   MAMMOCAD_BENCH_DURATION_S=15 MAMMOCAD_BENCH_CONNECTIONS=1,8,32 MAMMOCAD_BENCH_PROVIDERS=sqlite npm run bench:graphql
//
// Prints a markdown table, the machine, and how busy its CPUs were (server, client, the rest).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openStore, type Provider, type Store } from '../../src/store/index.js';
import { machine } from './measure.js';
import { seedResults } from './seed-results.js';
import { adminQuery, postgresAdminUrl } from '../lib/postgres-admin.js';
import { intEnv } from '../lib/env.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'bin', 'mammocad.mjs');
const HOST = '127.0.0.1';
const STUDIES = intEnv('MAMMOCAD_BENCH_STUDIES', 25_000);
const DURATION_S = intEnv('MAMMOCAD_BENCH_DURATION_S', 10);
const WARM_UP_S = intEnv('MAMMOCAD_BENCH_WARMUP_S', 2);
const CONNECTIONS = (process.env.MAMMOCAD_BENCH_CONNECTIONS ?? '1,8,32').split(',').map((c) => Number(c.trim()));
const DIRECT_S = 3;
const PAGE = 50;
const FILTER = { from: '2025-03-01', to: '2025-06-30', minScore: 0.3 };

const started = performance.now();
const say = (msg: string) => console.error(`[bench:graphql +${((performance.now() - started) / 1000).toFixed(0)}s] ${msg}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// autocannon (no type declarations ship with it; this is the part used here)

interface AutocannonResult {
  latency: { p50: number; p90: number; p97_5: number; p99: number; max: number };
  requests: { average: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  resets: number;
}
interface AutocannonOptions {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  connections: number;
  duration: number;
  expectBody?: string;
}
type AutocannonInstance = EventEmitter & PromiseLike<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as (options: AutocannonOptions) => AutocannonInstance;

// ---------------------------------------------------------------------------------------------
// queries

const STUDIES_QUERY = `query Studies($filter: StudyFilter, $after: String) {
  studies(filter: $filter, sort: SCORE_DESC, first: ${PAGE}, after: $after) {
    nodes { studyInstanceUid patientId accessionNumber studyDate status exam { probability positive modelVersion } }
    pageInfo { endCursor hasNextPage }
  }
}`;

const STUDY_QUERY = `query Study($uid: String!) {
  study(studyInstanceUid: $uid) {
    studyInstanceUid patientId accessionNumber studyDate status modalities
    images { sopInstanceUid seriesInstanceUid laterality view status }
    predictions { level laterality probability positive sopInstanceUid modelVersion }
    labels { scope laterality value source author recordedAt sopInstanceUid }
  }
}`;

interface Scenario {
  name: string;
  body: string;
  /** What a correct answer contains, checked once before the scenario runs. */
  check(data: Record<string, unknown>): string | null;
}

interface StudiesData {
  studies: { nodes: unknown[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };
}
interface StudyData {
  study: { images: unknown[]; predictions: unknown[]; labels: unknown[] } | null;
}

function studiesCheck(data: Record<string, unknown>): string | null {
  const nodes = (data as unknown as StudiesData).studies?.nodes;
  return nodes?.length === PAGE ? null : `expected ${PAGE} nodes, got ${nodes?.length}`;
}

// ---------------------------------------------------------------------------------------------
// CPU accounting: the server process, this process (the client) and the rest of the machine

const TICK_MS = 10; // USER_HZ is 100 on Linux

function processTicks(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function machineTicks(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return fields.slice(0, 8).reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!;
}

interface CpuShare {
  server: number;
  client: number;
  rest: number;
}

/** Starts counting; the returned function gives the cores each part used on average since. */
function cpuMeter(serverPid: number | undefined): () => CpuShare {
  const t0 = performance.now();
  const before = { server: serverPid ? processTicks(serverPid) : 0, client: processTicks('self'), machine: machineTicks() };
  return () => {
    const ms = performance.now() - t0;
    const server = serverPid ? processTicks(serverPid) - before.server : 0;
    const client = processTicks('self') - before.client;
    const all = machineTicks() - before.machine;
    const cores = (ticks: number) => (ticks * TICK_MS) / ms;
    return { server: cores(server), client: cores(client), rest: Math.max(0, cores(all - server - client)) };
  };
}

// ---------------------------------------------------------------------------------------------
// statistics

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

interface Row {
  provider: Provider;
  scenario: string;
  how: string;
  connections: number;
  requests: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  failures: string;
  cpu: CpuShare;
}

function rowFrom(provider: Provider, scenario: string, how: string, connections: number, latencies: number[], seconds: number, failures: string, cpu: CpuShare): Row {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    provider,
    scenario,
    how,
    connections,
    requests: sorted.length,
    perSecond: sorted.length / seconds,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? NaN,
    failures,
    cpu,
  };
}

// ---------------------------------------------------------------------------------------------
// databases

let pgAdminUrl: string | null | undefined;

/** The admin URL, or null (said once) when PostgreSQL cannot be had: the SQLite rows still run. */
function adminUrlOrNull(): string | null {
  if (pgAdminUrl !== undefined) return pgAdminUrl;
  try {
    pgAdminUrl = postgresAdminUrl();
  } catch (error) {
    say(`PostgreSQL skipped: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`);
    pgAdminUrl = null;
  }
  return pgAdminUrl;
}

interface Database {
  url: string;
  /** After seeding: PostgreSQL's VACUUM ANALYZE, so autovacuum does not run during the measurements. */
  settle(): Promise<void>;
  countAuditEvents(): Promise<number>;
  drop(): Promise<void>;
}

async function createDatabase(provider: Provider, dir: string): Promise<Database> {
  const count = 'SELECT count(*) AS n FROM "AuditEvent" WHERE action IN (\'query.studies\', \'query.study\')';
  if (provider === 'sqlite') {
    const file = path.join(dir, 'bench.db');
    return {
      url: `file:${file}`,
      settle: async () => undefined,
      async countAuditEvents() {
        const { default: Sqlite } = await import('better-sqlite3');
        const db = new Sqlite(file, { readonly: true });
        try {
          return Number((db.prepare(count).get() as { n: number }).n);
        } finally {
          db.close();
        }
      },
      drop: async () => undefined,
    };
  }
  const admin = adminUrlOrNull();
  if (!admin) throw new Error('no PostgreSQL');
  const name = `mammocad_bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await adminQuery(admin, `CREATE DATABASE "${name}"`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    settle: () => adminQuery(url.toString(), 'VACUUM (ANALYZE)'),
    async countAuditEvents() {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        return Number((await client.query<{ n: string }>(count)).rows[0]!.n);
      } finally {
        await client.end();
      }
    },
    drop: () => adminQuery(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

// ---------------------------------------------------------------------------------------------
// the service

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function cli(args: string[], env: NodeJS.ProcessEnv): string {
  try {
    return execFileSync(process.execPath, [CLI, ...args], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`mammocad ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

interface Service {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

async function serve(env: NodeJS.ProcessEnv, port: number, log: string): Promise<Service> {
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [CLI, 'serve'], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`mammocad serve exited during start-up (see ${log})`);
    try {
      if ((await fetch(`http://${HOST}:${port}/readyz`)).ok) return { child, url: `http://${HOST}:${port}/graphql`, stop };
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  await stop();
  throw new Error(`mammocad serve not ready within 60 s (see ${log})`);
}

async function post(url: string, key: string, body: string): Promise<{ status: number; text: string; json: { data?: Record<string, unknown> | null; errors?: unknown[] } }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as { data?: Record<string, unknown> | null; errors?: unknown[] } };
}

/** One autocannon run; latencies are collected per response, so p95 is exact. */
async function load(url: string, key: string, body: string, expectBody: string, connections: number, duration: number, serverPid: number): Promise<{ latencies: number[]; result: AutocannonResult; cpu: CpuShare }> {
  const latencies: number[] = [];
  const meter = cpuMeter(serverPid);
  const instance = autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body, connections, duration, expectBody });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const result = await instance;
  return { latencies, result, cpu: meter() };
}

// ---------------------------------------------------------------------------------------------
// the direct alternative: the repositories, one call after another, in this process

async function direct(task: () => Promise<unknown>): Promise<{ latencies: number[]; seconds: number; cpu: CpuShare }> {
  for (let i = 0; i < 20; i++) await task();
  const latencies: number[] = [];
  const meter = cpuMeter(undefined);
  const t0 = performance.now();
  while (performance.now() - t0 < DIRECT_S * 1000) {
    const t = performance.now();
    await task();
    latencies.push(performance.now() - t);
  }
  return { latencies, seconds: (performance.now() - t0) / 1000, cpu: meter() };
}

async function directRows(provider: Provider, store: Store, modelVersionId: string, detailUid: string, keyPrefix: string): Promise<{ rows: Row[]; page2Cursor: string }> {
  const filter = { modelVersionId, studyDateFrom: FILTER.from.replaceAll('-', ''), studyDateTo: FILTER.to.replaceAll('-', ''), minScore: FILTER.minScore };
  const page1 = await store.search.search(filter, 'SCORE_DESC', { first: PAGE });
  if (page1.items.length !== PAGE || !page1.endCursor) throw new Error(`direct search: expected ${PAGE} items and a cursor, got ${page1.items.length}`);
  const after = page1.endCursor;
  const rows: Row[] = [];
  const add = async (scenario: string, how: string, task: () => Promise<unknown>) => {
    const { latencies, seconds, cpu } = await direct(task);
    rows.push(rowFrom(provider, scenario, how, 1, latencies, seconds, '', cpu));
  };
  await add('page 1', 'repository: store.search.search', () => store.search.search(filter, 'SCORE_DESC', { first: PAGE }));
  // What the API adds to each request in the database: the key lookup and its last-use write,
  // the active model version, and the audit event (all awaited here; the API does not await touch).
  await add('page 1', 'repository: search + auth, audit writes', async () => {
    await store.apiKeys.findByPrefix(keyPrefix);
    await store.apiKeys.touch(keyPrefix);
    await store.modelVersions.findActive();
    await store.search.search(filter, 'SCORE_DESC', { first: PAGE });
    await store.audit.record({ actor: 'bench', action: 'bench.direct', details: { outcome: 'ok' } });
  });
  await add('page 2', 'repository: store.search.search', () => store.search.search(filter, 'SCORE_DESC', { first: PAGE, after }));
  // The reads the study resolver and its field resolvers make for the detail query.
  await add('detail', 'repository: the resolvers\' reads', async () => {
    const study = await store.studies.findByUid(detailUid);
    if (!study) throw new Error(`study ${detailUid} not found`);
    await Promise.all([
      store.images.listByStudy(study.id),
      Promise.all([store.predictions.listByStudy(study.id), store.images.listByStudy(study.id)]),
      Promise.all([store.labels.listByStudy(study.id), store.images.listByStudy(study.id)]),
    ]);
  });
  return { rows, page2Cursor: after };
}

// ---------------------------------------------------------------------------------------------

interface ProviderRun {
  rows: Row[];
  seedMs: number;
  predictions: number;
  auditEvents: number;
  answered: number;
}

async function runProvider(provider: Provider): Promise<ProviderRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `mammocad-bench-graphql-${provider}-`));
  const db = await createDatabase(provider, dir);
  let service: Service | undefined;
  try {
    say(`${provider}: seeding ${STUDIES} studies`);
    const store = await openStore({ databaseUrl: db.url });
    let seed: Awaited<ReturnType<typeof seedResults>>;
    let detailUid: string;
    try {
      seed = await seedResults(store, { studies: STUDIES, seed: 1 });
      await db.settle();
      const active = await store.modelVersions.findActive();
      if (active?.id !== seed.modelVersionId) throw new Error(`the seeded model version ${seed.modelVersion} is not the active one (${active?.version ?? 'none'})`);
      // A study with a label, so the detail query returns images, predictions and labels.
      const labelled = await store.search.search({ modelVersionId: seed.modelVersionId, labelled: true }, 'SCORE_DESC', { first: 1 });
      detailUid = labelled.items[0]!.study.studyUid;
    } catch (error) {
      await store.close();
      throw error;
    }
    say(`${provider}: seeded ${seed.predictions} predictions in ${(seed.ms / 1000).toFixed(1)} s`);

    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MAMMOCAD_DATABASE_URL: db.url,
      MAMMOCAD_DATA_DIR: path.join(dir, 'data'),
      MAMMOCAD_MODEL_DIR: path.join(dir, 'models'),
      MAMMOCAD_HOST: HOST,
      MAMMOCAD_PORT: String(port),
      MAMMOCAD_POLL_INTERVAL_S: '0',
      MAMMOCAD_PACS_URL: `http://${HOST}:9/dicom-web`,
      // The bench measures the server's throughput from one key and address, which the rate
      // limits (docs/api.md) exist to stop: off here, as on a trusted integration host.
      MAMMOCAD_API_RATE_LIMIT_PER_KEY: '0',
      MAMMOCAD_API_RATE_LIMIT_PER_ADDRESS: '0',
    };
    const { key, prefix } = JSON.parse(cli(['apikey', 'create', '--role', 'clinician', '--name', 'bench:graphql', '--json'], env)) as { key: string; prefix: string };

    let rows: Row[];
    let page2Cursor: string;
    try {
      ({ rows, page2Cursor } = await directRows(provider, store, seed.modelVersionId, detailUid, prefix));
    } finally {
      await store.close();
    }

    say(`${provider}: starting mammocad serve`);
    service = await serve(env, port, path.join(dir, 'serve.log'));
    const scenarios: Scenario[] = [
      { name: 'page 1', body: JSON.stringify({ query: STUDIES_QUERY, variables: { filter: FILTER } }), check: studiesCheck },
      { name: 'page 2', body: JSON.stringify({ query: STUDIES_QUERY, variables: { filter: FILTER, after: page2Cursor } }), check: studiesCheck },
      {
        name: 'detail',
        body: JSON.stringify({ query: STUDY_QUERY, variables: { uid: detailUid } }),
        check: (data) => {
          const study = (data as unknown as StudyData).study;
          return study && study.images.length === 2 && study.predictions.length === 4 && study.labels.length >= 1 ? null : `unexpected study: ${JSON.stringify(study)}`;
        },
      },
    ];
    let answered = 0;
    for (const scenario of scenarios) {
      const first = await post(service.url, key, scenario.body);
      answered++;
      const problem = first.status !== 200 ? `HTTP ${first.status}` : first.json.errors?.length ? JSON.stringify(first.json.errors) : scenario.check(first.json.data ?? {});
      if (problem) throw new Error(`${provider} ${scenario.name}: ${problem}`);
      if (scenario.name === 'page 2') {
        // The HTTP page 2 must start where the API's own page 1 ended (the cursor is the repository's).
        const viaApi = (JSON.parse((await post(service.url, key, scenarios[0]!.body)).text) as { data: StudiesData }).data.studies.pageInfo.endCursor;
        answered++;
        if (viaApi !== page2Cursor) throw new Error(`${provider}: the API's endCursor differs from the repository's`);
      }
      const warm = await load(service.url, key, scenario.body, first.text, Math.max(...CONNECTIONS), WARM_UP_S, service.child.pid!);
      answered += warm.latencies.length;
      for (const connections of CONNECTIONS) {
        say(`${provider}: ${scenario.name}, ${connections} connection(s), ${DURATION_S} s`);
        const { latencies, result, cpu } = await load(service.url, key, scenario.body, first.text, connections, DURATION_S, service.child.pid!);
        answered += latencies.length;
        const failures = [
          result.errors && `${result.errors} errors`,
          result.timeouts && `${result.timeouts} timeouts`,
          result.non2xx && `${result.non2xx} non-2xx`,
          result.mismatches && `${result.mismatches} bodies differ`,
          result.resets && `${result.resets} resets`,
        ].filter(Boolean).join(', ');
        rows.push(rowFrom(provider, scenario.name, 'HTTP: mammocad serve', connections, latencies, result.duration, failures || '0', cpu));
      }
    }
    await service.stop();
    service = undefined;
    const auditEvents = await db.countAuditEvents();
    return { rows, seedMs: seed.ms, predictions: seed.predictions, auditEvents, answered };
  } finally {
    await service?.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : 'n/a');
const cores = (n: number) => n.toFixed(2);

async function main(): Promise<void> {
  const wanted = (process.env.MAMMOCAD_BENCH_PROVIDERS ?? 'sqlite,postgresql').split(',').map((p) => p.trim()) as Provider[];
  const providers = wanted.filter((p) => p === 'sqlite' || (p === 'postgresql' && adminUrlOrNull()));
  const idle = cpuMeter(undefined);
  await sleep(1000);
  const background = idle().rest;

  const runs = new Map<Provider, ProviderRun>();
  for (const provider of providers) runs.set(provider, await runProvider(provider));

  console.log(`\nGraphQL \`studies\` (${PAGE} per page, ${FILTER.from}..${FILTER.to}, minScore ${FILTER.minScore}, SCORE_DESC) and \`study\` detail; ${STUDIES} studies per database`);
  console.log(`autocannon ${DURATION_S} s per row after a ${WARM_UP_S} s warm-up; repository rows: sequential calls for ${DIRECT_S} s after 20 warm-ups\n`);
  console.log('| database | scenario | how | conns | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | p50 x repository | failures | CPU cores: server / client / rest |');
  console.log('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
  for (const [provider, run] of runs) {
    const base = (scenario: string) => run.rows.find((r) => r.scenario === scenario && r.how.startsWith('repository'))!.p50;
    for (const r of run.rows) {
      const ratio = (r.p50 / base(r.scenario)).toFixed(1);
      const cpu = r.how.startsWith('HTTP') ? `${cores(r.cpu.server)} / ${cores(r.cpu.client)} / ${cores(r.cpu.rest)}` : `- / ${cores(r.cpu.client)} / ${cores(r.cpu.rest)}`;
      console.log(`| ${provider} | ${r.scenario} | ${r.how} | ${r.connections} | ${r.requests} | ${r.perSecond.toFixed(0)} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} | ${ms(r.max)} | ${ratio} | ${r.failures || '-'} | ${cpu} |`);
    }
  }
  console.log('');
  for (const [provider, run] of runs) {
    console.log(`${provider}: seeded ${run.predictions} predictions in ${(run.seedMs / 1000).toFixed(1)} s; audit events of the benchmark's queries: ${run.auditEvents} (responses counted by the client: ${run.answered})`);
  }
  if (!providers.includes('postgresql')) console.log('PostgreSQL: not measured (set MAMMOCAD_TEST_PG_URL, or run as root with PostgreSQL installed)');
  console.log(`\nMachine: ${machine()}`);
  console.log(`Other processes before the run: ${cores(background)} cores busy. CPU columns: cores used on average by the server process, by this process (autocannon or the repository loop) and by everything else (PostgreSQL included).`);
  console.log(`Command: npm run bench:graphql (MAMMOCAD_BENCH_DURATION_S=${DURATION_S}, MAMMOCAD_BENCH_CONNECTIONS=${CONNECTIONS.join(',')}, MAMMOCAD_BENCH_STUDIES=${STUDIES}); total ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((error: unknown) => {
  console.error(`bench:graphql: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
