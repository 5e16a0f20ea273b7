/**
 * Where a routing-capture prefill spends its time, by onnxruntime operator type (and MoE vs attention vs the
 * rest): the same session the engine builds, with onnxruntime's profiler on. Used to explain the PyTorch
 * comparison of bench:engine (`torch`); see docs/benchmarks-engine.md.
 *
 *   BENCH_MODEL_DIR=/tmp/rs-bench npm run bench:prefill-profile   # a folder bench:engine wrote (and its -cache)
 *   BENCH_PREFILL=128 BENCH_REPS=3 BENCH_THREADS=1 ...
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DecoderSession } from '../src/engine/session.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const dir = process.env.BENCH_MODEL_DIR;
if (!dir) throw new Error('set BENCH_MODEL_DIR to a model folder (e.g. the one `BENCH_MODEL_DIR=... npm run bench:engine` wrote)');
const PREFILL = env('BENCH_PREFILL', 128);
const REPS = env('BENCH_REPS', 3);
const THREADS = env('BENCH_THREADS', 1);
const out = mkdtempSync(join(tmpdir(), 'routescope-prefill-profile-'));

// The engine creates its session itself: switch the profiler on for the sessions created from here on.
const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (m: Uint8Array, o: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
(ort.InferenceSession as unknown as { create: typeof create }).create = (m, o) => create(m, { ...o, enableProfiling: true, profileFilePrefix: join(out, 'prefill') });

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

try {
  const session = await DecoderSession.load(dir, { cacheDir: `${dir.replace(/\/+$/, '')}-cache`, threads: THREADS, precision: 'fp32' });
  const prompt = Array.from({ length: PREFILL }, (_, i) => (i * 7919 + 13) % session.info.vocabSize);
  await session.forward([prompt.slice(0, 16)], { logits: 'last' });
  const wall: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t = performance.now();
    await session.forward([prompt], { capture: true, logits: 'last' });
    wall.push(performance.now() - t);
  }
  // onnxruntime-node's endProfiling() returns nothing: the file is the one under the prefix.
  session.session.endProfiling();
  await session.dispose();
  const file = readdirSync(out).find((f) => f.startsWith('prefill'));
  if (!file) throw new Error(`onnxruntime wrote no profile under ${out}`);
  const events = JSON.parse(readFileSync(join(out, file), 'utf8')) as ProfileEvent[];
  // Node events of the last REPS runs (the warm-up run comes first), summed per operator type.
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const perOp = new Map<string, { us: number; count: number }>();
  let nodeUs = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    const s = perOp.get(op) ?? { us: 0, count: 0 };
    s.us += e.dur;
    s.count++;
    perOp.set(op, s);
    nodeUs += e.dur;
  }
  const runUs = runs.reduce((a, e) => a + e.dur, 0);
  const rows = [...perOp.entries()].sort((a, b) => b[1].us - a[1].us);
  process.stdout.write(
    JSON.stringify(
      {
        prefillTokens: PREFILL,
        threads: THREADS,
        wallMsPerPrefill: wall.map((w) => +w.toFixed(0)),
        onnxruntimeRunMsPerPrefill: runs.map((e) => +(e.dur / 1000).toFixed(0)),
        nodeMsTotal: +(nodeUs / 1000).toFixed(0),
        runMsTotal: +(runUs / 1000).toFixed(0),
        byOperator: rows.map(([op, s]) => ({ op, ms: +(s.us / 1000).toFixed(1), share: +((s.us / nodeUs) * 100).toFixed(1), calls: s.count })),
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}
