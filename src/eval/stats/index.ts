/**
 * Paired statistics for experiments: Wilson intervals, exact McNemar, seeded paired bootstrap, paired tests for
 * continuous outcomes, Holm correction, minimum detectable effect, random-control percentiles.
 * CONTRACT (shared by the experiment runner and its reports). Methods, formulas and their SciPy checks:
 * docs/statistics.md. The implementations live in the modules re-exported at the end.
 */

/** One observation: the score of one (arm, item, sample). Several samples of an item are averaged per item. */
export interface Observation {
  arm: string;
  item: string;
  lang: string;
  sample: number;
  value: number;
}

export interface CompareOptions {
  baseline: string;
  /** Binary outcomes (0/1): Wilson, McNemar; otherwise continuous: paired bootstrap + paired test. */
  binary: boolean;
  seed: number;
  /** Bootstrap resamples, default 10,000. */
  resamples?: number;
  confidence?: number;
  /**
   * The arms to compare with the baseline, in report order. Default: every other arm, in the order first seen.
   * Naming an arm without observations is an error; arms left out are not compared (and not in the Holm family).
   */
  arms?: readonly string[];
  /** Continuous outcomes only: the paired test, default 'wilcoxon' (signed-rank, as scipy.stats.wilcoxon). */
  continuousTest?: 'wilcoxon' | 'paired-t';
}

export interface ArmComparison {
  arm: string;
  baseline: string;
  /** A language code, or "all" for the pooled comparison over every item. */
  language: string;
  /** Items paired (present in both arms). */
  n: number;
  baselineScore: number;
  armScore: number;
  /** Wilson intervals (binary only). */
  baselineCi?: [number, number];
  armCi?: [number, number];
  delta: number;
  /** Paired bootstrap interval of the mean difference (arm minus baseline). */
  ci: [number, number];
  p: number;
  /**
   * Holm-adjusted over every comparison returned by one call (an arm's pooled comparison over a single language is
   * the same hypothesis as that language's, counted once, and shares its value).
   */
  pHolm: number;
  test: 'mcnemar-exact' | 'wilcoxon' | 'paired-t';
  /** Binary only: items right under the baseline and wrong under the arm, and the reverse. */
  discordant?: { baselineOnly: number; armOnly: number };
  /** Smallest difference this n detects at 80% power and alpha 0.05. */
  mde: number;
  warnings: string[];
  /** Pooled comparison only, when some items are in one arm only (they are left out of every pair). */
  unpaired?: { baselineOnly: number; armOnly: number };
}

export { compareArms, comparisonSeed, MIN_ITEMS_BINARY, MIN_ITEMS_CONTINUOUS, PAPER_EFFECT } from './compare.js';
export { randomControlPercentile, summariseRandomControls, type RandomControlSummary } from './random-controls.js';
export { wilsonInterval } from './wilson.js';
export { mcnemarExact, type McNemarResult } from './mcnemar.js';
export { pairedBootstrap, quantileSorted, DEFAULT_RESAMPLES, type BootstrapOptions, type BootstrapResult } from './bootstrap.js';
export { wilcoxonSignedRank, pairedT, midRanks, type PairedTestResult } from './paired-tests.js';
export { holm } from './holm.js';
export { minimumDetectableEffect, itemsNeeded, type PowerOptions } from './power.js';
export { StatsInputError } from './pairing.js';
export { selectionWarning, splitDevTest, bestArm, type DevTestSplit } from './sweeps.js';
export {
  toReportJson,
  comparisonRows,
  toCsv,
  summaryMarkdown,
  type ReportComparison,
  type SummaryContext,
  type CsvValue,
} from './report.js';
