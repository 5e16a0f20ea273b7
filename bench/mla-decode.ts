/**
 * DeepSeek-V2 decode cost against context length: the DeepSeek-V2-Lite-shaped checkpoint of bench:architectures
 * (BENCH_REAL=1 writes it; 2 layers, both with multi-head latent attention, vocab 512, BF16), fp32 on the
 * dispatch kernel (no expert cache needed). Prefills BENCH_CONTEXT tokens, then times BENCH_DECODE one-token
 * steps (median). Decoding from the compressed cache has to turn the latent of every cached position back into
 * per-head keys and values (kv_b_proj) unless W_UK / W_UV are absorbed into the query and the output, so the
 * step time against context length shows which form the graph runs.
 *
 *   BENCH_CONTEXT=512 npx tsx bench/mla-decode.ts
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecoderSession } from '../src/engine/session.js';
import { seededIds } from '../test/engine/graph-helpers.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const DIR = join(tmpdir(), 'routescope-bench-deepseek_v2-real-shape');
const contexts = (process.env.BENCH_CONTEXT ?? '64,512').split(',').map(Number);
const DECODE = env('BENCH_DECODE', 8);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (!existsSync(join(DIR, 'config.json'))) throw new Error(`${DIR} is missing: run BENCH_REAL=1 BENCH_ARCHS=deepseek_v2 npm run bench:architectures first`);
  const s = await DecoderSession.load(DIR, { precision: 'fp32', moeKernel: 'dispatch' });
  const rows: string[] = [];
  try {
    for (const context of contexts) {
      const prompt = seededIds(context, s.info.vocabSize, 3);
      let t = performance.now();
      let out = await s.forward([prompt], { capture: false, logits: 'last' });
      const prefillMs = performance.now() - t;
      const steps: number[] = [];
      for (let i = 0; i < DECODE; i++) {
        t = performance.now();
        out = await s.forward([[(i * 7 + 3) % s.info.vocabSize]], { past: out.cache, capture: false, logits: 'last' });
        steps.push(performance.now() - t);
      }
      rows.push(`| ${context} | ${((context / prefillMs) * 1000).toFixed(1)} | ${median(steps).toFixed(1)} | ${(1000 / median(steps)).toFixed(2)} |`);
      process.stderr.write(`[bench:mla-decode] ${rows[rows.length - 1]}\n`);
    }
  } finally {
    await s.dispose();
  }
  process.stdout.write('| context | prefill tok/s | decode ms/step | decode tok/s |\n|---|---|---|---|\n' + rows.join('\n') + '\n');
}

await main();
