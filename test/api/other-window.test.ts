/**
 * What another window (another process on the same data folder) can do to a project this one has open: hold its
 * database's write lock, or delete it. Through `dispatch` on real databases: a clear message naming the project and
 * what to do, nothing written or recreated, and the back end usable afterwards.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { dispatch } from '../../src/api/dispatch.js';
import { createBackend } from '../../src/api/handlers.js';
import { insertJob, Store, updateJob } from '../../src/store/index.js';
import { processIdentity } from '../../src/store/worker.js';
import { apiHarness } from './harness.js';

// A short busy timeout, so the refusal comes quickly (serve and the app wait 5 s).
const { tmp, call, refused } = apiHarness('routescope-other-window-', { busyTimeoutMs: 150 });

/** Another connection holding the write lock, as another window's writing transaction does, until release(). */
function holdWriteLock(file: string, change: (db: Database.Database) => void) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('BEGIN IMMEDIATE');
  change(db);
  return {
    release() {
      db.exec('COMMIT');
      db.close();
    },
  };
}

describe('a database locked by another window', () => {
  it('refuses the write naming the project and what to do, keeps reads working, and lets the same call succeed later', async () => {
    const p = await call('projects.create', { name: 'Locked study' });
    const other = holdWriteLock(join(p.folder, 'project.db'), (db) => db.prepare("INSERT INTO model(path, name, architecture, num_moe_layers, moe_layers, num_experts, top_k, fingerprint) VALUES ('/elsewhere', 'other', 'x', 1, '[0]', 2, 1, 'f')").run());
    let released = false;
    try {
      const err = await refused('projects.rename', { projectId: p.id, name: 'Renamed here' });
      expect(err).toMatchObject({ code: 'locked', details: { projectId: p.id, retry: true } });
      expect(err.message).toMatch(/^project "Locked study" \(locked-study-[a-z0-9]{10}\) is busy: another window or process is writing to its database, so nothing was changed\. Retry when it has finished/);
      // Reading goes on while the other window writes (WAL): the page stays usable.
      expect((await call('projects.open', { projectId: p.id })).name).toBe('Locked study');
      other.release();
      released = true;
    } finally {
      if (!released) other.release();
    }
    // Retrying the very same call succeeds; the other window's committed write is kept.
    expect((await call('projects.rename', { projectId: p.id, name: 'Renamed here' })).name).toBe('Renamed here');
    expect((await call('projects.open', { projectId: p.id })).models).toBe(1);
  });
});

describe('a project with a job running in another window', () => {
  it('is not deleted from this one, and is once the job has finished', async () => {
    const p = await call('projects.create', { name: 'Busy elsewhere' });
    // The other window's capture, as its job row records it: a live process of this machine (a child kept waiting).
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    const store = Store.open(join(p.folder, 'project.db'), { create: false });
    try {
      insertJob(store, { id: 'job-elsewhere', kind: 'capture', params: {} });
      store.db.prepare('UPDATE job SET worker_pid = ?, worker_started = ? WHERE id = ?').run(other.pid, processIdentity(other.pid!), 'job-elsewhere');
    } finally {
      store.close();
    }
    onTestFinished(() => void other.kill());
    const err = await refused('projects.delete', { projectId: p.id, confirmName: 'Busy elsewhere' });
    expect(err).toMatchObject({ code: 'conflict', details: { jobId: 'job-elsewhere' } });
    expect(err.message).toBe(`projects.delete: a capture is running in project "Busy elsewhere" (${p.id}) in another window or process (job job-elsewhere); cancel it there or wait for it to finish`);
    expect(existsSync(p.folder)).toBe(true);
    const again = Store.open(join(p.folder, 'project.db'), { create: false });
    try {
      updateJob(again, 'job-elsewhere', { status: 'completed' });
    } finally {
      again.close();
    }
    expect(await call('projects.delete', { projectId: p.id, confirmName: 'Busy elsewhere' })).toEqual({ deleted: p.id });
  });
});

describe('a project deleted in another window', () => {
  it('answers every later call of this window with "deleted", recreates nothing, and stays usable', async () => {
    const p = await call('projects.create', { name: 'Gone soon', template: 'demo' });
    await call('projects.open', { projectId: p.id });
    // The other window: a second back end (another process in the app or another `serve`) on the same folder.
    const otherWindow = createBackend('http', { dataDir: join(tmp.dir, 'data') });
    try {
      const deleted = await dispatch(otherWindow.handlers, 'projects.delete', { projectId: p.id, confirmName: 'Gone soon' });
      expect(deleted.ok).toBe(true);
    } finally {
      otherWindow.dispose();
    }
    expect(existsSync(p.folder)).toBe(false);
    const calls: [string, unknown][] = [
      ['projects.open', { projectId: p.id }],
      ['runs.list', { projectId: p.id }],
      ['projects.rename', { projectId: p.id, name: 'x' }],
      ['models.add', { projectId: p.id, path: tmp.dir }],
      ['datasets.add', { projectId: p.id, kind: 'jsonl', path: join(tmp.dir, 'none.jsonl') }],
      ['capture.start', { projectId: p.id, modelId: 1, dataset: 'udhr', languages: ['eng'] }],
      ['analysis.saveSettings', { projectId: p.id, runId: 1, k: 2 }],
      ['plans.list', { projectId: p.id }],
      ['plans.presets', { projectId: p.id, runId: 1 }],
      ['analysis.overview', { projectId: p.id, runId: 1 }],
      ['experiments.list', { projectId: p.id }],
      ['jobs.list', { projectId: p.id }],
    ];
    for (const [method, args] of calls) {
      const err = await refused(method as Parameters<typeof refused>[0], args);
      expect(err, method).toMatchObject({ code: 'not-found', details: { projectId: p.id, deleted: true } });
      expect(err.message, method).toBe(`project "Gone soon" (${p.id}) does not exist (it may have been deleted in another window)`);
      // No stale write brought the folder or its database back.
      expect(existsSync(p.folder), method).toBe(false);
    }
    expect((await call('projects.list', undefined)).map((x) => x.id)).not.toContain(p.id);
    expect((await call('projects.create', { name: 'Next one' })).id).toMatch(/^next-one-[a-z0-9]{10}$/);
  });
});
