/**
 * An engine whose sessions live in a worker thread (engine-worker.ts): the calls a workbench experiment makes
 * (src/eval/experiment/runner.ts, tasks.ts: forward, score, generate, tokenizer, info, steeringModel, dispose) with
 * the same results as the engine on this thread, so `routescope serve` keeps answering while an experiment runs.
 * The tokenizer is loaded here as well (prompts are rendered and outputs decoded by the runner, between passes).
 * Steering inputs cross once per arm and are named afterwards; results come back as transferred typed arrays.
 */
import { EngineError } from '../engine/errors.js';
import type {
  EngineCalls, ForwardOptions, GenerateRequest, GeneratedSequence, ModelInfo, ScoreItem, ScoredSequence, SteeringInput, SteeringModelShape,
} from '../engine/index.js';
import type { RunControl } from '../engine/generate.js';
import { loadTokenizer, type RoutescopeTokenizer } from '../engine/tokenizer.js';
import { EngineThread, type ThreadOwner } from './engine-thread.js';
import type { SteeringRef, ThreadSessionOptions, WireForwardResult, WireRunControl, WorkerEvent } from './engine-worker-protocol.js';

const OWNER: ThreadOwner = { name: "the experiment's engine thread", error: (message, options) => new EngineError(message, options) };

export class WorkerEngine implements EngineCalls {
  private readonly sent = new WeakMap<SteeringInput, number>();
  private nextSteering = 1;

  private constructor(
    private readonly thread: EngineThread,
    readonly info: ModelInfo,
    readonly steeringModel: SteeringModelShape,
    readonly tokenizer: RoutescopeTokenizer | undefined,
  ) {}

  /** Starts the worker and loads the model folder in it; load errors arrive as the engine's own error classes. */
  static async load(dir: string, options: ThreadSessionOptions = {}): Promise<WorkerEngine> {
    const { thread, ready } = await EngineThread.start({ kind: 'engine', dir, options }, OWNER);
    try {
      if (!('engine' in ready)) throw new EngineError(`internal: ${OWNER.name} loaded a capture backend, not an engine`);
      const { info, steeringModel, tokenizerDir } = ready.engine;
      return new WorkerEngine(thread, info, steeringModel, tokenizerDir === null ? undefined : await loadTokenizer(tokenizerDir));
    } catch (err) {
      await thread.dispose();
      throw err;
    }
  }

  /** The steering as it crosses: its arrays the first time (copied: the caller keeps using them), its key after. */
  private steeringRef(s: SteeringInput | undefined): SteeringRef | undefined {
    if (!s) return undefined;
    const known = this.sent.get(s);
    if (known !== undefined) return { key: known };
    const key = this.nextSteering++;
    this.sent.set(s, key);
    return { key, input: s };
  }

  private control(o: RunControl): WireRunControl {
    const { steering, signal: _signal, onTokenRouting, onProgress, ...rest } = o;
    return { ...rest, steering: this.steeringRef(steering), tokenRouting: onTokenRouting !== undefined, progress: onProgress !== undefined };
  }

  async forward(ids: number[][], opts: Omit<ForwardOptions, 'past'> = {}): Promise<WireForwardResult> {
    const { steering, ...rest } = opts;
    return (await this.thread.call({ op: 'forward', ids, opts: { ...rest, steering: this.steeringRef(steering) } }, { onAbort: 'relay' })) as WireForwardResult;
  }

  async score(items: ScoreItem[], opts: RunControl & { batchSize?: number } = {}): Promise<ScoredSequence[]> {
    return (await this.thread.call({ op: 'score', items, opts: this.control(opts) }, { signal: opts.signal, onAbort: 'relay' })) as ScoredSequence[];
  }

  async generate(req: GenerateRequest): Promise<GeneratedSequence[]> {
    const { prompts, maxNewTokens, sampling, stopIds, padId, ...control } = req;
    const onEvent = (e: WorkerEvent) => {
      if (e.event === 'progress') req.onProgress?.(e.progress);
      else for (const t of e.tokens) req.onTokenRouting?.(t.sequence, t.position, { token: t.token, experts: t.experts, weights: t.weights });
    };
    // Absent, not undefined: the engine's generate defaults stopIds and padId from the tokenizer by spreading the request.
    const wire = { prompts, maxNewTokens, ...(sampling && { sampling }), ...(stopIds && { stopIds }), ...(padId !== undefined && { padId }), ...this.control(control) };
    return (await this.thread.call({ op: 'generate', req: wire }, { signal: req.signal, onAbort: 'relay', onEvent })) as GeneratedSequence[];
  }

  /** Stops the thread; its engine's native sessions go with it. */
  dispose(): Promise<void> {
    return this.thread.dispose();
  }
}
