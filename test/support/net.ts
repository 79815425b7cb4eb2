/** Small network helpers for tests that start servers and processes (shared with the benchmarks). */
export { freePort, pollFor } from '../../bench/lib/net.js';
