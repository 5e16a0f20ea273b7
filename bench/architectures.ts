/**
 * What the architecture-specific graph parts cost: Mixtral, Phi-3.5-MoE, GPT-OSS and DeepSeek-V2 generated at the same
 * shape (the published configs with their size fields set to SHAPE, F32, per test/support/tiny-models.ts), so
 * the differences are Phi's LayerNorm/biases/LongRoPE/sparsemixer and GPT-OSS's sinks/windows/YaRN/biased
 * clamped-SwiGLU experts, not size. Prefill (BENCH_PREFILL tokens, capture on) and decode (BENCH_DECODE steps
 * with the KV cache) per kernel the architecture supports, medians of BENCH_REPS, all in one process.
 * DeepSeek-V2 keeps its MLA dims (kv_lora_rank 128, nope 32, rope 16, v 32) and one dense first layer.
 * BENCH_ARCHS=phimoe,deepseek_v2 limits the rows.
 *
 * BENCH_REAL=1: the real layer shapes of gpt-oss-20b, Phi-3.5-MoE and DeepSeek-V2-Lite (REAL_CONFIGS with only
 * the depth and vocabulary cut; BF16, written once to $TMPDIR/routescope-bench-<arch>-real-shape, 1.1-2.6 GB
 * each) at fp32, fp16, int8 and int4, two child processes per precision: the first writes the expert cache
 * (timed), the second measures session creation with it ready, prefill and decode tokens/s, peak RSS (VmHWM) and
 * bytes per parameter. A precision an architecture cannot run is listed with the engine's refusal.
 * BENCH_QUICK=1: fp32 and int4 only, 32-token prefill, 4 decode steps; BENCH_PRECISIONS=fp32,int8 picks precisions.
 *
 *   npm run bench:architectures           # or: npx tsx bench/architectures.ts
 *   BENCH_REAL=1 npm run bench:architectures
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEngine } from '../src/engine/index.js';
import type { MoeKernelName } from '../src/engine/graph-builder.js';
import type { Precision } from '../src/engine/precision.js';
import { DecoderSession } from '../src/engine/session.js';
import { seededIds } from '../test/engine/graph-helpers.js';
import { REAL_CONFIGS } from '../test/support/real-configs.js';
import { writeTinyModel, type TinyArch } from '../test/support/tiny-models.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const PREFILL = env('BENCH_PREFILL', 128);
const DECODE = env('BENCH_DECODE', 16);
const REPS = env('BENCH_REPS', 3);
const SHAPE = { hidden_size: 512, num_hidden_layers: 4, num_attention_heads: 8, num_key_value_heads: 2, intermediate_size: 512, num_local_experts: 16, num_experts_per_tok: 2 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function configFor(arch: TinyArch): Record<string, unknown> {
  const c: Record<string, unknown> = { ...structuredClone(REAL_CONFIGS[arch].config), ...SHAPE, vocab_size: 4096 };
  const headDim = SHAPE.hidden_size / SHAPE.num_attention_heads;
  if (arch === 'phimoe') {
    const r = c.rope_scaling as Record<string, unknown>;
    r.short_factor = Array.from({ length: headDim / 2 }, (_, i) => (r.short_factor as number[])[i % 8]);
    r.long_factor = Array.from({ length: headDim / 2 }, (_, i) => (r.long_factor as number[])[i % 8]);
  }
  if (arch === 'deepseek_v2') {
    Object.assign(c, { n_routed_experts: SHAPE.num_local_experts, moe_intermediate_size: SHAPE.intermediate_size, kv_lora_rank: 128, qk_nope_head_dim: 32, qk_rope_head_dim: 16, v_head_dim: 32 });
    delete c.num_local_experts;
  }
  if (arch === 'gpt_oss') {
    c.head_dim = headDim;
    c.experts_per_token = SHAPE.num_experts_per_tok;
    c.layer_types = (c.layer_types as string[]).slice(0, SHAPE.num_hidden_layers);
  }
  for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id']) if (typeof c[k] === 'number' && (c[k] as number) >= 4096) c[k] = 1;
  return c;
}

// ---- Real layer shapes (BENCH_REAL=1) -------------------------------------------------------------------------

/** Which architectures get real-shape rows, and the published checkpoint whose layer shapes they take. */
const REAL_ARCHS: TinyArch[] = ['phimoe', 'gpt_oss', 'deepseek_v2'];
const REAL_PRECISIONS: Precision[] = ['fp32', 'fp16', 'int8', 'int4'];
const REAL_VOCAB = 512;

/**
 * The published config with the real layer shapes kept and only the depth and vocabulary cut: 1 layer (DeepSeek-V2:
 * 2, its first layer is dense), vocab 512, BF16 as released. Phi-3.5-MoE's 64 LongRoPE factors are its 8 quoted
 * ones repeated (values do not change the cost).
 */
function realConfigFor(arch: TinyArch): Record<string, unknown> {
  const c: Record<string, unknown> = { ...structuredClone(REAL_CONFIGS[arch].config), vocab_size: REAL_VOCAB, num_hidden_layers: arch === 'deepseek_v2' ? 2 : 1 };
  if (arch === 'phimoe') {
    const r = c.rope_scaling as Record<string, unknown>;
    const half = (c.hidden_size as number) / (c.num_attention_heads as number) / 2;
    r.short_factor = Array.from({ length: half }, (_, i) => (r.short_factor as number[])[i % 8]);
    r.long_factor = Array.from({ length: half }, (_, i) => (r.long_factor as number[])[i % 8]);
  }
  if (arch === 'gpt_oss') c.layer_types = (c.layer_types as string[]).slice(0, 1);
  for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id']) if (typeof c[k] === 'number' && (c[k] as number) >= REAL_VOCAB) c[k] = 1;
  return c;
}

interface RealRun {
  kernel: string;
  /** Expert cache written by the preparing child (0 when the precision maps the checkpoint as it is). */
  cacheMs: number;
  /** Session creation with the cache ready: spec, graph build, onnxruntime session (weights mapped, casts folded). */
  createMs: number;
  prefillMs: number;
  decodeMs: number;
  hwm: number;
  parameters: number;
}

const peakRss = () => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

/**
 * Child modes, one precision in a fresh process each: `prepare` loads once (writing the expert cache) and reports
 * how long the cache took; `measure` then loads with the cache ready, so its creation time and peak RSS (VmHWM)
 * are those of a normal session, not of the one-off cache conversion.
 */
async function realChild(mode: string, dir: string, precision: Precision, cacheDir: string, prefill: number, decode: number): Promise<void> {
  const t0 = performance.now();
  const s = await DecoderSession.load(dir, { precision, cacheDir });
  const createMs = performance.now() - t0;
  if (mode === 'prepare') {
    process.stdout.write(JSON.stringify({ cacheMs: s.timings.cacheMs }) + '\n');
    return s.dispose();
  }
  const prompt = seededIds(prefill, REAL_VOCAB, 7);
  await s.forward([prompt.slice(0, 4)], { logits: 'last' });
  let t = performance.now();
  let out = await s.forward([prompt], { capture: true, logits: 'last' });
  const prefillMs = performance.now() - t;
  const steps: number[] = [];
  for (let i = 0; i < decode; i++) {
    t = performance.now();
    out = await s.forward([[(i * 13 + 5) % REAL_VOCAB]], { past: out.cache, capture: true, logits: 'last' });
    steps.push(performance.now() - t);
  }
  const run: Omit<RealRun, 'cacheMs'> = {
    kernel: s.info.moeKernel?.name ?? 'none',
    createMs,
    prefillMs,
    decodeMs: median(steps),
    hwm: peakRss(),
    parameters: s.info.precision!.plan.parameters,
  };
  await s.dispose();
  process.stdout.write(JSON.stringify(run) + '\n');
}

async function realShapes(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1';
  const prefill = env('BENCH_PREFILL', quick ? 32 : 128);
  const decode = env('BENCH_DECODE', quick ? 4 : 16);
  const only = process.env.BENCH_ARCHS?.split(',');
  const wanted = process.env.BENCH_PRECISIONS?.split(',');
  const precisions = (quick ? (['fp32', 'int4'] as Precision[]) : REAL_PRECISIONS).filter((p) => !wanted || wanted.includes(p));
  const cacheDir = mkdtempSync(join(tmpdir(), 'rs-bench-arch-real-cache-'));
  const rows: string[] = [];
  try {
    for (const arch of REAL_ARCHS.filter((a) => !only || only.includes(a))) {
      const dir = join(tmpdir(), `routescope-bench-${arch}-real-shape`);
      if (!existsSync(join(dir, 'config.json'))) {
        process.stderr.write(`[bench:architectures] writing ${REAL_CONFIGS[arch].checkpoint}-shaped checkpoint to ${dir} (once)\n`);
        writeTinyModel(dir, arch, { config: realConfigFor(arch), seed: 2, dtype: 'BF16', withoutTokenizer: true });
      }
      for (const p of precisions) {
        let row: string;
        try {
          const child = (mode: string) => {
            const out = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--real-child', mode, dir, p, cacheDir, String(prefill), String(decode)], {
              encoding: 'utf8',
              maxBuffer: 1 << 20,
              stdio: ['ignore', 'pipe', 'pipe'],
            });
            return JSON.parse(out.trim().split('\n').pop()!) as RealRun;
          };
          const { cacheMs } = child('prepare');
          const r = child('measure');
          row =
            `| ${REAL_CONFIGS[arch].checkpoint} | ${p} | ${r.kernel} | ${(cacheMs / 1000).toFixed(1)} s | ${(r.createMs / 1000).toFixed(1)} s | ` +
            `${((prefill / r.prefillMs) * 1000).toFixed(1)} | ${(1000 / r.decodeMs).toFixed(2)} | ${(r.hwm / 2 ** 30).toFixed(2)} GiB | ${(r.hwm / r.parameters).toFixed(2)} |`;
        } catch (err) {
          const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message);
          const reason = /EngineError: ([^\n]+)/.exec(stderr)?.[1] ?? stderr.trim().split('\n').pop();
          row = `| ${REAL_CONFIGS[arch].checkpoint} | ${p} | refused: ${reason} | | | | | | |`;
        }
        rows.push(row);
        process.stderr.write(`[bench:architectures] ${row}\n`);
      }
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
  process.stdout.write(
    `real layer shapes, 1 layer (DeepSeek-V2: 2, the first dense), vocab ${REAL_VOCAB}, BF16; prefill ${prefill} tokens, decode ${decode} steps (median step), one process per precision\n\n` +
      '| layer shapes of | precision | kernel | expert cache (once) | session creation (cache ready) | prefill tok/s | decode tok/s | peak RSS | bytes / parameter |\n|---|---|---|---|---|---|---|---|---|\n' +
      rows.join('\n') +
      '\n',
  );
}

async function main(): Promise<void> {
  if (process.argv[2] === '--real-child') {
    const [mode, dir, precision, cacheDir, prefill, decode] = process.argv.slice(3);
    return realChild(mode!, dir!, precision as Precision, cacheDir!, Number(prefill), Number(decode));
  }
  if (process.env.BENCH_REAL === '1') return realShapes();
  const root = mkdtempSync(join(tmpdir(), 'rs-bench-arch-'));
  const all: [TinyArch, MoeKernelName][] = [
    ['mixtral', 'dispatch'],
    ['mixtral', 'fused'],
    ['phimoe', 'dispatch'],
    ['phimoe', 'fused'],
    ['gpt_oss', 'dispatch'],
    ['deepseek_v2', 'dispatch'],
    ['deepseek_v2', 'fused'],
  ];
  const only = process.env.BENCH_ARCHS?.split(',');
  const cases = all.filter(([a]) => !only || only.includes(a));
  const rows: string[] = [];
  try {
    for (const [arch, kernel] of cases) {
      const dir = join(root, arch);
      writeTinyModel(dir, arch, { config: configFor(arch), seed: 1, withoutTokenizer: true });
      const engine = await loadEngine(dir, { moeKernel: kernel, cacheDir: join(root, 'cache') });
      const prompt = Array.from({ length: PREFILL }, (_, i) => (i * 37 + 11) % 4096);
      await engine.forward([prompt.slice(0, 16)]);
      const prefill: number[] = [];
      const decode: number[] = [];
      for (let r = 0; r < REPS; r++) {
        let t = performance.now();
        let out = await engine.forward([prompt], { capture: true, logits: 'last' });
        prefill.push(performance.now() - t);
        const steps: number[] = [];
        for (let s = 0; s < DECODE; s++) {
          t = performance.now();
          out = await engine.forward([[(s * 13) % 4096]], { past: out.cache, capture: true, logits: 'last' });
          steps.push(performance.now() - t);
        }
        decode.push(median(steps));
      }
      await engine.dispose();
      const p = median(prefill);
      const d = median(decode);
      rows.push(`| ${arch} | ${kernel} | ${p.toFixed(0)} | ${((PREFILL / p) * 1000).toFixed(0)} | ${d.toFixed(1)} | ${(1000 / d).toFixed(1)} |`);
      process.stderr.write(`[bench:architectures] ${rows[rows.length - 1]}\n`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  process.stdout.write(
    `shape ${JSON.stringify(SHAPE)}, vocab 4096, F32; prefill ${PREFILL} tokens, decode ${DECODE} steps, median of ${REPS}\n\n` +
      '| architecture | kernel | prefill ms | prefill tok/s | decode ms/token | decode tok/s |\n|---|---|---|---|---|---|\n' +
      rows.join('\n') +
      '\n',
  );
}

void main();
