/**
 * From observations to paired items. The unit of pairing is the item within its language (ids often repeat across
 * languages, as in MGSM and PolyMath), and an item's several samples are averaged per arm first, so an item with
 * eight samples weighs what an item with one weighs and samples never pose as independent items.
 */
import type { Observation } from './index.js';

export class StatsInputError extends Error {
  override name = 'StatsInputError';
}

/** Per arm: item key -> mean score over its samples. */
export interface ArmItems {
  means: Map<string, number>;
  lang: Map<string, string>;
  maxSamples: number;
}

export function itemKey(lang: string, item: string): string {
  return `${lang}\u0000${item}`;
}

export function groupByArm(observations: readonly Observation[], binary: boolean): Map<string, ArmItems> {
  const sums = new Map<string, Map<string, { sum: number; samples: Set<number>; lang: string }>>();
  observations.forEach((o, i) => {
    const where = `observation ${i} (arm ${JSON.stringify(o.arm)}, item ${JSON.stringify(o.item)}, lang ${JSON.stringify(o.lang)})`;
    for (const field of ['arm', 'item', 'lang'] as const) {
      if (typeof o[field] !== 'string' || o[field] === '') throw new StatsInputError(`${where}: "${field}" must be a non-empty string`);
    }
    if (o.lang === 'all') throw new StatsInputError(`${where}: "all" is reserved for the pooled comparison and cannot be a language`);
    if (!Number.isInteger(o.sample) || o.sample < 0) {
      throw new StatsInputError(`${where}: "sample" must be a non-negative integer, got ${o.sample}`);
    }
    if (typeof o.value !== 'number' || !Number.isFinite(o.value)) {
      throw new StatsInputError(`${where}: "value" must be a finite number, got ${o.value}`);
    }
    if (binary && o.value !== 0 && o.value !== 1) throw new StatsInputError(`${where}: binary outcomes must be 0 or 1, got ${o.value}`);
    let arm = sums.get(o.arm);
    if (!arm) sums.set(o.arm, (arm = new Map()));
    const key = itemKey(o.lang, o.item);
    let entry = arm.get(key);
    if (!entry) arm.set(key, (entry = { sum: 0, samples: new Set(), lang: o.lang }));
    if (entry.samples.has(o.sample)) throw new StatsInputError(`${where}: sample ${o.sample} is recorded twice`);
    entry.samples.add(o.sample);
    entry.sum += o.value;
  });
  const arms = new Map<string, ArmItems>();
  for (const [arm, items] of sums) {
    const means = new Map<string, number>();
    const lang = new Map<string, string>();
    let maxSamples = 0;
    for (const [key, e] of items) {
      means.set(key, e.sum / e.samples.size);
      lang.set(key, e.lang);
      maxSamples = Math.max(maxSamples, e.samples.size);
    }
    arms.set(arm, { means, lang, maxSamples });
  }
  return arms;
}

export interface Pairs {
  baseline: Float64Array;
  arm: Float64Array;
  /** Language of each pair, parallel to the arrays. */
  langs: string[];
  baselineOnly: number;
  armOnly: number;
}

/**
 * Items present in both arms, ordered by (language, id) so that the bootstrap, which draws by position, gives the
 * same interval whatever order the observations arrived in (a resumed run stores them in another order).
 * Items in one arm only are counted, not paired.
 */
export function pairItems(baseline: ArmItems, arm: ArmItems): Pairs {
  const b: number[] = [];
  const a: number[] = [];
  const langs: string[] = [];
  let baselineOnly = 0;
  const keys = [...baseline.means.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  for (const key of keys) {
    const value = baseline.means.get(key) as number;
    const other = arm.means.get(key);
    if (other === undefined) {
      baselineOnly++;
      continue;
    }
    b.push(value);
    a.push(other);
    langs.push(baseline.lang.get(key) as string);
  }
  const armOnly = arm.means.size - b.length;
  return { baseline: Float64Array.from(b), arm: Float64Array.from(a), langs, baselineOnly, armOnly };
}
