/**
 * Who is writing a capture run. A run's status says 'running' until its worker records an outcome, which a killed
 * process never does; the worker's host, pid and process identity (boot id + start time on Linux, robust against
 * pid reuse) let readers tell a live worker from a dead one.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';

export type WorkerState = 'alive' | 'dead' | 'unknown';

export interface WorkerInfo {
  host: string;
  pid: number;
  /** 'alive', 'dead', or 'unknown' when it ran on another machine (nothing here can tell). */
  state: WorkerState;
}

/** Runs whose worker is this very process, by database file; the capture job registers itself here. */
const inProcess = new Set<string>();
// Keyed by absolute path: the job and a reader (the UI server) may name the same file differently.
const key = (file: string, runId: number) => `${resolve(file)}\0${runId}`;

export function markWorking(file: string, runId: number, working: boolean): void {
  if (working) inProcess.add(key(file, runId));
  else inProcess.delete(key(file, runId));
}

/** "<boot id>:<start time in clock ticks since boot>" of a process on Linux; null elsewhere or when it is gone. */
export function processIdentity(pid: number): string | null {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, starttime field 22.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start ? `${boot}:${start}` : null;
  } catch {
    return null;
  }
}

/** Whether a process with this pid exists on this machine (EPERM: it exists but belongs to another user). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function workerState(file: string, runId: number, host: string | null, pid: number | null, started: string | null): WorkerState {
  if (pid === process.pid && host === hostname()) return inProcess.has(key(file, runId)) ? 'alive' : 'dead';
  return otherWorkerState(host, pid, started);
}

/** State of a worker that is not this process (capture runs and experiments record the same three facts). */
export function otherWorkerState(host: string | null, pid: number | null, started: string | null): WorkerState {
  if (!pid || !host) return 'unknown';
  if (host !== hostname()) return 'unknown';
  if (pid === process.pid) return 'dead';
  if (!pidExists(pid)) return 'dead';
  if (started === null) return 'alive'; // recorded without an identity: the pid alone has to do
  const now = processIdentity(pid);
  return now === null || now === started ? 'alive' : 'dead';
}
