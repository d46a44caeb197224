import { configDefaults, defineConfig } from 'vitest/config';
import base, { IMAGE_TESTS } from './vitest.config.js';

// `npm run test:image`: the same settings as `npm test`, for the tests that build and publish the container image.
export default defineConfig({
  test: { ...base.test, include: IMAGE_TESTS, exclude: configDefaults.exclude },
});
