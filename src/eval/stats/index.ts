/**
 * Paired statistics for experiments: Wilson intervals, exact McNemar, seeded paired bootstrap, paired tests for
 * continuous outcomes, Holm correction, minimum detectable effect, random-control percentiles.
 * CONTRACT (shared by the experiment runner and its reports); the implementation replaces the bodies.
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
  /** Holm-adjusted over every comparison returned by one call. */
  pHolm: number;
  test: 'mcnemar-exact' | 'wilcoxon' | 'paired-t';
  /** Binary only: items right under the baseline and wrong under the arm, and the reverse. */
  discordant?: { baselineOnly: number; armOnly: number };
  /** Smallest difference this n detects at 80% power and alpha 0.05. */
  mde: number;
  warnings: string[];
}

export function compareArms(_observations: Observation[], _opts: CompareOptions): ArmComparison[] {
  throw new Error('statistics are not implemented yet');
}

/** Percentile (0-100) of a real plan's effect within the effects of seeded random controls. */
export function randomControlPercentile(_effect: number, _controls: number[]): number {
  throw new Error('statistics are not implemented yet');
}
