/**
 * What the sweep browser tests start from: a demo project with a small capture and the paper's shared steering
 * preset saved as a plan (MoE layers 2 and 3 of the demo run each have experts both languages share), and the
 * experiments page opened on a sweep of that plan.
 */
import type { Page } from 'playwright-core';
import type { ApiArgs, ApiMethod, ApiResult } from '../../src/api/contract.js';
import type { ServedWorkbench } from './served-workbench.js';

type Api = <M extends ApiMethod>(method: M, args: ApiArgs<M>) => Promise<ApiResult<M>>;

export async function projectWithSharedPlan(api: Api, name: string): Promise<{ projectId: string; planId: number }> {
  const p = await api('projects.create', { name, template: 'demo' });
  const [model] = await api('models.list', { projectId: p.id });
  const job = await api('capture.start', { projectId: p.id, modelId: model!.id, dataset: 'udhr', languages: ['eng', 'swh', 'fra', 'yor'], limit: 2, batchSize: 4, name: 'for sweeps' });
  for (let j = job; j.status === 'running'; j = await api('jobs.get', { jobId: job.id })) await new Promise((r) => setTimeout(r, 100));
  const [run] = await api('runs.list', { projectId: p.id });
  const preset = (await api('plans.presets', { projectId: p.id, runId: run!.id }))[0]!.recipe;
  const plan = await api('plans.save', { projectId: p.id, runId: run!.id, recipe: preset, name: 'shared steer' });
  return { projectId: p.id, planId: plan.id };
}

/** A new page on the project's experiments, with the sweep form filled up to its grid. */
export async function openSweepForm(wb: ServedWorkbench, token: string, at: { projectId: string; planId: number }, form: { name: string; languages: string; limit: number }): Promise<Page> {
  const page = await wb.browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`${wb.baseUrl}?token=${token}#/p/${at.projectId}/experiments`);
  await page.getByTestId('experiments').waitFor();
  await page.getByTestId('exp-kind-sweep').check();
  await page.getByTestId('sweep-plan').selectOption(String(at.planId));
  await page.getByTestId('exp-name').fill(form.name);
  await page.getByTestId('exp-languages').fill(form.languages);
  await page.getByTestId('exp-limit').fill(String(form.limit));
  return page;
}
