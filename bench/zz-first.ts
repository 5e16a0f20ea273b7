import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Workspace } from '../src/api/workspace.js';
import { loadLanguageTable } from '../src/languages/index.js';
import { importRoutingData } from '../src/store/index.js';
import { randomRouting } from '../test/analysis/synthetic.js';
import { buildRenderer, launchChromium, startServe } from '../e2e/support/browser.js';
const TOKEN = 'bench-token-0123456789abcdef';
const [NL, L, E, K] = [100, 48, 128, 8];
const tmp = mkdtempSync(join(tmpdir(), 'wbr-first-'));
await buildRenderer(join(tmp, 'ui'));
const ws = new Workspace(join(tmp, 'data'));
const projectId = ws.create('Bench', 'blank');
const codes = loadLanguageTable().languages.slice(0, NL).map((l) => l.iso3);
const routing = randomRouting(codes, { layers: L, experts: E, topK: K, seed: 7, tokens: [20000, 40000], power: 3, floor: 1e-3, source: 'bench' });
const runId = ws.with(projectId, (s) => importRoutingData(s, routing, { name: 'synthetic', source: 'import' }));
const served = await startServe({ data: join(tmp, 'data'), ui: join(tmp, 'ui'), token: TOKEN });
const browser = await launchChromium();
for (const round of [1, 2]) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const t0 = performance.now();
  page.on('requestfinished', async (r) => {
    if (!r.url().includes('/api/')) return;
    const t = r.timing();
    const size = (await r.sizes()).responseBodySize;
    console.log(round, r.url().split('/api/')[1], r.postData()?.slice(0, 60), 'start', (t.startTime - 0).toFixed(0), 'wait', (t.responseStart - t.requestStart).toFixed(0), 'dl', (t.responseEnd - t.responseStart).toFixed(0), 'bytes', size, 'at', (performance.now() - t0).toFixed(0));
  });
  await page.goto(`${served.url.href}#/p/${projectId}/run/${runId}`);
  await page.getByTestId('leaf').first().waitFor({ timeout: 120_000 });
  console.log(round, 'FIRST VIEW', (performance.now() - t0).toFixed(0));
  await page.close();
}
await browser.close();
served.process.kill();
rmSync(tmp, { recursive: true, force: true });
