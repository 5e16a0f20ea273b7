/**
 * The capture job's backend over the real engine (src/engine): prompts are rendered with the model's own tokenizer
 * and chat template, batches are left-padded and prefilled once, and only the routing of real tokens comes back.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { RenderedPrompt } from '../datasets/templates.js';
import { loadEngine, type Engine, type EngineCalls, type SessionOptions, type SteeringInput } from '../engine/index.js';
import { resolvePlan } from '../engine/steering-plan.js';
import { fingerprintModel } from '../store/fingerprint.js';
import type { CaptureBackend, CaptureModel, EncodedPrompt, RouteOptions, RoutedSequence } from './backend.js';
import { CaptureError } from './job.js';
import { appPackage } from '../app-root.js';

export interface EngineBackendOptions {
  /** The model folder (recorded with the run); default the engine's folder. */
  modelPath?: string;
  /** modelFingerprint(modelPath); computed when not given. */
  fingerprint?: string;
  engineVersion?: string;
  /**
   * Upper bound on padded tokens (rows x longest row) per forward pass. A batch whose padded size exceeds it is
   * split into length-sorted sub-batches, which also keeps padding waste low when prompt lengths vary a lot.
   */
  maxBatchTokens?: number;
}

/** Versions recorded with every run, so a result can be traced to the code that produced it. */
export function engineVersion(): string {
  const require = createRequire(import.meta.url);
  let app = 'unknown';
  try {
    app = appPackage().version ?? app;
  } catch {
    // A packaged app may not ship package.json next to the sources; the ORT version still identifies the kernels.
  }
  let ort = 'unknown';
  try {
    ort = (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    // see above
  }
  return `routescope ${app} / onnxruntime-node ${ort}`;
}

/** An engine of this thread, or a proxy of one in a worker (no folder: then options.modelPath names it). */
export type BackendEngine = EngineCalls & { folder?: Engine['folder'] };

const abortError = () => new DOMException('capture cancelled', 'AbortError');

/** Where each message's content sits in the rendered chat text; the template may not rewrite the content. */
function contentSpans(rendered: string, contents: string[]): [number, number][] {
  const spans: [number, number][] = [];
  let from = 0;
  for (const [i, c] of contents.entries()) {
    if (c.length === 0) continue;
    let at = rendered.indexOf(c, from);
    let text = c;
    if (at < 0) {
      // Many templates strip message content ({{ content | trim }}).
      text = c.trim();
      at = text ? rendered.indexOf(text, from) : -1;
    }
    if (at < 0) {
      throw new CaptureError(`the model's chat template does not reproduce message ${i + 1}'s text verbatim, so template tokens cannot be told from content tokens; use --template raw`);
    }
    spans.push([at, at + text.length]);
    from = at + text.length;
  }
  return spans;
}

/**
 * 1 (template) or 0 (content) per token from its decoded piece: a token is content only when its text lies wholly
 * inside a content span; empty pieces (leading bytes of a character a later token completes) follow that token.
 */
export function templateMaskOf(pieces: string[], rendered: string, contents: string[]): Uint8Array {
  const spans = contentSpans(rendered, contents);
  const mask = new Uint8Array(pieces.length).fill(1);
  let c = 0;
  pieces.forEach((p, i) => {
    const start = c;
    c += p.length;
    if (p.length > 0 && spans.some(([a, b]) => start >= a && c <= b)) mask[i] = 0;
  });
  for (let i = pieces.length - 2; i >= 0; i--) if (pieces[i]!.length === 0) mask[i] = mask[i + 1]!;
  return mask;
}

function fingerprintOf(dir: string) {
  const { fingerprint, detail } = fingerprintModel(dir);
  return { fingerprint, fingerprintDetail: detail };
}

export class EngineBackend implements CaptureBackend {
  readonly model: CaptureModel;
  private planCache: { key: string; steering: SteeringInput } | null = null;
  private readonly padId: number;
  private readonly maxBatchTokens: number | undefined;

  constructor(
    readonly engine: BackendEngine,
    options: EngineBackendOptions = {},
  ) {
    const tk = engine.tokenizer;
    const dir = options.modelPath ?? engine.folder?.dir;
    if (dir === undefined) throw new CaptureError('internal: an engine without its folder needs options.modelPath');
    if (!tk) throw new CaptureError(`${dir} has no tokenizer.json; capture needs the model's tokenizer to encode dataset text`);
    const mbt = options.maxBatchTokens;
    if (mbt !== undefined && (!Number.isInteger(mbt) || mbt <= 0)) throw new CaptureError(`maxBatchTokens must be a positive integer, got ${mbt}`);
    this.maxBatchTokens = mbt;
    const info = engine.info;
    this.model = {
      path: dir,
      architecture: info.architecture,
      numMoeLayers: info.moeLayers.length,
      moeLayers: info.moeLayers,
      numExperts: info.numExperts,
      topK: info.topK,
      ...(options.fingerprint ? { fingerprint: options.fingerprint } : fingerprintOf(dir)),
      executionProvider: info.executionProvider.name,
      ...(info.precision ? { precision: info.precision.name } : {}),
      engineVersion: options.engineVersion ?? engineVersion(),
    };
    // Padded positions are masked out of attention and dropped from the results, so any valid id would do.
    this.padId = tk.padId ?? tk.eosIds[0] ?? 0;
  }

  /** Loads the engine for `dir` and wraps it; the backend owns the engine (dispose() releases it). */
  static async load(dir: string, options: SessionOptions & { maxBatchTokens?: number } = {}): Promise<EngineBackend> {
    const abs = resolve(dir);
    const { maxBatchTokens, ...session } = options;
    // A capture-only engine: routing-only graph, no lm_head at all (see SessionOptions.logits).
    const engine = await loadEngine(abs, { ...session, logits: session.logits ?? 'none' });
    try {
      return new EngineBackend(engine, { modelPath: abs, maxBatchTokens });
    } catch (err) {
      await engine.dispose();
      throw err;
    }
  }

  dispose(): Promise<void> {
    return this.engine.dispose();
  }

  encode(prompt: RenderedPrompt): EncodedPrompt {
    const tk = this.engine.tokenizer!;
    if (prompt.kind === 'raw') {
      const withSpecial = tk.encode(prompt.text, { addSpecialTokens: true });
      const plain = tk.encode(prompt.text, { addSpecialTokens: false });
      if (plain.length === 0) return { ids: withSpecial, templateMask: new Uint8Array(withSpecial.length).fill(1) };
      // Tokens the tokenizer's post-processor adds (a BOS, say) are markup, not the item's text.
      const at = indexOfRun(withSpecial, plain);
      if (at < 0) return { ids: withSpecial, templateMask: new Uint8Array(withSpecial.length) };
      const mask = new Uint8Array(withSpecial.length).fill(1);
      mask.fill(0, at, at + plain.length);
      return { ids: withSpecial, templateMask: mask };
    }
    if (!tk.hasChatTemplate) {
      throw new CaptureError(`model ${this.model.path} has no chat template; capture with the raw template instead`);
    }
    const rendered = tk.applyChatTemplate(prompt.messages, { addGenerationPrompt: prompt.addGenerationPrompt, enableThinking: prompt.enableThinking });
    const contents = prompt.messages.map((m) => m.content);
    const spans = contentSpans(rendered, contents);
    // The rendered text carries its own special tokens; adding more would double a BOS.
    const ids = tk.encode(rendered, { addSpecialTokens: false });
    // Fast, exact path: tokenising the pieces separately gives the same ids as tokenising the whole (the usual case
    // with byte-level BPE, where markup ends in a special token or a newline that the pre-tokenizer splits off).
    const pieceIds: number[] = [];
    const pieceMask: number[] = [];
    let pos = 0;
    const push = (text: string, m: number) => {
      if (!text) return;
      for (const id of tk.encode(text, { addSpecialTokens: false })) {
        pieceIds.push(id);
        pieceMask.push(m);
      }
    };
    for (const [a, b] of spans) {
      push(rendered.slice(pos, a), 1);
      push(rendered.slice(a, b), 0);
      pos = b;
    }
    push(rendered.slice(pos), 1);
    if (sameIds(pieceIds, ids)) return { ids, templateMask: Uint8Array.from(pieceMask) };
    // Otherwise a token straddles a boundary: place each token by its decoded text.
    const pieces = tk.tokenPieces(ids);
    if (pieces.join('') !== rendered) {
      throw new CaptureError(`model ${this.model.path}: its tokenizer does not decode the rendered chat prompt back to the same text, so template tokens cannot be located; use --template raw`);
    }
    return { ids, templateMask: templateMaskOf(pieces, rendered, contents) };
  }

  private steeringFor(plan: unknown): SteeringInput | undefined {
    if (plan === undefined || plan === null) return undefined;
    const key = JSON.stringify(plan);
    if (this.planCache?.key !== key) this.planCache = { key, steering: resolvePlan(plan, this.engine.steeringModel, "the run's steering plan") };
    return this.planCache.steering;
  }

  /** Splits prompt indices into groups whose padded size stays within the token budget (one group when no budget). */
  private groups(batch: number[][]): number[][] {
    const all = batch.map((_, i) => i);
    const budget = this.maxBatchTokens;
    const maxLen = Math.max(...batch.map((r) => r.length));
    if (!budget || batch.length * maxLen <= budget) return [all];
    const order = all.sort((a, b) => batch[a]!.length - batch[b]!.length);
    const out: number[][] = [];
    let cur: number[] = [];
    for (const i of order) {
      // Sorted ascending, so the newcomer is the longest row of the group.
      if (cur.length > 0 && (cur.length + 1) * batch[i]!.length > budget) {
        out.push(cur);
        cur = [];
      }
      cur.push(i);
    }
    if (cur.length) out.push(cur);
    return out;
  }

  async route(batch: number[][], options: RouteOptions): Promise<RoutedSequence[]> {
    if (options.signal?.aborted) throw abortError();
    if (batch.length === 0) return [];
    for (const [i, row] of batch.entries()) if (row.length === 0) throw new CaptureError(`prompt ${i} of the batch has no tokens`);
    const steering = this.steeringFor(options.plan);
    const results: RoutedSequence[] = new Array(batch.length);
    for (const group of this.groups(batch)) {
      if (options.signal?.aborted) throw abortError();
      const rows = group.map((i) => batch[i]!);
      const T = Math.max(...rows.map((r) => r.length));
      const padded = rows.map((r) => [...Array<number>(T - r.length).fill(this.padId), ...r]);
      const mask = rows.map((r) => [...Array<number>(T - r.length).fill(0), ...Array<number>(r.length).fill(1)]);
      // Capture needs routing only (withLogits means router logits, which are always computed): no lm_head.
      const out = await this.engine.forward(padded, { attentionMask: mask, steering, capture: true, logits: 'none' });
      if (options.signal?.aborted) throw abortError();
      if (!out.routing || out.routing.length !== this.model.numMoeLayers) {
        throw new CaptureError(`engine returned routing for ${out.routing?.length ?? 0} MoE layers, expected ${this.model.numMoeLayers}`);
      }
      group.forEach((i, b) => {
        results[i] = this.unpad(out.routing!, b, T, rows[b]!.length, options.withLogits);
      });
    }
    return results;
  }

  /** Routing of row b's real tokens (the last n of T positions), re-laid as [moe layer][token][slot]. */
  private unpad(routing: { routerLogits: Float32Array; experts: Int32Array; weights: Float32Array }[], b: number, T: number, n: number, withLogits: boolean): RoutedSequence {
    const { numExperts: E, topK: K, numMoeLayers: L } = this.model;
    const expertIds = new Uint16Array(L * n * K);
    const gateWeights = new Float32Array(L * n * K);
    const routerLogits = withLogits ? new Float32Array(L * n * E) : undefined;
    const first = b * T + (T - n);
    routing.forEach((layer, l) => {
      expertIds.set(layer.experts.subarray(first * K, (first + n) * K), l * n * K);
      gateWeights.set(layer.weights.subarray(first * K, (first + n) * K), l * n * K);
      routerLogits?.set(layer.routerLogits.subarray(first * E, (first + n) * E), l * n * E);
    });
    return routerLogits ? { expertIds, gateWeights, routerLogits } : { expertIds, gateWeights };
  }
}

/** Wraps an already loaded engine (the caller keeps ownership of it). */
export function createEngineBackend(engine: BackendEngine, options: EngineBackendOptions = {}): EngineBackend {
  return new EngineBackend(engine, options);
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** First index where `needle` (non-empty) occurs as a contiguous run in `hay`, or -1. */
function indexOfRun(hay: number[], needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
