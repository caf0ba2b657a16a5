// What a newcomer and an operator run first: the demo command and the compose file. (A fresh
// clone of the repository, without ../shared, running the demo: clone-demo.test.ts.)

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { OUTSIDE_INTENDED_USE_PREFIX } from '../../src/pipeline/image-checks.js';
import { ROOT, cliEnv } from '../support/cli.js';
import { queryRows } from '../support/databases.js';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function hasCommand(name: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${name}`]).then(() => true, () => false);
}

describe('npm run demo', () => {
  it('scores a synthetic demo study from the PACS, writes its SR back, says it is no patient, and ends with one JSON line', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'mammocad-demo-'));
    // cliEnv drops MAMMOCAD_SHARED_DATA_DIR: the default demo needs nothing outside the repository.
    const { stdout, stderr } = await run('bash', ['scripts/demo.sh'], {
      cwd: ROOT,
      env: cliEnv({ MAMMOCAD_PORT: String(port), MAMMOCAD_DATA_DIR: dataDir }),
      maxBuffer: 16 * 1024 * 1024,
    });
    const last = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      studyInstanceUid: string;
      examProbability: number;
      srSopInstanceUid: string;
      srInPacs: boolean;
      graphqlUrl: string;
      modelVersion: string;
      untrainedModel: boolean;
      modelValidationAuc: number | null;
      modelValidationAucCi: [number, number] | null;
      modelBeatsChance: boolean | null;
      demoSource: string;
      demoSeed: string | null;
      examFlags: string[];
    };
    expect(last.studyInstanceUid).toMatch(/^[0-9.]+$/);
    // The study is the synthetic phantom, and the demo says plainly what that means.
    expect(last).toMatchObject({ demoSource: 'synthetic', demoSeed: expect.any(String) });
    expect(stderr).toMatch(/SYNTHETIC PHANTOM drawn by mammocad, not a patient: its probability means nothing clinically/);
    expect(stdout).toContain(`SYNTHETIC PHANTOM (seed '${last.demoSeed}'), not a patient`);
    // Digital, within the default model's intended use: scored under the site default (skip
    // what is outside it), so nothing is flagged as outside it and score-and-flag is not on.
    expect(last.examFlags.filter((f) => f.startsWith(OUTSIDE_INTENDED_USE_PREFIX))).toEqual([]);
    expect(stderr).not.toContain('score-and-flag');
    expect(last.examProbability).toBeGreaterThanOrEqual(0);
    expect(last.examProbability).toBeLessThanOrEqual(1);
    expect(last.srInPacs).toBe(true);
    expect(last.graphqlUrl).toBe(`http://127.0.0.1:${port}/graphql`);
    // The model is the shipped default when the checkout has one, and the demo repeats what its
    // package says of its validation (a stand-in without one is called untrained).
    const shipped = path.join(ROOT, 'models', 'default', 'manifest.json');
    if (existsSync(shipped)) {
      const manifest = JSON.parse(readFileSync(shipped, 'utf8')) as { version: string; metrics: { auc: number; auc_ci: [number, number] } };
      expect(last).toMatchObject({ modelVersion: manifest.version, untrainedModel: false, modelValidationAuc: manifest.metrics.auc, modelValidationAucCi: manifest.metrics.auc_ci });
      expect(last.modelBeatsChance).toBe(manifest.metrics.auc_ci[0] > 0.5);
      expect(stdout).toContain(`validation AUC ${manifest.metrics.auc.toFixed(2)}`);
    } else {
      expect(last).toMatchObject({ untrainedModel: true, modelValidationAuc: null, modelBeatsChance: null });
    }
    // What the demo printed is what the database holds: one stored report and one exam result.
    const db = { provider: 'sqlite' as const, url: `file:${path.join(dataDir, 'mammocad.db')}`, drop: async () => {} };
    const reports = await queryRows<{ srSopInstanceUid: string; status: string }>(db, 'SELECT r."srSopInstanceUid", r.status FROM Report r JOIN Study s ON s.id = r."studyId" WHERE s."studyUid" = ' + `'${last.studyInstanceUid}'`);
    expect(reports).toEqual([{ srSopInstanceUid: last.srSopInstanceUid, status: 'stored' }]);
    const exams = await queryRows<{ probability: number }>(db, `SELECT p.probability FROM Prediction p JOIN Study s ON s.id = p."studyId" WHERE p.level = 'exam' AND s."studyUid" = '${last.studyInstanceUid}'`);
    expect(exams.map((e) => e.probability)).toEqual([last.examProbability]);
    // The example query is printed with its answer.
    expect(stdout).toContain('Example query:');
    expect(stdout).toContain(`"studyInstanceUid": "${last.studyInstanceUid}"`);
    // The demo stops its service when it is not attached to a terminal.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  }, 600_000);

  it('fails at once, saying what is missing and what to do, when the mini-MIAS demo is asked for without its data', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'mammocad-no-shared-'));
    const dataDir = mkdtempSync(path.join(tmpdir(), 'mammocad-demo-'));
    const failure = await run('bash', ['scripts/demo.sh'], {
      cwd: ROOT,
      env: cliEnv({ MAMMOCAD_DEMO_SOURCE: 'mias', MAMMOCAD_SHARED_DATA_DIR: empty, MAMMOCAD_DATA_DIR: dataDir }),
    }).then(
      () => null,
      (error: { code?: number; stdout?: string; stderr?: string }) => error,
    );
    expect(failure).not.toBeNull();
    expect(failure!.code).toBe(1);
    expect(failure!.stderr).toContain(`its data is not readable under ${path.join(empty, 'mias')}`);
    expect(failure!.stderr).toMatch(/research-only data the repository does not hold: point MAMMOCAD_SHARED_DATA_DIR at the folder holding mias\/, or unset both variables for the synthetic demo study/);
    expect(failure!.stdout).toBe('');
    // Before anything started: no PACS was made.
    expect(existsSync(path.join(dataDir, 'orthanc'))).toBe(false);
  }, 120_000);
});

describe('docker-compose.yml', async () => {
  const available = await hasCommand('docker-compose');
  if (!available && process.env.CI) throw new Error('docker-compose is not installed: CI must validate the compose file');
  const SECRETS = { MAMMOCAD_DB_PASSWORD: 'db-secret', MAMMOCAD_PACS_PASSWORD: 'pacs-secret', MAMMOCAD_WEBHOOK_SECRET: 'a-webhook-secret-of-16+' };

  it.skipIf(!available)('is accepted by docker-compose and wires the API to PostgreSQL and Orthanc', async () => {
    // The compose file has no default secrets (below: it refuses without each of them).
    const { stdout } = await run('docker-compose', ['config'], { cwd: ROOT, env: { ...process.env, ...SECRETS } });
    const config = parseYaml(stdout) as { services: Record<string, { environment?: Record<string, string>; command?: string[] }> };
    expect(Object.keys(config.services).sort()).toEqual(['api', 'orthanc', 'postgres', 'worker-1', 'worker-2']);
    expect(config.services.api!.environment!.MAMMOCAD_DATABASE_URL).toMatch(/^postgresql:\/\/mammocad:.*@postgres:5432\/mammocad$/);
    expect(config.services.api!.environment!.MAMMOCAD_PACS_URL).toBe('http://orthanc:8042/dicom-web');
    for (const worker of ['worker-1', 'worker-2']) {
      expect(config.services[worker]).toMatchObject({ command: ['worker'], environment: { MAMMOCAD_DATABASE_URL: config.services.api!.environment!.MAMMOCAD_DATABASE_URL } });
    }
  });

  // graphql-security.test.ts checks the file's text (every secret `:?`) and a render with none
  // of them; this checks each one on its own: missing or empty, the render stops and names it.
  const withoutSecrets = Object.fromEntries(Object.entries(process.env).filter(([name]) => !(name in SECRETS)));
  // An empty env file: a developer's own .env must not supply the secret (docker-compose 1.x
  // wants a regular file, not /dev/null).
  const noEnvFile = path.join(mkdtempSync(path.join(tmpdir(), 'mammocad-compose-')), 'empty.env');
  writeFileSync(noEnvFile, '');
  it.skipIf(!available).each(Object.keys(SECRETS).flatMap((name) => [[name, 'unset'], [name, 'empty']] as const))(
    'docker-compose config refuses to render with %s %s, naming it',
    async (name, how) => {
      const others = Object.fromEntries(Object.entries(SECRETS).filter(([other]) => other !== name));
      const env = { ...withoutSecrets, ...others, ...(how === 'empty' ? { [name]: '' } : {}) };
      const failure = await run('docker-compose', ['--env-file', noEnvFile, 'config'], { cwd: ROOT, env }).then(
        () => null,
        (error: { stdout?: string; stderr?: string }) => error,
      );
      expect(failure, `docker-compose rendered the file with ${name} ${how}`).not.toBeNull();
      expect(failure!.stderr).toContain(`set ${name} to`);
      expect(failure!.stdout ?? '').not.toContain('services:');
    },
  );
});
