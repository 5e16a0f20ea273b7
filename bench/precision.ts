/**
 * Routing fidelity and memory of each weight precision against fp32 (docs/precision.md):
 * - the demo model (resources/demo-model) on UDHR held-out articles of the demo languages: the share of
 *   (token, MoE layer) decisions with the same top-k set and the same top-1 expert, the largest relative
 *   logit error of a position, and the held-out perplexity at each precision;
 * - generated checkpoints of all five architectures (test/support/tiny-models.ts, F32, random ids);
 * - a generated checkpoint with Qwen3-30B-A3B's real layer shapes (hidden 2048, 128 experts, top-8, expert
 *   width 768, 32 query / 4 KV heads of 128) with 2 layers and a small vocabulary, BF16 like the release;
 *   written once to $TMPDIR/routescope-bench-qwen3-shape (~1.2 GiB).
 * Peak RSS (VmHWM) per parameter is measured in a fresh child process per precision on that checkpoint, after one
 * 64-token pass and again after passes that force every expert in turn (a random pass reads only some experts' pages).
 * BENCH_LAYERS / BENCH_VOCAB give it another depth and vocabulary (e.g. 8 and 151936: 5.6 B parameters, 10.4 GiB,
 * written one shard per layer to $TMPDIR); BENCH_LINK_LAYERS_FROM=<such a folder> with another BENCH_VOCAB links its
 * layer shards and redraws only the embedding and head; BENCH_PRECISIONS=fp16,int8,int4 picks the rows. With
 * BENCH_ONLY=rss both loads are measured (caches written, caches reused), each precision's caches then deleted.
 * `--rss-only`: peak RSS against the memory plan's peak (precision.ts, loading term included) on a smaller BF16
 * checkpoint of Qwen3-MoE shape (hidden 1024, 32 experts of width 512, 2 layers; ~0.2 GiB), per precision and
 * for fp32 on both kernels, the fused one with its expert cache written in that process and then reused.
 * Decode speed: int4 against fp32 (its default fused kernel) on bench:engine's model (bench/engine.ts SHAPE, F32,
 * ~3.6 GB, written once to $BENCH_MODEL_DIR or $TMPDIR/routescope-bench-engine-shape), both loaded in one process
 * and decode steps alternated in chunks, so load from other processes hits both alike.
 *
 *   npm run bench:precision               # everything (several minutes on 2 shared vCPUs)
 *   BENCH_SKIP_LARGE=1 npm run bench:precision   # demo model and tiny architectures only
 *   npm run bench:precision -- --rss-only  # peak RSS against the plan (about a minute)
 *   BENCH_ONLY=decode|rss|fidelity npm run bench:precision   # one part (decode: BENCH_CACHE_DIR keeps its caches)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadDemoLanguages } from '../src/corpus/demo-languages.js';
import { loadUdhrCorpus } from '../src/corpus/udhr.js';
import { loadTokenizer } from '../src/engine/tokenizer.js';
import { logProbOf } from '../src/engine/sampling.js';
import { DecoderSession, type ForwardResult } from '../src/engine/session.js';
import type { Precision } from '../src/engine/precision.js';
import { seededIds, tempDir } from '../test/engine/graph-helpers.js';
import { SHAPE, writeBenchModel } from './engine.js';
import { REAL_CONFIGS } from '../test/support/real-configs.js';
import { writeTinyModel, TINY_ARCHS } from '../test/support/tiny-models.js';
import { WeightStore } from '../src/engine/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../src/engine/safetensors-writer.js';
import { seededRandom } from '../src/numeric/random.js';

const log = (m: string) => process.stderr.write(`[bench:precision] ${m}\n`);
const COMPARED: Precision[] = ['fp16', 'int8', 'int4'];
const DEMO_MODEL = resolve(import.meta.dirname, '../resources/demo-model');
/** The Qwen3-30B-A3B-shaped checkpoint's depth and vocabulary: 2 layers and 512 tokens unless BENCH_LAYERS / BENCH_VOCAB say. */
const LARGE_LAYERS = Number(process.env.BENCH_LAYERS ?? 2);
const LARGE_VOCAB = Number(process.env.BENCH_VOCAB ?? 512);
const LARGE_DIR = join(tmpdir(), LARGE_LAYERS === 2 && LARGE_VOCAB === 512 ? 'routescope-bench-qwen3-shape' : `routescope-bench-qwen3-shape-${LARGE_LAYERS}l-v${LARGE_VOCAB}`);

interface Run {
  logits: Float32Array[];
  /** [sequence][moeLayer] experts, [T * k]. */
  experts: Int32Array[][];
  k: number;
}

async function runAll(dir: string, precision: Precision, sequences: number[][], cacheDir: string): Promise<Run> {
  const s = await DecoderSession.load(dir, { precision, cacheDir, moeKernel: precision === 'fp32' ? 'dispatch' : 'auto' });
  try {
    const out: Run = { logits: [], experts: [], k: s.info.topK };
    for (const ids of sequences) {
      const r: ForwardResult = await s.forward([ids]);
      out.logits.push(r.logits);
      out.experts.push(r.routing!.map((l) => l.experts));
    }
    return out;
  } finally {
    await s.dispose();
  }
}

interface Fidelity {
  decisions: number;
  topkSame: number;
  top1Same: number;
  maxRelLogit: number;
}

function compare(ref: Run, got: Run, V: number): Fidelity {
  const f: Fidelity = { decisions: 0, topkSame: 0, top1Same: 0, maxRelLogit: 0 };
  const k = ref.k;
  ref.experts.forEach((layers, s) => {
    layers.forEach((e, l) => {
      const g = got.experts[s]![l]!;
      for (let r = 0; r < e.length / k; r++) {
        f.decisions++;
        const a = new Set(e.subarray(r * k, r * k + k));
        if (g.subarray(r * k, r * k + k).every((x) => a.has(x))) f.topkSame++;
        if (e[r * k] === g[r * k]) f.top1Same++;
      }
    });
    const a = ref.logits[s]!;
    const b = got.logits[s]!;
    for (let r = 0; r < a.length / V; r++) {
      let diff = 0;
      let scale = 0;
      for (let i = r * V; i < (r + 1) * V; i++) {
        diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
        scale = Math.max(scale, Math.abs(a[i]!));
      }
      f.maxRelLogit = Math.max(f.maxRelLogit, diff / scale);
    }
  });
  return f;
}

function perplexity(run: Run, sequences: number[][], V: number): number {
  let nll = 0;
  let n = 0;
  sequences.forEach((ids, s) => {
    for (let t = 0; t + 1 < ids.length; t++) {
      nll -= logProbOf(run.logits[s]!, ids[t + 1]!, t * V, V);
      n++;
    }
  });
  return Math.exp(nll / n);
}

const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(2)}%`;

async function fidelityRows(name: string, dir: string, sequences: number[][], V: number, cacheDir: string, withPpl: boolean): Promise<string[]> {
  const t = performance.now();
  const ref = await runAll(dir, 'fp32', sequences, cacheDir);
  const rows: string[] = [];
  for (const p of COMPARED) {
    const got = await runAll(dir, p, sequences, cacheDir);
    const f = compare(ref, got, V);
    const ppl = withPpl ? `${perplexity(ref, sequences, V).toFixed(3)} → ${perplexity(got, sequences, V).toFixed(3)}` : 'n/a';
    rows.push(`| ${name} | ${p} | ${f.decisions} | ${pct(f.topkSame, f.decisions)} | ${pct(f.top1Same, f.decisions)} | ${f.maxRelLogit.toExponential(2)} | ${ppl} |`);
  }
  log(`${name}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return rows;
}

function writeLargeModel(): void {
  if (!Number.isInteger(LARGE_LAYERS) || LARGE_LAYERS < 1) throw new Error(`BENCH_LAYERS must be a positive integer; got '${process.env.BENCH_LAYERS}'`);
  if (!Number.isInteger(LARGE_VOCAB) || LARGE_VOCAB < 512) throw new Error(`BENCH_VOCAB must be an integer of at least 512; got '${process.env.BENCH_VOCAB}'`);
  if (existsSync(join(LARGE_DIR, 'config.json'))) return;
  const from = process.env.BENCH_LINK_LAYERS_FROM;
  if (from) return linkWithVocabulary(from, LARGE_DIR, LARGE_VOCAB);
  log(`writing the Qwen3-30B-A3B-shaped checkpoint (${LARGE_LAYERS} layers, vocabulary ${LARGE_VOCAB}) to ${LARGE_DIR} (once)`);
  const config = { ...REAL_CONFIGS.qwen3_moe.config, num_hidden_layers: LARGE_LAYERS, max_window_layers: LARGE_LAYERS, vocab_size: LARGE_VOCAB, bos_token_id: 1, eos_token_id: 2 };
  // The default 2-layer checkpoint keeps its single file (and numbers); deeper ones would not fit in memory at once.
  const t = performance.now();
  const stream = LARGE_LAYERS !== 2 || LARGE_VOCAB !== 512;
  writeTinyModel(LARGE_DIR, 'qwen3_moe', {
    seed: 30,
    dtype: 'BF16',
    config,
    shardPerLayer: stream,
    onShard: (i, n) => log(`shard ${i}/${n} written (${((performance.now() - t) / 1000).toFixed(0)} s)`),
  });
}

/**
 * BENCH_LINK_LAYERS_FROM=<folder of a streamed checkpoint>: the same decoder layers with another vocabulary, for
 * an embedding share like the real model's at a fraction of its depth: every shard without the embedding or the
 * head is hard-linked (no copy, no redraw); those two are drawn anew at the new size (same spreads as the generator).
 */
function linkWithVocabulary(from: string, to: string, vocab: number): void {
  const index = JSON.parse(readFileSync(join(from, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const config = JSON.parse(readFileSync(join(from, 'config.json'), 'utf8')) as Record<string, unknown>;
  const hidden = Number(config.hidden_size);
  const redrawn = new Set([index.weight_map['model.embed_tokens.weight'], index.weight_map['lm_head.weight']]);
  log(`linking ${from}'s layer shards into ${to}, vocabulary ${vocab} (embedding and head redrawn)`);
  mkdirSync(to, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
  const rand = seededRandom(31);
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  const weights = WeightStore.fromFolder(from);
  let totalSize = 0;
  for (const file of new Set(Object.values(index.weight_map))) {
    const names = Object.keys(index.weight_map).filter((n) => index.weight_map[n] === file);
    if (!redrawn.has(file)) {
      linkSync(join(from, file), join(to, file));
      for (const n of names) totalSize += weights.info(n).byteLength;
      continue;
    }
    const tensors: Record<string, TensorToWrite> = {};
    for (const n of names) {
      const info = weights.info(n);
      if (n === 'model.embed_tokens.weight' || n === 'lm_head.weight') {
        const std = n === 'lm_head.weight' ? 1 / Math.sqrt(hidden) : 0.5;
        const data = new Float32Array(vocab * hidden);
        for (let i = 0; i < data.length; i++) data[i] = std * normal();
        tensors[n] = { dtype: info.dtype as TensorToWrite['dtype'], shape: [vocab, hidden], data };
      } else tensors[n] = { dtype: info.dtype as TensorToWrite['dtype'], shape: info.shape, data: weights.readFloat32(n) };
      totalSize += tensors[n].data.length * 2;
    }
    writeSafetensors(join(to, file), tensors, { format: 'pt' });
  }
  writeFileSync(join(to, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: index.weight_map }, null, 2));
  writeFileSync(join(to, 'config.json'), JSON.stringify({ ...config, vocab_size: vocab }, null, 2));
}

/** A /proc/self/status field in bytes (VmHWM, VmRSS, RssAnon, RssFile). */
function statusBytes(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`/proc/self/status has no ${field} line`);
  return Number(m[1]) * 1024;
}

/**
 * Resident and mapped bytes of this process by kind of mapping (/proc/self/smaps): the expert cache, the dense
 * cache (embedding, head, projections), checkpoint shards, other files (Node, onnxruntime) and anonymous memory.
 * A mapped cache is resident only where pages were touched (an embedding table: the gathered rows).
 */
function residentByKind(): Record<string, { rss: number; size: number }> {
  const out: Record<string, { rss: number; size: number }> = {};
  let kind = 'anonymous';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const path = head[1]!;
      kind = !path.startsWith('/') ? 'anonymous' : /-experts\//.test(path) ? 'expert cache' : /-dense\//.test(path) ? 'dense cache' : /\.safetensors$/.test(path) ? 'checkpoint' : 'other files';
      continue;
    }
    const m = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (!m) continue;
    const k = (out[kind] ??= { rss: 0, size: 0 });
    if (m[1] === 'Size') k.size += Number(m[2]) * 1024;
    else k.rss += Number(m[2]) * 1024;
  }
  return out;
}

/**
 * Child mode: load at one precision, run one 64-token pass, print peak RSS and the parameter count, with the
 * resident set split into anonymous and file-backed pages after loading and at the end (where the bytes go); then
 * passes that read every expert, and the peak after those.
 */
async function rssChild(dir: string, precision: Precision, cacheDir: string, kernel?: 'fused' | 'dispatch'): Promise<void> {
  const t = performance.now();
  const s = await DecoderSession.load(dir, { precision, cacheDir, moeKernel: kernel ?? (precision === 'fp32' ? 'dispatch' : 'auto') });
  const loadS = (performance.now() - t) / 1000;
  const loaded = { hwm: statusBytes('VmHWM'), anon: statusBytes('RssAnon'), file: statusBytes('RssFile') };
  await s.forward([seededIds(64, s.info.vocabSize, 1)]);
  const hwm = statusBytes('VmHWM');
  const plan = s.info.precision!.plan;
  // A random pass routes to a subset of experts, so the pages of the others were never read: a long capture reads
  // them all. Forcing each block of top-k experts in turn (steering `force`, 8 tokens a pass) reads every expert.
  const E = s.info.numExperts;
  const k = s.info.topK;
  const touched = s.info.moeLayers.map(() => new Set<number>());
  for (let first = 0; first < E; first += k) {
    const force = new Float32Array(E);
    for (let e = first; e < Math.min(E, first + k); e++) force[e] = 1 + e - first;
    const zero = new Float32Array(E);
    const layer = { bias: zero, scale: zero, std: zero, force, mask: zero };
    const r = await s.forward([seededIds(8, s.info.vocabSize, 2 + first)], { steering: { perMoeLayer: s.info.moeLayers.map(() => layer) } });
    r.routing!.forEach((l, i) => l.experts.forEach((e) => touched[i]!.add(e)));
  }
  const hwmAllExperts = statusBytes('VmHWM');
  process.stdout.write(
    JSON.stringify({
      hwm, parameters: plan.parameters, planned: plan.totalBytes, transient: plan.transientBytes, kernel: s.info.moeKernel?.name, accuracy: s.info.moeKernel?.expertAccuracy,
      loadS, loaded, anon: statusBytes('RssAnon'), file: statusBytes('RssFile'), byKind: residentByKind(), hwmAllExperts, expertsTouchedPerLayer: Math.min(...touched.map((t) => t.size)),
      plan: { experts: plan.expertBytes, dense: plan.denseBytes, embedding: plan.embeddingBytes },
    }) + '\n',
  );
}

const MEDIUM_DIR = join(tmpdir(), 'routescope-bench-bf16-medium');

/** Peak RSS against the plan's peak on a ~0.2 GiB BF16 checkpoint: fresh process per row, fused cache written then reused. */
async function rssAgainstPlan(): Promise<void> {
  if (!existsSync(join(MEDIUM_DIR, 'config.json'))) {
    const config = {
      ...REAL_CONFIGS.qwen3_moe.config, num_hidden_layers: 2, max_window_layers: 2, vocab_size: 512, bos_token_id: 1, eos_token_id: 2,
      num_experts: 32, hidden_size: 1024, moe_intermediate_size: 512, num_attention_heads: 16, num_key_value_heads: 4, head_dim: 64,
    };
    writeTinyModel(MEDIUM_DIR, 'qwen3_moe', { seed: 30, dtype: 'BF16', config });
  }
  const cache = tempDir('bench-precision-rss');
  const rows: string[] = [];
  try {
    const cases: [Precision, 'fused' | 'dispatch' | undefined, string][] = [
      ['fp32', 'dispatch', 'dispatch'], ['fp32', 'fused', 'fused, cache written'], ['fp32', 'fused', 'fused, cache reused'],
      ['fp16', undefined, 'cache written'], ['int8', undefined, 'cache written'], ['int4', undefined, 'cache written'],
    ];
    for (const [p, kernel, what] of cases) {
      const args = ['--import', 'tsx', import.meta.filename, '--rss-child', MEDIUM_DIR, p, cache.dir, ...(kernel ? [kernel] : [])];
      const r = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' }).trim().split('\n').pop()!) as { hwm: number; parameters: number; planned: number; transient: number };
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
      rows.push(`| ${p} | ${what} | ${mib(r.hwm)} | ${(r.hwm / r.parameters).toFixed(2)} | ${mib(r.planned)} (${mib(r.transient)} loading) | ${(r.planned / r.hwm).toFixed(2)} |`);
      log(rows[rows.length - 1]!);
    }
  } finally {
    cache.cleanup();
  }
  process.stdout.write('| precision | load | peak RSS | bytes / parameter | planned peak (4096-token KV + runtime + loading) | planned / measured |\n|---|---|---|---|---|---|\n' + rows.join('\n') + '\n');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Greedy decode steps with the KV cache and routing captured; ms per step. */
async function decodeSteps(s: DecoderSession, prompt: number[], steps: number): Promise<number[]> {
  const V = SHAPE.vocab;
  let r = await s.forward([prompt], { logits: 'last' });
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const last = r.logits.subarray(r.logits.length - V);
    let next = 0;
    for (let v = 1; v < V; v++) if (last[v]! > last[next]!) next = v;
    const t = performance.now();
    r = await s.forward([[next]], { past: r.cache, logits: 'last' });
    times.push(performance.now() - t);
  }
  return times;
}

async function decodeSpeed(cacheDir: string): Promise<string[]> {
  const dir = process.env.BENCH_MODEL_DIR ?? join(tmpdir(), 'routescope-bench-engine-shape');
  if (!existsSync(join(dir, 'config.json'))) {
    log(`writing bench:engine's model to ${dir} (once)`);
    mkdirSync(dir, { recursive: true });
    writeBenchModel(dir);
  }
  // int4 three times: the default (dispatch kernel, fp32 activations), QMoE, and the dispatch kernel with int8 activations.
  const runs: { label: string; precision: Precision; moeKernel?: 'dispatch' | 'fused' }[] = [
    { label: 'fp32', precision: 'fp32' },
    { label: 'int8', precision: 'int8' },
    { label: 'int4', precision: 'int4' },
    { label: 'int4, moeKernel fused', precision: 'int4', moeKernel: 'fused' },
    { label: 'int4, moeKernel dispatch', precision: 'int4', moeKernel: 'dispatch' },
  ];
  const sessions: DecoderSession[] = [];
  for (const r of runs) sessions.push(await DecoderSession.load(dir, { precision: r.precision, cacheDir, ...(r.moeKernel ? { moeKernel: r.moeKernel } : {}) }));
  const prompt = Array.from({ length: 32 }, (_, i) => (i * 7919 + 13) % SHAPE.vocab);
  const steps: number[][] = runs.map(() => []);
  for (let c = 0; c < Number(process.env.BENCH_DECODE_CHUNKS ?? 6); c++) {
    for (const [i, s] of sessions.entries()) steps[i]!.push(...(await decodeSteps(s, prompt.slice(0, 16 + 2 * c), 4)));
  }
  log(`load average (1 min) at the end: ${loadavg()[0].toFixed(1)}`);
  const kernels = sessions.map((s) => `${s.info.moeKernel?.name}${s.info.moeKernel?.expertAccuracy ? ` (accuracy_level ${s.info.moeKernel.expertAccuracy})` : ''}`);
  for (const s of sessions) await s.dispose();
  const fp32 = median(steps[0]!);
  return runs.map((r, i) => {
    const ms = median(steps[i]!);
    return `| ${r.label} | ${kernels[i]} | ${ms.toFixed(1)} ms | ${(1000 / ms).toFixed(2)} | ${(fp32 / ms).toFixed(2)}x |`;
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === '--rss-child') return rssChild(process.argv[3]!, process.argv[4] as Precision, process.argv[5]!, process.argv[6] as 'fused' | 'dispatch' | undefined);
  if (process.argv[2] === '--rss-only') return rssAgainstPlan();
  const cache = tempDir('bench-precision-cache');
  const rows: string[] = [];
  const only = process.env.BENCH_ONLY;
  if (only === 'decode') {
    try {
      const decode = await decodeSpeed(process.env.BENCH_CACHE_DIR ?? cache.dir);
      process.stdout.write(`Decode (median step, ${SHAPE.layers} layers, hidden ${SHAPE.hidden}, ${SHAPE.experts} experts top-${SHAPE.topK}, vocab ${SHAPE.vocab}):\n\n`);
      process.stdout.write('| precision | expert kernel | median step | tokens/s | vs fp32 |\n|---|---|---|---|---|\n' + decode.join('\n') + '\n');
    } finally {
      cache.cleanup();
    }
    return;
  }
  try {
    if (only !== 'rss') {
      // Demo model on UDHR held-out text, one sequence per (article, language).
      const tok = await loadTokenizer(DEMO_MODEL);
      const corpus = loadUdhrCorpus({ split: 'heldout', languages: loadDemoLanguages() });
      const texts = corpus.items.flatMap((it) => Object.values(it.texts));
      const sequences = texts.map((t) => tok.encode(t, { addSpecialTokens: true }).slice(0, 256)).filter((ids) => ids.length > 1);
      rows.push(...(await fidelityRows(`demo model, UDHR held-out (${sequences.length} texts)`, DEMO_MODEL, sequences, tok.vocabSize, cache.dir, true)));

      for (const arch of TINY_ARCHS) {
        const m = tempDir(`bench-precision-${arch}`);
        try {
          const info = writeTinyModel(m.dir, arch, { seed: 40, withoutTokenizer: true });
          const seqs = [1, 2, 3, 4].map((s) => seededIds(64, info.vocabSize, s));
          rows.push(...(await fidelityRows(`tiny ${arch} (F32, ${info.numExperts} experts, top-${info.topK})`, m.dir, seqs, info.vocabSize, cache.dir, false)));
        } finally {
          m.cleanup();
        }
      }
    }

    const rss: string[] = [];
    if (process.env.BENCH_SKIP_LARGE !== '1' && only !== 'fidelity') {
      writeLargeModel();
      const seqs = [1, 2].map((s) => seededIds(64, LARGE_VOCAB, s));
      if (only !== 'rss') rows.push(...(await fidelityRows(`Qwen3-30B-A3B shapes (BF16, ${LARGE_LAYERS} layers, 128 experts, top-8)`, LARGE_DIR, seqs, LARGE_VOCAB, cache.dir, false)));
      // BENCH_PRECISIONS=fp16,int8,int4 leaves fp32 out where its widened copy would not fit with margin.
      const precisions = (process.env.BENCH_PRECISIONS ?? ['fp32', ...COMPARED].join(',')).split(',') as Precision[];
      // int4 on each of its kernels: auto (dispatch, fp32 activations), QMoE, dispatch with int8 activations.
      const cases = precisions.flatMap((p): [Precision, ('fused' | 'dispatch')?][] => (p === 'int4' ? [[p], [p, 'fused'], [p, 'dispatch']] : [[p]]));
      for (const [p, kernel] of cases) {
        // A fresh cache folder per precision, dropped after its rows: a multi-GB checkpoint's caches add up.
        const pc = tempDir(`bench-precision-rss-${p}${kernel ? `-${kernel}` : ''}`);
        try {
          const child = () => JSON.parse(
            execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--rss-child', LARGE_DIR, p, pc.dir], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').pop()!,
          ) as { hwm: number; hwmAllExperts: number; parameters: number; planned: number; kernel?: string; accuracy?: number; loadS: number; loaded: { hwm: number; anon: number; file: number }; anon: number; file: number };
          // The first load of a precision writes its caches (reading the checkpoint); the second reuses them.
          for (const load of ['caches written', 'caches reused']) {
            if (load === 'caches written' && only !== 'rss') {
              child();
              continue;
            }
            const r = child();
            log(`${p}, ${load}: ${JSON.stringify(r)}`);
            const g = (b: number) => (b / 2 ** 30).toFixed(2);
            const label = `${p}${kernel ? `, moeKernel ${kernel}` : ''} (${r.kernel ?? 'no MoE'}${r.accuracy ? `, accuracy_level ${r.accuracy}` : ''})`;
            rss.push(
              `| ${label} | ${load} | ${g(r.hwm)} GiB | ${(r.hwm / r.parameters).toFixed(2)} | ${g(r.hwmAllExperts)} GiB | ${(r.hwmAllExperts / r.parameters).toFixed(2)} | ${(r.parameters / 1e9).toFixed(3)} B | ${g(r.loaded.hwm)} GiB | ${g(r.anon)} / ${g(r.file)} GiB | ${g(r.planned)} GiB | ${r.loadS.toFixed(0)} s |`,
            );
            log(rss[rss.length - 1]!);
          }
        } finally {
          pc.cleanup();
        }
      }
    }
    if (rows.length) {
      process.stdout.write('| model | precision | decisions | top-k set identical | top-1 identical | largest relative logit error | perplexity fp32 → precision |\n|---|---|---|---|---|---|---|\n');
      process.stdout.write(rows.join('\n') + '\n');
    }
    if (rss.length) {
      process.stdout.write(`\nPeak RSS (VmHWM) after loading and one 64-token pass, Qwen3-30B-A3B-shaped checkpoint (${LARGE_LAYERS} layers, vocabulary ${LARGE_VOCAB}):\n\n`);
      process.stdout.write(
        '| precision | load | peak RSS, 64-token pass | bytes / parameter | peak, every expert read | bytes / parameter | parameters | peak after loading | anonymous / file-backed at the end | planned peak | load time |\n|---|---|---|---|---|---|---|---|---|---|---|\n' +
          rss.join('\n') + '\n',
      );
    }
  } finally {
    cache.cleanup();
  }
}

await main();
