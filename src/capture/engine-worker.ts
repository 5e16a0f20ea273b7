/**
 * Worker-thread entry: loads what the calling thread asked for (workerData, engine-worker-protocol.ts) and answers its
 * requests, so onnxruntime's synchronous forward passes (and tokenisation) block this thread, not the serve process's
 * event loop. A capture gets its EngineBackend (encode, route: engine-worker-backend.ts); an experiment a whole engine
 * (forward, score, generate: worker-engine.ts). An abort message aborts the signal of the call in flight, which the
 * backend and the engine check between their passes, as they do on one thread.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { loadEngine, type Engine, type SteeringInput } from '../engine/index.js';
import { EngineBackend } from './engine-backend.js';
import {
  engineTransferables, errorToWire, transferablesOf, type SteeringRef, type WireTokenRouting, type WorkerLoad, type WorkerReply, type WorkerRequest,
} from './engine-worker-protocol.js';

if (!parentPort) throw new Error('engine-worker.ts must be started as a worker thread');
const port: MessagePort = parentPort;

/** Posts with `transfer`; buffers that cannot move (a view on memory onnxruntime owns) are copied instead. */
function post(m: WorkerReply, transfer: ArrayBuffer[] = []): void {
  try {
    port.postMessage(m, transfer);
  } catch (err) {
    if (transfer.length === 0 || (err as Error).name !== 'DataCloneError') throw err;
    port.postMessage(m);
  }
}

const load = workerData as WorkerLoad;
const aborts = new Map<number, AbortController>();
/** Token routings of a generation are sent in chunks of this many (few messages; no generation held whole). */
const TOKEN_CHUNK = 64;

type Served = Exclude<WorkerRequest, { op: 'abort' }>;

async function main(): Promise<void> {
  let serve: (req: Served, signal: AbortSignal) => Promise<void>;
  try {
    serve = load.kind === 'capture' ? await captureServer(load.dir, load.maxBatchTokens) : await engineServer(load.dir, load.options);
  } catch (err) {
    post({ op: 'load-failed', error: errorToWire(err) });
    return;
  }
  port.on('message', (req: WorkerRequest) => {
    if (req.op === 'abort') {
      aborts.get(req.id)?.abort();
      return;
    }
    // Registered before any await, so an abort sent right after the request finds it.
    const ctrl = new AbortController();
    aborts.set(req.id, ctrl);
    void serve(req, ctrl.signal)
      .catch((err: unknown) => post({ id: req.id, ok: false, error: errorToWire(err) }))
      .finally(() => aborts.delete(req.id));
  });
}

async function captureServer(dir: string, maxBatchTokens: number | undefined) {
  const backend = await EngineBackend.load(dir, { maxBatchTokens });
  post({ op: 'ready', model: backend.model });
  return async (req: Served, signal: AbortSignal) => {
    if (req.op === 'encode') post({ id: req.id, ok: true, result: await backend.encode(req.prompt) });
    else if (req.op === 'route') {
      const routed = await backend.route(req.batch, { withLogits: req.withLogits, plan: req.plan, signal });
      post({ id: req.id, ok: true, result: routed }, transferablesOf(routed));
    } else throw new Error(`the capture's engine thread does not answer '${req.op}'`);
  };
}

async function engineServer(dir: string, options: Extract<WorkerLoad, { kind: 'engine' }>['options']) {
  const engine: Engine = await loadEngine(dir, options);
  post({ op: 'ready', engine: { info: engine.info, steeringModel: engine.steeringModel, tokenizerDir: engine.tokenizer ? engine.folder.dir : null } });
  const steerings = new Map<number, SteeringInput>();
  const steering = (ref: SteeringRef | undefined): SteeringInput | undefined => {
    if (!ref) return undefined;
    if (ref.input) steerings.set(ref.key, ref.input);
    const s = steerings.get(ref.key);
    if (!s) throw new Error(`internal: steering ${ref.key} was never sent to the experiment's engine thread`);
    return s;
  };
  return async (req: Served, signal: AbortSignal) => {
    const id = req.id;
    if (req.op === 'forward') {
      const { cache: _cache, ...result } = await engine.forward(req.ids, { ...req.opts, steering: steering(req.opts.steering) });
      post({ id, ok: true, result }, engineTransferables(result));
    } else if (req.op === 'score') {
      const { steering: ref, ...opts } = req.opts;
      const result = await engine.score(req.items, { ...opts, steering: steering(ref), signal });
      post({ id, ok: true, result }, engineTransferables(result));
    } else if (req.op === 'generate') {
      const { steering: ref, tokenRouting, progress, ...rest } = req.req;
      let chunk: WireTokenRouting[] = [];
      const flush = () => {
        if (chunk.length) post({ id, event: 'token-routing', tokens: chunk });
        chunk = [];
      };
      const result = await engine.generate({
        ...rest, steering: steering(ref), signal,
        ...(tokenRouting ? {
          onTokenRouting: (sequence, position, r) => {
            // The engine's views are valid during the call only: copy their elements, not their buffers.
            chunk.push({ sequence, position, token: r.token, experts: r.experts.map((a) => a.slice()), weights: r.weights.map((a) => a.slice()) });
            if (chunk.length >= TOKEN_CHUNK) flush();
          },
        } : {}),
        ...(progress ? { onProgress: (p) => { flush(); post({ id, event: 'progress', progress: p }); } } : {}),
      });
      flush();
      post({ id, ok: true, result }, engineTransferables(result));
    } else throw new Error(`the experiment's engine thread does not answer '${req.op}'`);
  };
}

void main();
