import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The tests that need Debian packages beyond Node, Python and rsync (buildah, skopeo, docker-registry): left out of
 * `npm test` and run by `npm run test:image` (vitest.image.config.ts), which `.ci/run` runs too.
 */
export const IMAGE_TESTS = ['test/image/image.test.ts', 'test/image/release-pipeline.test.ts'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...IMAGE_TESTS],
    setupFiles: ['test/support/quiet-sdk-warning.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files each start their own servers on free ports; two workers fit the 2-core machine.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
