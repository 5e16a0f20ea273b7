import { defineConfig } from 'vitest/config';

// The scoring tests only, for mutation runs scoped to src/eval/scoring (stryker.scoring.config.mjs): the answer
// scorers are checked by their own suites under test/eval/scoring, and the dry run then takes seconds instead of
// running the experiment and statistics suites, which take the scorers' verdicts as given.
export default defineConfig({
  test: {
    include: ['test/eval/scoring/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
