/**
 * Export while a capture writes. A real `routescope export` process writes its file into a FIFO; once it is blocked
 * on the full pipe (part-way through the aggregate rows, seen in /proc/<pid>/wchan), this process commits another
 * batch, then drains the pipe. The export must describe one snapshot: its aggregates agree with its traces (it
 * re-imports) and it holds the run as it was when the export began.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createRun, importRunFile, loadRunRouting, Store, writeBatch } from '../../src/store/index.js';
import { synthSequence, tempDir } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const [L, E, K] = [24, 256, 4]; // aggregate rows far larger than a 64 KiB pipe buffer
const LANGS = ['en', 'fr', 'de'];

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('routescope-live-export-');
});
afterEach(() => tmp.cleanup());

function batch(store: Store, b: number) {
  writeBatch(store, 1, b, LANGS.map((language, i) => synthSequence({ language, itemId: `s${b}`, itemIndex: b, tokens: 6, layers: L, experts: E, topK: K, seed: b * 3 + i + 1 })));
}

const canFifo = process.platform === 'linux' && existsSync('/proc/self/wchan') && spawnSync('mkfifo', ['--version']).status === 0;

it.skipIf(!canFifo)('an export taken while batches commit is one consistent snapshot (needs Linux mkfifo and /proc)', async () => {
  const db = join(tmp.dir, 'live.db');
  const store = Store.open(db);
  createRun(store, { languages: LANGS, promptTemplate: 'raw', numMoeLayers: L, numExperts: E, topK: K, status: 'running' });
  for (let b = 0; b < 2; b++) batch(store, b);
  const out = join(tmp.dir, 'run.jsonl');
  expect(spawnSync('mkfifo', [`${out}.partial`]).status).toBe(0);
  const child = spawn(process.execPath, [join(ROOT, 'bin/routescope.mjs'), 'export', '--db', db, '--run', '1', '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const closed = new Promise((r) => child.once('close', r));
  const fd = openSync(`${out}.partial`, 'r'); // blocks until the export opens its output
  const chunks: Buffer[] = [];
  try {
    // Wait until the exporter is stuck writing into the full pipe, i.e. mid-export.
    const wchan = () => (existsSync(`/proc/${child.pid}/wchan`) ? readFileSync(`/proc/${child.pid}/wchan`, 'utf8') : 'exited');
    while (!wchan().includes('pipe_write')) {
      expect(wchan(), 'the export finished without filling the pipe').not.toBe('exited');
      await new Promise((r) => setTimeout(r, 10));
    }
    batch(store, 2);
    const buf = Buffer.alloc(1 << 16);
    for (let n; (n = readSync(fd, buf)) > 0; ) chunks.push(Buffer.from(buf.subarray(0, n)));
  } finally {
    closeSync(fd);
    store.close();
  }
  await closed;
  expect(stderr).toBe('');
  const copy = join(tmp.dir, 'copy.jsonl');
  writeFileSync(copy, Buffer.concat(chunks));
  const id = await importRunFile(join(tmp.dir, 'copy.db'), copy);
  const totals = loadRunRouting(join(tmp.dir, 'copy.db'), id).languages.map((l) => l.totals[0]);
  expect(totals).toEqual([12, 12, 12]); // two batches of 6-token prompts: the state when the export began
});
