/**
 * Experiments through the API on a real demo capture: a saved plan becomes an arm of an A/B NLL run with two
 * random controls, run as a job through the experiment core's runner; the reading (effects with intervals, arms,
 * per-item rows, the verdict) is checked against a hand computation from the per-item rows.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_MODEL_DIR } from '../../src/demo/resources.js';
import { apiHarness } from './harness.js';

const { tmp, events, call, refused, finished, capturedDemoProject } = apiHarness('routescope-exp-api-');

describe.skipIf(!existsSync(join(DEMO_MODEL_DIR, 'model.safetensors')))('experiments from saved plans', () => {
  it('runs an A/B NLL experiment with random controls as a job, cancels and resumes it, and reads its effects', async () => {
    const { projectId, runId } = await capturedDemoProject('Exp');
    const plan = await call('plans.save', { projectId, runId, recipe: { type: 'mask', shared: false, targets: ['eng'], k: 4, thr: 0.05, layers: [0, 1] }, name: 'mask eng' });

    const args = { projectId, name: 'mask A/B', dataset: 'udhr', languages: ['eng', 'swh'], task: 'nll', planIds: [plan.id], randomSeeds: [1, 2], limit: 3 } as const;
    expect(await refused('experiments.start', { ...args, planIds: [999] })).toMatchObject({ code: 'not-found' });
    const job = await call('experiments.start', args);
    expect(job.kind).toBe('experiment');
    // Cancelled after its first stored unit, then resumed from there: the same experiment completes.
    await new Promise<void>((res) => {
      const t = setInterval(() => {
        if (events.some((e) => e.job.id === job.id && (e.job.progress.fraction ?? 0) > 0)) {
          clearInterval(t);
          res();
        }
      }, 5);
    });
    // Running in this process: listed as running, not mistaken for interrupted.
    expect((await call('experiments.list', { projectId }))[0]).toMatchObject({ status: 'running', resumable: false });
    await call('jobs.cancel', { jobId: job.id });
    const stopped = await finished(job.id);
    expect(stopped.status).toBe('cancelled');
    const id = stopped.experimentId!;
    expect(id).toBeGreaterThan(0);
    const [cancelled] = await call('experiments.list', { projectId });
    expect(cancelled).toMatchObject({ id, status: 'cancelled', resumable: true });
    expect(cancelled!.unitsDone).toBeLessThan(cancelled!.unitsTotal);
    // Recorded as running by a process that is gone (a server killed mid-run): read as interrupted, resumable.
    const db = new Database(join(tmp.dir, 'data', 'projects', projectId, 'project.db'));
    db.prepare("UPDATE experiment SET status = 'running', worker_host = ?, worker_pid = ?, worker_started = NULL WHERE id = ?").run(hostname(), 2 ** 22 + 4321, id);
    db.close();
    expect((await call('experiments.list', { projectId }))[0]).toMatchObject({ id, status: 'interrupted', resumable: true });
    const again = await call('experiments.resume', { projectId, experimentId: id });
    const done = await finished(again.id);
    expect(done).toMatchObject({ status: 'completed', experimentId: id });

    const [listed] = await call('experiments.list', { projectId });
    expect(listed).toMatchObject({ id, status: 'completed', resumable: false, task: 'nll' });
    expect(await refused('experiments.resume', { projectId, experimentId: id })).toMatchObject({ code: 'conflict' });

    const view = await call('experiments.get', { projectId, experimentId: id });
    expect(view.arms.map((a) => a.arm)).toEqual(['baseline', `plan-${plan.id}`, 'random-s1', 'random-s2']);
    expect(view.languages).toEqual(['eng', 'swh']);
    expect(view.higherIsBetter).toBe(false);
    // Every non-baseline arm x item once: 3 arms x 2 languages x 3 items.
    expect(view.items).toHaveLength(18);
    for (const e of view.effects) {
      // Hand computation: the mean paired difference over this arm's items (in this language, or all of them).
      const rows = view.items.filter((r) => r.arm === e.arm && (e.language === 'all' || r.language === e.language));
      const diffs = rows.map((r) => r.value! - r.baseline!);
      expect(e.n).toBe(rows.length);
      expect(e.delta).toBeCloseTo(diffs.reduce((a, b) => a + b, 0) / diffs.length, 9);
      expect(e.ci[0]).toBeLessThanOrEqual(e.delta + 1e-12);
      expect(e.ci[1]).toBeGreaterThanOrEqual(e.delta - 1e-12);
      expect(e.excludesZero).toBe(e.ci[0] > 0 || e.ci[1] < 0);
    }
    // The honest sentence when no interval excludes zero; otherwise a line per difference.
    if (view.effects.every((e) => !e.excludesZero)) expect(view.headline).toMatch(/^No difference is distinguishable from zero/);
    else expect(view.headline).toMatch(/better|worse/);
    expect(view.verdict).toContain('## Verdict');
  }, 120_000);
});
