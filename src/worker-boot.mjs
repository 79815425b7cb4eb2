// Worker bootstrap for running TypeScript sources directly (tests under vitest, `tsx`):
// registers tsx in this worker thread, then loads the real worker module. Compiled installs
// (dist/) start their .js worker modules directly and never load this file.
import { workerData } from 'node:worker_threads';
const { register } = await import('tsx/esm/api');
register();
await import(workerData.__graphrunEntry);
