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
  /** [moeLayer] -> [tokens * E] raw router logits. */
  routerLogits: Float32Array[];
}

export interface Progress {
  done: number;
  total: number;
}

export interface RunControl {
  steering?: SteeringInput;
  /** Collect routing (default true). */
  capture?: boolean;
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

class RoutingCollector {
  private tokens: number[] = [];
  private chunks: { experts: Int32Array; weights: Float32Array; logits: Float32Array }[][] = [];

  constructor(
    private layers: number,
    private k: number,
    private E: number,
  ) {}

  add(token: number, result: ForwardResult, rowIndex: number): void {
    this.tokens.push(token);
    const perLayer = result.routing!.map((l) => ({
      experts: l.experts.subarray(rowIndex * this.k, (rowIndex + 1) * this.k),
      weights: l.weights.subarray(rowIndex * this.k, (rowIndex + 1) * this.k),
      logits: l.routerLogits.subarray(rowIndex * this.E, (rowIndex + 1) * this.E),
    }));
    this.chunks.push(perLayer);
  }

  finish(): SequenceRouting {
    const n = this.tokens.length;
    const out: SequenceRouting = { tokenIds: this.tokens, experts: [], weights: [], routerLogits: [] };
    for (let l = 0; l < this.layers; l++) {
      const experts = new Int32Array(n * this.k);
      const weights = new Float32Array(n * this.k);
      const logits = new Float32Array(n * this.E);
      this.chunks.forEach((c, t) => {
        experts.set(c[l]!.experts, t * this.k);
        weights.set(c[l]!.weights, t * this.k);
        logits.set(c[l]!.logits, t * this.E);
      });
      out.experts.push(experts);
      out.weights.push(weights);
      out.routerLogits.push(logits);
    }
    return out;
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
  const collectors = req.prompts.map(() => new RoutingCollector(moeLayers.length, k, E));
  // Left padding puts every row's last real token at position width-1: the only logits sampling needs.
  let result = await session.forward(ids, { attentionMask: mask, steering: req.steering, capture, logits: 'last' });
  if (capture) {
    for (let b = 0; b < B; b++) for (let t = 0; t < width; t++) if (mask[b]![t]) collectors[b]!.add(ids[b]![t]!, result, b * width + t);
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
    const positions = nextPos.map((p, b) => [active[b] ? p : 1]);
    result = await session.forward(
      tokens.map((t) => [t]),
      // After the last step only the routing of the tokens just fed is wanted.
      { past: result.cache, attentionMask: fullMask, positionIds: positions, steering: req.steering, capture, logits: last ? 'none' : 'last' },
    );
    nextPos.forEach((_, b) => active[b] && nextPos[b]!++);
    if (capture) tokens.forEach((tok, b) => active[b] && collectors[b]!.add(tok, result, b));
    req.onProgress?.({ done: step + 1, total: req.maxNewTokens });
    if (last) break;
  }
  return req.prompts.map((p, b) => ({
    promptIds: p,
    generatedIds: generated[b]!,
    finishReason: reason[b]!,
    routing: capture ? collectors[b]!.finish() : undefined,
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
    const result = await session.forward(ids, { attentionMask: mask, steering: opts.steering, capture, logits: { rows } });
    let next = 0;
    chunk.forEach((it, b) => {
      const pad = width - it.prompt.length - it.continuation.length;
      const tokenLogprobs = it.continuation.map((tok) => logProbOf(result.logits, tok, next++ * V, V));
      let routing: SequenceRouting | undefined;
      if (capture) {
        const c = new RoutingCollector(moeLayers.length, k, E);
        for (let t = pad; t < width; t++) c.add(ids[b]![t]!, result, b * width + t);
        routing = c.finish();
      }
      out.push({ tokenLogprobs, total: tokenLogprobs.reduce((a, x) => a + x, 0), routing });
    });
    opts.onProgress?.({ done: Math.min(start + batchSize, items.length), total: items.length });
  }
  return out;
}
