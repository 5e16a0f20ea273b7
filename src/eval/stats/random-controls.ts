/**
 * Random-expert controls: a plan's effect set among the effects of several seeded random plans matched in experts
 * per layer. If the real plan is no better than random experts, its effect is about editing the router at all,
 * not about which experts it picked.
 */
import type { ArmComparison } from './index.js';
import { StatsInputError } from './pairing.js';

/**
 * Percentile (0-100) of `effect` among `controls`, ties at mid-rank: 100 * (#below + #equal / 2) / N.
 * So an effect equal to every control sits at 50, above all at 100, below all at 0.
 */
export function randomControlPercentile(effect: number, controls: readonly number[]): number {
  if (controls.length === 0) throw new StatsInputError('random-control percentile needs at least one control effect');
  if (!Number.isFinite(effect)) throw new StatsInputError(`the plan's effect must be a finite number, got ${effect}`);
  let below = 0;
  let equal = 0;
  controls.forEach((c, i) => {
    if (!Number.isFinite(c)) throw new StatsInputError(`random control ${i}: effect must be a finite number, got ${c}`);
    if (c < effect) below++;
    else if (c === effect) equal++;
  });
  return (100 * (below + equal / 2)) / controls.length;
}

export interface RandomControlSummary {
  language: string;
  plan: string;
  effect: number;
  controls: { arm: string; effect: number }[];
  /**
   * randomControlPercentile of the raw effect (arm minus baseline) among the controls' raw effects: for a
   * lower-is-better metric (NLL) a plan that beats every control sits at 0, not 100; `beats` is direction-aware.
   */
  percentile: number;
  /** Controls strictly worse than the plan (in the "better" direction). */
  beats: number;
  /** One-sided empirical p: (1 + controls at least as good as the plan) / (N + 1). */
  pEmpirical: number;
  text: string;
}

export interface RandomControlOptions {
  plan: string;
  controls: readonly string[];
  /** False for NLL-like metrics, where a negative difference is the improvement. Default true. */
  higherIsBetter?: boolean;
}

/** Per language the plan was compared in (and "all"), its effect against the control arms' effects. */
export function summariseRandomControls(comparisons: readonly ArmComparison[], opts: RandomControlOptions): RandomControlSummary[] {
  if (opts.controls.length === 0) throw new StatsInputError('random-control summary needs at least one control arm');
  const sign = opts.higherIsBetter === false ? -1 : 1;
  const planRows = comparisons.filter((c) => c.arm === opts.plan);
  if (planRows.length === 0) throw new StatsInputError(`no comparison for plan arm ${JSON.stringify(opts.plan)}`);
  const missingArms = opts.controls.filter((arm) => !comparisons.some((c) => c.arm === arm));
  if (missingArms.length > 0) {
    throw new StatsInputError(`no comparison for control arm(s) ${missingArms.map((a) => JSON.stringify(a)).join(', ')}`);
  }
  return planRows.map((row) => {
    const controls = opts.controls.flatMap((arm) =>
      comparisons.filter((c) => c.arm === arm && c.language === row.language).map((c) => ({ arm, effect: c.delta })),
    );
    if (controls.length === 0) throw new StatsInputError(`no control arm has a comparison in language ${row.language}`);
    const effects = controls.map((c) => c.effect);
    const percentile = randomControlPercentile(row.delta, effects);
    const beats = effects.filter((e) => sign * e < sign * row.delta).length;
    const atLeastAsGood = effects.length - beats;
    const pEmpirical = (1 + atLeastAsGood) / (effects.length + 1);
    const floor = 1 / (effects.length + 1);
    const text =
      `${row.language}: ${opts.plan} beats ${beats} of ${effects.length} random controls ` +
      `(percentile ${percentile.toFixed(0)} of their effects; empirical one-sided p = ${pEmpirical.toFixed(3)}` +
      (effects.length < 19 ? `, and with ${effects.length} controls no p below ${floor.toFixed(3)} is possible)` : ')');
    return { language: row.language, plan: opts.plan, effect: row.delta, controls, percentile, beats, pEmpirical, text };
  });
}
