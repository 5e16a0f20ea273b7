/**
 * Store benchmark: trace bytes per routed slot, sustained write rate, and the time to build per-layer
 * language x expert frequency tables. Run: npx tsx bench/store.ts [--tokens N] [--seq-len T] [--batch B] [--keep]
 * Shape defaults to Qwen3-30B-A3B (48 MoE layers, 128 experts, top-8), 8 languages.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Store, createRun, iterateSequences, loadRunRouting, writeBatch, type TraceSequence } from '../src/store/index.js';
import { HALF_TO_FLOAT as HALF_TO_FLOAT_TABLE } from '../src/numeric/float16.js';

const { values } = parseArgs({
  options: { tokens: { type: 'string' }, 'seq-len': { type: 'string' }, batch: { type: 'string' }, keep: { type: 'boolean' } },
});
const TOKENS = Number(values.tokens ?? 65536);
const T = Number(values['seq-len'] ?? 128);
const B = Number(values.batch ?? 16);
const L = 48;
const E = 128;
const K = 8;
const LANGS = ['en', 'zh', 'ja', 'fr', 'de', 'es', 'bn', 'sw'];

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A pool of routed sequences with realistic structure (distinct top-8 per token, weights summing to 1). */
function pool(n: number): Omit<TraceSequence, 'language' | 'itemId' | 'itemIndex'>[] {
  const r = rng(1);
  return Array.from({ length: n }, () => {
    const expertIds = new Uint8Array(L * T * K);
    const gateWeights = new Float32Array(L * T * K);
    for (let s = 0; s < L * T; s++) {
      const used = new Set<number>();
      let sum = 0;
      for (let k = 0; k < K; k++) {
        let e: number;
        do e = Math.floor(r() * r() * E); while (used.has(e)); // skewed: some experts far more popular
        used.add(e);
        expertIds[s * K + k] = e;
        gateWeights[s * K + k] = r() + 0.01;
        sum += gateWeights[s * K + k]!;
      }
      for (let k = 0; k < K; k++) gateWeights[s * K + k]! /= sum;
    }
    const templateMask = new Uint8Array(T);
    templateMask.fill(1, 0, 4);
    templateMask.fill(1, T - 5);
    return { tokenIds: Uint32Array.from({ length: T }, (_, i) => (i * 7919) % 151000), templateMask, expertIds, gateWeights };
  });
}

const dir = mkdtempSync(join(tmpdir(), 'routescope-bench-'));
const file = join(dir, 'bench.db');
const store = Store.open(file);
const runId = createRun(store, { languages: LANGS, promptTemplate: 'chat', numMoeLayers: L, numExperts: E, topK: K, batchSize: B, name: 'bench' });
const seqs = Math.ceil(TOKENS / T);
const sample = pool(Math.min(32, seqs));
console.log(`shape ${L} layers x ${E} experts, top-${K}; ${seqs} sequences x ${T} tokens = ${seqs * T} tokens, ${(seqs * T * L * K / 1e6).toFixed(1)} M routed slots; batches of ${B}`);

let written = 0;
let slots = 0;
const t0 = performance.now();
for (let b = 0; written < seqs; b++) {
  const batch: TraceSequence[] = [];
  for (let j = 0; j < B && written < seqs; j++, written++) {
    batch.push({ ...sample[written % sample.length]!, language: LANGS[written % LANGS.length]!, itemId: `i${written}`, itemIndex: Math.floor(written / LANGS.length) });
  }
  slots += writeBatch(store, runId, b, batch).slots;
}
const writeS = (performance.now() - t0) / 1000;
store.db.pragma('wal_checkpoint(TRUNCATE)');

const traceBytes = store.db.prepare('SELECT sum(length(expert_ids) + length(gate_weights)) AS ids_w, sum(length(token_ids) + length(template_mask)) AS tok FROM sequence').get() as { ids_w: number; tok: number };
const seqAggBytes = (store.db.prepare('SELECT sum(length(counts) + length(gate_sums)) AS n FROM sequence_agg').get() as { n: number }).n;
const fileBytes = statSync(file).size;

// Frequency tables from the aggregate tables (what the analyses use): cost does not depend on the token count.
let tAgg = Infinity;
let tables: Float64Array[] = [];
for (let rep = 0; rep < 5; rep++) {
  const t = performance.now();
  const data = loadRunRouting(store, runId);
  tables = data.languages.map((lr) => {
    const f = new Float64Array(L * E);
    for (let l = 0; l < L; l++) for (let e = 0; e < E; e++) f[l * E + e] = lr.counts[l * E + e]! / lr.totals[l]!;
    return f;
  });
  tAgg = Math.min(tAgg, performance.now() - t);
}

// The same tables recomputed from the raw traces, to measure decode throughput (and check the aggregates).
const t1 = performance.now();
const recount = new Map<string, { c: Float64Array; g: Float64Array; n: number }>();
let scanned = 0;
for (const s of iterateSequences(store, runId)) {
  let acc = recount.get(s.language);
  if (!acc) recount.set(s.language, (acc = { c: new Float64Array(L * E), g: new Float64Array(L * E), n: 0 }));
  acc.n += s.numTokens;
  const ids = s.expertIds;
  const w = s.gateBits;
  let i = 0;
  for (let l = 0; l < L; l++) {
    const base = l * E;
    for (let x = 0; x < s.numTokens * K; x++, i++) {
      acc.c[base + ids[i]!]! += 1;
      acc.g[base + ids[i]!]! += HALF_TO_FLOAT_TABLE[w[i]!]!;
    }
  }
  scanned += s.numTokens;
}
const tScan = (performance.now() - t1) / 1000;
const check = loadRunRouting(store, runId);
const agree = check.languages.every((lr) => {
  const r = recount.get(lr.language)!;
  return lr.totals[0] === r.n && lr.counts.every((c, i) => c === r.c[i]) && lr.gateSums.every((g, i) => g === r.g[i]);
});
store.close();
// The quick check the reading commands (runs, analyze, plan) run on every open.
const tq = performance.now();
const checked = Store.open(file, { readonly: true, quickCheck: true });
const quickMs = performance.now() - tq;
const damaged = checked.damage.length > 0;
checked.close();

const mb = (n: number) => (n / 1e6).toFixed(1);
console.log(`trace bytes per routed slot (expert ids + fp16 gate weights): ${(traceBytes.ids_w / slots).toFixed(3)}`);
console.log(`token ids + template mask: ${(traceBytes.tok / (seqs * T)).toFixed(1)} bytes per token; per-sequence aggregates: ${mb(seqAggBytes)} MB`);
console.log(`database file: ${mb(fileBytes)} MB = ${(fileBytes / slots).toFixed(3)} bytes per routed slot, everything included`);
console.log(`sustained write: ${(slots / writeS / 1e6).toFixed(2)} M routed slots/s (${Math.round((seqs * T) / writeS)} tokens/s) over ${writeS.toFixed(1)} s, traces + aggregates committed per batch`);
console.log(`frequency tables (${LANGS.length} languages x ${L} layers x ${E} experts) from aggregates: ${tAgg.toFixed(1)} ms (independent of token count; ${tables.length} tables)`);
console.log(`recomputed from raw traces: ${(scanned / tScan / 1e6).toFixed(2)} M tokens/s -> ${(1e6 / (scanned / tScan)).toFixed(2)} s per 1M tokens; matches stored aggregates exactly: ${agree}`);
console.log(`read-only open with PRAGMA quick_check: ${quickMs.toFixed(0)} ms for ${mb(fileBytes)} MB (${(fileBytes / 1e6 / (quickMs / 1000)).toFixed(0)} MB/s)${damaged ? ' - REPORTED DAMAGE' : ''}`);
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`);
if (values.keep) console.log(`kept ${file}`);
else rmSync(dir, { recursive: true, force: true });
if (!agree || damaged) process.exitCode = 1;
