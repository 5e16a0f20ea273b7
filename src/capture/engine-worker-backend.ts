/**
 * A CaptureBackend whose engine lives in a worker thread (engine-worker.ts, reached through engine-thread.ts).
 * onnxruntime-node runs a session synchronously on the calling thread, so a capture inside `routescope serve` would
 * otherwise hold the event loop for a whole forward pass and every light API call would wait for it. The capture job
 * loop, its SQLite writes, progress and cancel stay on the calling thread; only encode and route cross over, routing
 * results come back as transferred typed arrays.
 */
import type { RenderedPrompt } from '../datasets/templates.js';
import type { CaptureBackend, CaptureModel, EncodedPrompt, RouteOptions, RoutedSequence } from './backend.js';
import { EngineThread, type ThreadOwner } from './engine-thread.js';
import { CaptureError } from './job.js';

const OWNER: ThreadOwner = { name: "the capture's engine thread", error: (message, options) => new CaptureError(message, options) };

export class WorkerEngineBackend implements CaptureBackend {
  private constructor(
    private readonly thread: EngineThread,
    readonly model: CaptureModel,
  ) {}

  /** Starts the worker and loads the model folder in it; load errors arrive as the engine's own error classes. */
  static async load(dir: string, options: { maxBatchTokens?: number } = {}): Promise<WorkerEngineBackend> {
    const { thread, ready } = await EngineThread.start({ kind: 'capture', dir, maxBatchTokens: options.maxBatchTokens }, OWNER);
    if (!('model' in ready)) {
      await thread.dispose();
      throw new CaptureError(`internal: ${OWNER.name} loaded an engine, not a capture backend`);
    }
    return new WorkerEngineBackend(thread, ready.model);
  }

  async encode(prompt: RenderedPrompt): Promise<EncodedPrompt> {
    return (await this.thread.call({ op: 'encode', prompt }, { onAbort: 'reject' })) as EncodedPrompt;
  }

  async route(batch: number[][], options: RouteOptions): Promise<RoutedSequence[]> {
    const request = { op: 'route' as const, batch, withLogits: options.withLogits, plan: options.plan };
    return (await this.thread.call(request, { signal: options.signal, onAbort: 'reject', abortMessage: 'capture cancelled' })) as RoutedSequence[];
  }

  /** Stops the thread; its engine's native sessions go with it. */
  dispose(): Promise<void> {
    return this.thread.dispose();
  }
}
