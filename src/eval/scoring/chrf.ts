/**
 * chrF (Popović 2015) as sacreBLEU 2.x computes it (sacrebleu/metrics/chrf.py): character n-grams of orders
 * 1..6 with all whitespace removed first (Python str.split() then join), per order [hyp, ref, match] counts
 * (hyp counted only where the reference has n-grams), and by default the "effective order" average: precision
 * and recall averaged over the orders that both sides have, then F-beta with beta = 2, times 100. With
 * epsSmoothing the per-order F scores are averaged instead (chrF++.py / NLTK style). Several references: the
 * statistics of the best-scoring one. A corpus score sums the statistics of its sentences.
 */
import { pySplit } from './python-text.js';

export interface ChrfOptions {
  charOrder?: number;
  beta?: number;
  /** Keep whitespace inside the character n-grams (sacreBLEU's whitespace=True). */
  whitespace?: boolean;
  epsSmoothing?: boolean;
  lowercase?: boolean;
}

const DEFAULTS: Required<ChrfOptions> = { charOrder: 6, beta: 2, whitespace: false, epsSmoothing: false, lowercase: false };

function charNgrams(text: string, n: number): Map<string, number> {
  const chars = Array.from(text); // code points, as Python indexes strings
  const out = new Map<string, number>();
  for (let i = 0; i + n <= chars.length; i++) {
    const g = chars.slice(i, i + n).join('');
    out.set(g, (out.get(g) ?? 0) + 1);
  }
  return out;
}

function prepare(text: string, o: Required<ChrfOptions>): string {
  const t = o.lowercase ? text.toLowerCase() : text;
  return o.whitespace ? t : pySplit(t).join('');
}

/** Flat [hyp, ref, match] * charOrder statistics of one hypothesis against one reference. */
export function chrfStatistics(hypothesis: string, reference: string, opts: ChrfOptions = {}): number[] {
  const o = { ...DEFAULTS, ...opts };
  const h = prepare(hypothesis, o);
  const r = prepare(reference, o);
  const stats: number[] = [];
  for (let n = 1; n <= o.charOrder; n++) {
    const hg = charNgrams(h, n);
    const rg = charNgrams(r, n);
    let hypCount = 0;
    let match = 0;
    for (const [g, c] of hg) {
      hypCount += c;
      match += Math.min(c, rg.get(g) ?? 0);
    }
    let refCount = 0;
    for (const c of rg.values()) refCount += c;
    stats.push(rg.size > 0 ? hypCount : 0, refCount, match);
  }
  return stats;
}

export function chrfFromStatistics(stats: readonly number[], opts: ChrfOptions = {}): number {
  const o = { ...DEFAULTS, ...opts };
  const eps = 1e-16;
  const factor = o.beta ** 2;
  let epsScore = 0;
  let avgPrec = 0;
  let avgRec = 0;
  let effective = 0;
  for (let i = 0; i < o.charOrder; i++) {
    const [nHyp, nRef, nMatch] = [stats[3 * i]!, stats[3 * i + 1]!, stats[3 * i + 2]!];
    const prec = nHyp > 0 ? nMatch / nHyp : eps;
    const rec = nRef > 0 ? nMatch / nRef : eps;
    const denom = factor * prec + rec;
    epsScore += denom > 0 ? ((1 + factor) * prec * rec) / denom : eps;
    if (nHyp > 0 && nRef > 0) {
      avgPrec += prec;
      avgRec += rec;
      effective++;
    }
  }
  if (o.epsSmoothing) return (100 * epsScore) / o.charOrder;
  if (effective === 0) return 0;
  avgPrec /= effective;
  avgRec /= effective;
  if (avgPrec + avgRec === 0) return 0;
  return (100 * (1 + factor) * avgPrec * avgRec) / (factor * avgPrec + avgRec);
}

/** Sentence chrF against one or more references (the statistics of the best one). */
export function sentenceChrf(hypothesis: string, references: string | readonly string[], opts: ChrfOptions = {}): number {
  return chrfFromStatistics(bestStatistics(hypothesis, references, opts), opts);
}

function bestStatistics(hypothesis: string, references: string | readonly string[], opts: ChrfOptions): number[] {
  const refs = typeof references === 'string' ? [references] : references;
  if (refs.length === 0) throw new Error('chrF: a hypothesis has no reference (an empty list of references)');
  let best: number[] = [];
  let bestScore = -1;
  for (const r of refs) {
    const s = chrfStatistics(hypothesis, r, opts);
    const f = chrfFromStatistics(s, opts);
    if (f > bestScore) [best, bestScore] = [s, f];
  }
  return best;
}

/** Corpus chrF: statistics summed over the sentences, then one score. */
export function corpusChrf(hypotheses: readonly string[], references: readonly (string | readonly string[])[], opts: ChrfOptions = {}): number {
  if (hypotheses.length !== references.length) throw new Error(`corpusChrf: ${hypotheses.length} hypotheses but ${references.length} references`);
  const o = { ...DEFAULTS, ...opts };
  const total = new Array<number>(3 * o.charOrder).fill(0);
  hypotheses.forEach((h, i) => bestStatistics(h, references[i]!, opts).forEach((v, j) => (total[j]! += v)));
  return chrfFromStatistics(total, opts);
}
