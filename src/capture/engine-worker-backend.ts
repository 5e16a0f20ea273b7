/**
 * A CaptureBackend whose engine lives in a worker thread (engine-worker.ts). onnxruntime-node runs a session
 * synchronously on the calling thread, so a capture inside `routescope serve` would otherwise hold the event loop
 * for a whole forward pass and every light API call would wait for it. The capture job loop, its SQLite writes,
 * progress and cancel stay on the calling thread; only encode and route cross over, routing results come back
 * as transferred typed arrays.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RenderedPrompt } from '../datasets/templates.js';
import type { CaptureBackend, CaptureModel, EncodedPrompt, RouteOptions, RoutedSequence } from './backend.js';
import { errorFromWire, type WorkerLoad, type WorkerReply, type WorkerRequest } from './engine-worker-protocol.js';
import { CaptureError } from './job.js';
import { threadEntry, type ThreadEntry } from '../worker-thread-entry.js';

/** How to start the capture's engine thread (worker-thread-entry.ts): engine-worker.ts, or the bundle's capture-worker chunk. */
export function workerEntry(here: string = import.meta.url): ThreadEntry {
  return threadEntry(here, './engine-worker.ts', 'capture-worker.js');
}

type Pending = { resolve: (v: EncodedPrompt | RoutedSequence[]) => void; reject: (e: unknown) => void };

export class WorkerEngineBackend implements CaptureBackend {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly model: CaptureModel,
  ) {
    worker.on('message', (m: WorkerReply) => {
      if (!('id' in m)) return;
      const p = this.pending.get(m.id);
      if (!p) return; // answered after its caller gave up (an aborted route)
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(errorFromWire(m.error));
    });
    const fail = (err: Error) => {
      this.exited ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new CaptureError(`the capture's engine thread failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => fail(new CaptureError(`the capture's engine thread stopped (exit code ${code})`)));
  }

  /** Starts the worker and loads the model folder in it; load errors arrive as the engine's own error classes. */
  static async load(dir: string, options: { maxBatchTokens?: number } = {}): Promise<WorkerEngineBackend> {
    const { entry, code, eval: isEval } = workerEntry();
    const data: WorkerLoad = { dir, maxBatchTokens: options.maxBatchTokens };
    const worker = new Worker(code, { workerData: data, eval: isEval });
    const listeners: { message?: (m: WorkerReply) => void; error?: (err: Error) => void; exit?: (code: number) => void } = {};
    try {
      const model = await new Promise<CaptureModel>((resolve, reject) => {
        listeners.message = (m) => {
          if ('op' in m && m.op === 'ready') resolve(m.model);
          else if ('op' in m && m.op === 'load-failed') reject(errorFromWire(m.error));
        };
        listeners.error = (err) => reject(new CaptureError(`the capture's engine thread failed to start (${fileURLToPath(entry)}): ${err.message}`, { cause: err }));
        listeners.exit = (code) => reject(new CaptureError(`the capture's engine thread stopped while loading ${dir} (exit code ${code})`));
        worker.on('message', listeners.message).on('error', listeners.error).on('exit', listeners.exit);
      });
      // Only these: the Worker keeps listeners of its own.
      worker.off('message', listeners.message!).off('error', listeners.error!).off('exit', listeners.exit!);
      return new WorkerEngineBackend(worker, model);
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  }

  private call(req: WorkerRequest, signal?: AbortSignal): Promise<EncodedPrompt | RoutedSequence[]> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        // The pass in flight cannot be interrupted; the worker skips the rest of the batch and its answer is dropped.
        if (!this.pending.delete(req.id)) return;
        this.worker.postMessage({ id: req.id, op: 'abort' } satisfies WorkerRequest);
        reject(new DOMException('capture cancelled', 'AbortError'));
      };
      const settle = () => signal?.removeEventListener('abort', onAbort);
      this.pending.set(req.id, {
        resolve: (v) => { settle(); resolve(v); },
        reject: (e) => { settle(); reject(e); },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.worker.postMessage(req);
    });
  }

  async encode(prompt: RenderedPrompt): Promise<EncodedPrompt> {
    return (await this.call({ id: this.nextId++, op: 'encode', prompt })) as EncodedPrompt;
  }

  async route(batch: number[][], options: RouteOptions): Promise<RoutedSequence[]> {
    if (options.signal?.aborted) throw new DOMException('capture cancelled', 'AbortError');
    const req: WorkerRequest = { id: this.nextId++, op: 'route', batch, withLogits: options.withLogits, plan: options.plan };
    return (await this.call(req, options.signal)) as RoutedSequence[];
  }

  /** Stops the thread; its engine's native sessions go with it. */
  async dispose(): Promise<void> {
    this.exited ??= new CaptureError("the capture's engine thread was disposed");
    await this.worker.terminate();
  }
}
