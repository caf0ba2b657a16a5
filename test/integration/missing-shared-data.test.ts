// A clone without the research-only shared data (issue 17): vitest, run in a child process on
// two small test files with MAMMOCAD_SHARED_DATA_DIR pointing at an empty folder, passes by
// skipping the tests that read a missing data set, and ends by naming them, the data set and the
// folder it looked in; the tests of the same file that need no data still run. With
// MAMMOCAD_REQUIRE_SHARED_DATA=1 (as CI runs) the same run fails, naming the data set.
//
// The child gets its reporters and JUnit file on its command line, so that it neither writes
// over this run's var/test-results/junit.xml nor picks up this file (only the two named run).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';

// One file that reads mini-MIAS in every test, one where a single test reads an RSNA JPEG.
const ALL_NEED_MIAS = 'test/unit/training-patches-mias.test.ts';
const ONE_NEEDS_RSNA = 'test/unit/training-image-folder.test.ts';
const RSNA_TEST = 'reads a real 8-bit 3-channel JPEG as one grey channel and inverts its bright background (needs ../shared/data/rsna-screening)';
const PARENT_JUNIT = path.join(ROOT, 'var', 'test-results', 'junit.xml');

interface ChildRun {
  code: number | null;
  output: string;
  junit: string;
}

const work = mkdtempSync(path.join(tmpdir(), 'mammocad-missing-shared-'));
const emptyShared = path.join(work, 'shared', 'data');
mkdirSync(emptyShared, { recursive: true });
afterAll(() => rmSync(work, { recursive: true, force: true }));

function runVitest(name: string, env: Record<string, string>): Promise<ChildRun> {
  const junitFile = path.join(work, `${name}.junit.xml`);
  const args = [
    path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'),
    'run',
    ALL_NEED_MIAS,
    ONE_NEEDS_RSNA,
    '--maxWorkers=1',
    '--reporter=default',
    '--reporter=./test/support/skip-summary-reporter.ts',
    '--reporter=junit',
    `--outputFile.junit=${junitFile}`,
  ];
  // Not this worker's vitest variables, nor the shared-data settings of the run around it.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'FORCE_COLOR' && k !== 'MAMMOCAD_SHARED_DATA_DIR' && k !== 'MAMMOCAD_REQUIRE_SHARED_DATA'),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...inherited, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output, junit: existsSync(junitFile) ? readFileSync(junitFile, 'utf8') : '' }));
  });
}

/** The test cases of a JUnit report: name and outcome. */
function junitCases(xml: string): { name: string; outcome: 'passed' | 'skipped' | 'failed' }[] {
  return [...xml.matchAll(/<testcase [^>]*name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)].map((m) => ({
    name: m[1]!.replace(/&gt;/g, '>').replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&'),
    outcome: /<skipped/.test(m[3] ?? '') ? 'skipped' : /<failure|<error/.test(m[3] ?? '') ? 'failed' : 'passed',
  }));
}

describe('a clone without the shared data (vitest in a child process)', () => {
  it('skips the tests that need a missing data set, runs the others, exits 0 and names what is missing and where', async () => {
    const parentJunit = existsSync(PARENT_JUNIT) ? statSync(PARENT_JUNIT).mtimeMs : null;
    const run = await runVitest('skip', { MAMMOCAD_SHARED_DATA_DIR: emptyShared });
    expect(run.code, run.output.slice(-3000)).toBe(0);

    // The closing summary: how many, which data sets, where they were looked for, which files.
    expect(run.output).toMatch(/^3 tests skipped: shared data missing — /m);
    expect(run.output).toContain(`mias (looked in ${path.join(emptyShared, 'mias')})`);
    expect(run.output).toContain(`rsna-screening (looked in ${path.join(emptyShared, 'rsna-screening')})`);
    expect(run.output).toContain(`  mias: 2 tests in ${ALL_NEED_MIAS} (2)`);
    expect(run.output).toContain(`  rsna-screening: 1 test in ${ONE_NEEDS_RSNA} (1)`);
    // ... after vitest's own summary.
    expect(run.output.lastIndexOf('3 tests skipped: shared data missing')).toBeGreaterThan(run.output.lastIndexOf('Tests '));

    // Counted as skipped by vitest itself (the JUnit report), only those; the rest passed.
    const cases = junitCases(run.junit);
    expect(cases.filter((c) => c.outcome === 'skipped').map((c) => c.name).sort()).toEqual([
      'S10 on mini-MIAS, 4 women > gives 10 patches per lesion and 10 background patches per film, split by woman',
      "S10 on mini-MIAS, 4 women > puts every lesion patch's centre within its ROI radius in input coordinates",
      `readImageFolderDataset > ${RSNA_TEST}`,
    ].sort());
    expect(cases.filter((c) => c.outcome === 'failed')).toEqual([]);
    expect(cases.filter((c) => c.outcome === 'passed').length).toBeGreaterThan(10);
    // The run around this one keeps its own report.
    expect(existsSync(PARENT_JUNIT) ? statSync(PARENT_JUNIT).mtimeMs : null).toBe(parentJunit);
  }, 180_000);

  it('with MAMMOCAD_REQUIRE_SHARED_DATA=1 fails instead, naming the data set and the path', async () => {
    const run = await runVitest('require', { MAMMOCAD_SHARED_DATA_DIR: emptyShared, MAMMOCAD_REQUIRE_SHARED_DATA: '1' });
    expect(run.code).not.toBe(0);
    // The test that reads RSNA fails before its body, naming the data set and the missing file.
    expect(run.output).toContain(`shared data missing — rsna-screening (looked in ${path.join(emptyShared, 'rsna-screening')}: ${path.join(emptyShared, 'rsna-screening', 'manifest.csv')} is not there)`);
    // The mini-MIAS suite fails in its set-up, on the first file it reads.
    expect(run.output).toContain(`shared data set 'mias' is missing: ${path.join(emptyShared, 'mias', 'labels.txt')} is not there`);
    expect(run.output).toMatch(/^3 tests failed or not run: shared data missing and required \(MAMMOCAD_REQUIRE_SHARED_DATA=1\) — /m);
    expect(run.output).not.toMatch(/tests? skipped: shared data missing/);

    const cases = junitCases(run.junit);
    expect(cases.find((c) => c.name.endsWith(RSNA_TEST))?.outcome).toBe('failed');
    expect(cases.find((c) => c.name === 'S10 on mini-MIAS, 4 women')?.outcome).toBe('failed');
    // The tests that need no shared data still pass.
    expect(cases.filter((c) => c.outcome === 'passed').length).toBeGreaterThan(10);
  }, 180_000);
});
