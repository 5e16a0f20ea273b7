/**
 * A CaptureBackend whose engine lives in a worker thread (engine-worker.ts). onnxruntime-node runs a session
 * synchronously on the calling thread, so a capture inside `routescope serve` would otherwise hold the event loop
 * for a whole forward pass and every light API call would wait for it. The capture job loop, its SQLite writes,
 * progress and cancel stay on the calling thread; only encode and route cross over, routing results come back
 * as transferred typed arrays.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { RenderedPrompt } from '../datasets/templates.js';
import type { CaptureBackend, CaptureModel, EncodedPrompt, RouteOptions, RoutedSequence } from './backend.js';
import { errorFromWire, type WorkerLoad, type WorkerReply, type WorkerRequest } from './engine-worker-protocol.js';
import { CaptureError } from './job.js';

/**
 * How to start the worker. From the sources (tsx, vitest) the entry is the .ts file beside this one, and the thread
 * first registers tsx's loader itself (as bin/routescope.mjs does: loader hooks are not inherited by worker threads,
 * and `--import tsx` in execArgv does not reach a worker's entry on Node 20). In the electron-vite bundle this module
 * is inlined into out/main/*.js and the entry is the `capture-worker` chunk next to it (electron.vite.config.ts).
 */
export function workerEntry(here: string = import.meta.url): { entry: URL; code: string | URL; eval: boolean } {
  if (here.endsWith('.ts')) {
    const entry = new URL('./engine-worker.ts', here);
    const code = `import(${JSON.stringify(tsxEsmApi(here))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
    return { entry, code, eval: true };
  }
  // This module may sit in a shared chunk (out/main/chunks/) rather than beside the entries.
  const chunk = 'capture-worker.js';
  const candidates = [new URL(`./${chunk}`, here), new URL(`../${chunk}`, here)];
  const entry = candidates.find((u) => existsSync(u)) ?? candidates[0]!;
  return { entry, code: entry, eval: false };
}

/** The file URL of tsx's ESM register API (its CommonJS twin misresolves its own chunks when run from eval code). */
function tsxEsmApi(here: string): string {
  const pkgFile = createRequire(here).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import?: { default?: string } }> };
  const rel = pkg.exports['./esm/api']?.import?.default;
  if (!rel) throw new CaptureError(`${pkgFile} has no ESM entry for tsx/esm/api; cannot start the capture's engine thread from the sources`);
  return pathToFileURL(join(dirname(pkgFile), rel)).href;
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
