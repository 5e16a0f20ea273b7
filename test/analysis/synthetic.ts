/** Synthetic routing generated in the tests (no shared files): deterministic, with controllable structure. */
import type { LanguageRouting, RoutingData } from '../../src/analysis/routing-data.js';

export function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/**
 * Languages in groups (families); each layer's routing mixes a shared profile with a group profile and a
 * language profile. The language-specific weight is high in early and late layers and low in the middle,
 * which gives the U-shape; counts are integers with a random jitter (no systematic ties).
 */
export function syntheticRouting(opts: { groups: string[][]; layers: number; experts: number; topK?: number; tokens?: number; seed?: number }): RoutingData {
  const { groups, layers: L, experts: E } = opts;
  const topK = opts.topK ?? 4;
  const rand = lcg(opts.seed ?? 7);
  const profile = () => Array.from({ length: L * E }, () => rand() ** 3);
  const shared = profile();
  const languages: LanguageRouting[] = [];
  for (const group of groups) {
    const gp = profile();
    for (const lang of group) {
      const lp = profile();
      const tokens = opts.tokens ?? 20000 + Math.floor(rand() * 5000);
      const counts = new Float64Array(L * E);
      const gateSums = new Float64Array(L * E);
      const totals = new Float64Array(L).fill(tokens);
      for (let l = 0; l < L; l++) {
        const x = l / Math.max(1, L - 1);
        const specific = 0.15 + 0.85 * (2 * x - 1) ** 2; // high at both ends, low in the middle
        const w = Array.from({ length: E }, (_, e) => {
          const i = l * E + e;
          return (1 - specific) * shared[i] + specific * (0.8 * gp[i] + 0.2 * lp[i]) + 1e-3;
        });
        const sum = w.reduce((s, v) => s + v, 0);
        const c = w.map((x) => Math.round((x / sum) * tokens * topK + rand() * 3));
        // Distinct counts within a row, so no test depends on how ties at the k-th place are broken.
        const order = c.map((_, e) => e).sort((a, b) => c[b] - c[a] || a - b);
        for (let i = 1; i < E; i++) if (c[order[i]] >= c[order[i - 1]]) c[order[i]] = c[order[i - 1]] - 1;
        for (let e = 0; e < E; e++) {
          counts[l * E + e] = Math.max(0, c[e]);
          gateSums[l * E + e] = (counts[l * E + e] / topK) * (0.8 + 0.4 * rand());
        }
      }
      languages.push({ language: lang, counts, gateSums, totals });
    }
  }
  return { numLayers: L, numExperts: E, topK, moeLayers: Array.from({ length: L }, (_, i) => i), languages, source: 'synthetic' };
}

/** The recorder JSON text of one language (the reference implementation's file format). */
export function recorderJson(data: RoutingData, lang: string): string {
  const r = data.languages.find((l) => l.language === lang)!;
  const out: Record<string, Record<string, unknown>> = {};
  for (let l = 0; l < data.numLayers; l++) {
    const layer: Record<string, unknown> = {};
    for (let e = 0; e < data.numExperts; e++) {
      layer[String(e)] = { activation_tokens: r.counts[l * data.numExperts + e], gate_values_sum: r.gateSums[l * data.numExperts + e] };
    }
    layer.total_tokens = r.totals[l];
    out[String(l)] = layer;
  }
  return JSON.stringify(out);
}

/**
 * Unstructured routing at any size, for benchmarks and UI tests: per language a token count (`tokens` = [base, span],
 * base + a uniform draw below span), per layer independent expert weights rand()^power + floor scaled to tokens x top-k;
 * gate sums are counts / top-k. Every MoE layer is a decoder layer.
 */
export function randomRouting(
  codes: string[],
  opts: { layers: number; experts: number; topK: number; seed: number; tokens: [number, number]; power: number; floor: number; source: string },
): RoutingData {
  const { layers: L, experts: E, topK: K } = opts;
  const rand = lcg(opts.seed);
  const languages: LanguageRouting[] = codes.map((language) => {
    const tokens = opts.tokens[0] + Math.floor(rand() * opts.tokens[1]);
    const counts = new Float64Array(L * E);
    for (let l = 0; l < L; l++) {
      const w = Array.from({ length: E }, () => rand() ** opts.power + opts.floor);
      const sum = w.reduce((a, b) => a + b, 0);
      for (let e = 0; e < E; e++) counts[l * E + e] = Math.round((w[e]! / sum) * tokens * K);
    }
    return { language, counts, gateSums: counts.map((c) => c / K), totals: new Float64Array(L).fill(tokens) };
  });
  return { numLayers: L, numExperts: E, topK: K, moeLayers: Array.from({ length: L }, (_, i) => i), languages, source: opts.source };
}
