// What a newcomer and an operator run first: the demo command and the compose file.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
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
  it('scores a demo study from the PACS, writes its SR back, and ends with one JSON line', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'mammocad-demo-'));
    const { stdout } = await run('bash', ['scripts/demo.sh'], {
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
    };
    expect(last.studyInstanceUid).toMatch(/^[0-9.]+$/);
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
});

describe('docker-compose.yml', async () => {
  const available = await hasCommand('docker-compose');
  if (!available && process.env.CI) throw new Error('docker-compose is not installed: CI must validate the compose file');

  it.skipIf(!available)('is accepted by docker-compose and wires the API to PostgreSQL and Orthanc', async () => {
    // The compose file has no default secrets (graphql-security.test.ts checks it refuses without them).
    const secrets = { MAMMOCAD_DB_PASSWORD: 'db-secret', MAMMOCAD_PACS_PASSWORD: 'pacs-secret', MAMMOCAD_WEBHOOK_SECRET: 'a-webhook-secret-of-16+' };
    const { stdout } = await run('docker-compose', ['config'], { cwd: ROOT, env: { ...process.env, ...secrets } });
    const config = parseYaml(stdout) as { services: Record<string, { environment?: Record<string, string>; command?: string[] }> };
    expect(Object.keys(config.services).sort()).toEqual(['api', 'orthanc', 'postgres', 'worker-1', 'worker-2']);
    expect(config.services.api!.environment!.MAMMOCAD_DATABASE_URL).toMatch(/^postgresql:\/\/mammocad:.*@postgres:5432\/mammocad$/);
    expect(config.services.api!.environment!.MAMMOCAD_PACS_URL).toBe('http://orthanc:8042/dicom-web');
    for (const worker of ['worker-1', 'worker-2']) {
      expect(config.services[worker]).toMatchObject({ command: ['worker'], environment: { MAMMOCAD_DATABASE_URL: config.services.api!.environment!.MAMMOCAD_DATABASE_URL } });
    }
  });
});
