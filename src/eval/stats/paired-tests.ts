/**
 * Paired tests for continuous outcomes, on the per-item differences d = arm - baseline, two-sided.
 *
 * Wilcoxon signed-rank, as scipy.stats.wilcoxon with its defaults (zero_method='wilcox', correction=False,
 * method='auto'): zero differences are dropped, tied |d| get mid-ranks; with more than 50 differences (zeros
 * included in that count) the normal approximation with the tie-corrected variance is used; with 50 or fewer and
 * neither ties nor zeros, the exact null distribution; with 13 or fewer and ties or zeros, the exact distribution
 * over all sign flips (SciPy's permutation test, which enumerates every flip at that size); otherwise the normal
 * approximation. The exact distributions are the same computation here: the distribution of the sum of doubled
 * ranks under independent random signs. Paired t: Student's t on the differences, n - 1 degrees of freedom.
 */
import { normalSf, studentTTwoSided } from './special-functions.js';

export interface PairedTestResult {
  statistic: number;
  p: number;
  method: 'exact' | 'asymptotic' | 't';
}

export function wilcoxonSignedRank(differences: ArrayLike<number>): PairedTestResult & { z?: number } {
  const total = differences.length;
  if (total === 0) throw new RangeError('Wilcoxon signed-rank test needs at least one paired item');
  const d = Array.from(differences).filter((x) => x !== 0);
  const count = d.length;
  // SciPy answers NaN when every difference is zero; "no evidence of any difference" is p = 1.
  if (count === 0) return { statistic: 0, p: 1, method: 'exact' };
  const { ranks, tieGroups } = midRanks(d.map(Math.abs));
  let rPlus = 0;
  let rMinus = 0;
  d.forEach((x, i) => (x > 0 ? (rPlus += ranks[i]) : (rMinus += ranks[i])));
  const statistic = Math.min(rPlus, rMinus);
  const hasTies = tieGroups.some((t) => t > 1);
  const hasZeros = count < total;
  const exact = total <= 50 && (!(hasTies || hasZeros) || total <= 13);
  if (exact) return { statistic, p: exactSignFlipP(ranks, rPlus), method: 'exact' };
  const mean = (count * (count + 1)) / 4;
  const tieCorrection = tieGroups.reduce((s, t) => s + t ** 3 - t, 0);
  const se = Math.sqrt((count * (count + 1) * (2 * count + 1) - tieCorrection / 2) / 24);
  const z = (rPlus - mean) / se;
  return { statistic, p: Math.min(1, 2 * normalSf(Math.abs(z))), method: 'asymptotic', z: -Math.abs(z) };
}

/** Two-sided p of R+ under random signs: 2 * min(P(R+ <= r), P(R+ >= r)), from the exact distribution. */
function exactSignFlipP(ranks: number[], rPlus: number): number {
  // Mid-ranks are multiples of 1/2: doubled, every rank sum is an integer and the distribution a table.
  const doubled = ranks.map((r) => Math.round(2 * r));
  const max = doubled.reduce((s, r) => s + r, 0);
  let dist = new Float64Array(max + 1);
  dist[0] = 1;
  let reach = 0;
  for (const r of doubled) {
    const next = new Float64Array(max + 1);
    for (let s = 0; s <= reach; s++) {
      if (dist[s] === 0) continue;
      next[s] += dist[s] / 2;
      next[s + r] += dist[s] / 2;
    }
    reach += r;
    dist = next;
  }
  const observed = Math.round(2 * rPlus);
  let le = 0;
  let ge = 0;
  for (let s = 0; s <= max; s++) {
    if (s <= observed) le += dist[s];
    if (s >= observed) ge += dist[s];
  }
  return Math.min(1, 2 * Math.min(le, ge));
}

/** Ranks 1..n with ties given their mean rank; tieGroups lists the size of every group of equal values. */
export function midRanks(values: readonly number[]): { ranks: number[]; tieGroups: number[] } {
  const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Array<number>(values.length);
  const tieGroups: number[] = [];
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]] === values[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]] = rank;
    tieGroups.push(j - i + 1);
    i = j + 1;
  }
  return { ranks, tieGroups };
}

/** Paired t test. Every difference equal: p = 0 when they are non-zero (t is infinite, as in SciPy), 1 when zero. */
export function pairedT(differences: ArrayLike<number>): PairedTestResult & { df: number } {
  const n = differences.length;
  if (n < 2) throw new RangeError(`paired t test needs at least 2 paired items, got ${n}`);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += differences[i];
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (differences[i] - mean) ** 2;
  const sd = Math.sqrt(ss / (n - 1));
  const df = n - 1;
  if (sd === 0) {
    return mean === 0 ? { statistic: 0, p: 1, method: 't', df } : { statistic: Math.sign(mean) * Infinity, p: 0, method: 't', df };
  }
  const t = mean / (sd / Math.sqrt(n));
  return { statistic: t, p: studentTTwoSided(t, df), method: 't', df };
}
