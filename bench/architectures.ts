/**
 * What the architecture-specific graph parts cost: Mixtral, Phi-3.5-MoE, GPT-OSS and DeepSeek-V2 generated at the same
 * shape (the published configs with their size fields set to SHAPE, F32, per test/support/tiny-models.ts), so
 * the differences are Phi's LayerNorm/biases/LongRoPE/sparsemixer and GPT-OSS's sinks/windows/YaRN/biased
 * clamped-SwiGLU experts, not size. Prefill (BENCH_PREFILL tokens, capture on) and decode (BENCH_DECODE steps
 * with the KV cache) per kernel the architecture supports, medians of BENCH_REPS, all in one process.
 * DeepSeek-V2 keeps its MLA dims (kv_lora_rank 128, nope 32, rope 16, v 32) and one dense first layer.
 * BENCH_ARCHS=phimoe,deepseek_v2 limits the rows.
 *
 *   npm run bench:architectures           # or: npx tsx bench/architectures.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEngine } from '../src/engine/index.js';
import type { MoeKernelName } from '../src/engine/graph-builder.js';
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

async function main(): Promise<void> {
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
