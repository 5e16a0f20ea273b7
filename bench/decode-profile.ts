/**
 * Where decode time goes at batch 1 vs batch 8 (issue #8's "batch 8 gives 3x the tokens/s of batch 1"): per
 * decode step: generate's wall time against the same step as a bare engine.forward call (what generate's own loop
 * adds), how many distinct experts the step's tokens route to per MoE layer, the bytes of expert weights that
 * makes onnxruntime read per step, and hence the effective read bandwidth.
 *
 *   npm run bench:decode-profile
 *   BENCH_MODELS=demo,engine BENCH_MODEL_DIR=/tmp/rs-bench BENCH_TOKENS=16 BENCH_PROMPT=40
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadEngine, type Engine } from '../src/engine/index.js';
import { writeBenchModel } from './engine.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const DEMO_DIR = resolve(import.meta.dirname, '../resources/demo-model');
const log = (msg: string) => process.stderr.write(`[bench:decode-profile] ${msg}\n`);

const prompts = (B: number, T: number, vocab: number) => Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, i) => 1 + ((b * 7919 + i * 104729) % (vocab - 2))));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface BatchProfile {
  batch: number;
  /** Median decode step of generate (capture off). */
  stepMs: number;
  tokensPerSecond: number;
  /** Median decode step as a bare engine.forward call: generate's own per-step cost is stepMs minus this. */
  forwardStepMs: number;
  distinctExpertsPerLayer: number;
  expertMBPerStep: number;
  expertGBPerSecond: number;
}

async function profile(engine: Engine, B: number, promptLen: number, steps: number, expertBytes: number): Promise<BatchProfile> {
  const { vocabSize, moeLayers } = engine.info;
  const ps = prompts(B, promptLen, vocabSize);
  await engine.generate({ prompts: ps, maxNewTokens: 2, capture: false, stopIds: [] });
  // Timing run: no routing fetched (the engine's cheapest decode), per-step wall time from generate's progress.
  const stamps: number[] = [];
  await engine.generate({ prompts: ps, maxNewTokens: steps, capture: false, stopIds: [], onProgress: () => stamps.push(performance.now()) });
  const decode = stamps.slice(1).map((s, i) => s - stamps[i]!);
  const stepMs = median(decode);
  // The same decode as bare engine.forward calls (greedy argmax, masks grown in place): what generate adds on top
  // of a forward pass is the difference.
  let r = await engine.forward(ps, { capture: false, logits: 'last' });
  const mask = ps.map((p) => p.map(() => 1));
  const forwardMs: number[] = [];
  for (let step = 0; step < steps; step++) {
    const next = ps.map((_, b) => {
      const row = r.logits.subarray(b * vocabSize, (b + 1) * vocabSize);
      let best = 0;
      for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
      return [best];
    });
    mask.forEach((m) => m.push(1));
    const t = performance.now();
    r = await engine.forward(next, { past: r.cache, attentionMask: mask, positionIds: ps.map((p) => [p.length + step]), capture: false, logits: 'last' });
    forwardMs.push(performance.now() - t);
  }
  const forwardStepMs = median(forwardMs);
  // Routing run: distinct experts per decode step and layer across the batch (generated tokens only).
  const perStep = new Map<number, Set<number>[]>();
  await engine.generate({
    prompts: ps, maxNewTokens: steps, capture: true, routerLogits: false, keepRouting: false, stopIds: [],
    onTokenRouting: (_b, position, r) => {
      if (position < promptLen) return;
      const sets = perStep.get(position) ?? moeLayers.map(() => new Set<number>());
      perStep.set(position, sets);
      r.experts.forEach((ids, l) => ids.forEach((e) => sets[l]!.add(e)));
    },
  });
  const distinct = [...perStep.values()].flatMap((sets) => sets.map((s) => s.size));
  const distinctExpertsPerLayer = distinct.reduce((a, b) => a + b, 0) / distinct.length;
  const expertMBPerStep = (distinctExpertsPerLayer * moeLayers.length * expertBytes) / 1e6;
  return {
    batch: B, stepMs, tokensPerSecond: (1000 * B) / stepMs, forwardStepMs, distinctExpertsPerLayer,
    expertMBPerStep, expertGBPerSecond: expertMBPerStep / stepMs,
  };
}

async function run(name: string, dir: string, cacheDir: string | undefined) {
  const engine = await loadEngine(dir, { executionProvider: 'cpu', ...(cacheDir ? { cacheDir } : {}) });
  try {
    const { numExperts, topK, hiddenSize } = engine.info;
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>;
    const width = config.moe_intermediate_size ?? config.intermediate_size ?? 0;
    // fc1 (gate and up, [2I, H]) and fc2 ([H, I]) in fp32 per expert.
    const expertBytes = 3 * hiddenSize * width * 4;
    const steps = env('BENCH_TOKENS', 16);
    const promptLen = env('BENCH_PROMPT', 40);
    const out = [];
    for (const B of [1, 8]) {
      log(`${name}: batch ${B}, ${steps} steps`);
      out.push(await profile(engine, B, promptLen, steps, expertBytes));
    }
    const uniform8 = numExperts * (1 - (1 - topK / numExperts) ** 8);
    return { model: name, kernel: engine.info.moeKernel, numExperts, topK, expertMB: expertBytes / 1e6, uniformDistinctAtBatch8: uniform8, batches: out, speedup: out[1]!.tokensPerSecond / out[0]!.tokensPerSecond };
  } finally {
    await engine.dispose();
  }
}

const models = (process.env.BENCH_MODELS ?? 'demo,engine').split(',');
const tmp = mkdtempSync(join(tmpdir(), 'routescope-decode-profile-'));
const results: unknown[] = [];
try {
  if (models.includes('demo')) results.push(await run('demo', DEMO_DIR, undefined));
  if (models.includes('engine')) {
    const keep = process.env.BENCH_MODEL_DIR;
    const dir = keep ?? join(tmp, 'engine-model');
    if (!existsSync(join(dir, 'config.json'))) {
      mkdirSync(dir, { recursive: true });
      writeBenchModel(dir);
    }
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (!existsSync(join(dir, f))) copyFileSync(join(DEMO_DIR, f), join(dir, f));
    results.push(await run('engine-bench', dir, keep ? `${keep.replace(/\/+$/, '')}-cache` : join(tmp, 'cache')));
  }
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
