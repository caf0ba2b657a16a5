// Runs before every test file (vitest.config.ts, setupFiles). Under MAMMOCAD_REQUIRE_SHARED_DATA=1
// a test whose shared data set is missing is not skipped (test/support/shared-data.ts) but must
// fail: it fails here, before its body, naming the data set and where it was looked for, rather
// than somewhere inside with a bare ENOENT. Kept free of imports beyond vitest: every file loads it.

import { beforeEach } from 'vitest';

beforeEach(({ task }) => {
  const shared = task.meta.sharedData;
  if (!shared?.required) return;
  const sets = shared.missing.map((m) => `${m.name} (looked in ${m.lookedIn}: ${m.missingFile} is not there)`).join(', ');
  throw new Error(`shared data missing — ${sets}. MAMMOCAD_REQUIRE_SHARED_DATA=1 makes this a failure; set MAMMOCAD_SHARED_DATA_DIR to the folder that holds it.`);
});
