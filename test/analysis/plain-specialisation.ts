/**
 * A second, deliberately plain implementation of arXiv 2601.14050's shares and expert classes for the tests, written
 * from the paper's reference code (torch, float32) and not from src/analysis: every step is a Math.fround of the
 * float64 result, the top-k is a full sort (so the data must have no tie at the k-th place unless `ties` names the
 * expert torch kept), and the classification is a literal reading of the rule.
 */
import type { RoutingData } from '../../src/analysis/routing-data.js';
import { torchTopkIndices } from '../../src/analysis/torch-topk.js';

const f32 = Math.fround;

/**
 * "<lang>:<layer>" -> the expert torch.topk kept among those tied at the k-th place, or 'torch': resolve every tie
 * with the torch.topk replay in src/analysis/torch-topk.ts (checked against torch's own outputs in
 * torch-topk.test.ts), for data such as a tiny model's counts where ties are many and not known in advance.
 */
export type Ties = Record<string, number> | 'torch';

/** Float32 shares r[c][e] of one layer over the languages `langs` (in that order). */
export function plainShares32(data: RoutingData, langs: readonly string[], k: number, layer: number, ties: Ties = {}): number[][] {
  const E = data.numExperts;
  const kept = langs.map((code) => {
    const lang = data.languages.find((l) => l.language === code);
    if (!lang) throw new Error(`no language ${code}`);
    const f = Array.from({ length: E }, (_, e) => f32(f32(lang.counts[layer * E + e]) / f32(lang.totals[layer])));
    const order = f.map((_, e) => e).sort((a, b) => f[b] - f[a] || a - b);
    let chosen = order.slice(0, k);
    const tie = k < E && f[order[k - 1]] === f[order[k]];
    if (tie && ties === 'torch') {
      chosen = Array.from(torchTopkIndices(f, k));
    } else if (tie && ties !== 'torch') {
      const pick = ties[`${code}:${layer}`] as number | undefined;
      const above = order.filter((e) => f[e] > f[order[k - 1]]);
      if (pick === undefined || f[pick] !== f[order[k - 1]] || above.length !== k - 1) throw new Error(`unresolved top-k tie for ${code} layer ${layer}`);
      chosen = [...above, pick];
    }
    return f.map((v, e) => (chosen.includes(e) ? v : 0));
  });
  const out = kept.map(() => new Array<number>(E).fill(0));
  for (let e = 0; e < E; e++) {
    let denom = 0;
    for (const row of kept) denom = f32(denom + row[e]);
    denom = f32(denom + f32(1e-10));
    for (let c = 0; c < kept.length; c++) out[c][e] = f32(kept[c][e] / denom);
  }
  return out;
}

/** Shared: some r > 0 and every r < thr, compared in float32 as torch compares a float32 tensor with a Python float. */
export function plainShared(shares: number[][], thr: number): number[] {
  const t = f32(thr);
  const out: number[] = [];
  for (let e = 0; e < shares[0].length; e++) {
    const rs = shares.map((row) => row[e]);
    if (rs.some((r) => r > 0) && rs.every((r) => r < t)) out.push(e);
  }
  return out;
}

/** Exclusive to language c: r > thr, compared in float64 (the reference calls .item()). */
export function plainExclusive(shares: number[][], c: number, thr: number): number[] {
  const out: number[] = [];
  for (let e = 0; e < shares[c].length; e++) if (shares[c][e] > thr) out.push(e);
  return out;
}

/** Every distinct positive share value of a layer: the thresholds at which a strict rule changes its answer. */
export function distinctShares(shares: number[][]): number[] {
  return [...new Set(shares.flat().filter((r) => r > 0 && r <= 1))].sort((a, b) => a - b);
}

export interface PlainLayerCounts {
  shared: number;
  /** Experts exclusive to each language (r > thr), in data order. */
  exclusive: Record<string, number>;
}

/** Per layer, over all languages: how many experts are shared and how many exclusive to each language. */
export function plainLayerCounts(data: RoutingData, k: number, thr: number, ties: Ties = 'torch'): PlainLayerCounts[] {
  const langs = data.languages.map((l) => l.language);
  return Array.from({ length: data.numLayers }, (_, l) => {
    const r = plainShares32(data, langs, k, l, ties);
    return { shared: plainShared(r, thr).length, exclusive: Object.fromEntries(langs.map((code, c) => [code, plainExclusive(r, c, thr).length])) };
  });
}

/** Shared-mode steering plan over `targets`: per layer, [expert, share of the first target] pairs. */
export function plainSteerShared(data: RoutingData, targets: readonly string[], k: number, thr: number, layers: readonly number[], ties: Ties = 'torch'): Map<number, [number, number][]> {
  const out = new Map<number, [number, number][]>();
  for (const l of layers) {
    const r = plainShares32(data, targets, k, l, ties);
    const row = plainShared(r, thr).map((e): [number, number] => [e, r[0][e]]);
    if (row.length > 0) out.set(l, row);
  }
  return out;
}
