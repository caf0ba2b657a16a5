// A vitest reporter that ends the run by saying how many tests were skipped and why, after the
// normal output: a clone without the research-only shared data passes by skipping the tests
// that read it, and that must be visible, not silent. The reason comes from the test's meta
// (test/support/shared-data.ts records the missing data sets there) or from `ctx.skip(note)`;
// skips without a recorded reason (tests' own conditions: Orthanc, PostgreSQL, a validator) are
// named by the skipped suite or test, so every group is accounted for. Under
// MAMMOCAD_REQUIRE_SHARED_DATA=1 the same tests fail instead, and are summed up as such.
//
// Registered in vitest.config.ts beside the built-in reporters; on the command line:
//   vitest run --reporter=default --reporter=./test/support/skip-summary-reporter.ts

import type { Reporter, TestCase, TestModule, TestSuite, Vitest } from 'vitest/node';
import type { MissingSharedData } from './shared-data.js';

const MAX_LISTED = 20;

interface DataSetTally {
  missing: MissingSharedData;
  tests: number;
  byModule: Map<string, number>;
}

export default class SkipSummaryReporter implements Reporter {
  private log: (line: string) => void = (line) => process.stdout.write(`${line}\n`);

  onInit(vitest: Vitest): void {
    this.log = (line) => vitest.logger.log(line);
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const skippedForData = new Map<string, DataSetTally>();
    const failedForData = new Map<string, DataSetTally>();
    let skippedForDataTests = 0;
    let failedForDataTests = 0;
    const otherGroups = new Map<string, number>();
    let skipped = 0;

    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        const shared = test.meta().sharedData;
        const skippedByMode = skippedBy(test) !== null;
        if (shared?.required && (state === 'failed' || (state === 'skipped' && !skippedByMode))) {
          // Required and missing: failed, or not run because its suite's set-up failed on the data.
          failedForDataTests++;
          tally(failedForData, shared.missing, module.relativeModuleId);
          continue;
        }
        if (state !== 'skipped') continue;
        skipped++;
        if (shared && !shared.required) {
          skippedForDataTests++;
          tally(skippedForData, shared.missing, module.relativeModuleId);
        } else {
          const group = otherGroup(test);
          otherGroups.set(group, (otherGroups.get(group) ?? 0) + 1);
        }
      }
    }

    if (skipped === 0 && failedForDataTests === 0) {
      this.log('0 tests skipped');
      return;
    }
    this.log('');
    if (skippedForDataTests > 0) {
      this.log(`${plural(skippedForDataTests, 'test')} skipped: shared data missing — ${listSets(skippedForData)}`);
      for (const set of skippedForData.values()) this.log(`  ${set.missing.name}: ${perModule(set)}`);
      this.log('  (set MAMMOCAD_SHARED_DATA_DIR to the folder that holds them; MAMMOCAD_REQUIRE_SHARED_DATA=1 makes a missing data set fail)');
    }
    const others = skipped - skippedForDataTests;
    if (others > 0) {
      this.log(`${plural(others, 'test')} skipped for other reasons:`);
      const groups = [...otherGroups.entries()];
      for (const [group, count] of groups.slice(0, MAX_LISTED)) this.log(`  ${group} (${count})`);
      if (groups.length > MAX_LISTED) this.log(`  ... and ${plural(groups.length - MAX_LISTED, 'more group')}`);
    }
    if (failedForDataTests > 0) {
      this.log(`${plural(failedForDataTests, 'test')} failed or not run: shared data missing and required (MAMMOCAD_REQUIRE_SHARED_DATA=1) — ${listSets(failedForData)}`);
      for (const set of failedForData.values()) this.log(`  ${set.missing.name}: ${perModule(set)}`);
    }
  }
}

function tally(sets: Map<string, DataSetTally>, missing: readonly MissingSharedData[], moduleId: string): void {
  for (const m of missing) {
    const set = sets.get(m.name) ?? { missing: m, tests: 0, byModule: new Map<string, number>() };
    set.tests++;
    set.byModule.set(moduleId, (set.byModule.get(moduleId) ?? 0) + 1);
    sets.set(m.name, set);
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

const listSets = (sets: Map<string, DataSetTally>) => [...sets.values()].map((s) => `${s.missing.name} (looked in ${s.missing.lookedIn})`).join(', ');

const perModule = (set: DataSetTally) => `${plural(set.tests, 'test')} in ${[...set.byModule.entries()].map(([id, n]) => `${id} (${n})`).join(', ')}`;

/**
 * A skip without a recorded reason, named by what was skipped: the outermost skipped suite
 * (`describe.skipIf(...)`, whose name usually says what it needs) or the test itself; a note
 * from `ctx.skip(note)` or a todo says why on its own.
 */
function otherGroup(test: TestCase): string {
  const result = test.result();
  const note = result.state === 'skipped' ? result.note : undefined;
  const where = test.module.relativeModuleId;
  if (test.options.mode === 'todo') return `${where} > ${test.fullName}: todo`;
  const by = skippedBy(test);
  if (by) return `${where} > ${by.fullName}`;
  if (note) return `${where} > ${test.fullName}: ${note}`;
  // Marked to run, skipped all the same: its suite's set-up (a beforeAll) failed, or ctx.skip().
  const failed = failedSuite(test);
  return failed ? `${where} > ${failed.fullName}: not run, its set-up failed` : `${where} > ${test.fullName}`;
}

function failedSuite(test: TestCase): TestSuite | null {
  for (let parent = test.parent; parent.type === 'suite'; parent = parent.parent) {
    if (parent.state() === 'failed') return parent;
  }
  return null;
}

/** The outermost suite, or the test itself, marked to skip (skip, skipIf, a filter); null if none was. */
function skippedBy(test: TestCase): TestCase | TestSuite | null {
  let outermost: TestCase | TestSuite | null = test.options.mode === 'skip' ? test : null;
  for (let parent = test.parent; parent.type === 'suite'; parent = parent.parent) {
    if (parent.options.mode === 'skip') outermost = parent;
  }
  return outermost;
}
