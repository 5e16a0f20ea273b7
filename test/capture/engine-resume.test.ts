/**
 * Crash safety of a REAL capture process: `node bin/routescope.mjs capture ...` on a tiny model is killed with
 * SIGKILL mid-run (and, separately, interrupted with Ctrl-C), then resumed from the CLI; the final aggregates must
 * equal those of an uninterrupted in-process run, and the database must pass PRAGMA integrity_check.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineBackend } from '../../src/capture/engine-backend.js';
import { startCapture } from '../../src/capture/index.js';
import { loadDataset } from '../../src/datasets/index.js';
import { Store, getRun, loadRunRouting } from '../../src/store/index.js';
import { tempDir } from '../store/helpers.js';
import { writeToyCorpus } from '../support/toy-corpus.js';
import { runNode, waitForProgress } from '../support/cli.js';
import { writeTinyModel } from '../support/tiny-models.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/routescope.mjs');
const LANGS = ['en', 'fr', 'de'];
const ITEMS = 100;
/** How many batches the child's run has committed (read through a separate connection). */
const BATCHES_DONE = 'SELECT batches_done AS n FROM capture_run WHERE id = 1';

let tmp: ReturnType<typeof tempDir>;
let modelDir: string;
let dataFile: string;
let refDb: string;

/** A capture into a new database at `db`, cancelled after its first batch (batch size 1): run 1, one sequence stored. */
async function captureOneBatchThenCancel(db: string, modelDir: string, dataFile: string): Promise<void> {
  const store = Store.open(db);
  const backend = await EngineBackend.load(modelDir, { executionProvider: 'cpu' });
  const ac = new AbortController();
  try {
    const dataset = await loadDataset('jsonl', dataFile, { languages: LANGS });
    const res = await startCapture({ store, backend, dataset, template: 'chat', batchSize: 1, signal: ac.signal, onProgress: () => ac.abort() });
    expect(res.status).toBe('cancelled');
  } finally {
    await backend.dispose();
    store.close();
  }
}

function captureArgs(db: string): string[] {
  return [BIN, 'capture', '--model', modelDir, '--dataset', dataFile, '--langs', LANGS.join(','), '--template', 'chat', '--batch', '1', '--ep', 'cpu', '--db', db];
}

function aggregates(db: string, runId: number) {
  return (['all', 'content'] as const).map((scope) =>
    loadRunRouting(db, runId, { scope, sequences: scope === 'all' ? 'frequency' : undefined }).languages.map((l) => ({
      language: l.language,
      counts: Array.from(l.counts),
      gates: Array.from(l.gateSums),
      totals: Array.from(l.totals),
      seqs: l.sequences?.dist.map((d) => Array.from(d)),
    })),
  );
}

beforeAll(async () => {
  tmp = tempDir('routescope-engine-resume-');
  modelDir = writeTinyModel(join(tmp.dir, 'model'), 'qwen3_moe', { seed: 5 }).dir;
  dataFile = join(tmp.dir, 'data.jsonl');
  writeToyCorpus(dataFile, LANGS, ITEMS, 9);
  refDb = join(tmp.dir, 'ref.db');
  const store = Store.open(refDb);
  const backend = await EngineBackend.load(modelDir, { executionProvider: 'cpu' });
  try {
    const dataset = await loadDataset('jsonl', dataFile, { languages: LANGS });
    const res = await startCapture({ store, backend, dataset, template: 'chat', batchSize: 1 });
    expect(res.status).toBe('completed');
  } finally {
    await backend.dispose();
    store.close();
  }
});

afterAll(() => tmp?.cleanup());

describe('capture CLI crash safety', () => {
  it('SIGKILL mid-run: runs shows it interrupted, the identical command resumes it to the same aggregates, integrity ok', async () => {
    const db = join(tmp.dir, 'killed.db');
    const child = spawn(process.execPath, captureArgs(db), { cwd: ROOT, stdio: 'ignore' });
    const seen = await waitForProgress(child, db, BATCHES_DONE, 5, 'capture');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    const store = Store.open(db, { readonly: true });
    const mid = getRun(store, 1);
    store.close();
    expect(mid.status).toBe('running'); // killed: nobody got to mark it
    expect(mid.sequencesDone).toBeGreaterThanOrEqual(seen);
    expect(mid.sequencesDone).toBeLessThan(LANGS.length * ITEMS);

    // 'runs' shows the dead writer's run as interrupted, with the command that continues it.
    const listed = await runNode([BIN, 'runs', '--db', db], ROOT);
    expect(listed.stdout).toMatch(/^1\s+interrupted\s/m);
    expect(listed.stdout).toContain(`continue with: routescope capture --resume 1 --db ${db}`);
    // Rerunning the identical command continues that run instead of starting again from zero.
    const resumed = await runNode(captureArgs(db), ROOT);
    expect(resumed.stderr).toContain('same settings');
    expect(resumed.stderr).toContain(`resuming run 1: ${mid.sequencesDone} of ${LANGS.length * ITEMS}`);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('run 1 completed');

    const after = Store.open(db, { readonly: true });
    expect(after.integrityProblems()).toEqual([]);
    expect(getRun(after, 1).status).toBe('completed');
    after.close();
    expect(aggregates(db, 1)).toEqual(aggregates(refDb, 1));
  });

  it('Ctrl-C cancels cleanly (run marked cancelled, exit 130, resume hint), and resume completes it', async () => {
    const db = join(tmp.dir, 'sigint.db');
    const child = spawn(process.execPath, captureArgs(db), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    await waitForProgress(child, db, BATCHES_DONE, 3, 'capture');
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(stderr).toContain('cancelling');
    expect(code).toBe(130);
    expect(stdout).toContain('capture --resume 1');
    const store = Store.open(db, { readonly: true });
    expect(getRun(store, 1).status).toBe('cancelled');
    expect(store.integrityProblems()).toEqual([]);
    store.close();
    const resumed = await runNode([BIN, 'capture', '--resume', '1', '--db', db], ROOT);
    expect(resumed.code).toBe(0);
    expect(aggregates(db, 1)).toEqual(aggregates(refDb, 1));
  });

  it('npx: no npm warnings before the output, and killing the pid npx printed stops the real worker (run cancelled)', async () => {
    const db = join(tmp.dir, 'npx.db');
    const child = spawn('npx', ['routescope', ...captureArgs(db).slice(1)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdout!.resume();
    await waitForProgress(child, db, BATCHES_DONE, 2, 'capture');
    const conn = new Database(db, { readonly: true });
    const worker = (conn.prepare('SELECT worker_pid FROM capture_run WHERE id = 1').get() as { worker_pid: number }).worker_pid;
    conn.close();
    expect(worker).not.toBe(child.pid); // npx is npm; the capture runs in a grandchild
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
    // The worker must stop on its own soon after (it polls its launcher); the run is then marked cancelled.
    const alive = () => {
      try {
        process.kill(worker, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 600 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive()).toBe(false);
    const store = Store.open(db, { readonly: true });
    const run = getRun(store, 1);
    store.close();
    expect(run.status).toBe('cancelled');
    expect(run.sequencesDone).toBeLessThan(LANGS.length * ITEMS);
    expect(stderr.split('\n')[0]).not.toMatch(/npm warn/);
  });

  it('refuses to resume once the router weights changed in place (same shapes), naming the tensors', async () => {
    const tuned = join(tmp.dir, 'tuned-model');
    cpSync(modelDir, tuned, { recursive: true });
    const db = join(tmp.dir, 'tuned.db');
    await captureOneBatchThenCancel(db, tuned, dataFile);
    // Flip the sign of every router weight in place: a fine-tuned checkpoint with identical shapes.
    const file = join(tuned, 'model.safetensors');
    const bytes = readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const entries = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    const routers = Object.keys(entries).filter((n) => /\.mlp\.gate\.weight$/.test(n));
    expect(routers.length).toBeGreaterThan(0);
    for (const name of routers) {
      const [a0, a1] = entries[name]!.data_offsets;
      const w = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + headerLength + a0, bytes.byteOffset + 8 + headerLength + a1));
      Buffer.from(w.map((x) => -x).buffer).copy(bytes, 8 + headerLength + a0);
    }
    writeFileSync(file, bytes);
    const resumed = await runNode([BIN, 'capture', '--resume', '1', '--db', db], ROOT);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toMatch(/captured with a different model .*model\.safetensors: router weights changed \(model\.layers\.0\.mlp\.gate\.weight/);
    expect(resumed.stderr).toContain('start a new run');
    const after = Store.open(db, { readonly: true });
    expect(getRun(after, 1).sequencesDone).toBe(1); // nothing from the changed model was written
    after.close();
  });

  it('refuses to resume once the dataset file changed, saying so (the store keeps what was captured)', async () => {
    const changedFile = join(tmp.dir, 'changing.jsonl');
    writeToyCorpus(changedFile, LANGS, ITEMS, 9);
    const db = join(tmp.dir, 'changed-data.db');
    await captureOneBatchThenCancel(db, modelDir, changedFile);
    writeToyCorpus(changedFile, LANGS, ITEMS, 10); // other words, same ids and languages
    const resumed = await runNode([BIN, 'capture', '--resume', '1', '--db', db], ROOT);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain('run 1: the jsonl dataset at');
    expect(resumed.stderr).toContain('has changed since the run started');
    const after = Store.open(db, { readonly: true });
    expect(getRun(after, 1).sequencesDone).toBe(1);
    after.close();
  });

  it('refuses to resume a completed run, and bad flags get clear errors', async () => {
    const done = await runNode([BIN, 'capture', '--resume', '1', '--db', refDb], ROOT);
    expect(done.code).toBe(1);
    expect(done.stderr).toContain('already completed');
    const bad = await runNode([BIN, 'capture', '--model', modelDir, '--dataset', join(tmp.dir, 'nope.jsonl'), '--db', join(tmp.dir, 'x.db')], ROOT);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('nope.jsonl');
    const lang = await runNode([BIN, 'capture', '--model', modelDir, '--dataset', dataFile, '--langs', 'en,xx', '--db', join(tmp.dir, 'y.db')], ROOT);
    expect(lang.code).not.toBe(0);
    expect(lang.stderr).toMatch(/xx/);
  });
});
