/**
 * A run's analysis computed in the analysis thread (src/api/analysis-worker.ts): equal to the in-process computation,
 * computed once for concurrent requests, the server answering other calls meanwhile, errors reaching the caller with
 * their code and message, a thread that stops or cannot start failing its requests (the next one retries), and a
 * result computed from a state the run has since left not kept as current. Real SQLite files, generated runs.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalysisThread } from '../../src/api/analysis-thread.js';
import { AnalysisInputError } from '../../src/analysis/errors.js';
import { analysisErrorFromWire, analysisErrorToWire } from '../../src/api/analysis-worker-protocol.js';
import { dispatch, toApiError } from '../../src/api/dispatch.js';
import { ApiError } from '../../src/api/errors.js';
import { RunAnalysis } from '../../src/api/run-analysis.js';
import { keepDerived } from '../../src/api/run-analysis-compute.js';
import { importRoutingData, Store, StoreError } from '../../src/store/index.js';
import { randomRouting } from '../analysis/synthetic.js';
import { tempDir } from '../store/helpers.js';
import { apiHarness } from './harness.js';

const CODES = ['eng', 'deu', 'fra', 'spa', 'rus', 'swh', 'yor', 'cmn', 'hin', 'arb', 'jpn', 'kor', 'tur', 'fin', 'hun', 'ell'];
const tmp = tempDir('routescope-analysis-thread-');
const thread = new AnalysisThread();
afterAll(async () => {
  await thread.stop();
  tmp.cleanup();
});

let files = 0;
/** A project database holding one generated run; the same seed gives the same run in another file. */
function generatedRun(shape: { layers: number; experts: number; languages?: number; seed?: number }): { db: string; runId: number } {
  const db = join(tmp.dir, `run-${files++}.db`);
  const routing = randomRouting(CODES.slice(0, shape.languages ?? CODES.length), {
    layers: shape.layers, experts: shape.experts, topK: 4, seed: shape.seed ?? 3, tokens: [300, 600], power: 3, floor: 1e-3, source: 'test',
  });
  const s = Store.open(db);
  try {
    return { db, runId: importRoutingData(s, routing, { name: 'generated', source: 'import' }) };
  } finally {
    s.close();
  }
}

function sql<T>(db: string, f: (s: Store) => T): T {
  const s = Store.open(db);
  try {
    return f(s);
  } finally {
    s.close();
  }
}
const keptValues = (db: string, runId: number) => sql(db, (s) => s.db.prepare('SELECT key, stamp, format, value FROM run_derived WHERE run_id = ? ORDER BY key').all(runId));
const keptRows = (db: string, runId: number) => sql(db, (s) => s.db.prepare('SELECT key, stamp FROM run_derived WHERE run_id = ? ORDER BY key').all(runId) as { key: string; stamp: string }[]);

describe('the analysis thread', () => {
  it('gives the same analysis, views and kept rows as the in-process computation', async () => {
    const { db, runId } = generatedRun({ layers: 6, experts: 16 });
    const inProcess = new RunAnalysis(db, { place: 'main' });
    const p = await inProcess.analysed(runId);
    const keptInProcess = keptValues(db, runId);
    sql(db, (s) => s.db.prepare('DELETE FROM run_derived WHERE run_id = ?').run(runId));
    const inWorker = new RunAnalysis(db, { place: thread });
    const w = await inWorker.analysed(runId);
    expect(thread.starts).toBe(1);
    expect([inWorker.computations, inProcess.computations]).toEqual([1, 1]);
    expect(w.analysis.matrices[0]!.cosine).toBeInstanceOf(Float64Array);
    expect(w.data.languages[0]!.counts).toBeInstanceOf(Float64Array);
    expect(w).toEqual(p);
    expect(await inWorker.overview(runId)).toEqual(await inProcess.overview(runId));
    expect(await inWorker.layer(runId, 5, 'jsd')).toEqual(await inProcess.layer(runId, 5, 'jsd'));
    // What the worker kept is, byte for byte, what the main thread kept, and reads back equal.
    expect(keptValues(db, runId)).toEqual(keptInProcess);
    const reader = new RunAnalysis(db, { place: thread });
    expect(await reader.analysed(runId)).toEqual(p);
    expect([reader.computations, reader.keptReads]).toEqual([0, 1]);
  });

  it('computes once for concurrent requests of the same run and settings', async () => {
    const { db, runId } = generatedRun({ layers: 6, experts: 16, seed: 4 });
    const view = new RunAnalysis(db, { place: thread });
    // The overview and the layers the page asks for next (no pivot: the same chosen pivot) while it is computing.
    const [o, l0, l3] = await Promise.all([view.overview(runId), view.layer(runId, 0, 'cosine'), view.layer(runId, 3, 'cosine')]);
    expect([view.computations, view.keptReads]).toEqual([1, 0]);
    expect(l0.languages).toEqual(o.languages.map((l) => l.code));
    expect(l3.layer).toBe(3);
    // Another pivot is another analysis.
    await view.layer(runId, 0, 'cosine', o.languages.map((l) => l.code).find((c) => c !== o.pivot)!);
    expect(view.computations).toBe(2);
  });

  it('sends an error of the analysis to the caller with its class, code and message', async () => {
    // Two MoE layers: the default bands (thirds) need three, which the analysis itself refuses.
    const { db, runId } = generatedRun({ layers: 2, experts: 8, languages: 4 });
    const inWorker = await new RunAnalysis(db, { place: thread }).overview(runId).catch((e: unknown) => e);
    const inProcess = await new RunAnalysis(db, { place: 'main' }).overview(runId).catch((e: unknown) => e);
    expect((inWorker as Error).name).toBe('AnalysisInputError');
    expect((inWorker as Error).message).toBe('need at least 3 layers for early/middle/late bands, have 2');
    expect((inWorker as Error).message).toBe((inProcess as Error).message);
    // The run's own checks (a run that does not exist) keep their ApiError code too.
    await expect(new RunAnalysis(db, { place: thread }).overview(runId + 5)).rejects.toMatchObject({ code: 'not-found', message: expect.stringMatching(new RegExp(`^analysis: .*run ${runId + 5}.* does not exist`)) });
  });

  it('fails the requests of a thread that stops, and the next request starts a new one', async () => {
    const local = new AnalysisThread();
    const { db, runId } = generatedRun({ layers: 12, experts: 32, seed: 5 });
    const view = new RunAnalysis(db, { place: local });
    const pending = view.overview(runId);
    await local.stop();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'unavailable' });
    expect((err as Error).message).toMatch(new RegExp(`^analysis of run ${runId}: the analysis thread stopped \\(exit code \\d+\\); ask again to retry$`));
    const again = await view.overview(runId);
    expect(again.numLayers).toBe(12);
    expect([local.starts, view.computations]).toEqual([2, 1]);
    await local.stop();
  });

  it('says so, rather than waiting, when the thread cannot start', async () => {
    const missing = new URL('./no-such-analysis-worker.js', pathToFileURL(join(tmp.dir, 'x')));
    const broken = new AnalysisThread(() => ({ entry: missing, code: missing, eval: false }));
    const { db, runId } = generatedRun({ layers: 3, experts: 8, languages: 4 });
    const err = await new RunAnalysis(db, { place: broken }).overview(runId).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unavailable' });
    expect((err as Error).message).toMatch(new RegExp(`^analysis of run ${runId}: .*no-such-analysis-worker\\.js`));
  });

  it('does not keep a result computed from a state the run has since left', async () => {
    const { db, runId } = generatedRun({ layers: 4, experts: 8, languages: 6 });
    const view = new RunAnalysis(db, { place: 'main' });
    await view.overview(runId);
    const before = keptRows(db, runId);
    expect(before).toHaveLength(2);
    // The run gains tokens (a resumed capture, a re-import) after an analysis of its old state was started.
    sql(db, (s) => s.db.prepare(`UPDATE run_layer_total SET tokens = tokens + 1 WHERE run_id = ? AND language = 'eng' AND layer = 0`).run(runId));
    sql(db, (s) => keepDerived(s, runId, before[0]!.stamp, [{ key: 'analysis:stale', format: 1, value: { stale: true } }]));
    expect(keptRows(db, runId)).toEqual(before);
    // Analysed again: kept under the new state only.
    await new RunAnalysis(db, { place: thread }).overview(runId);
    const after = keptRows(db, runId);
    expect(after).toHaveLength(2);
    expect(after[0]!.stamp).not.toBe(before[0]!.stamp);
  });
});

describe('errors across the thread boundary', () => {
  it('come back as the classes the API maps, with the same code, message and details', () => {
    const errors = [
      new ApiError('conflict', 'analysis: run 3 is running, not completed', { runId: 3 }),
      new AnalysisInputError("language 'eng', layer 2: all counts are zero"),
      new StoreError('locked', 'database /x/project.db is locked while keeping a run result'),
      new Error('something else'),
    ];
    for (const err of errors) {
      // structuredClone: what postMessage does to the reply.
      const back = analysisErrorFromWire(structuredClone(analysisErrorToWire(err)));
      expect(back.constructor).toBe(err.constructor);
      expect(toApiError(back).toJSON()).toEqual(toApiError(err).toJSON());
    }
  });
});

describe('the server while a run is analysed', () => {
  const { backend, call } = apiHarness('routescope-analysis-thread-api-');

  it('answers a light call before the analysis it is computing, and maps its errors to codes', async () => {
    const { id: projectId } = await call('projects.create', { name: 'Big' });
    const routing = randomRouting(CODES, { layers: 24, experts: 64, topK: 8, seed: 9, tokens: [2000, 4000], power: 3, floor: 1e-3, source: 'test' });
    const runId = backend.workspace.with(projectId, (s) => importRoutingData(s, routing, { name: 'big', source: 'import' }));
    const order: string[] = [];
    const overview = dispatch(backend.handlers, 'analysis.overview', { projectId, runId }).then((r) => (order.push('overview'), r));
    const same = dispatch(backend.handlers, 'analysis.layer', { projectId, runId, layer: 2 }).then((r) => (order.push('layer'), r));
    const projects = await call('projects.list', null);
    order.push('projects.list');
    expect(backend.analysis(projectId).computations).toBe(0);
    expect(projects.map((p) => p.id)).toContain(projectId);
    const [o, l] = await Promise.all([overview, same]);
    expect(order).toEqual(['projects.list', 'overview', 'layer']);
    expect(o.ok && l.ok).toBe(true);
    expect(backend.analysis(projectId).computations).toBe(1);

    const small = randomRouting(CODES.slice(0, 4), { layers: 2, experts: 8, topK: 2, seed: 1, tokens: [100, 200], power: 3, floor: 1e-3, source: 'test' });
    const badRun = backend.workspace.with(projectId, (s) => importRoutingData(s, small, { name: 'two layers', source: 'import' }));
    expect(await dispatch(backend.handlers, 'analysis.overview', { projectId, runId: badRun })).toEqual({
      ok: false, error: { code: 'invalid-argument', message: 'need at least 3 layers for early/middle/late bands, have 2', details: { kind: 'AnalysisInputError' } },
    });
  });
});
