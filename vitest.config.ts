import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const SKIP_SUMMARY_REPORTER = './test/support/skip-summary-reporter.ts';

export default defineConfig({
  resolve: {
    // One copy of graphql: type-graphql loads the CommonJS build, a test's `import 'graphql'`
    // would get the ES module build, and graphql refuses a schema from "another module or realm".
    alias: [{ find: /^graphql$/, replacement: createRequire(import.meta.url).resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start processes and databases; two cores, so keep files in parallel
    // but bounded.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Fails a test whose shared data set is missing when MAMMOCAD_REQUIRE_SHARED_DATA=1
    // (test/support/shared-data.ts skips it otherwise).
    setupFiles: ['./test/support/shared-data-setup.ts'],
    // The last one ends the run by saying how many tests were skipped and why.
    reporters: [...(process.env.CI ? ['default', 'junit'] : ['default']), SKIP_SUMMARY_REPORTER],
    outputFile: { junit: 'var/test-results/junit.xml' },
  },
});
