/**
 * The Analysis view's layer explorer, settings, run comparison and expert x layer heatmap in Chromium, on two small
 * synthetic runs imported into a project (no capture needed: the numbers come from the API on the same database).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Download, Page } from 'playwright-core';
import type { TreeNode } from '../src/api/contract.js';
import { Workspace } from '../src/api/workspace.js';
import { loadLanguageTable } from '../src/languages/index.js';
import { importRoutingData } from '../src/store/index.js';
import { randomRouting } from '../test/analysis/synthetic.js';
import { apiClient, buildRenderer, CHROMIUM, launchChromium, startServe } from './support/browser.js';

const root = resolve(import.meta.dirname, '..');
const TOKEN = 'e2e-analysis-token-0123456789ab';
const [L, E, K] = [6, 8, 2];

const synthetic = (codes: string[], seed: number) => randomRouting(codes, { layers: L, experts: E, topK: K, seed, tokens: [200, 300], power: 2, floor: 0.01, source: 'e2e' });

const leafOrder = (n: TreeNode): string[] => (n.children?.length ? n.children.flatMap(leafOrder) : [n.label!]);
/** Width and height from a PNG's IHDR chunk. */
const pngSize = (png: Buffer) => [png.readUInt32BE(16), png.readUInt32BE(20)];
const csvOf = async (d: Download) => readFileSync((await d.path())!, 'utf8').trim().split('\r\n').map((l) => l.split(','));

describe.skipIf(!existsSync(CHROMIUM))(`analysis view in a browser (needs ${CHROMIUM})`, () => {
  let tmp: string;
  let server: ChildProcess;
  let browser: Browser;
  let page: Page;
  let baseUrl: string;
  let projectId: string;
  let runA: number;
  let runB: number;
  let codes: string[];
  let dataDir: string;

  const api = apiClient(() => baseUrl, TOKEN);
  const download = async (click: () => Promise<void>) => (await Promise.all([page.waitForEvent('download'), click()]))[0];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'routescope-ui-analysis-'));
    const outDir = join(tmp, 'ui');
    dataDir = join(tmp, 'data');
    await buildRenderer(outDir);
    const workspace = new Workspace(dataDir);
    projectId = workspace.create('Analysis', 'blank');
    codes = loadLanguageTable().languages.slice(0, 6).map((l) => l.iso3);
    runA = workspace.with(projectId, (store) => importRoutingData(store, synthetic(codes, 11), { name: 'first', source: 'import' }));
    runB = workspace.with(projectId, (store) => importRoutingData(store, synthetic(codes.slice(1), 23), { name: 'second', source: 'import' }));
    const served = await startServe({ data: dataDir, ui: outDir, token: TOKEN });
    server = served.process;
    baseUrl = served.baseUrl;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1300, height: 900 }, acceptDownloads: true });
    await page.goto(`${baseUrl}?token=${TOKEN}#/p/${projectId}/run/${runA}`);
    await page.getByTestId('layer-pair').waitFor({ timeout: 60_000 });
  });

  afterAll(async () => {
    await browser?.close();
    server?.kill();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('says an imported run records no precision', async () => {
    expect((await api('analysis.overview', { projectId, runId: runA })).precision).toBeNull();
    expect(await page.getByTestId('run-precision').textContent()).toBe('precision not recorded');
  });

  it('moves the layer slider: heatmap and dendrogram in the same leaf order, matrix and dendrogram exported', async () => {
    await page.getByTestId('layer-slider').fill('3');
    await expect.poll(() => page.getByTestId('layer-pair').getAttribute('data-layer')).toBe('3');
    const d = await api('analysis.layer', { projectId, runId: runA, layer: 3, metric: 'cosine' });
    const order = leafOrder(d.tree);
    expect(await page.getByTestId('leaf').evaluateAll((els) => els.map((e) => e.getAttribute('data-code')))).toEqual(order);

    const pair = page.getByTestId('layer-pair');
    const csv = await csvOf(await download(() => pair.getByTestId('heatmap-csv').click()));
    expect(csv[0]!.slice(1)).toEqual(order);
    for (const [i, row] of csv.slice(1).entries()) {
      expect(row[0]).toBe(order[i]);
      for (const [j, cell] of row.slice(1).entries()) {
        expect(Number(cell)).toBeCloseTo(d.matrix[d.languages.indexOf(order[i]!)]![d.languages.indexOf(order[j]!)]!, 12);
      }
    }
    // Six languages get large cells with their values (not a 13 px thumbnail): the canvas is drawn and shown at that
    // size, as the screenshot and the exported PNG show.
    const canvas = pair.getByTestId('heatmap').locator('canvas');
    const cell = Number(await canvas.getAttribute('data-cell'));
    expect(cell).toBeGreaterThanOrEqual(34);
    const box = (await canvas.boundingBox())!;
    expect(box.width).toBe(Number(await canvas.getAttribute('data-width')));
    expect(box.width).toBeGreaterThanOrEqual(56 + codes.length * 34);
    const shotFile = join(root, 'e2e/artifacts/heatmap-6-languages.png');
    mkdirSync(dirname(shotFile), { recursive: true });
    await canvas.screenshot({ path: shotFile });
    // (the element screenshot may take one more pixel where the box starts between pixels)
    for (const [got, want] of pngSize(readFileSync(shotFile)).map((v, i) => [v, [box.width, box.height][i]!])) expect(Math.abs(got! - want)).toBeLessThanOrEqual(1);
    const heatPng = readFileSync((await (await download(() => pair.getByTestId('heatmap-png').click())).path())!);
    expect(pngSize(heatPng)).toEqual([Number(await canvas.getAttribute('data-width')), Number(await canvas.getAttribute('data-height'))]);

    const svg = readFileSync((await (await download(() => page.getByTestId('dendrogram-svg').click())).path())!, 'utf8');
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*merge distance \(jsd, average linkage\)[\s\S]*<\/svg>$/);
    expect(svg).not.toContain('<!--');
    for (const code of codes) expect(svg).toContain(`${code} · `);
    const png = await download(() => page.getByTestId('dendrogram-png').click());
    expect(png.suggestedFilename()).toBe(`dendrogram-run${runA}-layer3.png`);
    expect(readFileSync((await png.path())!).subarray(1, 4).toString()).toBe('PNG');
  });

  it('stores analysis settings with the run and redraws with them; a bad value is explained in place', async () => {
    await page.getByTestId('set-bands').fill('0-1,2-9,5-5');
    await page.getByTestId('save-settings').click();
    await expect.poll(() => page.getByTestId('settings-error').textContent()).toMatch(/bands .*past the last layer 5/);
    await page.getByTestId('set-bands').fill('0-0,1-4,5-5');
    await page.getByTestId('set-linkage').selectOption('complete');
    await page.getByTestId('save-settings').click();
    await expect.poll(async () => (await api('analysis.settings', { projectId, runId: runA })).stored.sort()).toEqual(['bands', 'k', 'linkage', 'measure', 'pivot', 'thr'].filter((f) => f !== 'pivot'));
    await expect.poll(() => page.getByTestId('dendrogram').locator('svg').getAttribute('aria-label')).toContain('complete linkage');
    const o = await api('analysis.overview', { projectId, runId: runA });
    expect(o.bands.find((b) => b.name === 'middle')?.layers).toEqual([1, 4]);
  });

  it('compares two runs: warnings, overlaid curves and the difference heatmap of the common languages', async () => {
    // As if captured at two precisions (imports record none; set only now, after the first test read runA's
    // overview as not recorded): the compare panel must say so. The comparison reads the run records afresh.
    new Workspace(dataDir).with(projectId, (store) => {
      store.db.prepare('UPDATE capture_run SET precision = ? WHERE id = ?').run('fp32', runA);
      store.db.prepare('UPDATE capture_run SET precision = ? WHERE id = ?').run('int4', runB);
    });
    await page.getByTestId('compare-run').selectOption(String(runB));
    await expect.poll(() => page.getByTestId('compare-diff').getAttribute('data-common')).toBe('5');
    const warnings = (await page.getByTestId('compare-warnings').textContent()) ?? '';
    expect(warnings).toContain('the model of one run is not recorded');
    expect(warnings).toContain(`languages differ: 1 only in run ${runA}, 0 only in run ${runB}`);
    expect(warnings).toContain(`captured at different precisions: run ${runA} at fp32, run ${runB} at int4`);
    expect(await page.getByTestId('compare-precision').textContent()).toMatch(new RegExp(`Precision: run ${runA} .*fp32 · run ${runB} .*int4 ⚠ differs`));
    await page.getByTestId('compare-layer').selectOption('2');
    await expect.poll(() => page.getByTestId('compare-diff').getAttribute('data-layer')).toBe('2');
    const c = await api('analysis.compare', { projectId, runId: runA, otherRunId: runB, layer: 2, metric: 'cosine' });
    const csv = await csvOf(await download(() => page.getByTestId('compare').getByTestId('heatmap-csv').click()));
    expect(csv[0]!.slice(1)).toEqual(c.common);
    expect(csv.slice(1).map((r) => r.slice(1).map(Number))).toEqual(c.difference);
    await page.getByTestId('compare').screenshot({ path: join(root, 'e2e/artifacts/6-compare.png') }).catch(() => undefined);
  });

  it('draws the expert x layer heatmap of one language and of the difference of two', async () => {
    await page.getByTestId('map-language').selectOption(codes[2]!);
    await page.getByTestId('map-minus').selectOption(codes[0]!);
    await expect.poll(() => page.getByTestId('map-caption').getAttribute('data-minus')).toBe(codes[0]);
    const m = await api('analysis.expertMap', { projectId, runId: runA, language: codes[2]!, minus: codes[0]! });
    const csv = await csvOf(await download(() => page.getByTestId('expert-map').getByTestId('heatmap-csv').click()));
    expect(csv[0]!.slice(1)).toEqual(Array.from({ length: E }, (_, e) => String(e)));
    expect(csv.slice(1).flatMap((r) => r.slice(1).map(Number))).toEqual(m.values);
    // The single-language map: each layer's shares sum to that layer's expert selections per token (top-k, up to the
    // rounding of the synthetic counts).
    await page.getByTestId('map-minus').selectOption('');
    await expect.poll(() => page.getByTestId('map-caption').getAttribute('data-minus')).toBe('');
    const one = await csvOf(await download(() => page.getByTestId('expert-map').getByTestId('heatmap-csv').click()));
    const lang = synthetic(codes, 11).languages[2]!;
    for (const [l, row] of one.slice(1).entries()) {
      const expected = lang.counts.subarray(l * E, (l + 1) * E).reduce((s, c) => s + c, 0) / lang.totals[l]!;
      expect(row.slice(1).reduce((s, v) => s + Number(v), 0)).toBeCloseTo(expected, 9);
      expect(expected).toBeCloseTo(K, 1);
    }
  });

  it('says which run it is analysing while it waits for the analysis, never showing the previous run meanwhile', async () => {
    const runC = new Workspace(dataDir).with(projectId, (store) => importRoutingData(store, synthetic(codes, 37), { name: 'third', source: 'import' }));
    // The overview's answer is held back until the page's waiting state has been checked (on the server the first
    // analysis of a large run takes seconds; test/api/analysis-thread.test.ts checks the server answers meanwhile).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route('**/api/analysis.overview', async (route) => {
      await held;
      await route.continue();
    });
    const answered = page.waitForResponse('**/api/analysis.overview');
    try {
      await page.evaluate((hash) => void (location.hash = hash), `#/p/${projectId}/run/${runC}`);
      await expect.poll(() => page.getByTestId('loading-run-text').textContent()).toBe(`Analysing run ${runC}…`);
      expect(await page.getByTestId('loading-run').getAttribute('data-run')).toBe(String(runC));
      // Run A's view went at once; the project's navigation stays usable.
      expect(await page.getByTestId('results').count()).toBe(0);
      expect(await page.getByTestId('project-name').textContent()).toBe('Analysis');
      // The page is alive: the elapsed time ticks while it waits.
      await page.getByTestId('loading-run-elapsed').waitFor();
      expect(await page.getByTestId('loading-run-elapsed').textContent()).toMatch(/^\d+ s$/);
    } finally {
      release();
      await answered;
      await page.unroute('**/api/analysis.overview');
    }
    await expect.poll(() => page.locator('#results-title').textContent()).toMatch(new RegExp(`^Run ${runC}(\\D|$)`));
    expect(await page.getByTestId('loading-run').count()).toBe(0);
  });

  it('a project locked by another window: the rename is refused with a message naming the project, Retry saves it', async () => {
    await page.goto(`${baseUrl}?token=${TOKEN}#/p/${projectId}/runs`);
    const row = page.locator(`[data-testid=run-row][data-id="${runB}"]`);
    await row.waitFor();
    // Another process holds the project's write lock (as another window's writing transaction does).
    const other = new Database(join(tmp, 'data/projects', projectId, 'project.db'));
    other.pragma('journal_mode = WAL');
    other.exec('BEGIN IMMEDIATE');
    try {
      await row.getByTestId('rename-run').click();
      await row.getByTestId('run-new-name').fill('renamed while locked');
      await row.getByTestId('save-run-name').click();
      // The server waits 5 s for the lock, then says who is busy and what to do.
      await page.getByTestId('retry').waitFor({ timeout: 15_000 });
      expect(await page.getByTestId('error').textContent()).toMatch(/project "Analysis" \(analysis-[a-z0-9]{10}\) is busy: another window or process is writing to its database, so nothing was changed\. Retry when it has finished/);
      expect((await api('runs.list', { projectId })).find((r) => r.id === runB)?.name).toBe('second');
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    await page.getByTestId('retry').click();
    await expect.poll(() => row.getByTestId('run-name').textContent()).toBe('renamed while locked');
    expect(await page.getByTestId('error').count()).toBe(0);
    expect((await api('runs.list', { projectId })).find((r) => r.id === runB)?.name).toBe('renamed while locked');
  });

  it('a project deleted in another window: the next action says so by name and returns to the project list', async () => {
    await page.goto(`${baseUrl}?token=${TOKEN}#/p/${projectId}/runs`);
    await page.getByTestId('runs-list').waitFor();
    const other = await browser.newPage();
    try {
      await other.goto(`${baseUrl}?token=${TOKEN}#/`);
      await other.getByTestId('delete-project').click();
      await other.getByTestId('confirm-name').fill('Analysis');
      await other.getByTestId('confirm-delete').click();
      await other.getByTestId('welcome').waitFor();
    } finally {
      await other.close();
    }
    // The next call of this window (opening a run's analysis) finds the project gone.
    await page.locator(`[data-testid=run-row][data-id="${runA}"]`).getByTestId('open-run').click();
    await expect.poll(() => page.getByTestId('error').textContent()).toMatch(/^The project "Analysis" was deleted in another window; it is closed here and nothing more was written to it/);
    await page.getByTestId('welcome').waitFor();
    expect(page.url()).toMatch(/#\/$/);
    expect(existsSync(join(tmp, 'data/projects', projectId))).toBe(false);
    // Usable afterwards: a new project from the first screen.
    await page.getByTestId('create-blank').click();
    await page.getByTestId('model-path').waitFor();
  });
});
