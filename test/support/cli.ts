/** Running the CLI from tests: in this process (cheap, for most cases) or as a real child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

export interface CliResult<C = number> {
  code: C;
  stdout: string;
  stderr: string;
}

/**
 * `routescope ARGS` through main() in this process (no start-up per call), stdout and stderr captured; `env` is set
 * for the call and restored after it.
 */
export async function cliInProcess(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    o.mockRestore();
    e.mockRestore();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** `node ARGS` in `cwd` to its end; the code is null when a signal ended it. */
export function runNode(args: string[], cwd: string): Promise<CliResult<number | null>> {
  return new Promise((res) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

/**
 * Polls `db` through its own read-only connection until `sql` (one row, one column `n`) reaches `atLeast`, while
 * `child` is writing it; returns the value seen. Throws if the child exits first: it was to be interrupted mid-way.
 */
export async function waitForProgress(child: ChildProcess, db: string, sql: string, atLeast: number, what: string): Promise<number> {
  let exited = false;
  child.once('exit', () => (exited = true));
  for (;;) {
    if (exited) throw new Error(`the ${what} process finished before it could be interrupted`);
    try {
      const conn = new Database(db, { readonly: true, fileMustExist: true });
      try {
        const row = conn.prepare(sql).get() as { n: number } | undefined;
        if (row && row.n >= atLeast) return row.n;
      } finally {
        conn.close();
      }
    } catch {
      // Not created yet, or the schema is being written.
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
