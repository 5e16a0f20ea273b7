// Mutation testing of the answer scoring alone (src/eval/scoring) against its own tests; see docs/testing.md.
//   npx stryker run stryker.scoring.config.mjs --mutate src/eval/scoring/math-equal.ts,src/eval/scoring/rational.ts
import base from './stryker.config.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  // related: false: the scoring suite is small (seconds), so every mutant's covering tests come from the dry run's
  // per-test coverage rather than vitest's related-file lookup.
  vitest: { configFile: 'vitest.mutation-scoring.config.ts', related: false },
  mutate: ['src/eval/scoring/**/*.ts'],
  concurrency: 1,
  timeoutMS: 10_000,
};
