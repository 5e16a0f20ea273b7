/**
 * Expert specialisation as arXiv 2601.14050 defines it, computed with the same float32 arithmetic and the same
 * top-k tie-breaking as its reference implementation (torch on CPU), so that plans derived from it match
 * byte for byte. See docs/analysis.md ("Exactness").
 *
 * 1. f[L][l][e] = activation_tokens / total_tokens                    (float32 division)
 * 2. per (L, l) keep the k largest f (torch.topk tie order), others 0
 * 3. r[L][l][e] = f[L][l][e] / (sum over L' in C of f[L'][l][e] + 1e-10)  (float32, sum in C's order)
 */
import { AnalysisInputError } from './errors.js';
import type { RoutingData } from './routing-data.js';
import { torchTopkMask } from './torch-topk.js';
import { checkK, checkThreshold, languageIndices, validateRouting } from './validate.js';

const f32 = Math.fround;
const EPS32 = f32(1e-10);

export interface Shares {
  /** Languages of the comparison set C, in the order used for the float32 sums. */
  languages: string[];
  k: number;
  numLayers: number;
  numExperts: number;
  /** Per language of C: the top-k-masked frequency f (float32 values), [layer * E + expert]. */
  kept: Float32Array[];
  /** Per language of C: the share r (float32 values), [layer * E + expert]. */
  shares: Float32Array[];
}

/** Float32 activation frequency count / total, as torch computes int64 / int64. */
export function frequency32(count: number, total: number): number {
  return f32(f32(count) / f32(total));
}

/**
 * Shares r of every expert for the languages of `comparison` (default: all languages, in data order).
 * Only the layers in `layers` (default all) are filled; others stay 0.
 */
export function computeShares(data: RoutingData, k: number, comparison?: readonly string[], layers?: readonly [number, number]): Shares {
  validateRouting(data);
  checkK(data, k);
  const codes = comparison ?? data.languages.map((l) => l.language);
  const idx = languageIndices(data, codes, 'comparison set');
  const { numLayers: L, numExperts: E } = data;
  const [l0, l1] = layers ?? [0, L - 1];
  const kept = idx.map(() => new Float32Array(L * E));
  const shares = idx.map(() => new Float32Array(L * E));
  const row = new Float64Array(E);
  const denom = new Float64Array(E);
  for (let l = l0; l <= l1; l++) {
    for (let c = 0; c < idx.length; c++) {
      const lang = data.languages[idx[c]];
      const total = lang.totals[l];
      for (let e = 0; e < E; e++) row[e] = frequency32(lang.counts[l * E + e], total);
      const mask = torchTopkMask(row, k);
      for (let e = 0; e < E; e++) if (mask[e]) kept[c][l * E + e] = row[e];
    }
    // torch sums dim 0 left to right from 0 in float32; each partial sum is rounded to float32.
    denom.fill(0);
    for (let c = 0; c < idx.length; c++) for (let e = 0; e < E; e++) denom[e] = f32(denom[e] + kept[c][l * E + e]);
    for (let e = 0; e < E; e++) denom[e] = f32(denom[e] + EPS32);
    for (let c = 0; c < idx.length; c++) {
      for (let e = 0; e < E; e++) shares[c][l * E + e] = kept[c][l * E + e] / denom[e];
    }
  }
  return { languages: codes.slice(), k, numLayers: L, numExperts: E, kept, shares };
}

/** Float32 sum of the shares of the given languages (torch.sum over the selected rows). */
export function summedShare(s: Shares, targets: readonly string[], layer: number, expert: number): number {
  let acc = 0;
  for (const t of targets) {
    const c = s.languages.indexOf(t);
    if (c < 0) throw new AnalysisInputError(`language '${t}' is not in the comparison set (${s.languages.join(', ')})`);
    acc = f32(acc + s.shares[c][layer * s.numExperts + expert]);
  }
  return acc;
}

/** Exclusive experts of the target(s): summed share > thr (a float64 comparison, as in the reference). */
export function exclusiveExperts(s: Shares, targets: readonly string[], thr: number, layer: number): number[] {
  checkThreshold(thr);
  const out: number[] = [];
  for (let e = 0; e < s.numExperts; e++) if (summedShare(s, targets, layer, e) > thr) out.push(e);
  return out;
}

/**
 * Shared experts: r > 0 for some language of the comparison set and r < thr for all of them.
 * The reference compares a float32 tensor with thr, which torch does in float32, so thr is rounded to float32.
 */
export function sharedExperts(s: Shares, thr: number, layer: number): number[] {
  checkThreshold(thr);
  const t = f32(thr);
  const out: number[] = [];
  for (let e = 0; e < s.numExperts; e++) {
    let any = false;
    let all = true;
    for (const r of s.shares) {
      const v = r[layer * s.numExperts + e];
      if (v > 0) any = true;
      if (!(v < t)) all = false;
    }
    if (any && all) out.push(e);
  }
  return out;
}

export interface SpecialisationLayerRow {
  layer: number;
  shared: number;
  /** exclusive[language] = number of experts exclusive to that language. */
  exclusive: Record<string, number>;
}

export interface ExpertRow {
  layer: number;
  expert: number;
  /** Per language (same order as SpecialisationTable.languages): share r, frequency count/total, gate sum/total. */
  share: number[];
  frequency: number[];
  gate: number[];
  kind: 'shared' | 'exclusive' | 'unused';
  /** Language whose share exceeds thr, for exclusive experts. */
  owner?: string;
}

export interface SpecialisationTable {
  k: number;
  thr: number;
  languages: string[];
  layers: SpecialisationLayerRow[];
  experts: ExpertRow[];
}

/**
 * Per-layer counts of shared and exclusive experts and per-expert detail, over all languages (defaults k 15, thr 0.4);
 * `layers` limits it to a range of MoE layers (the rows of the others are left out: a view of one layer of a large
 * run does not build 6,144 experts' rows).
 */
export function specialisationTable(data: RoutingData, k = 15, thr = 0.4, shares?: Shares, layersIn?: readonly [number, number]): SpecialisationTable {
  checkThreshold(thr);
  const s = shares ?? computeShares(data, k);
  const { numLayers: L, numExperts: E } = data;
  const langs = s.languages;
  const idx = languageIndices(data, langs, 'specialisation table');
  const t32 = f32(thr);
  const layers: SpecialisationLayerRow[] = [];
  const experts: ExpertRow[] = [];
  const [l0, l1] = layersIn ?? [0, L - 1];
  if (!(Number.isInteger(l0) && Number.isInteger(l1) && l0 >= 0 && l0 <= l1 && l1 < L)) throw new AnalysisInputError(`specialisation table: layers must be a range within 0-${L - 1}, got ${l0}-${l1}`);
  for (let l = l0; l <= l1; l++) {
    const exclusive: Record<string, number> = {};
    for (const lang of langs) exclusive[lang] = 0;
    let shared = 0;
    for (let e = 0; e < E; e++) {
      let any = false;
      let all = true;
      let owner: string | undefined;
      const share: number[] = [];
      const frequency: number[] = [];
      const gate: number[] = [];
      for (let c = 0; c < langs.length; c++) {
        const v = s.shares[c][l * E + e];
        if (v > 0) any = true;
        if (!(v < t32)) all = false;
        if (v > thr) {
          owner = langs[c];
          exclusive[langs[c]]++;
        }
        const lr = data.languages[idx[c]];
        share.push(v);
        frequency.push(lr.counts[l * E + e] / lr.totals[l]);
        gate.push(lr.gateSums[l * E + e] / lr.totals[l]);
      }
      const isShared = any && all;
      if (isShared) shared++;
      experts.push({ layer: l, expert: e, share, frequency, gate, kind: isShared ? 'shared' : owner ? 'exclusive' : 'unused', ...(owner ? { owner } : {}) });
    }
    layers.push({ layer: l, shared, exclusive });
  }
  return { k: s.k, thr, languages: langs, layers, experts };
}

/**
 * arXiv 2510.04694: expert e is specialised for X when freq_X(e) - freq_pivot(e) > tau, with freq the relative
 * activation frequency (share of tokens routed to e). Returns per layer the specialised experts and their delta.
 */
export function deltaSpecialisation(
  data: RoutingData,
  target: string,
  pivot: string,
  tau: number,
  layers?: readonly [number, number],
): Map<number, { expert: number; delta: number }[]> {
  validateRouting(data);
  if (!Number.isFinite(tau) || tau <= -1 || tau >= 1) throw new AnalysisInputError(`tau must be in (-1, 1), got ${tau}`);
  const [ti, pi] = languageIndices(data, [target, pivot], 'delta specialisation');
  const T = data.languages[ti];
  const P = data.languages[pi];
  const E = data.numExperts;
  const [l0, l1] = layers ?? [0, data.numLayers - 1];
  const out = new Map<number, { expert: number; delta: number }[]>();
  for (let l = l0; l <= l1; l++) {
    const rows: { expert: number; delta: number }[] = [];
    for (let e = 0; e < E; e++) {
      const delta = T.counts[l * E + e] / T.totals[l] - P.counts[l * E + e] / P.totals[l];
      if (delta > tau) rows.push({ expert: e, delta });
    }
    out.set(l, rows);
  }
  return out;
}
