import { defineConfig } from 'vitest/config';
import { allocatorEnv } from './workers/allocator.mjs';

// Test forks (and the worker processes tests spawn) inherit this environment: the allocator workers use.
Object.assign(process.env, allocatorEnv());

// Two projects: pure unit tests (no servers, run in parallel forks) and tests against real servers
// (one Temporal dev server + one S3 API server per run, started in globalSetup; files run one at a time).
export default defineConfig({
  test: {
    pool: 'forks',
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          setupFiles: ['test/support/tf-setup.ts'],
          testTimeout: 120_000,
        },
      },
      {
        // Reports and the Web UI in real headless Chromium (Debian's chromium, installed by .ci/run).
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          setupFiles: ['test/support/tf-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: [
            'test/integration/**/*.test.ts',
            'test/faults/**/*.test.ts',
            'test/replay/**/*.test.ts',
            'test/e2e/**/*.test.ts',
          ],
          globalSetup: ['test/support/global-setup.ts'],
          setupFiles: ['test/support/tf-setup.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
