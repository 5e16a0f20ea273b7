/**
 * Sweeps: picking the best of many arms and reporting it on the same items inflates its effect (the winner's
 * curse) and voids its p-value. A seeded dev/test split of the items lets the choice be made on dev and the
 * result reported on test.
 */
import type { ArmComparison } from './index.js';
import { StatsInputError } from './pairing.js';

/** The warning a report must carry, or null when the best arm was chosen on other items than it is reported on. */
export function selectionWarning(bestArm: string, chosenOnSameItems: boolean, candidates?: number): string | null {
  if (!chosenOnSameItems) return null;
  const of = candidates !== undefined && candidates > 1 ? ` of ${candidates} arms` : '';
  return (
    `arm ${JSON.stringify(bestArm)} was selected as the best${of} on the same items it is reported on: its effect is biased ` +
    'upward and its interval and p-value ignore the selection. Choose on a dev split and report on the held-out test items.'
  );
}

/** The arm with the largest improvement in `language` (default the pooled "all"); ties go to the first listed. */
export function bestArm(comparisons: readonly ArmComparison[], opts: { language?: string; higherIsBetter?: boolean } = {}): string {
  const language = opts.language ?? 'all';
  const sign = opts.higherIsBetter === false ? -1 : 1;
  let best: ArmComparison | undefined;
  for (const c of comparisons) {
    if (c.language === language && (best === undefined || sign * c.delta > sign * best.delta)) best = c;
  }
  if (!best) throw new StatsInputError(`no comparison in language ${JSON.stringify(language)} to choose a best arm from`);
  return best.arm;
}

export interface DevTestSplit {
  dev: Set<string>;
  test: Set<string>;
}

/**
 * Deterministic split by item id: ids are ordered by a seeded hash and the first round(devFraction * n) go to dev.
 * Only the id counts (not the language or arm), so every arm and every language of a parallel dataset agree.
 */
export function splitDevTest(itemIds: Iterable<string>, opts: { seed: number; devFraction?: number }): DevTestSplit {
  const fraction = opts.devFraction ?? 0.5;
  if (!(fraction > 0 && fraction < 1)) throw new StatsInputError(`devFraction must lie strictly between 0 and 1, got ${fraction}`);
  if (!Number.isInteger(opts.seed)) throw new StatsInputError(`split seed must be an integer, got ${opts.seed}`);
  const ids = [...new Set(itemIds)];
  if (ids.length < 2) throw new StatsInputError(`a dev/test split needs at least 2 distinct items, got ${ids.length}`);
  const keyed = ids.map((id) => ({ id, h: hashId(opts.seed, id) }));
  keyed.sort((x, y) => x.h - y.h || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const nDev = Math.min(ids.length - 1, Math.max(1, Math.round(fraction * ids.length)));
  return { dev: new Set(keyed.slice(0, nDev).map((k) => k.id)), test: new Set(keyed.slice(nDev).map((k) => k.id)) };
}

/** FNV-1a over the seed and id, finished with a murmur3 mix so that similar ids spread evenly. */
function hashId(seed: number, id: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (const ch of id) {
    h ^= ch.codePointAt(0) as number;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
