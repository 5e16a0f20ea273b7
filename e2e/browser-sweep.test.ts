/**
 * A sweep in a real browser: `routescope serve` over the real engine and a real project database, the renderer built
 * from source, Debian's Chromium driving it. A run is captured and a plan saved through the API (the lab has its own
 * test); the page defines a 2 lambda x 2 band sweep with a dev/test split, follows its progress, reads the heatmap
 * against the API's numbers (cells, Holm-adjusted p, which survive), opens a cell, exports, renames and deletes it.
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
const TOKEN = 'e2e-sweep-token-0123456789abcdefg';

describe.skipIf(!existsSync(CHROMIUM) || !existsSync(MODEL))(`sweeps in a browser (needs ${CHROMIUM} and the demo model)`, () => {
  const wb = useServedWorkbench('sweep', TOKEN, { artefacts: ARTEFACTS });
  const api = apiClient(() => wb.baseUrl, TOKEN);
  /** The first test's project and plan, which the Cancel and delete check reuses (no second capture). */
  let shared: { projectId: string; planId: number } | undefined;

  it('runs a 2 x 2 sweep with a dev/test split, reads its heatmap as the API does, opens a cell, renames and deletes it', async () => {
    const at = await projectWithSharedPlan(api, 'Sweep');
    shared = at;
    const p = { id: at.projectId };
    const page = await openSweepForm(wb, TOKEN, at, { name: 'lambda band sweep', languages: 'eng, swh', limit: 4 });
    // A band beyond the run's layers is refused in place, naming the band.
    await page.getByTestId('sweep-bands').fill('2-2, 3-99');
    await page.getByTestId('exp-start').click();
    await page.getByTestId('exp-error').waitFor();
    expect(await page.getByTestId('exp-error').textContent()).toMatch(/sweep\.layers\[1\].*3-99/);
    await page.getByTestId('sweep-lambdas').fill('1, 3');
    await page.getByTestId('sweep-bands').fill('2-2, 3-3');
    await page.getByTestId('exp-split').check();
    await page.getByTestId('exp-split-seed').fill('7');
    await page.getByTestId('exp-start').click();
    // The progress panel counts results (arm x item), not captured sequences.
    await page.waitForFunction(() => /results \(arm × item\)/.test(document.querySelector('[data-testid="progress-sequences"]')?.textContent ?? ''), null, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="experiment-status"]')?.textContent === 'completed', null, { timeout: 90_000 });

    const [exp] = await api('experiments.list', { projectId: p.id });
    const view = await api('experiments.get', { projectId: p.id, experimentId: exp!.id });
    const cells = view.sweep!.cells;
    expect(cells).toHaveLength(4);
    await page.getByTestId('open-experiment').click();
    await page.getByTestId('sweep-heatmap').waitFor();
    expect(await page.getByTestId('sweep-legend').textContent()).toContain('Holm-adjusted over 4 cells');
    // Every cell of the API is in the table with its Holm-adjusted p and its mark, and in the chart's description.
    const rows = page.getByTestId('sweep-cell');
    expect(await rows.count()).toBe(4);
    for (const c of cells) {
      const row = page.locator(`[data-testid="sweep-cell"][data-arm="${c.arm}"]`);
      expect(await row.getByTestId('sweep-cell-pholm').textContent()).toBe(c.pHolm.toPrecision(3));
      expect(await row.getByTestId('sweep-cell-survives').textContent()).toBe(c.survives ? '★ yes' : 'no');
      expect(c.survives).toBe(c.pHolm < view.sweep!.alpha);
    }
    expect(await page.getByTestId('sweep-none-survive').count()).toBe(cells.some((c) => c.survives) ? 0 : 1);
    const aria = (await page.getByTestId('sweep-heatmap').getAttribute('aria-label')) ?? '';
    expect(aria.match(/Holm p/g)).toHaveLength(4);
    expect((aria.match(/survives/g) ?? []).length).toBe(cells.filter((c) => c.survives).length);
    // The dev/test line names the point chosen on dev; the headline is the report's verdict sentence.
    expect(await page.getByTestId('experiment-selected').textContent()).toBe(view.selection!.arm);
    expect(await page.locator(`[data-testid="sweep-cell"][data-arm="${view.selection!.arm}"]`).getByTestId('sweep-cell-best').textContent()).toBe('best on dev');
    expect(await page.getByTestId('sweep-cell-best').count()).toBe(1);
    expect(await page.getByTestId('experiment-headline').textContent()).toBe(view.headline);
    if (view.effects.every((e) => !e.excludesZero)) expect(view.headline).toMatch(/^No difference is distinguishable from zero/);

    // A cell opens its own forest plot and the arms it compares.
    await page.locator(`[data-testid="sweep-cell"][data-arm="${cells[3]!.arm}"]`).getByTestId('sweep-open-cell').click();
    await page.getByTestId('sweep-cell-detail').waitFor();
    expect(await page.locator('[data-testid="sweep-cell-arms"] tbody tr').count()).toBe(2);
    const csv = page.waitForEvent('download');
    await page.getByTestId('export-sweep-csv').click();
    expect((await csv).suggestedFilename()).toBe(`experiment-${exp!.id}-sweep.csv`);
    const png = page.waitForEvent('download');
    await page.locator('[data-testid="sweep"] [data-testid="export-png"]').click();
    expect((await png).suggestedFilename()).toBe(`experiment-${exp!.id}-sweep.png`);
    await page.screenshot({ path: join(ARTEFACTS, 'sweep-heatmap.png'), fullPage: true });

    await page.getByTestId('rename-experiment').click();
    await page.getByTestId('experiment-new-name').fill('λ × band, demo');
    await page.getByTestId('save-experiment-name').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="experiment-row-name"]')?.textContent === 'λ × band, demo');
    expect((await api('experiments.list', { projectId: p.id }))[0]!.name).toBe('λ × band, demo');
    await page.getByTestId('delete-experiment').click();
    await page.getByTestId('confirm-delete-experiment').click();
    await page.getByTestId('no-experiments').waitFor();
    await page.getByTestId('experiment-result').waitFor({ state: 'detached' });
    expect(await api('experiments.list', { projectId: p.id })).toEqual([]);
    await page.close();
  }, 180_000);

  it('cancels a running experiment and deletes it from its row (Cancel and delete)', async () => {
    expect(shared, 'the first test saved a plan').toBeDefined();
    const { projectId, planId } = shared!;
    // Long enough (8 arms x 12 languages x the held-out passages, some seconds) to be running when the page asks.
    const languages = ['eng', 'swh', 'fra', 'deu', 'spa', 'rus', 'yor', 'hin', 'por', 'ita', 'nld', 'pol'];
    // The page is open (and its list empty) before the experiment exists: its row must appear from the job's events,
    // since the experiment is recorded only once its engine has loaded in its own thread.
    const page = await wb.browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${wb.baseUrl}?token=${TOKEN}#/p/${projectId}/experiments`);
    await page.getByTestId('no-experiments').waitFor();
    const job = await api('experiments.start', { projectId, name: 'to cancel', dataset: 'udhr', languages, task: 'nll', planIds: [planId], randomSeeds: [1, 2, 3, 4, 5, 6], limit: 40 });
    await page.waitForFunction(() => document.querySelector('[data-testid="experiment-status"]')?.textContent === 'running', null, { timeout: 30_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}; job ${JSON.stringify(await api('jobs.get', { jobId: job.id }))}; experiments ${JSON.stringify(await api('experiments.list', { projectId }))}; page ${await page.getByTestId('experiments').textContent()}`);
    });
    // A running row offers no plain Delete, only Cancel and delete, which asks once more.
    expect(await page.getByTestId('delete-experiment').count()).toBe(0);
    expect(await page.getByTestId('delete-running-experiment').textContent()).toBe('Cancel and delete');
    await page.getByTestId('delete-running-experiment').click();
    await page.getByTestId('confirm-delete-running-experiment').click();
    await page.getByTestId('no-experiments').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('exp-error').count()).toBe(0);
    expect(await api('experiments.list', { projectId })).toEqual([]);
    expect(await api('jobs.get', { jobId: job.id })).toMatchObject({ status: 'cancelled' });
    await page.close();
  }, 120_000);
});
