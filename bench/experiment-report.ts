/**
 * Benchmark: opening an experiment's results (experiments.get) on a synthetic completed experiment of 12 arms x 10
 * languages x N items (BENCH_ITEMS, default 60) in a real project database: the first open (the CLI-equal report
 * computed: 10,000 paired-bootstrap resamples per comparison), then a new service on the same database (a restarted
 * server: the report read back from experiment_derived), then the same service again (in memory).
 * Run: npx tsx bench/experiment-report.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventHub } from '../src/api/events.js';
import { ExperimentService } from '../src/api/experiments-service.js';
import { JobRegistry } from '../src/api/jobs.js';
import { Workspace } from '../src/api/workspace.js';
import { parseExperimentSpec } from '../src/eval/experiment/index.js';
import { createExperiment, setExperimentStatus, writeResults, type ExperimentResult } from '../src/store/index.js';
const dir = mkdtempSync(join(tmpdir(), 'routescope-bench-exp-report-'));
const ws = new Workspace(join(dir, 'data'));
const pid = ws.create('E', 'blank');
const LANGS = ['eng', 'swh', 'fra', 'deu', 'spa', 'rus', 'yor', 'hin', 'por', 'ita'];
const ARMS = ['baseline', ...Array.from({ length: 11 }, (_, i) => `plan-${i}`)];
const N = Number(process.env.BENCH_ITEMS ?? 60);
const spec = parseExperimentSpec({ name: 'big', model: join(dir, 'm'), task: 'nll', dataset: { kind: 'jsonl', path: join(dir, 'd.jsonl'), languages: LANGS },
  arms: ARMS.map((a) => (a === 'baseline' ? { kind: 'baseline' } : { name: a, kind: 'plan', plan: { '1': [0, 1] } })) });
let id = 0;
ws.with(pid, (store) => {
  id = createExperiment(store, { name: 'big', task: 'nll', spec, specHash: 'h', modelPath: 'm', modelFingerprint: 'm', datasetFingerprint: 'd', unitsTotal: ARMS.length * LANGS.length,
    arms: ARMS.map((a, i) => ({ index: i, name: a, kind: i ? 'plan' : 'baseline', source: 'x', plan: i ? { '1': [0, 1] } : null, planHash: null, experts: [] })) });
  let seed = 1;
  const r = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (const a of ARMS) for (const l of LANGS) writeResults(store, id, Array.from({ length: N }, (_, i) => ({ arm: a, language: l, itemId: `${l}${i}`, itemIndex: i, sample: 0, seed: null, prompt: 'p', output: null, extracted: null, score: 2 + r(), correct: null, noAnswer: null, detectedLang: null, consistent: null, loglik: null, numTokens: 10, finishReason: null, routing: null, extra: null }) as ExperimentResult));
  setExperimentStatus(store, id, 'completed');
});
const svc = () => new ExperimentService(ws, new JobRegistry(new EventHub(), ws));
let t = performance.now();
svc().get(pid, id); console.log(`${ARMS.length} arms x ${LANGS.length} languages x ${N} items: first open (report computed) ${(performance.now() - t).toFixed(0)} ms`);
t = performance.now();
const s2 = svc(); s2.get(pid, id); console.log(`new service (kept report read) ${(performance.now() - t).toFixed(0)} ms, computations ${s2.computations}, kept reads ${s2.keptReads}`);
t = performance.now();
s2.get(pid, id); console.log(`same service again (in memory) ${(performance.now() - t).toFixed(0)} ms`);
rmSync(dir, { recursive: true, force: true });
