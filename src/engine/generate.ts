/**
 * Batched generation and scoring on top of DecoderSession. Prompts are left-padded into one batch; every
 * result carries the routing of each real token (prompt and generated; padding is dropped), in order.
 */
import { EngineError } from './errors.js';
import { createRng, logProbOf, pickToken } from './sampling.js';
import type { DecoderSession, ForwardResult, SteeringInput } from './session.js';

export interface SamplingOptions {
  /** 0 (default) = greedy with the lowest token id winning ties. */
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  /**
   * One seed per prompt: each row samples from its own generator, so a row's tokens do not depend on which other
   * prompts share its batch (experiments give every arm of an item the same seed). Overrides `seed`.
   */
  seeds?: number[];
}

/** Routing of the real tokens of one sequence: per MoE layer, rows in token order. */
export interface SequenceRouting {
  tokenIds: number[];
  /** [moeLayer] -> [tokens * k] expert ids after steering. */
  experts: Int32Array[];
  /** [moeLayer] -> [tokens * k] mixing weights. */
  weights: Float32Array[];
  /** [moeLayer] -> [tokens * E] raw router logits; empty ([]) when run with routerLogits: false. */
  routerLogits: Float32Array[];
}

/** One real token's routing as onTokenRouting sees it: per MoE layer, its k expert ids and weights (views, valid during the call). */
export interface TokenRouting {
  token: number;
  experts: Int32Array[];
  weights: Float32Array[];
}

export interface Progress {
  done: number;
  total: number;
}

export interface RunControl {
  steering?: SteeringInput;
  /** Collect routing (default true). */
  capture?: boolean;
  /**
   * With capture: fetch and keep the raw router logits (default true). False fetches only the chosen experts and
   * their weights: a 4,096-token generation on a 48-layer, 128-expert model otherwise keeps ~100 MB of logits per
   * sequence.
   */
  routerLogits?: boolean;
  /** With capture: return each sequence's routing (default true); false keeps none (read it through onTokenRouting). */
  keepRouting?: boolean;
  /** With capture: called for every real token of every sequence, in order (prompt tokens, then generated ones). */
  onTokenRouting?: (sequence: number, position: number, routing: TokenRouting) => void;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export interface GenerateRequest extends RunControl {
  prompts: number[][];
  maxNewTokens: number;
  sampling?: SamplingOptions;
  /** Generation of a sequence stops after it emits one of these. */
  stopIds?: number[];
  /** Token id used for left padding (masked out, so any valid id works). */
  padId?: number;
}

export interface GeneratedSequence {
  promptIds: number[];
  generatedIds: number[];
  finishReason: 'stop' | 'length';
  routing?: SequenceRouting;
}

export interface ScoreItem {
  prompt: number[];
  continuation: number[];
}

export interface ScoredSequence {
  /** log p(continuation[i] | prompt, continuation[<i]), natural log. */
  tokenLogprobs: number[];
  total: number;
  routing?: SequenceRouting;
}

/** Growable copy of per-token rows: copying (not keeping subarrays) lets each step's output buffers be freed. */
class RowBuffer<A extends Int32Array | Float32Array> {
  private data: A;
  private used = 0;

  constructor(
    private make: (n: number) => A,
    private width: number,
  ) {
    this.data = make(64 * width);
  }

  push(row: A): void {
    if (this.used + this.width > this.data.length) {
      const bigger = this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data.set(row, this.used);
    this.used += this.width;
  }

  /** The rows as an array of exactly their length. */
  take(): A {
    return this.data.slice(0, this.used) as A;
  }
}

class RoutingCollector {
  private tokens: number[] = [];
  private experts: RowBuffer<Int32Array>[];
  private weights: RowBuffer<Float32Array>[];
  private logits: RowBuffer<Float32Array>[] | null;

  constructor(
    layers: number,
    private k: number,
    private E: number,
    withLogits: boolean,
  ) {
    this.experts = Array.from({ length: layers }, () => new RowBuffer((n) => new Int32Array(n), k));
    this.weights = Array.from({ length: layers }, () => new RowBuffer((n) => new Float32Array(n), k));
    this.logits = withLogits ? Array.from({ length: layers }, () => new RowBuffer((n) => new Float32Array(n), E)) : null;
  }

  add(token: number, result: ForwardResult, rowIndex: number): void {
    this.tokens.push(token);
    result.routing!.forEach((l, i) => {
      this.experts[i]!.push(l.experts.subarray(rowIndex * this.k, (rowIndex + 1) * this.k));
      this.weights[i]!.push(l.weights.subarray(rowIndex * this.k, (rowIndex + 1) * this.k));
      this.logits?.[i]!.push(l.routerLogits.subarray(rowIndex * this.E, (rowIndex + 1) * this.E));
    });
  }

  finish(): SequenceRouting {
    return {
      tokenIds: this.tokens,
      experts: this.experts.map((b) => b.take()),
      weights: this.weights.map((b) => b.take()),
      routerLogits: this.logits ? this.logits.map((b) => b.take()) : [],
    };
  }
}

/**
 * Where the routing of each real token goes: the per-sequence collectors (unless keepRouting is false) and the
 * onTokenRouting callback, with the token's position in its sequence (prompt tokens first).
 */
class RoutingSink {
  private collectors: RoutingCollector[] | null;
  private positions: number[];

  constructor(
    sequences: number,
    private info: { layers: number; k: number; E: number },
    private ctl: RunControl,
  ) {
    this.collectors = ctl.keepRouting === false ? null : Array.from({ length: sequences }, () => new RoutingCollector(info.layers, info.k, info.E, ctl.routerLogits !== false));
    this.positions = Array<number>(sequences).fill(0);
  }

  add(sequence: number, token: number, result: ForwardResult, rowIndex: number): void {
    this.collectors?.[sequence]!.add(token, result, rowIndex);
    const position = this.positions[sequence]!++;
    if (this.ctl.onTokenRouting) {
      const { k } = this.info;
      const routing = result.routing!;
      this.ctl.onTokenRouting(sequence, position, {
        token,
        experts: routing.map((l) => l.experts.subarray(rowIndex * k, (rowIndex + 1) * k)),
        weights: routing.map((l) => l.weights.subarray(rowIndex * k, (rowIndex + 1) * k)),
      });
    }
  }

  finish(sequence: number): SequenceRouting | undefined {
    return this.collectors?.[sequence]!.finish();
  }
}

function checkCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw new EngineError('cancelled');
}

function leftPad(rows: number[][], padId: number): { ids: number[][]; mask: number[][]; width: number } {
  const width = Math.max(...rows.map((r) => r.length));
  return {
    ids: rows.map((r) => [...Array<number>(width - r.length).fill(padId), ...r]),
    mask: rows.map((r) => [...Array<number>(width - r.length).fill(0), ...Array<number>(r.length).fill(1)]),
    width,
  };
}

/**
 * Generation that could run past max_position_embeddings is refused before any work, not cut short: every
 * token is fed back (its routing is captured), so a sequence needs prompt + maxNewTokens positions, and a
 * refusal after hours of decoding, or a quietly shorter answer, would both be worse than lowering maxNewTokens.
 */
function checkGenerationFits(prompts: number[][], maxNewTokens: number, limit: number | null): void {
  if (limit === null) return;
  prompts.forEach((p, i) => {
    if (p.length + maxNewTokens <= limit) return;
    const advice = p.length >= limit ? `shorten the prompt to fewer than ${limit} tokens` : `lower maxNewTokens to at most ${limit - p.length}`;
    throw new EngineError(
      `prompt ${i} has ${p.length} tokens; with maxNewTokens ${maxNewTokens} the sequence could reach ${p.length + maxNewTokens} tokens, ` +
        `beyond this model's max_position_embeddings (config.json) of ${limit}: ${advice}`,
    );
  });
}

export async function generate(session: DecoderSession, req: GenerateRequest): Promise<GeneratedSequence[]> {
  const B = req.prompts.length;
  if (B === 0) return [];
  if (req.prompts.some((p) => p.length === 0)) throw new EngineError('every prompt needs at least one token');
  if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 0) throw new EngineError(`maxNewTokens must be a non-negative integer, got ${req.maxNewTokens}`);
  checkGenerationFits(req.prompts, req.maxNewTokens, session.info.maxPositions);
  const capture = req.capture ?? true;
  const { numExperts: E, topK: k, moeLayers, vocabSize: V } = session.info;
  const stop = new Set(req.stopIds ?? []);
  const sampling = req.sampling ?? {};
  if (sampling.seeds && sampling.seeds.length !== B) throw new EngineError(`sampling.seeds has ${sampling.seeds.length} seeds for ${B} prompts; give one per prompt`);
  const shared = sampling.seeds ? undefined : createRng(sampling.seed ?? 0);
  const rngs = req.prompts.map((_, b) => shared ?? createRng(sampling.seeds![b]!));
  const pick = (logits: Float32Array, b: number) =>
    pickToken(logits, { temperature: sampling.temperature ?? 0, topP: sampling.topP ?? 1, topK: sampling.topK ?? 0, rng: rngs[b] });

  const { ids, mask, width } = leftPad(req.prompts, req.padId ?? 0);
  const sink = new RoutingSink(B, { layers: moeLayers.length, k, E }, req);
  const routerLogits = req.routerLogits;
  // Left padding puts every row's last real token at position width-1: the only logits sampling needs.
  let result = await session.forward(ids, { attentionMask: mask, steering: req.steering, capture, routerLogits, logits: 'last' });
  if (capture) {
    for (let b = 0; b < B; b++) for (let t = 0; t < width; t++) if (mask[b]![t]) sink.add(b, ids[b]![t]!, result, b * width + t);
  }
  const lastRow = (b: number) => result.logits.subarray(b * V, (b + 1) * V);
  const generated: number[][] = req.prompts.map(() => []);
  const finished = req.prompts.map(() => false);
  const reason: ('stop' | 'length')[] = req.prompts.map(() => 'length');
  const nextPos = req.prompts.map((p) => p.length);
  const fullMask = mask.map((m) => [...m]);
  for (let step = 0; step < req.maxNewTokens; step++) {
    checkCancelled(req.signal);
    const tokens = req.prompts.map((_, b) => (finished[b] ? (req.padId ?? 0) : pick(lastRow(b), b)));
    const active = finished.map((f) => !f);
    tokens.forEach((tok, b) => {
      if (!active[b]) return;
      generated[b]!.push(tok);
      if (stop.has(tok)) {
        finished[b] = true;
        reason[b] = 'stop';
      }
    });
    const last = step === req.maxNewTokens - 1 || finished.every((f) => f);
    // The last tokens only need a forward pass to capture their routing.
    if (last && !capture) break;
    fullMask.forEach((m, b) => m.push(active[b] ? 1 : 0));
    // A finished row is fed padding, masked out, but its position keeps counting as in transformers' generate
    // (which appends attention-mask ones for every row): it is attended by nobody, yet it is part of the batch's
    // max(position_ids) that decides LongRoPE's factors for the active rows.
    const positions = nextPos.map((p) => [p]);
    result = await session.forward(
      tokens.map((t) => [t]),
      // After the last step only the routing of the tokens just fed is wanted.
      { past: result.cache, attentionMask: fullMask, positionIds: positions, steering: req.steering, capture, routerLogits, logits: last ? 'none' : 'last' },
    );
    nextPos.forEach((_, b) => nextPos[b]!++);
    if (capture) tokens.forEach((tok, b) => active[b] && sink.add(b, tok, result, b));
    req.onProgress?.({ done: step + 1, total: req.maxNewTokens });
    if (last) break;
  }
  return req.prompts.map((p, b) => ({
    promptIds: p,
    generatedIds: generated[b]!,
    finishReason: reason[b]!,
    routing: capture ? sink.finish(b) : undefined,
  }));
}

/** Log-likelihood of each continuation given its prompt, batched `batchSize` items per forward pass. */
export async function score(session: DecoderSession, items: ScoreItem[], opts: RunControl & { batchSize?: number } = {}): Promise<ScoredSequence[]> {
  const capture = opts.capture ?? true;
  const { numExperts: E, topK: k, moeLayers, vocabSize: V } = session.info;
  const batchSize = opts.batchSize ?? 8;
  const out: ScoredSequence[] = [];
  const limit = session.info.maxPositions;
  items.forEach((it, i) => {
    if (it.prompt.length === 0) throw new EngineError(`score item ${i}: the prompt must have at least one token (the first continuation token is predicted from it)`);
    const length = it.prompt.length + it.continuation.length;
    if (limit !== null && length > limit) {
      throw new EngineError(`score item ${i} is ${length} tokens long (prompt ${it.prompt.length} + continuation ${it.continuation.length}), beyond this model's max_position_embeddings (config.json) of ${limit}`);
    }
  });
  for (let start = 0; start < items.length; start += batchSize) {
    checkCancelled(opts.signal);
    const chunk = items.slice(start, start + batchSize);
    const { ids, mask, width } = leftPad(chunk.map((it) => [...it.prompt, ...it.continuation]), 0);
    // Logits only at the positions that predict a continuation token (row j of the result = rows[j]).
    const rows: number[] = [];
    chunk.forEach((it, b) => {
      const pad = width - it.prompt.length - it.continuation.length;
      it.continuation.forEach((_, j) => rows.push(b * width + pad + it.prompt.length + j - 1));
    });
    const result = await session.forward(ids, { attentionMask: mask, steering: opts.steering, capture, routerLogits: opts.routerLogits, logits: { rows } });
    const sink = new RoutingSink(chunk.length, { layers: moeLayers.length, k, E }, { ...opts, onTokenRouting: opts.onTokenRouting && ((b, t, r) => opts.onTokenRouting!(start + b, t, r)) });
    let next = 0;
    chunk.forEach((it, b) => {
      const pad = width - it.prompt.length - it.continuation.length;
      const tokenLogprobs = it.continuation.map((tok) => logProbOf(result.logits, tok, next++ * V, V));
      let routing: SequenceRouting | undefined;
      if (capture) {
        for (let t = pad; t < width; t++) sink.add(b, ids[b]![t]!, result, b * width + t);
        routing = sink.finish(b);
      }
      out.push({ tokenLogprobs, total: tokenLogprobs.reduce((a, x) => a + x, 0), routing });
    });
    opts.onProgress?.({ done: Math.min(start + batchSize, items.length), total: items.length });
  }
  return out;
}
