/**
 * PolyMath's difficulty-weighted accuracy (QwenLM/PolyMath eval/run_eval.py): levels low, medium, high, top
 * weighted 1, 2, 4, 8 and the sum divided by 15. PolyMath's script names the second level "middle" while the
 * dataset's split is "medium"; both are accepted.
 */
export const POLYMATH_LEVEL_WEIGHTS = { low: 1, medium: 2, high: 4, top: 8 } as const;
export type PolymathLevel = keyof typeof POLYMATH_LEVEL_WEIGHTS;

/** Accuracy per level (any scale: fractions or percentages) -> the weighted accuracy on the same scale. */
export function weightedAccuracy(levels: Readonly<Record<string, number>>): number {
  let sum = 0;
  for (const [level, w] of Object.entries(POLYMATH_LEVEL_WEIGHTS)) {
    const acc = levels[level] ?? (level === 'medium' ? levels.middle : undefined);
    if (acc === undefined || !Number.isFinite(acc)) {
      throw new Error(`weighted accuracy needs a finite accuracy for every level (low, medium, high, top); "${level}" is ${acc === undefined ? 'missing' : String(acc)}`);
    }
    sum += w * acc;
  }
  return sum / 15;
}
