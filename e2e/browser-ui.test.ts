import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { AnalysisOverview, ApiArgs, ApiMethod, ApiResult, DemoInfo, JobInfo, LayerDetail, RunSummary } from '../src/api/contract.js';
import type { DemoSummary } from '../src/demo/summary.js';
import { loadRunRouting } from '../src/store/index.js';
import { plainLayerCounts, plainSteerShared } from '../test/analysis/plain-specialisation.js';

const root = resolve(import.meta.dirname, '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MODEL = join(root, 'resources/demo-model/model.safetensors');

const fixed = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));

// The browser transport: the real renderer bundle served by `routescope serve` (data in a temporary folder),
// driven in Debian's Chromium.
describe.skipIf(!existsSync(CHROMIUM))(`workbench UI in a browser (needs ${CHROMIUM}; .ci/run installs it)`, () => {
  let tmp: string;
  let dataDir: string;
  let server: ChildProcess;
  let baseUrl: string;
  let browser: Browser;

  async function api<M extends ApiMethod>(method: M, args: ApiArgs<M>): Promise<ApiResult<M>> {
    const body = (await (await fetch(`${baseUrl}api/${method}`, { method: 'POST', body: JSON.stringify(args ?? null) })).json()) as {
      ok: boolean; result: ApiResult<M>; error?: string;
    };
    if (!body.ok) throw new Error(body.error);
    return body.result;
  }

  async function errorBanner(page: Page): Promise<string> {
    await page.getByTestId('error').waitFor();
    return (await page.getByTestId('error').textContent()) ?? '';
  }

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'routescope-ui-'));
    const outDir = join(tmp, 'ui');
    dataDir = join(tmp, 'data');
    await build({
      root: join(root, 'src/renderer'),
      logLevel: 'error',
      plugins: [svelte()],
      build: { outDir, emptyOutDir: true },
    });
    server = spawn(process.execPath, [join(root, 'bin/routescope.mjs'), 'serve', '--port', '0', '--ui', outDir, '--data', dataDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    baseUrl = await new Promise<string>((res, rej) => {
      let err = '';
      server.stderr!.on('data', (c: Buffer) => {
        err += c.toString();
        const m = /at (http:\/\/\S+)/.exec(err);
        if (m) res(m[1]!);
      });
      server.once('exit', (code) => rej(new Error(`serve exited with ${code}: ${err}`)));
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    server?.kill();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('renders the app and shows what the API reports', async () => {
    const info = await api('app.info', undefined);
    expect(info.dataDir).toBe(dataDir);
    const page = await browser.newPage();
    await page.goto(baseUrl);
    await page.getByTestId('app-info').waitFor();
    expect(await page.getByTestId('ep').textContent()).toBe(info.executionProvider.name);
    expect(await page.textContent('h1')).toBe('Routescope');
    await page.close();
  });

  it('refuses unknown API methods and bad bodies with a clear error', async () => {
    const unknown = await fetch(`${baseUrl}api/no.such`, { method: 'POST', body: 'null' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/unknown API method no\.such/);
    const bad = await fetch(`${baseUrl}api/app.info`, { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
    const escape = await fetch(`${baseUrl}..%2f..%2fpackage.json`);
    expect([403, 404]).toContain(escape.status);
  });

  it('shows a clear error when the page asks the API for something invalid', async () => {
    const page = await browser.newPage();
    await page.goto(`${baseUrl}#run=abc`);
    expect(await errorBanner(page)).toMatch(/analysis\.overview: runId must be a positive integer, got "abc"/);
    await page.goto(`${baseUrl}#run=9999`);
    await page.reload();
    expect(await errorBanner(page)).toMatch(/run 9999 does not exist|no database yet .* run the demo first/);
    await page.close();
  });

  describe.skipIf(!existsSync(MODEL))(`the demo on the embedded model${existsSync(MODEL) ? '' : ` — skipped: ${MODEL} is missing`}`, () => {
    let demoInfo: DemoInfo;
    let page: Page;
    let eventFrames = 0;

    beforeAll(async () => {
      demoInfo = await api('demo.info', undefined);
      page = await browser.newPage({ acceptDownloads: true });
      page.on('websocket', (ws) => ws.on('framereceived', (f) => {
        if (typeof f.payload === 'string' && f.payload.includes('"type":"job"')) eventFrames++;
      }));
    });
    afterAll(() => page?.close());

    it('refuses a bad option from the form with the back end\'s message', async () => {
      await page.goto(baseUrl);
      await page.getByTestId('start').waitFor();
      await page.locator('details.options summary').click();
      await page.getByTestId('limit').fill('0');
      await page.getByTestId('run-demo').click();
      expect(await errorBanner(page)).toMatch(/demo\.start: limit must be a positive integer, got 0/);
    });

    it('runs the demo from the first screen and shows the numbers the API returns', async () => {
      expect(demoInfo.available).toBe(true);
      expect(await page.getByTestId('demo-languages').textContent()).toBe(String(demoInfo.languages.length));
      expect(await page.getByTestId('model-name').textContent()).toBe(demoInfo.model!.name);
      await page.getByTestId('limit').fill('2');
      await page.getByTestId('run-demo').click();
      await page.getByTestId('progress-bar').waitFor();
      await page.getByTestId('results').waitFor({ timeout: 100_000 });
      const runId = Number(/#run=(\d+)/.exec(page.url())?.[1]);
      expect(runId).toBeGreaterThan(0);
      expect(eventFrames).toBeGreaterThan(0);

      const o: AnalysisOverview = await api('analysis.overview', { runId });
      expect(o.languages).toHaveLength(demoInfo.languages.length);
      expect(await page.getByTestId('languages-count').textContent()).toBe(String(o.languages.length));
      // What `routescope demo` saved for this run (src/demo's own summary) agrees with the page.
      const saved = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoSummary;
      expect(saved.runId).toBe(runId);
      // The shared/exclusive counts and the steered experts the page shows, recomputed from the stored counts by the
      // tests' plain float32 implementation of the rule (the page, the API and demo.json all come from src/analysis).
      const stored = loadRunRouting(saved.db, runId);
      const counts = plainLayerCounts(stored, saved.specialisation.k, saved.specialisation.thr);
      const [m0, m1] = saved.steering.layers;
      const steer = plainSteerShared(stored, [saved.steering.pivot, saved.steering.target], saved.steering.k, saved.steering.thr, Array.from({ length: m1 - m0 + 1 }, (_, i) => m0 + i));
      expect(await page.getByTestId('plan-count').textContent()).toBe(String([...steer.values()].reduce((n, row) => n + row.length, 0)));
      for (const l of o.layers) {
        expect(await page.getByTestId(`shared-${l.layer}`).textContent()).toBe(String(counts[l.layer]!.shared));
        expect(await page.getByTestId(`exclusive-${l.layer}`).textContent()).toBe(String(Object.values(counts[l.layer]!.exclusive).reduce((a, b) => a + b, 0)));
        expect(await page.getByTestId(`fa-coph-${l.layer}`).textContent()).toBe(fixed(l.cophenetic));
        expect(await page.getByTestId(`fa-ari-${l.layer}`).textContent()).toBe(fixed(l.ari));
        expect(await page.getByTestId(`fa-coph-${l.layer}`).textContent()).toBe(fixed(saved.layers[l.layer]!.cophenetic));
        expect(await page.getByTestId(`shared-${l.layer}`).textContent()).toBe(String(saved.layers[l.layer]!.shared));
        expect(await page.getByTestId(`exclusive-${l.layer}`).textContent()).toBe(String(saved.layers[l.layer]!.exclusive));
        expect(await page.getByTestId(`align-${l.layer}`).textContent()).toBe(fixed(l.alignmentToPivot));
      }
      expect(await page.getByTestId('plan-count').textContent()).toBe(String(saved.steering.experts));

      // The layer slider drives the heatmap and the dendrogram.
      await page.getByTestId('layer-slider').fill('0');
      await expect.poll(() => page.getByTestId('layer-value').textContent()).toBe(String(o.layers[0]!.decoderLayer));
      const d0: LayerDetail = await api('analysis.layer', { runId, layer: 0 });
      await expect.poll(() => page.getByTestId('layer-family').textContent()).toContain(`cophenetic ${fixed(d0.family.cophenetic)}, ARI ${fixed(d0.family.ari)}`);
      const leaves = page.getByTestId('leaf');
      expect(await leaves.count()).toBe(o.languages.length);
      const families = new Map(o.languages.map((l) => [l.code, l.family ?? 'Unknown']));
      for (const leaf of await leaves.all()) {
        expect(await leaf.getAttribute('data-family')).toBe(families.get((await leaf.getAttribute('data-code'))!));
      }

      // The downloaded plan is byte for byte the plan file the demo wrote.
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-plan').click()]);
      expect(download.suggestedFilename()).toBe('steer-swh-toward-eng.json');
      const file = await download.path();
      expect(readFileSync(file, 'utf8')).toBe(readFileSync(saved.steering.file, 'utf8'));
    });

    it('cancels a running capture from the progress panel', async () => {
      await page.getByTestId('back').click();
      await page.getByTestId('start').waitFor();
      await page.locator('details.options summary').click();
      await page.getByTestId('limit').clear();
      await page.getByTestId('fresh').check();
      await page.getByTestId('run-demo').click();
      await page.getByTestId('progress').waitFor();
      // Cancel once the capture has committed something, so there is a run to keep.
      await expect.poll(async () => Number((await page.getByTestId('progress-sequences').textContent())?.split(' ')[0]?.replace(/,/g, '')), { timeout: 60_000 }).toBeGreaterThan(0);
      await page.getByTestId('cancel').click();
      await page.getByTestId('cancelled').waitFor({ timeout: 60_000 });
      const jobs: JobInfo[] = await api('jobs.list', undefined);
      const last = jobs.at(-1)!;
      expect(last.status).toBe('cancelled');
      const runs: RunSummary[] = await api('runs.list', undefined);
      const run = runs.find((r) => r.id === last.runId)!;
      expect(run.status).toBe('cancelled');
      expect(run.sequencesDone).toBeLessThan(run.sequencesTotal!);
      expect(await page.getByTestId('cancelled').textContent()).toContain(`run ${run.id}`);
    });
  });
});
