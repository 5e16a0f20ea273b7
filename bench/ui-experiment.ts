/**
 * Benchmark: does `routescope serve` keep answering while a workbench experiment runs? On a demo project (the
 * embedded model, a small capture and a saved mask plan), an NLL A/B experiment (baseline, the plan, two random
 * controls) on many UDHR languages runs as a job, and the round trips of light API calls (projects.list,
 * experiments.list, jobs.get) are measured from Node while it runs and when the server is idle, together with the
 * server's event-loop delay (ROUTESCOPE_EVENT_LOOP_MS). The same workload runs twice, on a fresh server each: the
 * experiment's engine in a worker thread (the default), then on serve's main thread (ROUTESCOPE_EXPERIMENT_ENGINE=
 * in-process, as before).
 * Run: npm run bench:ui-experiment   (BENCH_LANGS=N of the demo's UDHR languages, default 39; BENCH_LIMIT=items per
 * language, default 10; BENCH_ENGINES=worker,in-process; BENCH_SAMPLE=0 times the experiment without calls during it)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiArgs, ApiMethod, ApiResult } from '../src/api/contract.js';
import { apiClient, startServe } from '../e2e/support/browser.js';

const TOKEN = 'bench-token-0123456789abcdef';
const LANGS = Number(process.env.BENCH_LANGS ?? 39);
const LIMIT = Number(process.env.BENCH_LIMIT ?? 10);
const ENGINES = (process.env.BENCH_ENGINES ?? 'worker,in-process').split(',');

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const pct = (xs: number[], p: number) => (xs.length ? sorted(xs)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]! : NaN);
const f = (xs: number[]) => `median ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)}, max ${Math.max(...xs).toFixed(1)} (n ${xs.length})`;
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

async function once(engine: string, tmp: string): Promise<void> {
  const served = await startServe({ data: join(tmp, `data-${engine}`), ui: join(tmp, 'ui'), token: TOKEN, env: { ROUTESCOPE_EXPERIMENT_ENGINE: engine, ROUTESCOPE_EVENT_LOOP_MS: '1000' } });
  const loop: number[] = [];
  served.process.stderr!.on('data', (c: Buffer) => {
    for (const m of c.toString().matchAll(/event-loop delay p50 [\d.]+ p99 ([\d.]+)/g)) loop.push(Number(m[1]));
  });
  const api = apiClient(() => served.baseUrl, TOKEN);
  const timed = async <M extends ApiMethod>(m: M, a: ApiArgs<M>): Promise<number> => {
    const t0 = performance.now();
    await api(m, a);
    return performance.now() - t0;
  };
  try {
    const { id: projectId } = await api('projects.create', { name: 'Bench experiment', template: 'demo' });
    const [model] = await api('models.list', { projectId });
    const udhr = (await api('datasets.list', { projectId }))[0]!;
    const waitJob = async (jobId: string): Promise<ApiResult<'jobs.get'>> => {
      for (;;) {
        const j = await api('jobs.get', { jobId });
        if (j.status !== 'running') return j;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const captured = await waitJob((await api('capture.start', { projectId, modelId: model!.id, dataset: 'udhr', languages: udhr.suggested.slice(0, 8), limit: 2 })).id);
    const plan = await api('plans.save', { projectId, runId: captured.runId!, recipe: { type: 'mask', shared: false, targets: [udhr.suggested[0]!], k: 4, thr: 0.05, layers: [0, 1] }, name: 'mask' });

    const sample = async (while_: () => boolean, jobId: string | null) => {
      const r = { projects: [] as number[], experiments: [] as number[], job: [] as number[] };
      while (while_()) {
        r.projects.push(await timed('projects.list', undefined));
        r.experiments.push(await timed('experiments.list', { projectId }));
        if (jobId) r.job.push(await timed('jobs.get', { jobId }));
        await new Promise((res) => setTimeout(res, 200));
      }
      return r;
    };
    const idleUntil = performance.now() + 5000;
    loop.splice(0);
    const idle = await sample(() => performance.now() < idleUntil, null);
    const idleLoop = loop.splice(0);

    const languages = udhr.suggested.slice(0, LANGS);
    const job = await api('experiments.start', { projectId, name: 'bench', dataset: 'udhr', languages, task: 'nll', planIds: [plan.id], randomSeeds: [1, 2], limit: LIMIT });
    const t0 = performance.now();
    const loadAt = load();
    let running = true;
    const ended = waitJob(job.id).then(() => { running = false; });
    // The first seconds load the model (in the worker or on the main thread): measured from the first stored unit on.
    while (running && ((await api('jobs.get', { jobId: job.id })).progress.fraction ?? 0) === 0) await new Promise((r) => setTimeout(r, 100));
    const t1 = performance.now();
    loop.splice(0);
    // BENCH_SAMPLE=0: no calls during the run (its duration without the calls' own CPU on the 2 shared cores).
    const busy = process.env.BENCH_SAMPLE === '0' ? { projects: [], experiments: [], job: [] } : await sample(() => running, job.id);
    await ended;
    const busyLoop = loop.splice(0);
    const seconds = (performance.now() - t0) / 1000;
    const done = await api('jobs.get', { jobId: job.id });
    process.stdout.write(`\n${engine}: experiment ${languages.length} languages x ${LIMIT} items x 4 arms, ${done.status} in ${seconds.toFixed(1)} s, ${((performance.now() - t1) / 1000).toFixed(1)} s from its first stored unit (load average at start ${loadAt}, at end ${load()})\n`);
    process.stdout.write(`  idle:   projects.list ${f(idle.projects)}; experiments.list ${f(idle.experiments)}; event-loop p99/s ${f(idleLoop)}\n`);
    process.stdout.write(`  during: projects.list ${f(busy.projects)}; experiments.list ${f(busy.experiments)}; jobs.get ${f(busy.job)}; event-loop p99/s ${f(busyLoop)}\n`);
  } finally {
    served.process.kill('SIGTERM');
    await new Promise((r) => served.process.once('exit', r));
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'routescope-bench-ui-experiment-'));
  // serve needs a UI folder; the page is not what this measures.
  const ui = join(tmp, 'ui');
  mkdirSync(ui);
  writeFileSync(join(ui, 'index.html'), '<!doctype html>');
  try {
    for (const engine of ENGINES) await once(engine, tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
