// Mutation testing of the code whose numbers users see (analysis and the experiment statistics); see
// docs/testing.md. Run with `npm run test:mutation` (whole scope) or scope it:
//   npx stryker run --mutate src/analysis/bands.ts
// It is deliberately not part of `npm test`: on two cores a run over src/analysis takes tens of minutes.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: true },
  // Runs only the tests that cover a mutant (vitest's per-test coverage), not the whole suite per mutant.
  coverageAnalysis: 'perTest',
  mutate: ['src/analysis/**/*.ts', 'src/eval/**/*.ts'],
  concurrency: 2,
  timeoutMS: 30_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
