import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/quiet-sdk-warning.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files each start their own servers on free ports; two workers fit the 2-core machine.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
