/**
 * Long-context benchmark (issue #11, items 1 and 14), each measurement in a fresh child process so peak RSS
 * is its own:
 * - `context`: one forward pass (routing capture on, logits 'none' as capture runs it) over 2,048 / 4,096 /
 *   8,192 / 13,000 tokens of the embedded demo model (resources/demo-model, copied to a temp folder with
 *   max_position_embeddings raised to 16,384), `single` = the whole input in one onnxruntime run (what the
 *   engine did before chunked prefill; prefillChunk set to the length), `chunked` = the default chunking
 *   (attention score budget: 1/32 of the weights, within 64 MiB..1 GiB), `budget<N>` = automatic chunking with a budget of N MiB.
 * - `deep`: session creation (cold and warm expert cache) and a 4,096-token chunked forward on a generated
 *   checkpoint with Qwen3-30B-A3B's depth and width (48 MoE layers x 128 experts, top-8) and a tiny hidden size.
 *
 *   npm run bench:engine-context
 *   BENCH_CONTEXT=2048,4096 BENCH_MODES=single,chunked BENCH_RUNS=context,deep ...
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DecoderSession } from '../src/engine/session.js';
import { writeTinyModel } from '../test/support/tiny-models.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(',').filter(Boolean);

function log(msg: string): void {
  process.stderr.write(`[bench:engine-context] ${msg}\n`);
}

function ids(count: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: count }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s % vocab;
  });
}

const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
const peakRssMiB = () => mib(process.resourceUsage().maxRSS * 1024);

/** Child: one forward over `tokens` tokens; `single` forces one run, `budget<N>` sets the score budget to N MiB. */
async function contextRun(dir: string, cacheDir: string, tokens: number, mode: string): Promise<Record<string, unknown>> {
  const budget = /^budget(\d+)$/.exec(mode);
  const chunking = mode === 'single' ? { prefillChunk: tokens } : budget ? { attentionScoreBudget: Number(budget[1]) * 2 ** 20 } : {};
  const session = await DecoderSession.load(dir, { cacheDir, logits: 'none', ...chunking });
  const rssAfterLoad = mib(process.memoryUsage().rss);
  let runs = 0;
  const ortSession = session.session;
  const real = ortSession.run.bind(ortSession);
  (ortSession as { run: unknown }).run = (feeds: Parameters<typeof real>[0], fetches: string[]) => {
    runs++;
    return real(feeds, fetches);
  };
  const t = performance.now();
  const r = await session.forward([ids(tokens, session.info.vocabSize, tokens)]);
  const seconds = (performance.now() - t) / 1000;
  const experts = r.routing!.length;
  await session.dispose();
  return { tokens, mode, runs, seconds: Number(seconds.toFixed(2)), tokensPerSecond: Math.round(tokens / seconds), rssAfterLoadMiB: rssAfterLoad, peakRssMiB: peakRssMiB(), moeLayersCaptured: experts };
}

/** Child: load (timings) and a chunked forward on the Qwen3-30B-A3B-shaped tiny model. */
async function deepRun(dir: string, cacheDir: string, tokens: number): Promise<Record<string, unknown>> {
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  const session = await DecoderSession.load(dir, { cacheDir, logits: 'none' });
  const loadSeconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const rssAfterLoad = mib(process.memoryUsage().rss);
  const f = performance.now();
  await session.forward([ids(tokens, session.info.vocabSize, 7)]);
  const forwardSeconds = (performance.now() - f) / 1000;
  const out = {
    layers: session.info.numLayers,
    experts: session.info.numExperts,
    topK: session.info.topK,
    moeKernel: session.info.moeKernel?.name,
    cacheReused: session.info.moeKernel?.cacheReused,
    loadSeconds: Number(loadSeconds.toFixed(2)),
    // CPU time of the load, all threads: the figure that does not depend on what else shares the cores.
    loadCpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
    timingsMs: Object.fromEntries(Object.entries(session.timings).map(([k, v]) => [k, Math.round(v)])),
    rssAfterLoadMiB: rssAfterLoad,
    forwardTokens: tokens,
    forwardSeconds: Number(forwardSeconds.toFixed(2)),
    peakRssMiB: peakRssMiB(),
  };
  await session.dispose();
  return out;
}

function child(env: Record<string, string>): Record<string, unknown> {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 2 ** 20,
  });
  return JSON.parse(out.toString()) as Record<string, unknown>;
}

async function main(): Promise<void> {
  const c = process.env.BENCH_CHILD;
  if (c) {
    const [kind, dir, cacheDir, tokens, mode] = JSON.parse(c) as [string, string, string, number, string];
    const r = kind === 'context' ? await contextRun(dir, cacheDir, tokens, mode) : await deepRun(dir, cacheDir, tokens);
    process.stdout.write(JSON.stringify(r));
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'routescope-bench-context-'));
  try {
    const results: Record<string, unknown[]> = {};
    if (list('BENCH_RUNS', 'context,deep').includes('context')) {
      const demo = join(work, 'demo-model');
      cpSync(join(ROOT, 'resources/demo-model'), demo, { recursive: true });
      const config = JSON.parse(readFileSync(join(demo, 'config.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(demo, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: 16384 }));
      results.context = [];
      for (const tokens of list('BENCH_CONTEXT', '2048,4096,8192,13000').map(Number)) {
        for (const mode of list('BENCH_MODES', 'single,chunked')) {
          log(`context ${tokens} tokens, ${mode}`);
          const r = child({ BENCH_CHILD: JSON.stringify(['context', demo, join(work, 'cache'), tokens, mode]) });
          log(JSON.stringify(r));
          results.context.push(r);
        }
      }
    }
    if (list('BENCH_RUNS', 'context,deep').includes('deep')) {
      const dir = join(work, 'qwen3-30b-a3b-shape');
      const shape = { numLayers: 48, numExperts: 128, topK: 8, hiddenSize: 16, numHeads: 2, numKvHeads: 1 };
      writeTinyModel(dir, 'qwen3_moe', { seed: 48, ...shape, fusedExperts: true, configOverrides: { mlp_only_layers: [], max_position_embeddings: 40960 } });
      results.deep = [];
      for (const run of ['cold cache', 'warm cache']) {
        log(`deep model, ${run}`);
        const r = child({ BENCH_CHILD: JSON.stringify(['deep', dir, join(work, 'deep-cache'), 4096, '']) });
        log(JSON.stringify(r));
        results.deep.push({ run, ...r });
      }
    }
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
