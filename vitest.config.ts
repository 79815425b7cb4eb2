import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'nodes/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 60000,
    hookTimeout: 60000,
    pool: 'forks',
    // Tests start real servers and processes on a 2-core machine: keep parallelism modest.
    maxWorkers: 2,
  },
});
