/**
 * Workbench experiments run their engine in a worker thread (src/capture/worker-engine.ts). Checked on the demo
 * model with real onnxruntime and SQLite: the proxy's forward, score and generate (steered, with token routing
 * streamed back) equal the engine on this thread; an experiment run through the API in the worker stores the same
 * bytes as the in-process runner on the same spec, and so does one cancelled and resumed; the page's light calls
 * are answered while it runs; a model folder that fails to load in the worker reaches the API as the engine's own
 * error naming the file.
 */
import { cpSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toApiError } from '../../src/api/dispatch.js';
import { WorkerEngine } from '../../src/capture/worker-engine.js';
import { DEMO_MODEL_DIR } from '../../src/demo/resources.js';
import { EngineError } from '../../src/engine/errors.js';
import { loadEngine, type Engine, type TokenRouting } from '../../src/engine/index.js';
import { resolvePlan } from '../../src/engine/steering-plan.js';
import { getExperiment, Store } from '../../src/store/index.js';
import { runExperiment, type ExperimentSpec } from '../../src/eval/experiment/index.js';
import { apiHarness, brokenConfigReply } from './harness.js';

const h = apiHarness('exp-worker-');

/** Every stored column of an experiment's results but the experiment id and the row's time. */
function stored(dbFile: string, experimentId: number): unknown[] {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare(
      `SELECT arm, language, item_id, item_index, sample, seed, prompt, output, extracted, score, correct, no_answer, detected_lang, consistent,
              loglik, num_tokens, finish_reason, routing, extra
       FROM experiment_result WHERE experiment_id = ? ORDER BY arm, language, item_id, sample`).all(experimentId);
  } finally {
    db.close();
  }
}

/** Token routings as onTokenRouting saw them (copied: the engine's views are valid during the call only). */
function recorder() {
  const seen: { sequence: number; position: number; token: number; experts: number[][]; weights: number[][] }[] = [];
  const onTokenRouting = (sequence: number, position: number, r: TokenRouting) => {
    seen.push({ sequence, position, token: r.token, experts: r.experts.map((a) => [...a]), weights: r.weights.map((a) => [...a]) });
  };
  return { seen, onTokenRouting };
}

const hasDemo = existsSync(join(DEMO_MODEL_DIR, 'model.safetensors'));

describe.skipIf(!hasDemo)('the experiment engine in a worker thread', () => {
  let local: Engine;
  let remote: WorkerEngine;
  beforeAll(async () => {
    [local, remote] = await Promise.all([loadEngine(DEMO_MODEL_DIR), WorkerEngine.load(DEMO_MODEL_DIR)]);
  }, 60_000);
  afterAll(async () => {
    await local?.dispose();
    await remote?.dispose();
  });

  it('answers forward, score and generate as the engine on this thread does, steered, with the token routing streamed back', async () => {
    // Equal but for the free memory each load saw when it chose the precision.
    const reason = (r: string | undefined) => r?.replace(/[\d.]+ GiB available/, 'N GiB available');
    expect({ ...remote.info, precision: { ...remote.info.precision, reason: reason(remote.info.precision?.reason) } })
      .toEqual({ ...local.info, precision: { ...local.info.precision, reason: reason(local.info.precision?.reason) } });
    expect(remote.steeringModel).toEqual(local.steeringModel);
    const text = 'All human beings are born free and equal in dignity and rights.';
    expect(remote.tokenizer!.encode(text, { addSpecialTokens: true })).toEqual(local.tokenizer!.encode(text, { addSpecialTokens: true }));

    const plan = resolvePlan({ [String(local.info.moeLayers[1])]: [0, 1, 2] }, local.steeringModel, 'test mask');
    const steering = { perMoeLayer: plan.perMoeLayer };
    const ids = [local.tokenizer!.encode(text, { addSpecialTokens: true }), local.tokenizer!.encode('Everyone has the right to life.', { addSpecialTokens: true })];
    const T = Math.max(...ids.map((r) => r.length));
    const padded = ids.map((r) => [...Array<number>(T - r.length).fill(0), ...r]);
    const attentionMask = ids.map((r) => [...Array<number>(T - r.length).fill(0), ...Array<number>(r.length).fill(1)]);
    for (const s of [undefined, steering, steering]) {
      const opts = { attentionMask, steering: s, capture: true, routerLogits: true, logits: 'last' as const };
      const { cache: _cache, ...want } = await local.forward(padded, opts);
      expect(await remote.forward(padded, opts)).toEqual(want);
    }
    // The steering's arrays stay the caller's: sent once (copied), named afterwards.
    expect(steering.perMoeLayer[0]!.bias.length).toBe(local.info.numExperts);

    const items = ids.map((r) => ({ prompt: r.slice(0, 3), continuation: r.slice(3) }));
    const scoreOpts = { steering, capture: true, routerLogits: false, batchSize: 2 };
    expect(await remote.score(items, scoreOpts)).toEqual(await local.score(items, scoreOpts));

    const a = recorder();
    const b = recorder();
    const request = { prompts: ids, maxNewTokens: 70, steering, capture: true, routerLogits: false, keepRouting: false, sampling: { temperature: 0.8, seeds: [3, 4] } };
    const want = await local.generate({ ...request, onTokenRouting: a.onTokenRouting });
    const got = await remote.generate({ ...request, onTokenRouting: b.onTokenRouting });
    expect(got).toEqual(want);
    // Prompt tokens and up to 70 generated ones per sequence: more than one chunk of 64 crossed the thread.
    expect(b.seen.length).toBeGreaterThan(64);
    expect(b.seen).toEqual(a.seen);
  }, 60_000);

  it('stops a generation at the pass in flight on cancel, with the error the engine raises on this thread', async () => {
    const ctrl = new AbortController();
    let tokens = 0;
    const prompts = [local.tokenizer!.encode('Everyone has the right', { addSpecialTokens: true })];
    const run = remote.generate({
      // No stop token: the demo model would otherwise end the sequence before a chunk of token routing crossed.
      prompts, maxNewTokens: 2000, stopIds: [], signal: ctrl.signal, capture: true, keepRouting: false,
      // Aborted from the first chunk of token routing that crossed: the worker is mid-generation.
      onTokenRouting: () => {
        if (++tokens === 1) ctrl.abort();
      },
    });
    const err = await run.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as Error).message).toBe('cancelled');
    // Stopped a pass or two after the abort, not at the end (64 routings per chunk, one token per pass).
    expect(tokens).toBeGreaterThanOrEqual(64);
    expect(tokens).toBeLessThan(2000);
    // The thread still answers after a cancelled call.
    expect((await remote.generate({ prompts, maxNewTokens: 3 }))[0]!.generatedIds).toEqual((await local.generate({ prompts, maxNewTokens: 3 }))[0]!.generatedIds);
  }, 60_000);
});

describe.skipIf(!hasDemo)('workbench experiments with the engine in a worker thread', () => {
  let projectId = '';
  let planId = 0;
  let reference: unknown[] = [];
  let spec: ExperimentSpec;
  const args = () => ({ projectId, name: 'worker A/B', dataset: 'udhr', languages: ['eng', 'swh'], task: 'nll', planIds: [planId], limit: 3 }) as const;

  beforeAll(async () => {
    ({ projectId } = await h.capturedDemoProject('Exp worker'));
    const [run] = await h.call('runs.list', { projectId });
    planId = (await h.call('plans.save', { projectId, runId: run!.id, recipe: { type: 'mask', shared: false, targets: ['eng'], k: 4, thr: 0.05, layers: [0, 1] }, name: 'mask eng' })).id;
  }, 60_000);

  it('stores the same bytes as the in-process runner on the same spec', async () => {
    const job = await h.call('experiments.start', args());
    const done = await h.finished(job.id);
    expect(done).toMatchObject({ status: 'completed' });
    const dbFile = h.backend.workspace.dbFile(projectId);
    const viaWorker = stored(dbFile, done.experimentId!);
    // 2 arms (baseline, the steering plan) x 2 languages x 3 items.
    expect(viaWorker).toHaveLength(12);

    const store = Store.open(dbFile);
    spec = getExperiment(store, done.experimentId!).spec as ExperimentSpec;
    store.close();
    const refDb = join(h.tmp.dir, 'in-process.db');
    const ref = Store.open(refDb);
    try {
      const r = await runExperiment({ store: ref, spec });
      expect(r.status).toBe('completed');
      reference = stored(refDb, r.experimentId);
    } finally {
      ref.close();
    }
    expect(viaWorker).toEqual(reference);
    // The plan changed something: a steering arm that scored like the baseline everywhere would prove little.
    const scores = (arm: string) => (viaWorker as { arm: string; score: number }[]).filter((x) => x.arm === arm).map((x) => x.score);
    expect(scores(`plan-${planId}`)).not.toEqual(scores('baseline'));
  }, 120_000);

  it('answers light calls while an experiment runs, and stores the same bytes after a cancel and a resume', async () => {
    expect(reference).toHaveLength(12);
    const job = await h.call('experiments.start', args());
    let answeredAt = -1;
    let cancelAsked = false;
    const progressOf = () => h.events.filter((e) => e.job.id === job.id && e.job.status === 'running' && (e.job.progress.sequencesDone ?? 0) > 0);
    await new Promise<void>((res, rej) => {
      const unsubscribe = h.backend.events.subscribe((e) => {
        if (cancelAsked || e.job.id !== job.id || e.job.status !== 'running' || (e.job.progress.sequencesDone ?? 0) < 1) return;
        cancelAsked = true;
        unsubscribe();
        // A page's light call while units are left: answered before the job stops, and the job goes on to the cancel.
        void h.call('projects.list', {}).then((projects) => {
          expect(projects.map((p) => p.id)).toContain(projectId);
          answeredAt = progressOf().length;
          return h.call('jobs.cancel', { jobId: job.id });
        }).then(() => res(), rej);
      });
    });
    const cancelled = await h.finished(job.id);
    expect(answeredAt).toBeGreaterThan(0);
    expect(cancelled.status).toBe('cancelled');
    const [listed] = await h.call('experiments.list', { projectId });
    expect(listed).toMatchObject({ id: cancelled.experimentId, status: 'cancelled', resumable: true });
    expect(listed!.unitsDone).toBeGreaterThan(0);
    expect(listed!.unitsDone).toBeLessThan(listed!.unitsTotal);

    const resumed = await h.call('experiments.resume', { projectId, experimentId: cancelled.experimentId! });
    expect(await h.finished(resumed.id)).toMatchObject({ status: 'completed', experimentId: cancelled.experimentId });
    expect(stored(h.backend.workspace.dbFile(projectId), cancelled.experimentId!)).toEqual(reference);
  }, 120_000);

  it('reports a model folder that fails to load in the worker as the engine error naming the file', async () => {
    const dir = join(h.tmp.dir, 'broken-model');
    cpSync(DEMO_MODEL_DIR, dir, { recursive: true });
    // A plan from a capture of the copy, which breaks afterwards (as a folder edited on disk would).
    const model = await h.call('models.add', { projectId, path: dir });
    const capture = await h.call('capture.start', { projectId, modelId: model.id, dataset: 'udhr', languages: ['eng', 'swh'], limit: 1 });
    const captured = await h.finished(capture.id);
    expect(captured.status).toBe('completed');
    const plan = await h.call('plans.save', { projectId, runId: captured.runId!, recipe: { type: 'mask', shared: false, targets: ['eng'], k: 4, thr: 0.05, layers: [0, 1] }, name: 'mask on the copy' });
    // The spec of the first test's experiment (tests of a file run in order), on the broken copy.
    expect(spec?.model).toBeTruthy();
    const broken: ExperimentSpec = { ...spec, model: dir };
    writeFileSync(join(dir, 'config.json'), '{ not json');

    const api = await brokenConfigReply(() => WorkerEngine.load(dir));

    // The runner as the service drives it raises that error, and the workbench's job fails with its message.
    const store = Store.open(join(h.tmp.dir, 'broken.db'));
    try {
      const err = await runExperiment({ store, spec: broken, loadEngine: (d) => WorkerEngine.load(d) }).then(() => null, (e: unknown) => e);
      expect(toApiError(err).toJSON()).toEqual(api);
    } finally {
      store.close();
    }
    const before = (await h.call('experiments.list', { projectId })).length;
    const job = await h.call('experiments.start', { ...args(), planIds: [plan.id] });
    const failed = await h.finished(job.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toBe(api.message);
    expect(await h.call('experiments.list', { projectId })).toHaveLength(before);
  }, 60_000);
});
