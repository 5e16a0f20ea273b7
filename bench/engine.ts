/**
 * Engine benchmark on a generated model of realistic shape (Qwen3-MoE layout with stacked experts:
 * 8 layers, hidden 1024, 64 experts, top-8, expert width 512, vocab 32000, F32 weights ~3.6 GB),
 * written to a temporary folder. For each MoE kernel (dispatch, then fused with a cold and a warm expert
 * cache), in a fresh child process so peak RSS is per run: session creation, prefill tokens/s with routing
 * capture on and off, decode tokens/s, and peak RSS against the weights' size on disk; then `compare` runs
 * both kernels interleaved in one process (the fair ratio when other processes share the cores).
 * `logits-modes` times a batched prefill (BENCH_PREFILL_BATCH rows x BENCH_PREFILL tokens, capture on, fused
 * kernel) in the three logits modes interleaved in one process; `logits-all` / `logits-last` / `logits-none` run
 * that prefill in one mode per fresh process, for its peak RSS.
 * `torch` runs the same prompts through an eager fp32 PyTorch forward written the way transformers runs Qwen3-MoE
 * (bench/torch-peer/), alternated with Routescope at 1 and 2 threads, after checking both do the same work; it is
 * skipped, saying why, where Python lacks PyTorch (install: apt-get install -y python3-torch libopenblas0-pthread).
 *
 *   npm run bench:engine                 # or: npx tsx bench/engine.ts
 *   BENCH_MODEL_DIR=/tmp/rs-bench ...    # keep (and reuse) the generated model there (cache: <dir>-cache)
 *   BENCH_PREFILL=128 BENCH_DECODE=32 BENCH_REPS=5 BENCH_PREFILL_BATCH=4 ...
 *   BENCH_KERNELS=dispatch,fused-cold,fused-warm,compare,logits-modes,logits-all,logits-none,torch ...
 *   BENCH_TORCH_THREADS=1,2 BENCH_TORCH_PYTHON=/usr/bin/python3 ...
 *   npm run bench:engine -- --quick      # only `torch`, 3 reps, 8 decode steps (or BENCH_QUICK=1)
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadEngine, type Engine, type LogitsMode } from '../src/engine/index.js';
import type { MoeKernelName } from '../src/engine/graph-builder.js';
import { writeSafetensors, type TensorToWrite } from '../src/engine/safetensors-writer.js';
import { compareWithTorch } from './torch-peer/compare.js';

export const SHAPE = { layers: 8, hidden: 1024, experts: 64, topK: 8, expertWidth: 512, heads: 16, kvHeads: 4, headDim: 64, vocab: 32000 };
const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
/** A few minutes on 2 shared cores: the PyTorch comparison only, fewer repetitions. */
const QUICK = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
const PREFILL = env('BENCH_PREFILL', 128);
const DECODE = env('BENCH_DECODE', QUICK ? 8 : 32);
const REPS = env('BENCH_REPS', QUICK ? 3 : 5);
const TORCH_THREADS = (process.env.BENCH_TORCH_THREADS ?? '1,2').split(',').map(Number);
const PREFILL_BATCH = env('BENCH_PREFILL_BATCH', 4);
const LOGITS_MODES: LogitsMode[] = ['all', 'last', 'none'];

function log(msg: string): void {
  process.stderr.write(`[bench:engine] ${msg}\n`);
}

/** Cheap seeded values with a given spread; benchmark weights only need plausible magnitudes. */
function randomTensor(shape: number[], std: number, seed: number, mean = 0): TensorToWrite {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const k = std * Math.sqrt(3) * 2;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    data[i] = mean + ((s >>> 0) / 4294967296 - 0.5) * k;
  }
  return { dtype: 'F32', shape, data };
}

/** One shard per decoder layer keeps at most ~450 MB of weights in memory while writing. */
export function writeBenchModel(dir: string): void {
  const S = SHAPE;
  const weightMap: Record<string, string> = {};
  let total = 0;
  const shard = (file: string, tensors: Record<string, TensorToWrite>) => {
    writeSafetensors(join(dir, file), tensors);
    for (const [name, t] of Object.entries(tensors)) {
      weightMap[name] = file;
      total += t.data.length * 4;
    }
  };
  const qOut = S.heads * S.headDim;
  const kvOut = S.kvHeads * S.headDim;
  shard('model-embed.safetensors', {
    'model.embed_tokens.weight': randomTensor([S.vocab, S.hidden], 0.5, 1),
    'model.norm.weight': randomTensor([S.hidden], 0.05, 2, 1),
    'lm_head.weight': randomTensor([S.vocab, S.hidden], 1 / Math.sqrt(S.hidden), 3),
  });
  for (let l = 0; l < S.layers; l++) {
    log(`writing layer ${l + 1}/${S.layers}`);
    const p = `model.layers.${l}`;
    const seed = 100 + l * 20;
    shard(`model-layer-${l}.safetensors`, {
      [`${p}.input_layernorm.weight`]: randomTensor([S.hidden], 0.05, seed, 1),
      [`${p}.post_attention_layernorm.weight`]: randomTensor([S.hidden], 0.05, seed + 1, 1),
      [`${p}.self_attn.q_proj.weight`]: randomTensor([qOut, S.hidden], 1 / Math.sqrt(S.hidden), seed + 2),
      [`${p}.self_attn.k_proj.weight`]: randomTensor([kvOut, S.hidden], 1 / Math.sqrt(S.hidden), seed + 3),
      [`${p}.self_attn.v_proj.weight`]: randomTensor([kvOut, S.hidden], 1 / Math.sqrt(S.hidden), seed + 4),
      [`${p}.self_attn.o_proj.weight`]: randomTensor([S.hidden, qOut], 1 / Math.sqrt(qOut), seed + 5),
      [`${p}.self_attn.q_norm.weight`]: randomTensor([S.headDim], 0.05, seed + 6, 1),
      [`${p}.self_attn.k_norm.weight`]: randomTensor([S.headDim], 0.05, seed + 7, 1),
      [`${p}.mlp.gate.weight`]: randomTensor([S.experts, S.hidden], 2 / Math.sqrt(S.hidden), seed + 8),
      [`${p}.mlp.experts.gate_up_proj`]: randomTensor([S.experts, 2 * S.expertWidth, S.hidden], 1 / Math.sqrt(S.hidden), seed + 9),
      [`${p}.mlp.experts.down_proj`]: randomTensor([S.experts, S.hidden, S.expertWidth], 1 / Math.sqrt(S.expertWidth), seed + 10),
    });
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['Qwen3MoeForCausalLM'],
      model_type: 'qwen3_moe',
      vocab_size: S.vocab,
      hidden_size: S.hidden,
      intermediate_size: 2048,
      moe_intermediate_size: S.expertWidth,
      num_hidden_layers: S.layers,
      num_attention_heads: S.heads,
      num_key_value_heads: S.kvHeads,
      head_dim: S.headDim,
      num_experts: S.experts,
      num_experts_per_tok: S.topK,
      norm_topk_prob: true,
      decoder_sparse_step: 1,
      mlp_only_layers: [],
      hidden_act: 'silu',
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      tie_word_embeddings: false,
      torch_dtype: 'float32',
    }),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const f of ['model-embed.safetensors', ...Array.from({ length: SHAPE.layers }, (_, l) => `model-layer-${l}.safetensors`)]) total += statSync(join(dir, f)).size;
  return total;
}

/** Per-step decode times (ms) of greedy decoding with the KV cache, routing captured: robust to bursts of load. */
async function decodeSteps(engine: Engine, prompt: number[], steps: number): Promise<number[]> {
  let r = await engine.forward([prompt]);
  const V = SHAPE.vocab;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const last = r.logits.subarray((r.seq - 1) * V, r.seq * V);
    let next = 0;
    for (let v = 1; v < V; v++) if (last[v]! > last[next]!) next = v;
    const t = performance.now();
    r = await engine.forward([[next]], { past: r.cache, capture: true });
    times.push(performance.now() - t);
  }
  return times;
}

/**
 * Both kernels loaded in one process, prefill reps and decode steps alternated between them, so contention
 * from other processes hits both alike: the fair speed ratio on a shared machine.
 */
async function compare(dir: string, cacheDir: string): Promise<Record<string, unknown>> {
  const engines = { dispatch: await loadEngine(dir, { moeKernel: 'dispatch', cacheDir }), fused: await loadEngine(dir, { moeKernel: 'fused', cacheDir }) };
  const prompt = Array.from({ length: PREFILL }, (_, i) => (i * 7919 + 13) % SHAPE.vocab);
  const prefill: Record<string, number[]> = { dispatch: [], fused: [] };
  const decode: Record<string, number[]> = { dispatch: [], fused: [] };
  for (const e of Object.values(engines)) await e.forward([prompt.slice(0, 16)]);
  for (let r = 0; r < REPS; r++) {
    for (const [name, e] of r % 2 ? Object.entries(engines).reverse() : Object.entries(engines)) {
      const t = performance.now();
      await e.forward([prompt], { capture: true });
      prefill[name]!.push(performance.now() - t);
    }
    log(`compare: prefill rep ${r + 1}/${REPS}`);
  }
  // Decode in chunks of 4 steps per kernel, alternating.
  for (let c = 0; c < DECODE / 4; c++) {
    for (const [name, e] of Object.entries(engines)) decode[name]!.push(...(await decodeSteps(e, prompt.slice(0, 16 + 4 * c), 4)));
  }
  for (const e of Object.values(engines)) await e.dispose();
  const out: Record<string, unknown> = {};
  for (const name of ['dispatch', 'fused']) {
    out[name] = { prefillTokensPerSecond: +((PREFILL / median(prefill[name]!)) * 1000).toFixed(1), decodeTokensPerSecondMedianStep: +(1000 / median(decode[name]!)).toFixed(2) };
  }
  out.prefillSpeedup = +(median(prefill.dispatch!) / median(prefill.fused!)).toFixed(2);
  out.decodeSpeedup = +(median(decode.dispatch!) / median(decode.fused!)).toFixed(2);
  return out;
}

/** One measured run in this process: load with `kernel`, prefill, decode. */
async function measure(dir: string, kernel: MoeKernelName, cacheDir: string): Promise<Record<string, unknown>> {
  const weightBytes = dirBytes(dir);
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const engine = await loadEngine(dir, { moeKernel: kernel, cacheDir, onCacheProgress: (p) => log(`expert cache: layer ${p.layer}/${p.layers}`) });
  const loadMs = performance.now() - t0;
  const rssLoaded = process.memoryUsage().rss;
  log(`${kernel}: session ready in ${(loadMs / 1000).toFixed(2)} s on ${engine.info.executionProvider.name}`);

  const V = SHAPE.vocab;
  const prompt = Array.from({ length: PREFILL }, (_, i) => (i * 7919 + 13) % V);
  await engine.forward([prompt.slice(0, 16)]); // warm-up
  const on: number[] = [];
  const off: number[] = [];
  for (let r = 0; r < REPS; r++) {
    // Alternate so drift (thermal, other processes) hits both settings alike.
    for (const capture of r % 2 === 0 ? [true, false] : [false, true]) {
      const t = performance.now();
      await engine.forward([prompt], { capture });
      (capture ? on : off).push(performance.now() - t);
    }
    log(`${kernel}: prefill rep ${r + 1}/${REPS}`);
  }
  const prefillOn = (PREFILL / median(on)) * 1000;
  const prefillOff = (PREFILL / median(off)) * 1000;

  const decodeStart = performance.now();
  const gen = await engine.generate({ prompts: [prompt.slice(0, 16)], maxNewTokens: DECODE, stopIds: [], capture: true });
  const decodeMs = performance.now() - decodeStart;
  const prefillPart = (16 / prefillOn) * 1000;
  // generate() feeds each new token once (its routing is captured), so DECODE decode steps follow the prefill.
  const decodeTps = (gen[0]!.generatedIds.length / (decodeMs - prefillPart)) * 1000;
  const steps = await decodeSteps(engine, prompt.slice(0, 16), DECODE);
  const peakRss = process.resourceUsage().maxRSS * 1024;
  const info = engine.info;
  await engine.dispose();
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return {
    moeKernel: info.moeKernel?.name,
    moeKernelReason: info.moeKernel?.reason,
    expertCacheBytes: info.moeKernel?.expertCopyBytes ? mb(info.moeKernel.expertCopyBytes) : undefined,
    expertCacheReused: info.moeKernel?.cacheReused,
    weightsOnDisk: mb(weightBytes),
    sessionCreationSeconds: +(loadMs / 1000).toFixed(2),
    expertCacheMs: +engine.timings.cacheMs.toFixed(0),
    graphBuildMs: +engine.timings.buildMs.toFixed(0),
    onnxruntimeSessionMs: +engine.timings.sessionMs.toFixed(0),
    prefillTokens: PREFILL,
    prefillTokensPerSecondCaptureOn: +prefillOn.toFixed(1),
    prefillTokensPerSecondCaptureOff: +prefillOff.toFixed(1),
    captureOverheadPercent: +((prefillOff / prefillOn - 1) * 100).toFixed(2),
    decodeTokensPerSecond: +decodeTps.toFixed(2),
    decodeTokensPerSecondMedianStep: +(1000 / median(steps)).toFixed(2),
    rssAfterLoad: mb(rssLoaded),
    rssGrowthAtLoad: mb(rssLoaded - rssBefore),
    peakRss: mb(peakRss),
    peakRssOverWeights: +(peakRss / weightBytes).toFixed(2),
    executionProvider: info.executionProvider,
  };
}

function prefillBatch(): number[][] {
  return Array.from({ length: PREFILL_BATCH }, (_, b) => Array.from({ length: PREFILL }, (_, i) => (i * 7919 + 13 + b * 101) % SHAPE.vocab));
}

/** Batched prefill with routing capture in each logits mode, interleaved in one process (fused kernel). */
async function logitsModes(dir: string, cacheDir: string): Promise<Record<string, unknown>> {
  const engine = await loadEngine(dir, { moeKernel: 'fused', cacheDir });
  const batch = prefillBatch();
  const times: Record<string, number[]> = Object.fromEntries(LOGITS_MODES.map((m) => [m, []]));
  for (const m of LOGITS_MODES) await engine.forward(batch.map((r) => r.slice(0, 16)), { logits: m });
  for (let r = 0; r < REPS; r++) {
    // Rotate the order so drift and contention hit every mode alike.
    for (let j = 0; j < LOGITS_MODES.length; j++) {
      const m = LOGITS_MODES[(r + j) % LOGITS_MODES.length]!;
      const t = performance.now();
      await engine.forward(batch, { capture: true, logits: m });
      times[m]!.push(performance.now() - t);
    }
    log(`logits modes: rep ${r + 1}/${REPS}`);
  }
  await engine.dispose();
  const tokens = PREFILL_BATCH * PREFILL;
  const out: Record<string, unknown> = { prefillBatch: `${PREFILL_BATCH} x ${PREFILL}`, logitsBytesAll: `${((tokens * SHAPE.vocab * 4) / 2 ** 20).toFixed(0)} MiB` };
  for (const m of LOGITS_MODES) out[`prefillTokensPerSecond_${m}`] = +((tokens / median(times[m]!)) * 1000).toFixed(1);
  out.speedupLastOverAll = +(median(times.all!) / median(times.last!)).toFixed(3);
  out.speedupNoneOverAll = +(median(times.all!) / median(times.none!)).toFixed(3);
  return out;
}

/** The same batched prefill in one logits mode, alone in this process: its peak RSS. */
async function logitsPeak(dir: string, cacheDir: string, mode: LogitsMode): Promise<Record<string, unknown>> {
  const engine = await loadEngine(dir, { moeKernel: 'fused', cacheDir });
  const batch = prefillBatch();
  const times: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t = performance.now();
    await engine.forward(batch, { capture: true, logits: mode });
    times.push(performance.now() - t);
  }
  await engine.dispose();
  return {
    logits: mode,
    prefillTokensPerSecond: +(((PREFILL_BATCH * PREFILL) / median(times)) * 1000).toFixed(1),
    peakRss: `${((process.resourceUsage().maxRSS * 1024) / 2 ** 20).toFixed(0)} MiB`,
  };
}

type RunKind = MoeKernelName | 'compare' | 'logits-modes' | 'torch' | { logits: LogitsMode };
const RUNS: Record<string, RunKind> = {
  dispatch: 'dispatch',
  'fused-cold': 'fused',
  'fused-warm': 'fused',
  compare: 'compare',
  'logits-modes': 'logits-modes',
  'logits-all': { logits: 'all' },
  'logits-last': { logits: 'last' },
  'logits-none': { logits: 'none' },
  torch: 'torch',
};

async function main(): Promise<void> {
  const child = process.env.BENCH_CHILD_RUN;
  if (child) {
    const kernel = RUNS[child]!;
    const dir = process.env.BENCH_CHILD_DIR!;
    const cache = process.env.BENCH_CHILD_CACHE!;
    const r =
      kernel === 'compare' ? await compare(dir, cache)
      : kernel === 'logits-modes' ? await logitsModes(dir, cache)
      : kernel === 'torch' ? await compareWithTorch(dir, { prefill: PREFILL, decode: DECODE, reps: REPS, threads: TORCH_THREADS, cacheDir: cache, log })
      : typeof kernel === 'object' ? await logitsPeak(dir, cache, kernel.logits)
      : await measure(dir, kernel, cache);
    process.stdout.write(JSON.stringify(r));
    return;
  }
  const keep = process.env.BENCH_MODEL_DIR;
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'routescope-bench-'));
  const cacheDir = keep ? `${keep.replace(/\/+$/, '')}-cache` : mkdtempSync(join(tmpdir(), 'routescope-bench-cache-'));
  try {
    if (!existsSync(join(dir, 'config.json'))) {
      mkdirSync(dir, { recursive: true });
      const t = performance.now();
      writeBenchModel(dir);
      log(`model written in ${((performance.now() - t) / 1000).toFixed(1)} s to ${dir}`);
    }
    const runs = (process.env.BENCH_KERNELS ?? (QUICK ? 'torch' : 'dispatch,fused-cold,fused-warm,compare,logits-modes,logits-all,logits-none,torch')).split(',').filter((r) => r in RUNS);
    const results: Record<string, unknown> = {};
    for (const run of runs) {
      if (run === 'fused-cold') rmSync(join(cacheDir, 'fused-experts'), { recursive: true, force: true });
      log(`run ${run}`);
      const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
        env: { ...process.env, BENCH_CHILD_RUN: run, BENCH_CHILD_DIR: dir, BENCH_CHILD_CACHE: cacheDir, ...(QUICK ? { BENCH_QUICK: '1' } : {}) },
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 16 * 2 ** 20,
      });
      results[run] = JSON.parse(out.toString());
    }
    process.stdout.write(JSON.stringify({ shape: SHAPE, runs: results }, null, 2) + '\n');
  } finally {
    if (!keep) {
      rmSync(dir, { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }
}

// Run only as a script: bench/experiment.ts imports writeBenchModel to benchmark on the same model.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
