/**
 * Job records in a project's database: what started a job (params, enough to resume it), its status and last
 * progress. A job marked running whose process is gone (the server or app was stopped or crashed) is reported as
 * interrupted, and its row updated, the first time it is read afterwards.
 */
import { hostname } from 'node:os';
import type { Store } from './db.js';
import { StoreError } from './errors.js';
import { otherWorkerState, processIdentity } from './worker.js';

export type JobRecordStatus = 'running' | 'completed' | 'cancelled' | 'failed' | 'interrupted';

export interface JobRecord {
  id: string;
  kind: string;
  status: JobRecordStatus;
  runId: number | null;
  params: unknown;
  progress: unknown;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

interface JobRow {
  id: string; kind: string; status: JobRecordStatus; run_id: number | null; params: string; progress: string | null; error: string | null;
  worker_host: string; worker_pid: number; worker_started: string | null; started_at: string; finished_at: string | null;
}

/**
 * Whether a 'running' row is really running: in this process only if `live` says so; in another process on this
 * machine while that very process (pid and start time) exists; on another machine we cannot tell, so it stays running.
 */
function stillRunning(row: JobRow, live: (id: string) => boolean): boolean {
  if (row.worker_host === hostname() && row.worker_pid === process.pid) return live(row.id);
  return otherWorkerState(row.worker_host, row.worker_pid, row.worker_started) !== 'dead';
}

function toRecord(r: JobRow): JobRecord {
  return {
    id: r.id, kind: r.kind, status: r.status, runId: r.run_id, params: JSON.parse(r.params) as unknown,
    progress: r.progress === null ? null : (JSON.parse(r.progress) as unknown), error: r.error, startedAt: r.started_at, finishedAt: r.finished_at,
  };
}

export function insertJob(store: Store, job: { id: string; kind: string; params: unknown; runId?: number | null }): void {
  store.write(`recording job ${job.id}`, () => {
    store.db
      .prepare('INSERT INTO job(id, kind, status, run_id, params, worker_host, worker_pid, worker_started) VALUES (?,?,?,?,?,?,?,?)')
      .run(job.id, job.kind, 'running', job.runId ?? null, JSON.stringify(job.params), hostname(), process.pid, processIdentity(process.pid));
  });
}

export function updateJob(store: Store, id: string, u: { status?: JobRecordStatus; runId?: number | null; progress?: unknown; error?: string | null }): void {
  store.write(`updating job ${id}`, () => {
    const finished = u.status !== undefined && u.status !== 'running' ? new Date().toISOString() : null;
    store.db
      .prepare(
        `UPDATE job SET status = coalesce(?, status), run_id = coalesce(?, run_id), progress = coalesce(?, progress),
           error = coalesce(?, error), finished_at = coalesce(?, finished_at) WHERE id = ?`,
      )
      .run(u.status ?? null, u.runId ?? null, u.progress === undefined ? null : JSON.stringify(u.progress), u.error ?? null, finished, id);
  });
}

/** Jobs newest first; rows left 'running' by a process that is gone are marked interrupted first. */
export function listJobs(store: Store, live: (id: string) => boolean): JobRecord[] {
  const rows = store.read('listing jobs', () => store.db.prepare('SELECT * FROM job ORDER BY started_at DESC, rowid DESC').all() as JobRow[]);
  const dead = rows.filter((r) => r.status === 'running' && !stillRunning(r, live));
  if (dead.length && !store.readonly) {
    store.write('marking interrupted jobs', () => {
      const mark = store.db.prepare(`UPDATE job SET status = 'interrupted', finished_at = ? WHERE id = ? AND status = 'running'`);
      for (const r of dead) mark.run(new Date().toISOString(), r.id);
    });
  }
  for (const r of dead) r.status = 'interrupted';
  return rows.map(toRecord);
}

export function getJob(store: Store, id: string, live: (id: string) => boolean): JobRecord {
  const job = listJobs(store, live).find((j) => j.id === id);
  if (!job) throw new StoreError('not-found', `job ${id} does not exist in ${store.file}`);
  return job;
}

export function renameRun(store: Store, runId: number, name: string): void {
  store.write(`renaming run ${runId}`, () => {
    const info = store.db.prepare('UPDATE capture_run SET name = ? WHERE id = ?').run(name, runId);
    if (info.changes === 0) throw new StoreError('not-found', `run ${runId} does not exist in ${store.file}`);
  });
}
