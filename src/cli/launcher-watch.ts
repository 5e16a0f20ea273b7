/**
 * `npx routescope ...` runs as npm -> sh -> node. npm does not pass a SIGTERM on to that node process, and a
 * SIGKILLed npm cannot, so killing the pid a shell printed for `npx routescope capture ... &` used to leave the
 * real worker running and writing. When npm launched us, we therefore watch it and stop ourselves (as if sent
 * SIGTERM, so a capture cancels cleanly) once npm or our parent is gone.
 */
import { readFileSync } from 'node:fs';
import { cancelRequested } from './sigint.js';
import { pidExists } from '../store/worker.js';

const POLL_MS = 500;

function parentOf(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces or parentheses, so split after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** The nearest ancestor (at most four levels up) that is npm itself; undefined where /proc is unavailable. */
function npmAncestor(): number | undefined {
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    if (/(^|[/\s])(npm|npx)(-cli\.js)?(\s|$)/.test(commandLine(pid))) return pid;
    const up = parentOf(pid);
    if (up === undefined) return undefined;
    pid = up;
  }
  return undefined;
}

/** Starts the watch when npm (npx, npm exec, npm run) launched this process; a no-op otherwise. */
export function stopWhenLauncherExits(): void {
  if (!process.env.npm_command) return;
  const parent = process.ppid;
  const npm = npmAncestor();
  const timer = setInterval(() => {
    if (process.ppid === parent && (npm === undefined || pidExists(npm))) return;
    clearInterval(timer);
    // Ctrl-C reaches npm and us together and npm exits first: the cancel under way must not be cut short.
    if (cancelRequested()) return;
    process.stderr.write(`routescope: the npm process that started this one (pid ${npm ?? parent}) is gone; stopping\n`);
    process.kill(process.pid, 'SIGTERM');
  }, POLL_MS);
  timer.unref();
}
