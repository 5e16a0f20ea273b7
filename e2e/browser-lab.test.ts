/**
 * The steering lab in a real browser: `routescope serve` over the real engine and a real project database, the
 * renderer built from source, Debian's Chromium driving it. A run is captured through the API (the capture view
 * has its own test in browser-ui.test.ts); the page builds a plan from it with a paper preset, previews the
 * experts per layer, saves, renames and deletes plans, and tries one on a prompt.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiClient, CHROMIUM } from './support/browser.js';
import { useServedWorkbench } from './support/served-workbench.js';

const root = resolve(import.meta.dirname, '..');
const MODEL = join(root, 'resources/demo-model/model.safetensors');
const ARTEFACTS = join(root, 'e2e/artifacts');
const TOKEN = 'e2e-lab-token-0123456789abcdefgh';

describe.skipIf(!existsSync(CHROMIUM) || !existsSync(MODEL))(`steering lab in a browser (needs ${CHROMIUM} and the demo model)`, () => {
  const wb = useServedWorkbench('lab', TOKEN, { artefacts: ARTEFACTS });
  const api = apiClient(() => wb.baseUrl, TOKEN);

  it('builds a plan from a run with a preset, previews it, saves, renames, tries it on a prompt and deletes it', async () => {
    const p = await api('projects.create', { name: 'Lab', template: 'demo' });
    const [model] = await api('models.list', { projectId: p.id });
    const job = await api('capture.start', { projectId: p.id, modelId: model!.id, dataset: 'udhr', languages: ['eng', 'swh', 'fra', 'yor'], limit: 2, batchSize: 4, name: 'for plans' });
    for (let j = job; j.status === 'running'; j = await api('jobs.get', { jobId: job.id })) await new Promise((r) => setTimeout(r, 100));
    const [run] = await api('runs.list', { projectId: p.id });
    expect(run).toMatchObject({ status: 'completed' });

    const page = await wb.browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${wb.baseUrl}?token=${TOKEN}#/p/${p.id}/lab`);
    await page.getByTestId('steering-lab').waitFor();
    await page.getByTestId('no-plans').waitFor();
    // The first preset (2601.14050 shared steering) fills the form; the masking preset replaces it.
    await page.getByTestId('preset-note').waitFor();
    expect(await page.getByTestId('preset-note').textContent()).toMatch(/thr 0\.7, λ 0\.022/);
    await page.getByTestId('preset-2601.14050-mask').click();
    expect(await page.getByTestId('recipe-type').inputValue()).toBe('mask');
    // A looser threshold than the paper's, so the tiny demo run yields experts to mask.
    await page.getByTestId('recipe-thr').fill('0.05');
    await page.getByTestId('plan-preview').click();
    await page.getByTestId('plan-preview-result').waitFor();
    const touched = Number(await page.getByTestId('plan-touched').textContent());
    expect(touched).toBeGreaterThan(0);
    // The grid shows one row per MoE layer and exactly `touched` filled cells.
    expect(await page.getByTestId('plan-grid-row').count()).toBe((await api('analysis.overview', { projectId: p.id, runId: run!.id })).layers.length);
    expect(await page.locator('[data-testid="plan-grid"] td.on').count()).toBe(touched);
    await page.screenshot({ path: join(ARTEFACTS, 'lab-preview.png'), fullPage: true });
    // Its seeded random control: as many edits, other cells; it can be previewed but not saved.
    await page.getByTestId('control-seed').fill('3');
    await page.getByTestId('control-preview').click();
    await page.getByTestId('control-note').waitFor();
    expect(Number(await page.getByTestId('plan-touched').textContent())).toBe(touched);
    expect(await page.getByTestId('plan-save').isDisabled()).toBe(true);
    await page.getByTestId('plan-preview').click();
    await page.getByTestId('control-note').waitFor({ state: 'detached' });

    // A language the run lacks is explained in place.
    const targets = await page.getByTestId('recipe-targets').inputValue();
    await page.getByTestId('recipe-targets').fill('zzz');
    await page.getByTestId('plan-preview').click();
    await page.getByTestId('lab-error').waitFor({ timeout: 5000 });
    expect(await page.getByTestId('lab-error').textContent()).toMatch(/zzz/);
    await page.getByTestId('recipe-targets').fill(targets);
    await page.getByTestId('plan-preview').click();
    await page.getByTestId('plan-preview-result').waitFor();

    await page.getByTestId('plan-name').fill('mask swh');
    await page.getByTestId('plan-save').click();
    await page.getByTestId('plan-row').first().waitFor();
    const saved = await api('plans.list', { projectId: p.id });
    expect(saved.map((x) => x.name)).toEqual(['mask swh']);

    await page.getByTestId('rename-plan').click();
    await page.getByTestId('plan-new-name').fill('swh exclusive');
    await page.getByTestId('save-plan-name').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="plan-row-name"]')?.textContent === 'swh exclusive');

    // Saving opened "try it on one prompt" for the new plan.
    await page.getByTestId('try-plan').waitFor();
    await page.getByTestId('try-max').fill('8');
    await page.getByTestId('try-run').click();
    await page.getByTestId('try-summary').waitFor({ timeout: 30_000 });
    const baseline = (await page.getByTestId('try-baseline-text').textContent()) ?? '';
    expect(baseline.length).toBeGreaterThan(0);
    expect((await page.getByTestId('try-steered-text').textContent())?.length).toBeGreaterThan(0);
    expect(await page.locator('[data-testid="try-baseline"] .tok').count()).toBeGreaterThan(0);
    // A second prompt reuses the loaded model (no reload) and, greedy, gives the same text.
    expect(await page.getByTestId('try-engine').getAttribute('data-reused')).toBe('false');
    await page.getByTestId('try-run').click();
    await expect.poll(() => page.getByTestId('try-engine').getAttribute('data-reused'), { timeout: 30_000 }).toBe('true');
    expect(await page.getByTestId('try-engine').textContent()).toMatch(/The model was already loaded/);
    expect(await page.getByTestId('try-baseline-text').textContent()).toBe(baseline);
    await page.screenshot({ path: join(ARTEFACTS, 'lab-try.png'), fullPage: true });

    // A small A/B NLL experiment: 3 items x 2 languages, baseline + the plan + 2 random controls, read in the forest plot.
    await page.getByTestId('nav-experiments').click();
    await page.getByTestId('exp-plan').first().check();
    await page.getByTestId('exp-name').fill('mask AB');
    await page.getByTestId('exp-limit').fill('3');
    await page.getByTestId('exp-controls').fill('2');
    await page.getByTestId('exp-start').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="experiment-status"]')?.textContent === 'completed', null, { timeout: 60_000 });
    await page.getByTestId('open-experiment').click();
    await page.getByTestId('forest-plot').waitFor();
    const [exp] = await api('experiments.list', { projectId: p.id });
    const view = await api('experiments.get', { projectId: p.id, experimentId: exp!.id });
    expect(view.arms).toHaveLength(4);
    expect(await page.getByTestId('experiment-headline').textContent()).toBe(view.headline);
    expect(view.headline.length).toBeGreaterThan(0);
    // The forest plot's accessible description lists one point per arm x language and the pooled rows.
    await page.waitForFunction(() => (document.querySelector('[data-testid="forest-plot"]')?.getAttribute('aria-label') ?? '').length > 0);
    expect(await page.locator('[data-testid="experiment-items"] tbody tr').count()).toBe(view.items.length);
    const csv = page.waitForEvent('download');
    await page.getByTestId('export-effects-csv').click();
    expect((await csv).suggestedFilename()).toBe(`experiment-${exp!.id}-effects.csv`);
    await page.screenshot({ path: join(ARTEFACTS, 'experiment-result.png'), fullPage: true });

    await page.getByTestId('nav-lab').click();
    await page.getByTestId('delete-plan').click();
    await page.getByTestId('confirm-delete-plan').click();
    await page.getByTestId('no-plans').waitFor();
    expect(await api('plans.list', { projectId: p.id })).toEqual([]);
    await page.close();
  }, 150_000);
});
