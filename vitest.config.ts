import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Media tests measure real-time behaviour; running files one at a time keeps them honest on 2 cores.
    fileParallelism: false,
    // In CI also a JSON report, from which .ci/run prints a one-line "N passed, N failed" summary.
    reporters: process.env.CI ? ['default', ['json', { outputFile: process.env.TEST_REPORT ?? 'test-report.json' }]] : ['default'],
  },
});
