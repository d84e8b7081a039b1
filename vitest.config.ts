// One vitest project per test layer (tools/preflight/src/requirements.ts says which files belong
// to which), so `npm test` can run and report unit, integration and lab tests one after another.
import { defineConfig } from 'vitest/config';
import { TEST_LAYERS } from './tools/preflight/src/requirements.ts';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', './tools/vitest-summary-reporter.ts'],
    projects: TEST_LAYERS.map((layer) => ({
      extends: true,
      test: {
        name: layer.name,
        include: [...layer.include],
        exclude: ['**/node_modules/**', ...layer.exclude],
      },
    })),
  },
});
