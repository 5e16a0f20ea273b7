/**
 * Holm's step-down adjustment (Holm 1979): controls the family-wise error rate under any dependence between the
 * tests, which matters here because the pooled comparison and the per-language ones share items.
 * adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)), p sorted ascending; returned in input order.
 */
export function holm(pValues: readonly number[]): number[] {
  pValues.forEach((p, i) => {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Holm: p-value ${i} is ${p}, not a probability`);
  });
  const m = pValues.length;
  const order = pValues.map((_, i) => i).sort((a, b) => pValues[a] - pValues[b] || a - b);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach((idx, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * pValues[idx]));
    adjusted[idx] = running;
  });
  return adjusted;
}
