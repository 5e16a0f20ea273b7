import { defineConfig } from 'vitest/config';

// The tests StrykerJS runs against each mutant of src/analysis and src/eval (`npm run test:mutation`): the analysis
// and evaluation suites only, so that a mutant is killed by the tests written for that code and the run stays
// tractable on two cores. Not used by `npm test`.
export default defineConfig({
  test: {
    include: ['test/analysis/**/*.test.ts', 'test/eval/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
