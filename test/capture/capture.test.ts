import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCapture, resumeCapture, findUnfinishedRun, CaptureError, type CaptureProgress } from '../../src/capture/index.js';
import { buildDataset } from '../../src/datasets/index.js';
import { HashBackend, dataset, L, E, K } from './hash-backend.js';
import { Store, setRunStatus, getRun, loadRunRouting, iterateSequences, processIdentity, StoreError } from '../../src/store/index.js';
import { referenceAggregate, roundToHalfReference, tempDir } from '../store/helpers.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('routescope-capture-');
});
afterEach(() => tmp.cleanup());

function routingArrays(file: string, runId: number, scope: 'all' | 'content' = 'all') {
  const data = loadRunRouting(file, runId, { scope, sequences: 'gate' });
  return data.languages.map((l) => ({ language: l.language, counts: Array.from(l.counts), gates: Array.from(l.gateSums), totals: Array.from(l.totals), seqs: l.sequences!.dist.map((d) => Array.from(d)) }));
}

async function uninterrupted(file: string) {
  const store = Store.open(file);
  const res = await startCapture({ store, backend: new HashBackend(), dataset: dataset(), batchSize: 5, limit: 7 });
  store.close();
  return res;
}

describe('capture job', () => {
  it('captures every item in batches with progress events, aggregates matching a direct computation', async () => {
    const file = join(tmp.dir, 'a.db');
    const store = Store.open(file);
    const backend = new HashBackend();
    const events: CaptureProgress[] = [];
    const ds = dataset();
    const res = await startCapture({ store, backend, dataset: ds, batchSize: 5, limit: 7, seed: 1, onProgress: (p) => events.push(p) });
    expect(res.status).toBe('completed');
    expect(res.sequencesDone).toBe(21);
    expect(events.map((e) => e.batchNo)).toEqual([0, 1, 2, 3, 4]);
    expect(events.at(-1)!.sequencesDone).toBe(21);
    expect(events.at(-1)!.etaSeconds).toBe(0);
    expect(events.every((e) => e.tokensPerSecond > 0 && e.batchesTotal === 5)).toBe(true);
    const run = getRun(store, res.runId);
    expect(run.status).toBe('completed');
    expect(run.promptTemplate).toBe('chat');
    expect(run.dataset?.fingerprint).toBe(ds.fingerprint);
    // Reference: re-encode and re-route every prompt independently of the job and aggregate directly.
    const ref = new HashBackend();
    const seqs = [];
    for (const language of ['en', 'fr', 'sw']) {
      for (const id of ds.ids.slice(0, 7)) {
        const enc = ref.encode({ kind: 'chat', messages: [{ role: 'user', content: ds.item(language, id).text }], addGenerationPrompt: true, enableThinking: false });
        const [r] = await ref.route([enc.ids], { withLogits: false });
        seqs.push({ language, itemId: id, itemIndex: 0, tokenIds: enc.ids, templateMask: enc.templateMask, expertIds: r!.expertIds, gateWeights: r!.gateWeights });
      }
    }
    for (const scope of ['all', 'content'] as const) {
      for (const lr of loadRunRouting(store, res.runId, { scope }).languages) {
        const want = referenceAggregate(seqs, L, E, K, lr.language, scope, roundToHalfReference);
        expect(Array.from(lr.counts)).toEqual(Array.from(want.counts));
        expect(Array.from(lr.gateSums)).toEqual(Array.from(want.gates));
        expect(lr.totals[0]).toBe(want.tokens);
      }
    }
    const first = [...iterateSequences(store, res.runId, 'en')][0]!;
    expect(Array.from(first.templateMask.slice(0, 4))).toEqual([1, 1, 1, 0]);
    store.close();
  });

  it('cancels between batches, then resumes to the same aggregates as an uninterrupted run', async () => {
    const ref = await uninterrupted(join(tmp.dir, 'ref.db'));
    const file = join(tmp.dir, 'b.db');
    const store = Store.open(file);
    const ac = new AbortController();
    const res = await startCapture({ store, backend: new HashBackend(), dataset: dataset(), batchSize: 5, limit: 7, signal: ac.signal, onProgress: (p) => p.batchesDone === 2 && ac.abort() });
    expect(res.status).toBe('cancelled');
    expect(getRun(store, res.runId).status).toBe('cancelled');
    expect(getRun(store, res.runId).sequencesDone).toBe(10);
    const events: CaptureProgress[] = [];
    const resumed = await resumeCapture({ store, backend: new HashBackend(), dataset: dataset(), runId: res.runId, onProgress: (p) => events.push(p) });
    expect(resumed.status).toBe('completed');
    expect(events.map((e) => e.batchNo)).toEqual([2, 3, 4]);
    store.close();
    expect(routingArrays(file, res.runId)).toEqual(routingArrays(join(tmp.dir, 'ref.db'), ref.runId));
    expect(routingArrays(file, res.runId, 'content')).toEqual(routingArrays(join(tmp.dir, 'ref.db'), ref.runId, 'content'));
  });

  it('records the precision with the run and refuses to resume it at another precision', async () => {
    const store = Store.open(join(tmp.dir, 'p.db'));
    const at = (precision: string) => Object.assign(new HashBackend(), { model: { ...new HashBackend().model, precision } });
    const ac = new AbortController();
    const res = await startCapture({ store, backend: at('fp16'), dataset: dataset(), batchSize: 5, limit: 7, signal: ac.signal, onProgress: (p) => p.batchesDone === 1 && ac.abort() });
    expect(getRun(store, res.runId).precision).toBe('fp16');
    await expect(resumeCapture({ store, backend: at('fp32'), dataset: dataset(), runId: res.runId })).rejects.toThrow(
      new CaptureError(`run ${res.runId} was captured at precision fp16; resuming it at fp32 would mix precisions in one run: load the model with --precision fp16, or start a new run`),
    );
    expect((await resumeCapture({ store, backend: at('fp16'), dataset: dataset(), runId: res.runId })).status).toBe('completed');
    expect(getRun(store, (await startCapture({ store, backend: new HashBackend(), dataset: dataset(), limit: 2 })).runId).precision).toBeNull();
    store.close();
  });

  it('discards a batch aborted in flight and keeps the committed ones', async () => {
    const file = join(tmp.dir, 'c.db');
    const store = Store.open(file);
    const ac = new AbortController();
    const backend = new HashBackend({
      beforeRoute: async (call, signal) => {
        if (call !== 3) return;
        ac.abort();
        await new Promise((r) => setTimeout(r, 5));
        if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
      },
    });
    const res = await startCapture({ store, backend, dataset: dataset(), batchSize: 5, limit: 7, signal: ac.signal });
    expect(res.status).toBe('cancelled');
    expect(getRun(store, res.runId).sequencesDone).toBe(15);
    expect(getRun(store, res.runId).batchesDone).toBe(3);
    expect(store.integrityProblems()).toEqual([]);
    store.close();
  });

  it('marks a run failed when the engine errors, and resume finishes it identically', async () => {
    const ref = await uninterrupted(join(tmp.dir, 'ref.db'));
    const file = join(tmp.dir, 'd.db');
    const store = Store.open(file);
    const backend = new HashBackend({ beforeRoute: (call) => {
      if (call === 1) throw new Error('out of GPU memory');
    } });
    await expect(startCapture({ store, backend, dataset: dataset(), batchSize: 5, limit: 7 })).rejects.toThrow(/run 1 failed: out of GPU memory/);
    const run = getRun(store, 1);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/out of GPU memory/);
    expect(run.sequencesDone).toBe(5);
    await resumeCapture({ store, backend: new HashBackend(), dataset: dataset(), runId: 1 });
    store.close();
    expect(routingArrays(file, 1)).toEqual(routingArrays(join(tmp.dir, 'ref.db'), ref.runId));
  });

  it('stops with a clear error when the disk fills, keeps a consistent file, and resumes after space is freed', async () => {
    const ref = await uninterrupted(join(tmp.dir, 'ref.db'));
    const file = join(tmp.dir, 'e.db');
    const store = Store.open(file);
    const pages = store.db.pragma('page_count', { simple: true }) as number;
    store.db.pragma(`max_page_count = ${pages + 6}`);
    let err: unknown;
    try {
      await startCapture({ store, backend: new HashBackend(), dataset: dataset(), batchSize: 5, limit: 7 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('disk-full');
    expect(store.integrityProblems()).toEqual([]);
    const partial = getRun(store, 1);
    expect(partial.sequencesDone).toBeLessThan(21);
    expect(partial.sequencesDone % 5).toBe(0);
    store.close();
    const again = Store.open(file); // a fresh connection has no page limit: "space freed"
    const res = await resumeCapture({ store: again, backend: new HashBackend(), dataset: dataset(), runId: 1 });
    expect(res.status).toBe('completed');
    expect(again.integrityProblems()).toEqual([]);
    again.close();
    expect(routingArrays(file, 1)).toEqual(routingArrays(join(tmp.dir, 'ref.db'), ref.runId));
  });

  it('refuses to resume with a changed model or dataset, or a completed run', async () => {
    const file = join(tmp.dir, 'f.db');
    const store = Store.open(file);
    const ac = new AbortController();
    const res = await startCapture({ store, backend: new HashBackend(), dataset: dataset(), batchSize: 5, signal: ac.signal, onProgress: () => ac.abort() });
    const changed = new HashBackend();
    changed.model = { ...changed.model, fingerprint: 'sha256:other' };
    await expect(resumeCapture({ store, backend: changed, dataset: dataset(), runId: res.runId })).rejects.toThrow(/captured with a different model .*fingerprint sha256:hash-v1 -> sha256:other/);
    const other = buildDataset({ kind: 'jsonl', name: 'toy', source: 'in-test', defaultTemplate: 'chat', perLanguage: new Map([['en', [{ id: 's0', text: 'x' }]]]) });
    await expect(resumeCapture({ store, backend: new HashBackend(), dataset: other, runId: res.runId })).rejects.toThrow(/dataset given now differs/);
    // A run left 'running' by a live process (here: this test's parent process) is not taken over.
    setRunStatus(store, res.runId, 'running');
    store.db.prepare('UPDATE capture_run SET worker_host = ?, worker_pid = ?, worker_started = ? WHERE id = ?').run(hostname(), process.ppid, processIdentity(process.ppid), res.runId);
    await expect(resumeCapture({ store, backend: new HashBackend(), dataset: dataset(), runId: res.runId })).rejects.toThrow(/being captured right now by another process/);
    expect(getRun(store, res.runId).interrupted).toBe(false);
    if (process.platform === 'linux') {
      // The pid is alive but belongs to another process than the recorded worker (pid reuse): the run is interrupted.
      store.db.prepare('UPDATE capture_run SET worker_started = ? WHERE id = ?').run('boot-of-another-day:12345', res.runId);
      expect(getRun(store, res.runId).interrupted).toBe(true);
    }
    store.db.prepare('UPDATE capture_run SET worker_pid = ? WHERE id = ?').run(2 ** 22 + 12345, res.runId); // no such process
    expect(getRun(store, res.runId).interrupted).toBe(true);
    await resumeCapture({ store, backend: new HashBackend(), dataset: dataset(), runId: res.runId });
    await expect(resumeCapture({ store, backend: new HashBackend(), dataset: dataset(), runId: res.runId })).rejects.toThrow(/already completed/);
    await expect(startCapture({ store, backend: new HashBackend(), dataset: dataset(), languages: ['de'] })).rejects.toThrow(CaptureError);
    await expect(startCapture({ store, backend: new HashBackend(), dataset: dataset(), template: 'nope' })).rejects.toThrow(/unknown prompt template 'nope'/);
    store.close();
  });

  it('finds the unfinished run an identical capture would recreate, and only that one', async () => {
    const store = Store.open(join(tmp.dir, 'same.db'));
    const settings = { store, backend: new HashBackend(), dataset: dataset(), batchSize: 5, limit: 7 };
    expect(findUnfinishedRun(settings)).toBeNull();
    const ac = new AbortController();
    const res = await startCapture({ ...settings, signal: ac.signal, onProgress: () => ac.abort() });
    expect(res.status).toBe('cancelled');
    expect(findUnfinishedRun(settings)?.id).toBe(res.runId);
    expect(findUnfinishedRun({ ...settings, limit: 6 })).toBeNull();
    expect(findUnfinishedRun({ ...settings, languages: ['en', 'fr'] })).toBeNull();
    expect(findUnfinishedRun({ ...settings, name: 'other' })).toBeNull();
    await resumeCapture({ store, backend: new HashBackend(), dataset: dataset(), runId: res.runId });
    expect(findUnfinishedRun(settings)).toBeNull(); // completed runs are never continued
    store.close();
  });

  it('runs one job per model at a time', async () => {
    const store = Store.open(join(tmp.dir, 'g.db'));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = new HashBackend({ beforeRoute: () => gate });
    const first = startCapture({ store, backend: slow, dataset: dataset(), batchSize: 50 });
    await new Promise((r) => setTimeout(r, 10));
    await expect(startCapture({ store, backend: new HashBackend(), dataset: dataset() })).rejects.toThrow(/another capture is already running/);
    release();
    expect((await first).status).toBe('completed');
    store.close();
  });
});

describe('capture job: crash safety with a real process', () => {
  it('survives SIGKILL mid-run: committed batches kept, file consistent, resume equals an uninterrupted run', async () => {
    const { spawn } = await import('node:child_process');
    const ref = Store.open(join(tmp.dir, 'ref.db'));
    const refRun = await startCapture({ store: ref, backend: new HashBackend(), dataset: dataset(), batchSize: 2, limit: 8 });
    ref.close();
    const file = join(tmp.dir, 'killed.db');
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'capture-child.ts'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child never committed 3 batches; stdout: ${out}; stderr: ${err}`)), 60_000);
      child.stdout.on('data', (d) => {
        out += String(d);
        if (out.includes('committed 2\n')) {
          clearTimeout(timer);
          const live = Store.open(file, { readonly: true });
          const before = getRun(live, 1);
          live.close();
          expect(before.worker).toMatchObject({ pid: child.pid, host: hostname(), state: 'alive' });
          expect(before.interrupted).toBe(false);
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    expect(await exited).toBe('SIGKILL');
    expect(out).not.toContain('finished');
    const store = Store.open(file);
    expect(store.integrityProblems()).toEqual([]);
    const run = getRun(store, 1);
    expect(run.status).toBe('running'); // the process died without a chance to record anything
    expect(run.interrupted).toBe(true); // ... but its worker is known to be gone
    expect(run.worker?.state).toBe('dead');
    expect(run.batchesDone).toBeGreaterThanOrEqual(3);
    expect(run.sequencesDone).toBe(run.batchesDone * 2);
    expect(run.sequencesDone).toBeLessThan(24);
    const res = await resumeCapture({ store, backend: new HashBackend(), dataset: dataset(), runId: 1 });
    expect(res.status).toBe('completed');
    expect(res.sequencesDone).toBe(24);
    store.close();
    expect(routingArrays(file, 1)).toEqual(routingArrays(join(tmp.dir, 'ref.db'), refRun.runId));
    expect(routingArrays(file, 1, 'content')).toEqual(routingArrays(join(tmp.dir, 'ref.db'), refRun.runId, 'content'));
  });
});
