/**
 * The thread RunAnalysis computes analyses in (analysis-worker.ts), started on the first request and kept for the
 * next ones; it does not keep the process alive while idle. A thread that fails or stops fails the requests it was
 * working on with an 'unavailable' error saying so (never a hang), and the next request starts a fresh one.
 */
import { Worker } from 'node:worker_threads';
import { threadEntry, type ThreadEntry } from '../worker-thread-entry.js';
import { analysisErrorFromWire, type AnalysisWorkerReply, type AnalysisWorkerRequest } from './analysis-worker-protocol.js';
import { ApiError } from './errors.js';
import type { AnalysisOutcome, AnalysisRequest } from './run-analysis-compute.js';

/** The analysis worker's entry: analysis-worker.ts beside this file, or the bundle's analysis-worker chunk. */
export function analysisWorkerEntry(here: string = import.meta.url): ThreadEntry {
  return threadEntry(here, './analysis-worker.ts', 'analysis-worker.js');
}

interface Pending {
  runId: number;
  resolve: (o: AnalysisOutcome) => void;
  reject: (e: unknown) => void;
}

/** One started worker and the requests it holds. */
interface Started {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class AnalysisThread {
  private current: Started | null = null;
  private nextId = 1;
  /** How many threads were started (diagnostics: a restart after a failure shows as 2). */
  starts = 0;

  constructor(private readonly entry: () => ThreadEntry = () => analysisWorkerEntry()) {}

  analyse(request: AnalysisRequest): Promise<AnalysisOutcome> {
    let t: Started;
    try {
      t = this.start();
    } catch (err) {
      return Promise.reject(new ApiError('unavailable', `analysis of run ${request.runId}: cannot start the analysis thread: ${(err as Error).message}`, { runId: request.runId }));
    }
    const id = this.nextId++;
    return new Promise<AnalysisOutcome>((resolve, reject) => {
      t.pending.set(id, { runId: request.runId, resolve, reject });
      t.worker.ref();
      t.worker.postMessage({ id, request } satisfies AnalysisWorkerRequest);
    });
  }

  /**
   * Starts the thread now (it loads its modules: about a second from the sources under tsx), so the first view a
   * page asks for does not wait for it. A thread that cannot start says so on the first request.
   */
  warm(): void {
    try {
      this.start();
    } catch {
      // Said by the first request.
    }
  }

  /** Stops the thread; requests it was working on fail as 'unavailable'. */
  async stop(): Promise<void> {
    const t = this.current;
    if (!t) return;
    this.current = null;
    await t.worker.terminate();
  }

  private start(): Started {
    if (this.current) return this.current;
    const { code, eval: isEval, entry } = this.entry();
    const t: Started = { worker: new Worker(code, { eval: isEval }), pending: new Map() };
    this.starts++;
    t.worker.unref();
    t.worker.on('message', (m: AnalysisWorkerReply) => {
      const p = t.pending.get(m.id);
      if (!p) return;
      t.pending.delete(m.id);
      if (t.pending.size === 0) t.worker.unref();
      if (m.ok) p.resolve(m.outcome);
      else p.reject(analysisErrorFromWire(m.error));
    });
    const fail = (why: string) => {
      if (this.current === t) this.current = null;
      for (const p of t.pending.values()) {
        p.reject(new ApiError('unavailable', `analysis of run ${p.runId}: the analysis thread ${why}; ask again to retry`, { runId: p.runId }));
      }
      t.pending.clear();
    };
    t.worker.on('error', (err) => fail(`failed (${entry.href}): ${err.message}`));
    t.worker.on('exit', (exitCode) => fail(`stopped (exit code ${exitCode})`));
    this.current = t;
    return t;
  }
}
