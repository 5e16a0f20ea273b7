/**
 * Benchmark: all per-layer language matrices (cosine, JSD, normalised JSD), dendrograms (average, complete,
 * single, Ward) and specialisation tables for 100 languages x 48 layers x 128 experts. Target: under 2 s.
 * Second figure (no target from the issue, reported): sequence-mean matrices over parallel sequences for
 * 20 languages x 48 layers x 128 experts x 200 sequences, on top of the aggregate analysis of the same data.
 * Run: npx tsx bench/analysis.ts [--skip-sequences]
 */
import { analyzeRouting } from '../src/analysis/report.js';
import type { RoutingData } from '../src/analysis/routing-data.js';
import { randomRouting } from '../test/analysis/synthetic.js';

/** `n` languages l000, l001, ... x 48 layers x 128 experts, top-8. */
const synthetic = (n: number): RoutingData =>
  randomRouting(Array.from({ length: n }, (_, i) => `l${String(i).padStart(3, '0')}`), { layers: 48, experts: 128, topK: 8, seed: 42, tokens: [20000, 40000], power: 3, floor: 1e-3, source: 'bench' });
const data = synthetic(100);
const genealogy = (code: string) => ({ family: `f${Number(code.slice(1)) % 12}`, lineage: [`f${Number(code.slice(1)) % 12}`, `b${Number(code.slice(1)) % 30}`, code] });
const runs: number[] = [];
for (let i = 0; i < 4; i++) {
  const t = performance.now();
  const r = analyzeRouting(data, { pivot: 'l000', genealogy });
  runs.push(performance.now() - t);
  if (r.dendrograms.length !== 48 || r.specialisation.layers.length !== 48) throw new Error('incomplete result');
}
const best = Math.min(...runs);
const median = [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)];
console.log(`analysis 100 languages x 48 layers x 128 experts (3 matrices, 4 linkages + family agreement, specialisation k15 thr0.4):`);
console.log(`  runs ms: ${runs.map((x) => x.toFixed(0)).join(', ')}; best ${best.toFixed(0)} ms, median ${median.toFixed(0)} ms; target < 2000 ms: ${median < 2000 ? 'PASS' : 'FAIL'}`);
process.exitCode = median < 2000 ? 0 : 1;

/**
 * Per-sequence routing like a capture gives: each sequence of ~60 tokens x top-8 draws its selections from its
 * language's layer distribution, so rows are sparse-ish and noisy around the aggregate.
 */
function withSequences(d: RoutingData, count: number): RoutingData {
  let s = 7;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const { numLayers: L, numExperts: E, topK } = d;
  for (const lang of d.languages) {
    const ids: string[] = [];
    const dist: Float64Array[] = [];
    // cumulative distribution per layer for sampling
    const cdf = new Float64Array(L * E);
    for (let l = 0; l < L; l++) {
      let acc = 0;
      for (let e = 0; e < E; e++) cdf[l * E + e] = acc += lang.counts[l * E + e] / (lang.totals[l] * topK);
    }
    for (let q = 0; q < count; q++) {
      const tokens = 40 + Math.floor(rand() * 40);
      const row = new Float64Array(L * E);
      for (let l = 0; l < L; l++) {
        for (let t = 0; t < tokens * topK; t++) {
          const u = rand() * cdf[l * E + E - 1];
          let lo = 0;
          let hi = E - 1;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (cdf[l * E + mid] < u) lo = mid + 1;
            else hi = mid;
          }
          row[l * E + lo] += 1 / (tokens * topK);
        }
      }
      ids.push(`item-${q}`);
      dist.push(row);
    }
    lang.sequences = { ids, dist, kind: 'frequency' };
  }
  return d;
}

if (!process.argv.includes('--skip-sequences')) {
  const seqData = withSequences(synthetic(20), 200);
  const withSeq: number[] = [];
  const without: number[] = [];
  for (let i = 0; i < 3; i++) {
    let t = performance.now();
    analyzeRouting(seqData, { pivot: 'l000', genealogy, sequenceMeans: false });
    without.push(performance.now() - t);
    t = performance.now();
    const r = analyzeRouting(seqData, { pivot: 'l000', genealogy });
    withSeq.push(performance.now() - t);
    if (r.sequence?.matrices.length !== 48) throw new Error('incomplete sequence result');
  }
  const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)];
  console.log(`analysis 20 languages x 48 layers x 128 experts x 200 parallel sequences (sequence-mean cosine, JSD, nJSD; 190 pairs):`);
  console.log(`  aggregate only (sequenceMeans false) runs ms: ${without.map((x) => x.toFixed(0)).join(', ')}; median ${med(without).toFixed(0)} ms`);
  console.log(`  with sequence means runs ms: ${withSeq.map((x) => x.toFixed(0)).join(', ')}; median ${med(withSeq).toFixed(0)} ms (sequence part about ${(med(withSeq) - med(without)).toFixed(0)} ms)`);
}
