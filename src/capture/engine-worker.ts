/**
 * Worker-thread entry: loads the capture's EngineBackend and answers encode/route requests from
 * engine-worker-backend.ts, so onnxruntime's synchronous forward passes (and tokenisation) block this thread, not
 * the serve process's event loop. One request is worked at a time; an abort message marks the route in flight
 * as cancelled, which EngineBackend checks between its sub-batch passes.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { EngineBackend } from './engine-backend.js';
import { errorToWire, transferablesOf, type WorkerLoad, type WorkerReply, type WorkerRequest } from './engine-worker-protocol.js';

if (!parentPort) throw new Error('engine-worker.ts must be started as a worker thread');
const port: MessagePort = parentPort;
const post = (m: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

const load = workerData as WorkerLoad;
const aborts = new Map<number, AbortController>();

async function main(): Promise<void> {
  let backend: EngineBackend;
  try {
    backend = await EngineBackend.load(load.dir, { maxBatchTokens: load.maxBatchTokens });
  } catch (err) {
    post({ op: 'load-failed', error: errorToWire(err) });
    return;
  }
  post({ op: 'ready', model: backend.model });
  port.on('message', (req: WorkerRequest) => {
    if (req.op === 'abort') {
      aborts.get(req.id)?.abort();
      return;
    }
    void serve(backend, req);
  });
}

async function serve(backend: EngineBackend, req: Exclude<WorkerRequest, { op: 'abort' }>): Promise<void> {
  try {
    if (req.op === 'encode') {
      post({ id: req.id, ok: true, result: await backend.encode(req.prompt) });
      return;
    }
    const ctrl = new AbortController();
    aborts.set(req.id, ctrl);
    try {
      const routed = await backend.route(req.batch, { withLogits: req.withLogits, plan: req.plan, signal: ctrl.signal });
      post({ id: req.id, ok: true, result: routed }, transferablesOf(routed));
    } finally {
      aborts.delete(req.id);
    }
  } catch (err) {
    post({ id: req.id, ok: false, error: errorToWire(err) });
  }
}

void main();
