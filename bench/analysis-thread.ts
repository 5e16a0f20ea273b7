/**
 * Benchmark: how long a light API call waits while `routescope serve` computes the first analysis of a run never
 * analysed before (a synthetic 100 languages x 48 MoE layers x 128 experts, top-8, imported into a project, as in
 * bench/ui.ts), with the analysis in the server's analysis thread (the default) and on its main thread
 * (ROUTESCOPE_ANALYSIS_THREAD=main, as before the thread). Each mode gets its own copy of the project, so both analyses
 * are cold. While `analysis.overview` is computed, `projects.list` and `runs.list` are called one after the other
 * from this process (the server is a child process); their round trips are the figures. Then a fresh server process
 * is asked for the same run's analysis as soon as it listens (read back from the project database).
 * Run: npx tsx bench/analysis-thread.ts   (BENCH_MODES=worker,main to choose; BENCH_LANGUAGES=100)
 */
import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Workspace } from '../src/api/workspace.js';
import { loadLanguageTable } from '../src/languages/index.js';
import { importRoutingData } from '../src/store/index.js';
import { randomRouting } from '../test/analysis/synthetic.js';
import { apiClient, startServe } from '../e2e/support/browser.js';

const TOKEN = 'bench-token-0123456789abcdef';
const [NL, L, E, K] = [Number(process.env.BENCH_LANGUAGES ?? 100), 48, 128, 8];
const modes = (process.env.BENCH_MODES ?? 'worker,main').split(',') as ('worker' | 'main')[];

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

async function measure(mode: 'worker' | 'main', data: string, ui: string, projectId: string, runId: number): Promise<string> {
  const served = await startServe({ data, ui, token: TOKEN, env: { ROUTESCOPE_ANALYSIS_THREAD: mode } });
  const api = apiClient(() => served.baseUrl, TOKEN);
  let restarted: ChildProcess | undefined;
  const light = (i: number) => (i % 2 ? api('runs.list', { projectId }) : api('projects.list', undefined));
  try {
    // Idle round trips first, and time for serve's warm-up (the language list, the analysis thread) to finish.
    await sleep(3000);
    const idle: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await light(i);
      idle.push(performance.now() - t);
    }
    const loadBefore = load();
    const t0 = performance.now();
    let overviewMs = NaN;
    const overview = api('analysis.overview', { projectId, runId }).then(() => (overviewMs = performance.now() - t0));
    const during: number[] = [];
    while (Number.isNaN(overviewMs)) {
      const t = performance.now();
      await light(during.length);
      // A call answered after the overview was not waiting on it.
      if (Number.isNaN(overviewMs)) during.push(performance.now() - t);
      if (process.env.BENCH_TRACE) process.stdout.write(`  call at ${(t - t0).toFixed(0)} ms took ${(performance.now() - t).toFixed(0)} ms\n`);
      await sleep(20);
    }
    await overview;
    served.process.kill();
    await new Promise((res) => served.process.once('exit', res));
    // A fresh server process reads the kept analysis: asked for as soon as it listens (a page opened at once), so a
    // thread still starting counts.
    const again = await startServe({ data, ui, token: TOKEN, env: { ROUTESCOPE_ANALYSIS_THREAD: mode } });
    restarted = again.process;
    const t1 = performance.now();
    await apiClient(() => again.baseUrl, TOKEN)('analysis.overview', { projectId, runId });
    const keptMs = performance.now() - t1;
    const f = (xs: number[]) => `median ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)}, max ${Math.max(...xs).toFixed(1)} (n ${xs.length})`;
    return [
      `${mode}: cold analysis.overview ${overviewMs.toFixed(0)} ms; load average before ${loadBefore}, after ${load()}`,
      `  light calls during it: ${during.length ? f(during) : 'none answered before it'}`,
      `  light calls idle: ${f(idle)}`,
      `  kept analysis.overview from a fresh server process, asked for as soon as it listens: ${keptMs.toFixed(0)} ms`,
    ].join('\n');
  } finally {
    served.process.kill();
    restarted?.kill();
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'routescope-bench-analysis-thread-'));
  try {
    const ui = join(tmp, 'ui');
    mkdirSync(ui);
    writeFileSync(join(ui, 'index.html'), '<!doctype html>'); // the API is measured, not the page
    const template = join(tmp, 'template');
    const workspace = new Workspace(template);
    const projectId = workspace.create('Bench', 'blank');
    const codes = loadLanguageTable().languages.slice(0, NL).map((l) => l.iso3);
    const routing = randomRouting(codes, { layers: L, experts: E, topK: K, seed: 7, tokens: [20000, 40000], power: 3, floor: 1e-3, source: 'bench' });
    const runId = workspace.with(projectId, (store) => importRoutingData(store, routing, { name: 'synthetic', source: 'import' }));
    process.stdout.write(`synthetic run: ${NL} languages x ${L} layers x ${E} experts, top-${K}, never analysed\n`);
    for (const mode of modes) {
      const data = join(tmp, `data-${mode}`);
      cpSync(template, data, { recursive: true });
      process.stdout.write(`${await measure(mode, data, ui, projectId, runId)}\n`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
