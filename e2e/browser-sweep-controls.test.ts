/**
 * A k x lambda sweep with a random control per point in a real browser: `routescope serve` over the real engine and
 * a real project database, the renderer built from source, Debian's Chromium driving it. A run is captured and a plan
 * saved through the API; the page refuses a k above the model's experts per layer naming the field, defines the
 * sweep with one control per point, runs it on two items, and its heatmap, cell table and control table are read
 * against the API's numbers. A third axis (thr) turns the heatmap into slices: the selector's ★ counts and the cells
 * shown follow the chosen slice.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiClient, CHROMIUM } from './support/browser.js';
import { useServedWorkbench } from './support/served-workbench.js';
import { openSweepForm, projectWithSharedPlan } from './support/sweep-fixture.js';

const root = resolve(import.meta.dirname, '..');
const MODEL = join(root, 'resources/demo-model/model.safetensors');
const ARTEFACTS = join(root, 'e2e/artifacts');
const TOKEN = 'e2e-sweep-controls-token-0123456789';

describe.skipIf(!existsSync(CHROMIUM) || !existsSync(MODEL))(`sweeps over k with random controls in a browser (needs ${CHROMIUM} and the demo model)`, () => {
  const wb = useServedWorkbench('sweep-controls', TOKEN, { artefacts: ARTEFACTS });
  const api = apiClient(() => wb.baseUrl, TOKEN);

  it('runs a k x lambda sweep with a random control per point and shows its cells and controls as the API reads them', async () => {
    // The paper's shared steering preset (k 4 of the demo's 16 experts, thr 0.7, MoE layers 2-3).
    const at = await projectWithSharedPlan(api, 'Sweep controls');
    const p = { id: at.projectId };
    const plan = { id: at.planId };
    const page = await openSweepForm(wb, TOKEN, at, { name: 'k x lambda with controls', languages: 'eng', limit: 2 });
    await page.getByTestId('sweep-lambdas').fill('1, 3');
    // A k above the demo's 16 experts per layer is refused in place, naming the value.
    await page.getByTestId('sweep-ks').fill('1, 17');
    await page.getByTestId('sweep-controls').fill('1');
    await page.getByTestId('exp-start').click();
    await page.getByTestId('exp-error').waitFor();
    expect(await page.getByTestId('exp-error').textContent()).toMatch(/sweep\.k\[1\].*k 17 is above the 16 experts per layer/);
    await page.getByTestId('sweep-ks').fill('1, 4');
    await page.getByTestId('exp-start').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="experiment-status"]')?.textContent === 'completed', null, { timeout: 90_000 });

    const [exp] = await api('experiments.list', { projectId: p.id });
    const view = await api('experiments.get', { projectId: p.id, experimentId: exp!.id });
    const sweep = view.sweep!;
    expect(sweep.cells.map((c) => [c.lambda, c.k])).toEqual([[1, 1], [1, 4], [3, 1], [3, 4]]);
    expect(sweep.controls.map((c) => [c.of, c.seed])).toEqual(sweep.cells.map((c) => [c.arm, 1]));
    await page.getByTestId('open-experiment').click();
    await page.getByTestId('sweep-heatmap').waitFor();
    const legend = (await page.getByTestId('sweep-legend').textContent()) ?? '';
    expect(legend).toContain('Holm-adjusted over 8 cells (4 points and 4 random controls)');
    expect(legend).toContain('for each of the 4 points, 1 seeded draw (seed 1) of the same number of experts in every MoE layer as the point');
    // Two varying axes: λ rows by k columns (the reader may swap them), no slice to choose.
    expect(await page.getByTestId('sweep-rows').inputValue()).toBe('lambda');
    expect(await page.getByTestId('sweep-columns').inputValue()).toBe('k');
    expect(await page.getByTestId('sweep-slice-note').count()).toBe(0);
    const aria = (await page.getByTestId('sweep-heatmap').getAttribute('aria-label')) ?? '';
    for (const c of sweep.cells) expect(aria).toContain(`λ ${c.lambda}, k ${c.k}: difference`);
    expect(aria.match(/Holm p/g)).toHaveLength(4);
    expect(aria.match(/beats \d\/1 random/g)).toHaveLength(4);

    // Every cell with its Holm p (over points and controls), its mark and its standing against its control.
    expect(await page.getByTestId('sweep-cell').count()).toBe(4);
    for (const c of sweep.cells) {
      const row = page.locator(`[data-testid="sweep-cell"][data-arm="${c.arm}"]`);
      expect(await row.getByTestId('sweep-cell-pholm').textContent()).toBe(c.pHolm.toPrecision(3));
      expect(await row.getByTestId('sweep-cell-survives').textContent()).toBe(c.survives ? '★ yes' : 'no');
      expect(await row.getByTestId('sweep-cell-vs-random').textContent()).toMatch(new RegExp(`^${c.controls!.beats} of 1 \\(their mean `));
    }
    // Every control, under the point it is matched to.
    expect(await page.getByTestId('sweep-control').count()).toBe(4);
    for (const c of sweep.controls) {
      const row = page.locator(`[data-testid="sweep-control"][data-arm="${c.arm}"]`);
      expect(await row.getAttribute('data-of')).toBe(c.of);
      expect(await row.getByTestId('sweep-control-pholm').textContent()).toBe(c.pHolm.toPrecision(3));
      expect(await row.getByTestId('sweep-control-survives').textContent()).toBe(c.survives ? '★ yes' : 'no');
    }
    // A cell opens with the baseline, the point and its control.
    await page.locator(`[data-testid="sweep-cell"][data-arm="${sweep.cells[1]!.arm}"]`).getByTestId('sweep-open-cell').click();
    await page.getByTestId('sweep-cell-detail').waitFor();
    expect(await page.locator('[data-testid="sweep-cell-arms"] tbody tr td:first-child').allTextContents()).toEqual(['baseline', sweep.cells[1]!.arm, `${sweep.cells[1]!.arm}:random-s1`]);
    await page.screenshot({ path: join(ARTEFACTS, 'sweep-controls-heatmap.png'), fullPage: true });

    // A third axis: thr. Rows λ, columns k, one heatmap per thr chosen by a selector; the table keeps every cell.
    const three = await api('experiments.start', { projectId: p.id, name: 'three axes', dataset: 'udhr', languages: ['eng'], task: 'nll', planIds: [], limit: 1, sweep: { planId: plan.id, lambda: [1, 3], k: [1, 4], thr: [0.7, 0.8] } });
    for (let j = three; j.status === 'running'; j = await api('jobs.get', { jobId: three.id })) await new Promise((r) => setTimeout(r, 100));
    const threeId = (await api('jobs.get', { jobId: three.id })).experimentId!;
    const tv = (await api('experiments.get', { projectId: p.id, experimentId: threeId })).sweep!;
    expect(tv.cells).toHaveLength(8);
    await page.locator(`[data-testid="experiment-row"][data-id="${threeId}"]`).getByTestId('open-experiment').click();
    await page.waitForFunction((id) => document.querySelector('[data-testid="experiment-result"] h3')?.textContent?.startsWith(`Experiment #${id}:`), threeId);
    await page.getByTestId('sweep-slice-thr').waitFor();
    expect(await page.getByTestId('sweep-rows').inputValue()).toBe('lambda');
    expect(await page.getByTestId('sweep-columns').inputValue()).toBe('k');
    expect(await page.getByTestId('sweep-cell').count()).toBe(8);
    const stars = (thr: number) => tv.cells.filter((c) => c.thr === thr && c.survives).length;
    expect((await page.getByTestId('sweep-slice-thr').locator('option').allTextContents()).map((t) => t.trim())).toEqual(
      [0.7, 0.8].map((t) => `thr ${t}${stars(t) ? ` (${stars(t)} ★)` : ''}`),
    );
    const survivors = tv.cells.filter((c) => c.survives).length;
    expect(await page.getByTestId('sweep-slice-note').textContent()).toContain(`(thr 0.7); ★ is Holm-adjusted over every slice's points (8 cells; ${survivors} point${survivors === 1 ? ' survives' : 's survive'})`);
    const shown = async () => (await page.getByTestId('sweep-heatmap').getAttribute('aria-label')) ?? '';
    expect(await shown()).toContain('Sweep heatmap at thr 0.7');
    expect((await shown()).match(/Holm p/g)).toHaveLength(4);
    await page.getByTestId('sweep-slice-thr').selectOption('0.8');
    await page.waitForFunction(() => document.querySelector('[data-testid="sweep-heatmap"]')?.getAttribute('aria-label')?.includes('at thr 0.8'));
    const at08 = tv.cells.filter((c) => c.thr === 0.8);
    for (const c of at08) expect(await shown()).toContain(`λ ${c.lambda}, k ${c.k}: difference ${Math.abs(c.delta) >= 0.01 || c.delta === 0 ? c.delta.toFixed(3) : c.delta.toExponential(1)}`);
    // Swapping rows for thr puts k across and λ into the selector.
    await page.getByTestId('sweep-rows').selectOption('thr');
    await page.getByTestId('sweep-slice-lambda').waitFor();
    expect(await page.getByTestId('sweep-columns').inputValue()).toBe('k');
    expect(await page.getByTestId('sweep-slice-thr').count()).toBe(0);
    await page.close();
  }, 180_000);
});
