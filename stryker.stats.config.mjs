// Mutation testing of the experiment statistics alone (src/eval/stats) against their own tests; see docs/testing.md.
//   npx stryker run stryker.stats.config.mjs --mutate src/eval/stats/wilson.ts,src/eval/stats/mcnemar.ts
import base from './stryker.config.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  vitest: { configFile: 'vitest.mutation-stats.config.ts', related: true },
  mutate: ['src/eval/stats/**/*.ts'],
  concurrency: 1,
};
