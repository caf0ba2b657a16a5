// A gradient thread's entry (gradient-threads.ts): a worker thread starts without the TypeScript
// loader the process may have, so it registers tsx itself, as bin/mammocad.mjs does, then runs
// gradient-thread.ts.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
await import('./gradient-thread.ts');
