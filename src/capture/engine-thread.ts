/**
 * The calling side of the engine worker thread (engine-worker.ts): starts it, waits for its model to load, and sends
 * numbered requests whose replies (and events, for a generation's token routing) come back by number. Shared by the
 * capture's backend (engine-worker-backend.ts) and the experiment's engine (worker-engine.ts), which differ only in
 * what they ask and in how a cancel ends a call (see `call`).
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { threadEntry, type ThreadEntry } from '../worker-thread-entry.js';
import { errorFromWire, type WorkerEvent, type WorkerLoad, type WorkerReply, type WorkerRequest, type WorkerResult } from './engine-worker-protocol.js';

/** How to start the engine thread (worker-thread-entry.ts): engine-worker.ts, or the bundle's capture-worker chunk. */
export function workerEntry(here: string = import.meta.url): ThreadEntry {
  return threadEntry(here, './engine-worker.ts', 'capture-worker.js');
}

/**
 * Where a service runs its engine: 'worker' (default) is this engine thread, so the process keeps answering API calls
 * during a forward pass; 'in-process' runs it on the calling thread (the baseline tests and benchmarks compare with).
 */
export const ENGINE_MODES = ['worker', 'in-process'] as const;
export type EngineMode = (typeof ENGINE_MODES)[number];

/** Who uses the thread, for its own failures: "the capture's engine thread", raised as that caller's error class. */
export interface ThreadOwner {
  name: string;
  error: (message: string, options?: { cause?: unknown }) => Error;
}

export type ReadyReply = Extract<WorkerReply, { op: 'ready' }>;
type Request = WorkerRequest extends infer R ? (R extends { op: 'abort' } ? never : Omit<R, 'id'>) : never;

export interface CallOptions {
  signal?: AbortSignal;
  /**
   * What a cancel does to the call in flight. 'reject': the call rejects with an AbortError at once and its answer is
   * dropped (the worker skips the rest of its batch). 'relay': the worker's engine sees the abort as an in-process
   * engine would (between passes) and the call settles with whatever the engine did, so cancel "stops after the pass
   * in flight" exactly as on one thread.
   */
  onAbort: 'reject' | 'relay';
  abortMessage?: string;
  onEvent?: (e: WorkerEvent) => void;
}

type Pending = { resolve: (v: WorkerResult) => void; reject: (e: unknown) => void; onEvent?: (e: WorkerEvent) => void };

export class EngineThread {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly owner: ThreadOwner,
  ) {
    worker.on('message', (m: WorkerReply) => {
      if (!('id' in m)) return;
      const p = this.pending.get(m.id);
      if (!p) return; // answered after its caller gave up (an aborted route)
      if ('event' in m) {
        p.onEvent?.(m);
        return;
      }
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(errorFromWire(m.error));
    });
    const fail = (err: Error) => {
      this.exited ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(owner.error(`${owner.name} failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => fail(owner.error(`${owner.name} stopped (exit code ${code})`)));
  }

  /** Starts the worker and loads `load` in it; load errors arrive as the engine's own error classes. */
  static async start(load: WorkerLoad, owner: ThreadOwner): Promise<{ thread: EngineThread; ready: ReadyReply }> {
    const { entry, code, eval: isEval } = workerEntry();
    const worker = new Worker(code, { workerData: load, eval: isEval });
    const listeners: { message?: (m: WorkerReply) => void; error?: (err: Error) => void; exit?: (code: number) => void } = {};
    try {
      const ready = await new Promise<ReadyReply>((resolve, reject) => {
        listeners.message = (m) => {
          if ('op' in m && m.op === 'ready') resolve(m);
          else if ('op' in m && m.op === 'load-failed') reject(errorFromWire(m.error));
        };
        listeners.error = (err) => reject(owner.error(`${owner.name} failed to start (${fileURLToPath(entry)}): ${err.message}`, { cause: err }));
        listeners.exit = (code) => reject(owner.error(`${owner.name} stopped while loading ${load.dir} (exit code ${code})`));
        worker.on('message', listeners.message).on('error', listeners.error).on('exit', listeners.exit);
      });
      // Only these: the Worker keeps listeners of its own.
      worker.off('message', listeners.message!).off('error', listeners.error!).off('exit', listeners.exit!);
      return { thread: new EngineThread(worker, owner), ready };
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  }

  call(request: Request, o: CallOptions): Promise<WorkerResult> {
    if (this.exited) return Promise.reject(this.exited);
    const abortError = () => new DOMException(o.abortMessage ?? 'cancelled', 'AbortError');
    if (o.onAbort === 'reject' && o.signal?.aborted) return Promise.reject(abortError());
    const id = this.nextId++;
    const { signal } = o;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.has(id)) return;
        this.worker.postMessage({ id, op: 'abort' } satisfies WorkerRequest);
        if (o.onAbort === 'relay') return;
        // The pass in flight cannot be interrupted; the worker skips the rest of the batch and its answer is dropped.
        this.pending.delete(id);
        reject(abortError());
      };
      const settle = () => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (v) => { settle(); resolve(v); },
        reject: (e) => { settle(); reject(e); },
        onEvent: o.onEvent,
      });
      this.worker.postMessage({ ...request, id } as WorkerRequest);
      // 'relay' with a signal aborted before the call: the engine sees it at once, as in process.
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops the thread; its engine's native sessions go with it. */
  async dispose(): Promise<void> {
    this.exited ??= this.owner.error(`${this.owner.name} was disposed`);
    await this.worker.terminate();
  }
}
