/**
 * The project-centric API end to end through `dispatch` (the function both transports call), on real project
 * databases and a real capture of the embedded demo model: projects, model folders, datasets, capture jobs, runs.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_METHODS } from '../../src/api/contract.js';
import { DEMO_MODEL_DIR } from '../../src/demo/resources.js';
import { loadRunRouting } from '../../src/store/index.js';
import { PROMPT_TEMPLATES } from '../../src/api/schemas/datasets.js';
import { TEMPLATES } from '../../src/datasets/templates.js';
import { RunAnalysis } from '../../src/api/run-analysis.js';
import { apiHarness } from './harness.js';

const { tmp, backend, events, call, refused, finished } = apiHarness('routescope-projects-');

describe('the contract', () => {
  it('has a handler for every method, and a schema for every handler', () => {
    expect(Object.keys(backend.handlers).sort()).toEqual([...API_METHODS].sort());
  });
});

describe('projects', () => {
  it('creates, lists (most recent first), opens, renames and deletes with confirmation', async () => {
    expect(await call('projects.list', undefined)).toEqual([]);
    const a = await call('projects.create', { name: 'Swahili study' });
    expect(a).toMatchObject({ id: expect.stringMatching(/^swahili-study-[a-z0-9]{10}$/), name: 'Swahili study', runs: 0, models: 0, demo: false });
    expect(existsSync(join(a.folder, 'project.db'))).toBe(true);
    const b = await call('projects.create', { name: 'Swahili study' });
    expect(b.id).toMatch(/^swahili-study-[a-z0-9]{10}$/);
    expect(b.id).not.toBe(a.id);
    await call('projects.open', { projectId: a.id });
    expect((await call('projects.list', undefined)).map((p) => p.id)).toEqual([a.id, b.id]);

    const renamed = await call('projects.rename', { projectId: b.id, name: 'Bantu languages' });
    expect(renamed).toMatchObject({ id: b.id, name: 'Bantu languages' });
    expect(await refused('projects.delete', { projectId: b.id, confirmName: 'Swahili study' })).toMatchObject({
      code: 'invalid-argument', message: expect.stringMatching(/confirmName must repeat the project's name "Bantu languages"/),
    });
    expect(await call('projects.delete', { projectId: b.id, confirmName: 'Bantu languages' })).toEqual({ deleted: b.id });
    expect(existsSync(b.folder)).toBe(false);
    // A project deleted meanwhile (another window) is a clear not-found, and the workbench stays usable.
    expect(await refused('runs.list', { projectId: b.id })).toMatchObject({ code: 'not-found', message: `project "Bantu languages" (${b.id}) does not exist (it may have been deleted in another window)` });
    expect((await call('projects.list', undefined)).map((p) => p.id)).toEqual([a.id]);
  });

  it('never gives a deleted project\'s id to a new one of the same name: a stale page gets not-found', async () => {
    const old = await call('projects.create', { name: 'Reused name' });
    await call('projects.delete', { projectId: old.id, confirmName: 'Reused name' });
    const again = await call('projects.create', { name: 'Reused name' });
    expect(again.id).not.toBe(old.id);
    expect(await refused('runs.list', { projectId: old.id })).toMatchObject({ code: 'not-found', details: { projectId: old.id, deleted: true } });
    expect(await refused('projects.open', { projectId: old.id })).toMatchObject({ code: 'not-found' });
    expect(await call('runs.list', { projectId: again.id })).toEqual([]);
    await call('projects.delete', { projectId: again.id, confirmName: 'Reused name' });
  });

  it('still opens a project made with an id of the earlier form (the bare slug)', async () => {
    const made = await call('projects.create', { name: 'Old style' });
    const oldId = 'old-style';
    renameSync(made.folder, join(made.folder, '..', oldId));
    expect(await call('projects.open', { projectId: oldId })).toMatchObject({ id: oldId, name: 'Old style' });
    await call('projects.delete', { projectId: oldId, confirmName: 'Old style' });
  });

  it('refuses ids that could name another folder, and malformed arguments, naming the field', async () => {
    expect(await refused('runs.list', { projectId: '../..' })).toMatchObject({ code: 'invalid-argument', details: { field: 'projectId' } });
    expect(await refused('projects.create', { name: '' })).toMatchObject({ message: 'projects.create: name must be a non-empty string, got ""' });
    expect(await refused('projects.create', { name: 'x', template: 'huge' })).toMatchObject({ message: 'projects.create: template must be one of blank, demo, got "huge"' });
    expect(await refused('runs.rename', { projectId: 'p', runId: 1.5, name: 'x' })).toMatchObject({ message: 'runs.rename: runId must be a positive integer, got 1.5' });
    expect(await refused('jobs.cancel', { id: 'x' })).toMatchObject({ message: 'jobs.cancel: unknown field id (allowed: jobId)' });
    expect(await refused('analysis.layer', { projectId: 'p', runId: 1, layer: -1 })).toMatchObject({ message: 'analysis.layer: layer must be a non-negative integer, got -1' });
    expect(await refused('capture.start', { projectId: 'p', modelId: 1, dataset: 'udhr', languages: ['eng', 'eng'] })).toMatchObject({ message: 'capture.start: languages lists an entry twice' });
  });
});

describe('datasets', () => {
  it('lists the prompt templates the loaders know', () => {
    expect([...PROMPT_TEMPLATES].sort()).toEqual(Object.keys(TEMPLATES).sort());
  });
});

describe('models', () => {
  it('explains in place why a folder is not a model', async () => {
    const notModel = join(tmp.dir, 'photos');
    mkdirSync(notModel);
    writeFileSync(join(notModel, 'cat.jpg'), 'not a model');
    const e = await refused('models.inspect', { path: notModel });
    expect(e.code).toBe('invalid-argument');
    expect(e.message).toMatch(/config\.json/);
    expect((await refused('models.inspect', { path: join(tmp.dir, 'missing') })).message).toMatch(/missing|does not exist|not found/i);
  });

  it('adds a model folder with inspect\'s facts', async () => {
    const p = await call('projects.create', { name: 'Models' });
    const m = await call('models.add', { projectId: p.id, path: DEMO_MODEL_DIR });
    expect(m.embedded).toBe(true);
    expect(m.facts).toMatchObject({ architecture: 'Qwen3MoeForCausalLM', numExperts: expect.any(Number), topK: expect.any(Number) });
    expect(m.facts!.moeLayers.length).toBeGreaterThan(0);
    // Adding the same folder again keeps one row.
    await call('models.add', { projectId: p.id, path: DEMO_MODEL_DIR });
    expect(await call('models.list', { projectId: p.id })).toHaveLength(1);
  });
});

describe.skipIf(!existsSync(join(DEMO_MODEL_DIR, 'model.safetensors')))('the demo project: capture, runs, analysis', () => {
  it('captures, refuses the same capture twice, renames, analyses and deletes a run', async () => {
    const p = await call('projects.create', { name: 'Demo', template: 'demo' });
    expect(p.demo).toBe(true);
    const [model] = await call('models.list', { projectId: p.id });
    const [udhr] = await call('datasets.list', { projectId: p.id });
    expect(udhr!.languages.length).toBeGreaterThan(100);
    const swh = udhr!.languages.find((l) => l.code === 'swh')!;
    expect(swh).toMatchObject({ family: 'Atlantic-Congo', scripts: ['Latn'] });
    expect(udhr!.suggested).toContain('eng');

    const args = { projectId: p.id, modelId: model!.id, dataset: 'udhr', languages: ['eng', 'swh', 'yor'], limit: 2, batchSize: 2, name: 'first' } as const;
    expect(await refused('capture.start', { ...args, languages: ['eng', 'zzz-not-a-language'] })).toMatchObject({ code: 'invalid-argument' });
    const job = await call('capture.start', args);
    expect(await refused('capture.start', args)).toMatchObject({ code: 'conflict', message: expect.stringMatching(/already running/) });
    const done = await finished(job.id);
    expect(done).toMatchObject({ status: 'completed', resumable: false });
    expect(events.some((e) => e.job.id === job.id && e.job.progress.stage === 'capturing')).toBe(true);

    const runs = await call('runs.list', { projectId: p.id });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: done.runId, name: 'first', status: 'completed', languages: 3, sequencesDone: 6, sequencesTotal: 6, dataset: 'udhr' });
    expect(await call('runs.rename', { projectId: p.id, runId: done.runId!, name: 'three languages' })).toMatchObject({ name: 'three languages' });
    // The completed capture was analysed in the background, so the first view finds it ready.
    await expect.poll(() => backend.analysis(p.id).computations, { timeout: 10_000 }).toBe(1);
    const overview = await call('analysis.overview', { projectId: p.id, runId: done.runId! });
    expect(backend.analysis(p.id).computations).toBe(1);
    expect(overview.languages.map((l) => l.code)).toEqual(['eng', 'swh', 'yor']);
    // ... and kept in the project database: another process (a restarted server) reads it instead of recomputing.
    const restarted = new RunAnalysis(backend.workspace.dbFile(p.id));
    expect(await restarted.overview(done.runId!)).toEqual(overview);
    expect([restarted.computations, restarted.keptReads]).toEqual([0, 1]);
    expect((await call('jobs.list', { projectId: p.id }))[0]).toMatchObject({ id: job.id, status: 'completed' });

    // The specialisation table, against a plain float64 reimplementation of the paper's rule from the stored counts.
    const data = backend.workspace.with(p.id, (store) => loadRunRouting(store, done.runId!, { scope: 'all' }));
    for (const [k, thr] of [[undefined, undefined], [3, 0.5]] as const) {
      const t = await call('analysis.experts', { projectId: p.id, runId: done.runId!, layer: 1, ...(k ? { k, thr } : {}) });
      const E = data.numExperts;
      const kept = data.languages.map((l) => {
        const f = Array.from({ length: E }, (_, e) => l.counts[E + e]! / l.totals[1]!);
        const top = new Set([...f.keys()].sort((a, b) => f[b]! - f[a]! || a - b).slice(0, t.k));
        return f.map((x, e) => (top.has(e) ? x : 0));
      });
      const kinds = Array.from({ length: E }, (_, e) => {
        const denom = kept.reduce((sum, row) => sum + row[e]!, 0) + 1e-10;
        const r = kept.map((row) => row[e]! / denom);
        if (r.some((x) => x > t.thr)) return 'exclusive';
        return r.some((x) => x > 0) && r.every((x) => x < t.thr) ? 'shared' : 'unused';
      });
      expect(t.experts.map((x) => x.kind)).toEqual(kinds);
      if (k === undefined) {
        expect(kinds.filter((x) => x === 'shared').length).toBe(overview.layers[1]!.shared);
        expect(t.rule).toMatch(/shared: r > 0 in some language and r < 0.4 in every language/);
      } else expect(t).toMatchObject({ k: 3, thr: 0.5 });
    }
    expect(await refused('analysis.experts', { projectId: p.id, runId: done.runId!, layer: 0, k: 100000 })).toMatchObject({ code: 'invalid-argument', details: { field: 'k' } });
    expect(await refused('capture.resume', { projectId: p.id, runId: done.runId! })).toMatchObject({ code: 'conflict', message: expect.stringMatching(/already completed/) });

    // A local dataset file through the loaders: a file that does not parse is explained, a good one captured.
    const bad = join(tmp.dir, 'bad.csv');
    writeFileSync(bad, 'language,id,text\neng,1,hello\nswh,1\n');
    expect(await refused('datasets.add', { projectId: p.id, kind: 'csv', path: bad })).toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/bad\.csv line 3: 2 columns, the header has 3/) });
    const good = join(tmp.dir, 'greetings.csv');
    writeFileSync(good, 'language,id,text\n' + ['eng', 'swh', 'yor'].flatMap((l, i) => [`${l},a,first sentence ${i}`, `${l},b,second sentence ${i}`]).join('\n') + '\n');
    const local = await call('datasets.add', { projectId: p.id, kind: 'csv', path: good });
    expect(local).toMatchObject({ id: expect.stringMatching(/^d\d+$/), kind: 'csv', items: 2, defaultTemplate: 'raw', suggested: ['eng', 'swh', 'yor'] });
    expect((await call('datasets.list', { projectId: p.id })).map((d) => d.id)).toEqual(['udhr', local.id]);
    const fileJob = await call('capture.start', { projectId: p.id, modelId: model!.id, dataset: local.id, languages: ['yor', 'eng'] });
    expect(await finished(fileJob.id)).toMatchObject({ status: 'completed' });
    const fileRun = (await call('runs.list', { projectId: p.id }))[0]!;
    expect(fileRun).toMatchObject({ dataset: 'csv', languages: 2, sequencesDone: 4 });
    expect(await refused('capture.start', { projectId: p.id, modelId: model!.id, dataset: local.id, languages: ['fra'] })).toMatchObject({ message: expect.stringMatching(/fra is not in dataset d\d+/) });

    expect(await call('runs.delete', { projectId: p.id, runId: done.runId! })).toEqual({ deleted: done.runId });
    expect((await call('runs.list', { projectId: p.id })).map((r) => r.id)).toEqual([fileRun.id]);
    expect(await refused('analysis.overview', { projectId: p.id, runId: done.runId! })).toMatchObject({ code: 'not-found' });
  });
});
