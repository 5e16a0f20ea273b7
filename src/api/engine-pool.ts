/**
 * Loaded engines kept for the interactive calls of the back end (the Steering lab's "try on a prompt"), one per model
 * folder and weight precision, so a second prompt does not pay the model's load again. An engine unused for
 * `idleMs` is disposed (a large model's memory is given back); the back end disposes all on shutdown, and those a
 * deleted project used. Calls on one engine run one after another (a session's generate is not re-entrant): a
 * second call waits for the first; two calls that find no engine share one load.
 */
import { loadEngine, type Engine } from '../engine/index.js';
import type { SessionOptions } from '../engine/session.js';
import type { PrecisionPreference } from '../engine/precision.js';

/** How long an engine stays loaded after its last use (default 5 minutes). */
export const ENGINE_IDLE_MS = 5 * 60_000;

export interface EnginePoolOptions {
  idleMs?: number;
  /** The loader (tests and benchmarks count loads through the pool's diagnostics, not by replacing it). */
  load?: (dir: string, opts: SessionOptions) => Promise<Engine>;
}

/** What one use of the pool did: whether the engine was already loaded, and how long loading took if not. */
export interface EngineUse {
  reused: boolean;
  loadMs: number;
}

export interface EnginePoolDiagnostics {
  /** Engines loaded since the pool was made (a reuse does not count). */
  loads: number;
  engines: { modelDir: string; precision: PrecisionPreference; busy: boolean; projects: string[] }[];
}

interface Entry {
  modelDir: string;
  precision: PrecisionPreference;
  engine: Promise<Engine>;
  /** The tail of this engine's queue: the next call starts once it settles. */
  tail: Promise<unknown>;
  users: number;
  projects: Set<string>;
  idle: ReturnType<typeof setTimeout> | null;
  /** Dispose once the calls in flight are done (the project was deleted, the back end shuts down). */
  retired: boolean;
}

export class EnginePool {
  private readonly entries = new Map<string, Entry>();
  private readonly idleMs: number;
  private readonly load: (dir: string, opts: SessionOptions) => Promise<Engine>;
  private loads = 0;

  constructor(options: EnginePoolOptions = {}) {
    this.idleMs = options.idleMs ?? ENGINE_IDLE_MS;
    this.load = options.load ?? loadEngine;
  }

  /**
   * Runs fn with the engine of (modelDir, precision), loading it if none is held; calls on the same engine are
   * queued. A load that fails is not kept, so the next call tries again (the folder may have been fixed).
   */
  async use<T>(projectId: string, modelDir: string, precision: PrecisionPreference, fn: (engine: Engine, use: EngineUse) => Promise<T>): Promise<T> {
    const key = `${precision}\u0000${modelDir}`;
    let entry = this.entries.get(key);
    let use: EngineUse = { reused: true, loadMs: 0 };
    if (!entry || entry.retired) {
      const started = performance.now();
      this.loads++;
      const engine = this.load(modelDir, precision === 'auto' ? {} : { precision });
      const created: Entry = { modelDir, precision, engine, tail: engine, users: 0, projects: new Set(), idle: null, retired: false };
      entry = created;
      this.entries.set(key, created);
      use = { reused: false, loadMs: 0 };
      engine.then(
        () => (use.loadMs = performance.now() - started),
        () => {
          if (this.entries.get(key) === created) this.entries.delete(key);
        },
      );
    }
    const e = entry;
    e.projects.add(projectId);
    e.users++;
    if (e.idle) clearTimeout(e.idle);
    e.idle = null;
    const run = e.tail.then(
      async () => fn(await e.engine, { ...use }),
      async () => fn(await e.engine, { ...use }),
    );
    e.tail = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      e.users--;
      if (e.users === 0) this.release(key, e);
    }
  }

  private release(key: string, e: Entry): void {
    if (e.retired) {
      void this.dispose(key, e);
      return;
    }
    e.idle = setTimeout(() => void this.dispose(key, e), this.idleMs);
    // An idle engine never keeps the process alive.
    e.idle.unref?.();
  }

  private async dispose(key: string, e: Entry): Promise<void> {
    if (e.idle) clearTimeout(e.idle);
    e.idle = null;
    if (this.entries.get(key) === e) this.entries.delete(key);
    try {
      await (await e.engine).dispose();
    } catch {
      // A load that failed has nothing to dispose.
    }
  }

  /** Disposes the engines a project used (it was deleted); one busy with a call goes once that call is done. */
  async closeProject(projectId: string): Promise<void> {
    await this.retire((e) => e.projects.has(projectId));
  }

  /** Disposes every engine (shutdown); those busy go once their calls are done. */
  async closeAll(): Promise<void> {
    await this.retire(() => true);
  }

  private async retire(which: (e: Entry) => boolean): Promise<void> {
    const now: Promise<void>[] = [];
    for (const [key, e] of [...this.entries]) {
      if (!which(e)) continue;
      e.retired = true;
      this.entries.delete(key);
      if (e.users === 0) now.push(this.dispose(key, e));
    }
    await Promise.all(now);
  }

  diagnostics(): EnginePoolDiagnostics {
    return {
      loads: this.loads,
      engines: [...this.entries.values()].map((e) => ({ modelDir: e.modelDir, precision: e.precision, busy: e.users > 0, projects: [...e.projects] })),
    };
  }
}
