/**
 * Benchmark: does the workbench stay responsive while a capture runs? `routescope serve` on a demo project; a small
 * run is captured and analysed first, then a long capture on the embedded demo model (many UDHR languages) runs, and
 * the same things are measured while it runs and when the server is idle:
 *  - in the tab that shows the capture's progress: the main thread's long tasks (PerformanceObserver 'longtask') and
 *    the gaps between animation frames, and the number of progress events the page received;
 *  - round trips of light API calls (runs.list, jobs.get, analysis.layer of the analysed run) from Node;
 *  - a layer switch on the analysed run, open in a second tab;
 *  - the server's event-loop delay (ROUTESCOPE_EVENT_LOOP_MS: serve prints p50/p99/max per second on stderr).
 * Run: npm run bench:ui-capture   (BENCH_LANGS=N of the demo's 39 languages, BENCH_LIMIT=items per language,
 * BENCH_SERVER_PROF=DIR the server's CPU profile; ROUTESCOPE_CAPTURE_ENGINE=in-process for the baseline without the
 * capture's engine thread; needs /usr/bin/chromium)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { ApiArgs, ApiMethod, ApiResult } from '../src/api/contract.js';
import { apiClient, buildRenderer, launchChromium, startServe } from '../e2e/support/browser.js';
import { printProfile } from './cpu-profile.js';

const TOKEN = 'bench-token-0123456789abcdef';
const LANGS = Number(process.env.BENCH_LANGS ?? 39);
const LIMIT = Number(process.env.BENCH_LIMIT ?? 20);

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const pct = (xs: number[], p: number) => (xs.length ? sorted(xs)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]! : NaN);
const f = (xs: number[]) => `median ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)}, max ${Math.max(...xs).toFixed(1)} (n ${xs.length})`;

/** Long tasks and frame gaps of a page from now on; read() returns and resets them. Source text, not a function (tsx helpers). */
const OBSERVE = `(() => {
  const w = window; w.__long = []; w.__gaps = []; w.__on = true;
  new PerformanceObserver((l) => { for (const e of l.getEntries()) w.__long.push(e.duration); }).observe({ type: 'longtask', buffered: false });
  let last = performance.now();
  const tick = (t) => { w.__gaps.push(t - last); last = t; if (w.__on) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
})()`;
const READ = `(() => { const r = { long: window.__long, gaps: window.__gaps }; window.__long = []; window.__gaps = []; return r; })()`;


async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'routescope-bench-ui-capture-'));
  const ui = join(tmp, 'ui');
  await buildRenderer(ui);
  process.env.ROUTESCOPE_EVENT_LOOP_MS = '1000';
  // BENCH_SERVER_PROF=DIR: the server's CPU profile (node --cpu-prof), written when it stops.
  const prof = process.env.BENCH_SERVER_PROF;
  const served = await startServe({ data: join(tmp, 'data'), ui, token: TOKEN, nodeArgs: prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [] });
  const loopLines: { at: number; p99: number; max: number }[] = [];
  served.process.stderr!.on('data', (c: Buffer) => {
    for (const m of c.toString().matchAll(/event-loop delay p50 ([\d.]+) p99 ([\d.]+) max ([\d.]+)/g)) loopLines.push({ at: performance.now(), p99: Number(m[2]), max: Number(m[3]) });
  });
  const api = apiClient(() => served.baseUrl, TOKEN);
  const timed = async <M extends ApiMethod>(m: M, a: ApiArgs<M>): Promise<[number, ApiResult<M>]> => {
    const t0 = performance.now();
    const r = await api(m, a);
    return [performance.now() - t0, r];
  };
  const browser = await launchChromium();
  try {
    const project = await api('projects.create', { name: 'Bench capture', template: 'demo' });
    const projectId = project.id;
    const [model] = await api('models.list', { projectId });
    const udhr = (await api('datasets.list', { projectId }))[0]!;
    const waitJob = async (jobId: string) => {
      for (;;) {
        const j = await api('jobs.get', { jobId });
        if (j.status !== 'running') return j;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    // The run analysed beforehand, whose analysis stays open in a tab during the capture.
    const smallLangs = udhr.suggested.slice(0, 8);
    const small = await waitJob((await api('capture.start', { projectId, modelId: model!.id, dataset: 'udhr', languages: smallLangs, limit: 2, name: 'analysed' })).id);
    const analysedRun = small.runId!;
    await api('analysis.overview', { projectId, runId: analysedRun });

    const analysis = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await analysis.goto(`${served.url.href}#/p/${projectId}/run/${analysedRun}`);
    await analysis.getByTestId('leaf').first().waitFor({ timeout: 60_000 });
    const maxLayer = Number(await analysis.getByTestId('layer-slider').getAttribute('max'));
    await analysis.waitForTimeout(3000); // the page's background fill of the other layers
    let layer = 0;
    const switchLayer = (page: Page) => {
      layer = (layer + 1) % (maxLayer + 1);
      return page.evaluate(`new Promise((res) => {
        const t0 = performance.now();
        const s = document.querySelector('[data-testid=layer-slider]'); s.value = '${layer}'; s.dispatchEvent(new Event('input', { bubbles: true }));
        const check = () => (document.querySelector('[data-testid=layer-pair]')?.dataset.layer === '${layer}' && document.querySelectorAll('[data-testid=leaf]').length === ${smallLangs.length} ? res(performance.now() - t0) : requestAnimationFrame(check));
        requestAnimationFrame(check);
      })`) as Promise<number>;
    };

    const progressPage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    let progressEvents = 0;
    progressPage.on('websocket', (ws) => ws.on('framereceived', (fr) => {
      if (typeof fr.payload === 'string' && fr.payload.includes('"type":"job"')) progressEvents++;
    }));
    await progressPage.goto(`${served.url.href}#/p/${projectId}/capture`);
    await progressPage.getByTestId('capture').waitFor();
    await progressPage.evaluate(OBSERVE);

    /** One sample of each measure; `until` says when to stop (idle: a count; busy: while the job runs). */
    const sample = async (until: () => Promise<boolean>, jobId: string) => {
      const r = { runsList: [] as number[], jobsGet: [] as number[], layer: [] as number[], switches: [] as number[] };
      while (await until()) {
        r.runsList.push((await timed('runs.list', { projectId }))[0]);
        r.jobsGet.push((await timed('jobs.get', { jobId }))[0]);
        r.layer.push((await timed('analysis.layer', { projectId, runId: analysedRun, layer: r.layer.length % (maxLayer + 1) }))[0]);
        r.switches.push(await switchLayer(analysis));
        await new Promise((res) => setTimeout(res, 300));
      }
      return r;
    };
    const report = (label: string, r: Awaited<ReturnType<typeof sample>>, page: { long: number[]; gaps: number[] }, seconds: number) => {
      process.stdout.write(`${label} (${seconds.toFixed(1)} s):\n`);
      process.stdout.write(`  runs.list round trip: ${f(r.runsList)}\n  jobs.get round trip: ${f(r.jobsGet)}\n  analysis.layer (analysed run) round trip: ${f(r.layer)}\n`);
      process.stdout.write(`  layer switch in the analysis tab: ${f(r.switches)}\n`);
      process.stdout.write(`  progress tab: ${page.long.length} long tasks (total ${page.long.reduce((a, b) => a + b, 0).toFixed(0)} ms, max ${Math.max(0, ...page.long).toFixed(0)} ms); frame gaps ${f(page.gaps)}\n`);
    };

    // Idle: the same calls and switches, the progress tab open, nothing captured.
    let n = 0;
    const ti = performance.now();
    await progressPage.evaluate(READ);
    loopLines.splice(0);
    const idle = await sample(async () => n++ < 20, small.id);
    const idleSeconds = (performance.now() - ti) / 1000;
    const idlePage = (await progressPage.evaluate(READ)) as { long: number[]; gaps: number[] };
    const idleLoop = loopLines.splice(0);

    // Busy: a long capture over many languages.
    // The demo's suggested languages (UDHR's held-out articles of some others exceed the demo model's 2048 positions).
    const langs = udhr.suggested.slice(0, LANGS);
    const tb = performance.now();
    const job = await api('capture.start', { projectId, modelId: model!.id, dataset: 'udhr', split: 'all', languages: langs, limit: LIMIT, batchSize: 8, name: 'long' });
    await progressPage.getByTestId('progress-bar').waitFor({ timeout: 30_000 });
    await progressPage.evaluate(READ);
    loopLines.splice(0);
    // BENCH_PROFILE=1: the progress tab's CPU profile during the capture, top functions by self time.
    const profiler = process.env.BENCH_PROFILE ? await progressPage.context().newCDPSession(progressPage) : null;
    if (profiler) await Promise.all([profiler.send('Profiler.enable'), profiler.send('Profiler.start')]);
    const busy = await sample(async () => (await api('jobs.get', { jobId: job.id })).status === 'running', job.id);
    const busySeconds = (performance.now() - tb) / 1000;
    const busyPage = (await progressPage.evaluate(READ)) as { long: number[]; gaps: number[] };
    const busyLoop = loopLines.splice(0);
    if (profiler) printProfile((await profiler.send('Profiler.stop')).profile, 15);
    const done = await waitJob(job.id);

    process.stdout.write(`demo model, capture of ${langs.length} languages x ${LIMIT} items (${done.progress.sequencesDone} sequences, ${done.status}${done.error ? `: ${done.error}` : ""}); analysed run ${analysedRun} of ${smallLangs.length} languages\n`);
    report('idle', idle, idlePage, idleSeconds);
    process.stdout.write(`  server event-loop delay per second: p99 ${f(idleLoop.map((l) => l.p99))}; max ${f(idleLoop.map((l) => l.max))}\n`);
    report('during the capture', busy, busyPage, busySeconds);
    process.stdout.write(`  server event-loop delay per second: p99 ${f(busyLoop.map((l) => l.p99))}; max ${f(busyLoop.map((l) => l.max))}\n`);
    process.stdout.write(`  progress events received by the progress tab: ${progressEvents} (${(progressEvents / busySeconds).toFixed(1)}/s)\n`);
  } finally {
    await browser.close();
    served.process.kill();
    await new Promise((res) => served.process.once('exit', res));
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
