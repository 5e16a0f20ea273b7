/**
 * Worker-thread entry: analyses runs for RunAnalysis (analysis-thread.ts), so that reading a large run's aggregates
 * and analysing them (seconds for 100 languages x 48 layers) block this thread, not the server's event loop. It opens
 * the project database itself (read-only, then briefly read-write to keep the result): the aggregates never cross the
 * thread boundary, only the finished analysis does, its typed arrays moved rather than copied. Requests are worked one
 * at a time, in order.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { analysisBuffers, analysisErrorToWire, type AnalysisWorkerReply, type AnalysisWorkerRequest } from './analysis-worker-protocol.js';
import { computeAnalysis } from './run-analysis-compute.js';

if (!parentPort) throw new Error('analysis-worker.ts must be started as a worker thread');
const port: MessagePort = parentPort;

port.on('message', (m: AnalysisWorkerRequest) => {
  let reply: AnalysisWorkerReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const outcome = computeAnalysis(m.request);
    reply = { id: m.id, ok: true, outcome };
    transfer = analysisBuffers(outcome);
  } catch (err) {
    reply = { id: m.id, ok: false, error: analysisErrorToWire(err) };
  }
  try {
    port.postMessage(reply, transfer);
  } catch (err) {
    // A value that cannot be moved or cloned: said to the caller rather than ending the thread.
    port.postMessage({ id: m.id, ok: false, error: analysisErrorToWire(new Error(`analysis of run ${m.request.runId}: its result cannot be sent to the server's thread: ${(err as Error).message}`)) } satisfies AnalysisWorkerReply);
  }
});
