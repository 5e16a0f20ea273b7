import { defineConfig } from 'vitest/config';

// The statistics tests only, for mutation runs scoped to src/eval/stats (stryker.stats.config.mjs): the dry run
// then takes seconds instead of running the experiment suites, which do not check the statistics' numbers.
export default defineConfig({
  test: {
    include: ['test/eval/stats-*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
