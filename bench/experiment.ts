/**
 * Experiment runner throughput: a greedy `generate` experiment (MGSM-style questions, max new tokens fixed) with
 * four arms (baseline, an all-zero plan that feeds steering inputs without changing routing, a steering plan, a
 * masking plan), run through runExperiment exactly as `routescope
 * experiment run` runs it, on the embedded demo model and on the engine benchmark's generated model (bench/engine.ts:
 * 8 layers, hidden 1024, 64 experts, top-8, F32). Per arm: items/s and generated tokens/s from the time of each
 * committed unit (units alternate arms, so steering on vs off is compared interleaved, in one process); then batch 8
 * vs batch 1 generated tokens/s (baseline only).
 *
 *   npm run bench:experiment
 *   BENCH_MODELS=demo,engine  BENCH_MODEL_DIR=/tmp/rs-bench (reuse the engine benchmark's model)
 *   BENCH_ITEMS=16 BENCH_TOKENS=32 ...
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseExperimentSpec, runExperiment } from '../src/eval/experiment/index.js';
import { createScorer } from '../src/eval/scoring/index.js';
import { loadEngine, type Engine } from '../src/engine/index.js';
import { experimentResults, Store } from '../src/store/index.js';
import { writeBenchModel } from './engine.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const DEMO_DIR = resolve(import.meta.dirname, '../resources/demo-model');

function log(msg: string): void {
  process.stderr.write(`[bench:experiment] ${msg}\n`);
}

function writeQuestions(dir: string, n: number): void {
  mkdirSync(dir, { recursive: true });
  const rows = Array.from({ length: n }, (_, i) => `Janet has ${i + 3} ducks and each lays ${i % 5 + 1} eggs a day. She eats ${i % 3} of them. How many eggs does she sell every day?\t${(i + 3) * ((i % 5) + 1) - (i % 3)}`);
  writeFileSync(join(dir, 'mgsm_en.tsv'), rows.join('\n') + '\n');
}

interface ArmTiming {
  units: number;
  items: number;
  tokens: number;
  seconds: number;
}

async function runSpec(engine: Engine, modelDir: string, dataDir: string, db: string, arms: unknown[], batch: number, items: number, tokens: number) {
  const spec = parseExperimentSpec({
    name: `bench-b${batch}`, model: modelDir, task: 'generate', dataset: { kind: 'mgsm', path: dataDir, languages: ['en'], limit: items }, batch_size: batch,
    decoding: { greedy: true, max_new_tokens: tokens }, arms,
  });
  const store = Store.open(db);
  const scorer = await createScorer();
  const timing: Record<string, ArmTiming> = {};
  let last = 0;
  const unitTimes: { arm: string; seconds: number; resultsDone: number }[] = [];
  try {
    const r = await runExperiment({
      store, spec, engine, scorer,
      // The runner logs just before its first unit: the clock starts there (loading and the no-op check excluded).
      log: () => (last = performance.now()),
      onProgress: (p) => {
        const now = performance.now();
        unitTimes.push({ arm: p.arm, seconds: (now - last) / 1000, resultsDone: p.resultsDone });
        last = now;
      },
    });
    const rows = experimentResults(store, r.experimentId);
    // Attribute each unit's generated tokens: units run arm by arm over the same item batches.
    const perUnitTokens: number[] = [];
    const armsOrder = spec.arms.map((a) => ('name' in a ? a.name : 'baseline'));
    for (let start = 0; start < items; start += batch) {
      const ids = new Set(Array.from({ length: Math.min(batch, items - start) }, (_, i) => String(start + i)));
      for (const arm of armsOrder) perUnitTokens.push(rows.filter((x) => x.arm === arm && ids.has(x.itemId)).reduce((s, x) => s + x.numTokens, 0));
    }
    unitTimes.forEach((u, i) => {
      const t = (timing[u.arm] ??= { units: 0, items: 0, tokens: 0, seconds: 0 });
      t.units++;
      t.items += Math.min(batch, items - Math.floor(i / armsOrder.length) * batch);
      t.tokens += perUnitTokens[i]!;
      t.seconds += u.seconds;
    });
  } finally {
    store.close();
  }
  return Object.fromEntries(Object.entries(timing).map(([arm, t]) => [arm, { ...t, itemsPerSecond: t.items / t.seconds, tokensPerSecond: t.tokens / t.seconds }]));
}

async function benchModel(name: string, modelDir: string, items: number, tokens: number, tmp: string) {
  const engine = await loadEngine(modelDir, { executionProvider: 'cpu' });
  try {
    const { moeLayers, numExperts } = engine.info;
    const mid = moeLayers[Math.floor(moeLayers.length / 2)]!;
    const steerLayers = moeLayers.slice(Math.floor(moeLayers.length / 3), Math.ceil((2 * moeLayers.length) / 3));
    // Strong enough to change routing (the runner refuses no-op arms): scale 0.5 on a quarter of the experts.
    const scale = Object.fromEntries(Array.from({ length: Math.max(1, numExperts >> 2) }, (_, e) => [String(e), 0.5]));
    const steer = { format: 'routescope-plan', version: 1, layers: Object.fromEntries(steerLayers.map((l) => [String(l), { scale }])) };
    const mask = { [String(mid)]: [0, 1] };
    const dataDir = join(tmp, `${name}-data`);
    writeQuestions(dataDir, items);
    // 'inputs-on': steering inputs fed (all zero) but routing unchanged, the pure cost of steering on vs off;
    // 'steer' and 'mask' also change which experts run, which changes the work itself.
    const arms = [
      { kind: 'baseline' }, { name: 'inputs-on', kind: 'plan', plan: { format: 'routescope-plan', version: 1, layers: {} }, allow_noop: true },
      { name: 'steer', kind: 'plan', plan: steer }, { name: 'mask', kind: 'plan', plan: mask },
    ];
    // Warm the session (first-run allocations) so the first timed unit is not charged for it.
    await engine.generate({ prompts: Array.from({ length: 8 }, (_, b) => Array.from({ length: 40 }, (_, i) => 1 + ((b * 7 + i * 13) % 1000))), maxNewTokens: 4 });
    log(`${name}: ${items} items x 3 arms, batch 8, ${tokens} new tokens`);
    const batched = await runSpec(engine, modelDir, dataDir, join(tmp, `${name}-b8.db`), arms, 8, items, tokens);
    log(`${name}: batch 1, baseline only`);
    const single = await runSpec(engine, modelDir, dataDir, join(tmp, `${name}-b1.db`), [{ kind: 'baseline' }], 1, Math.min(items, 8), tokens);
    const base = batched.baseline!;
    return {
      model: name, items, maxNewTokens: tokens, arms: batched,
      steeringInputsCost: 1 - batched['inputs-on']!.tokensPerSecond / base.tokensPerSecond,
      steerArmCost: 1 - batched.steer!.tokensPerSecond / base.tokensPerSecond,
      batch1: single.baseline,
      batch8OverBatch1: base.tokensPerSecond / single.baseline!.tokensPerSecond,
    };
  } finally {
    await engine.dispose();
  }
}

async function main(): Promise<void> {
  const models = (process.env.BENCH_MODELS ?? 'demo,engine').split(',');
  const tmp = mkdtempSync(join(tmpdir(), 'routescope-bench-exp-'));
  const results: unknown[] = [];
  try {
    if (models.includes('demo')) results.push(await benchModel('demo', DEMO_DIR, env('BENCH_ITEMS', 16), env('BENCH_TOKENS', 32), tmp));
    if (models.includes('engine')) {
      const keep = process.env.BENCH_MODEL_DIR;
      const dir = keep ?? join(tmp, 'engine-model');
      if (!existsSync(join(dir, 'config.json'))) {
        mkdirSync(dir, { recursive: true });
        const t = performance.now();
        writeBenchModel(dir);
        log(`engine benchmark model written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      }
      // The generated checkpoint has no tokenizer; the demo model's byte-level BPE (3072 ids < its 32000) serves.
      for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (!existsSync(join(dir, f))) copyFileSync(join(DEMO_DIR, f), join(dir, f));
      results.push(await benchModel('engine-bench', dir, env('BENCH_ITEMS_ENGINE', 8), env('BENCH_TOKENS_ENGINE', 16), tmp));
    }
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
