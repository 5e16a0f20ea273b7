/**
 * Background jobs: events for every status change, cancellation through the AbortSignal, failures reported, and
 * every job recorded in its project's database, so a job whose process died reads as interrupted.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiEvent, JobInfo } from '../../src/api/contract.js';
import { EventHub } from '../../src/api/events.js';
import { JobRegistry } from '../../src/api/jobs.js';
import { Workspace } from '../../src/api/workspace.js';
import { createRun } from '../../src/store/index.js';
import { tempDir } from '../store/helpers.js';

const tmp = tempDir('routescope-jobs-');
afterAll(() => tmp.cleanup());
const workspace = new Workspace(tmp.dir);
const projectId = workspace.create('Jobs test', 'blank');
const newRun = () =>
  workspace.with(projectId, (store) => createRun(store, { languages: ['eng', 'swh', 'yor'], promptTemplate: 'raw', numMoeLayers: 2, numExperts: 4, topK: 2, sequencesTotal: 9, status: 'running' }));

function until(events: ApiEvent[], pred: (j: JobInfo) => boolean): Promise<JobInfo> {
  return new Promise((res) => {
    const t = setInterval(() => {
      const hit = events.map((e) => e.job).find(pred);
      if (hit) {
        clearInterval(t);
        res(hit);
      }
    }, 5);
  });
}

function registry(minEventMs = 0) {
  const hub = new EventHub();
  const events: ApiEvent[] = [];
  hub.subscribe((e) => events.push(e));
  return { jobs: new JobRegistry(hub, workspace, minEventMs), events };
}

const spec = { kind: 'capture' as const, projectId, params: { note: 'test' } };

describe('JobRegistry', () => {
  it('runs a job to completion, reports progress and records it in the project database', async () => {
    const { jobs, events } = registry();
    const runId = newRun();
    const started = jobs.start(spec, async (ctx) => {
      ctx.setRun(runId);
      ctx.progress({ stage: 'capturing', fraction: 0.5, sequencesDone: 1, sequencesTotal: 2 });
      return { status: 'completed', runId };
    });
    expect(started.status).toBe('running');
    const done = await until(events, (j) => j.id === started.id && j.status !== 'running');
    expect(done).toMatchObject({ id: started.id, projectId, status: 'completed', runId, resumable: false });
    expect(done.progress).toMatchObject({ stage: 'done', fraction: 1 });
    expect(events.some((e) => e.job.progress.stage === 'capturing' && e.job.progress.fraction === 0.5)).toBe(true);
    // A second registry (a restarted server) reads the same record from the database.
    const after = registry().jobs.list(projectId).find((j) => j.id === started.id);
    expect(after).toMatchObject({ status: 'completed', runId });
    expect(after!.finishedAt).not.toBeNull();
  });

  it('cancels through the signal and reports a failure with its message', { timeout: 5000 }, async () => {
    const { jobs, events } = registry();
    const j = jobs.start(spec, (ctx) => new Promise((_, rej) => (ctx.progress({ message: 'started' }), ctx.signal).addEventListener('abort', () => rej(new Error('aborted')))));
    expect(jobs.running(projectId).map((x) => x.id)).toContain(j.id);
    await until(events, (x) => x.id === j.id && x.progress.message === 'started');
    jobs.cancel(j.id);
    const cancelled = await until(events, (x) => x.id === j.id && x.status !== 'running');
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.error).toBeNull();
    expect(jobs.running(projectId)).toEqual([]);

    // Cancelled before its work began: the work never runs.
    let ran = false;
    const early = jobs.start(spec, async () => {
      ran = true;
      return { status: 'completed', runId: null };
    });
    jobs.cancel(early.id);
    expect((await until(events, (x) => x.id === early.id && x.status !== 'running')).status).toBe('cancelled');
    expect(ran).toBe(false);

    const f = jobs.start(spec, async () => {
      throw new Error('model folder is damaged');
    });
    const failed = await until(events, (x) => x.id === f.id && x.status !== 'running');
    expect(failed).toMatchObject({ status: 'failed', error: 'model folder is damaged' });
    expect(registry().jobs.list(projectId).find((x) => x.id === f.id)).toMatchObject({ status: 'failed', error: 'model folder is damaged' });
    expect(() => jobs.get('missing')).toThrow(/no job with id "missing"/);
  });

  it('throttles progress events but always sends stage changes', async () => {
    const { jobs, events } = registry(60_000);
    const j = jobs.start(spec, async (ctx) => {
      for (let i = 0; i < 100; i++) ctx.progress({ stage: 'capturing', sequencesDone: i });
      ctx.progress({ stage: 'analysing' });
      return { status: 'completed', runId: null };
    });
    await until(events, (x) => x.id === j.id && x.status !== 'running');
    const mine = events.filter((e) => e.job.id === j.id);
    expect(mine.length).toBeLessThan(10);
    expect(mine.map((e) => e.job.progress.stage)).toEqual(expect.arrayContaining(['capturing', 'analysing']));
  });

  it('reads a job left running by a process that is gone as interrupted, resumable while its run is unfinished', () => {
    // A real process that has exited: its pid is what a crashed server leaves in the job row.
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const runId = newRun();
    workspace.with(projectId, (store) => {
      store.db
        .prepare(`INSERT INTO job(id, kind, status, run_id, params, worker_host, worker_pid) VALUES ('crashed', 'capture', 'running', ?, '{}', ?, ?)`)
        .run(runId, hostname(), dead);
    });
    const listed = registry().jobs.list(projectId).find((j) => j.id === 'crashed')!;
    expect(listed).toMatchObject({ status: 'interrupted', runId, resumable: true });
    expect(listed.progress.message).toMatch(/interrupted/);
    // The row itself was updated, so every later reader agrees.
    const row = workspace.with(projectId, (store) => store.db.prepare(`SELECT status, finished_at FROM job WHERE id = 'crashed'`).get()) as { status: string; finished_at: string | null };
    expect(row.status).toBe('interrupted');
    expect(row.finished_at).not.toBeNull();
  });
});
