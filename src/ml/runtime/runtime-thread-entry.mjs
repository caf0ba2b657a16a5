// The inference thread's entry (threaded-runtime.ts): a worker thread starts without the
// TypeScript loader the process may have, so it registers tsx itself, as bin/mammocad.mjs does,
// then runs runtime-thread.ts.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
await import('./runtime-thread.ts');
