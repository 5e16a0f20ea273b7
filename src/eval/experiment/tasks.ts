/**
 * The four experiment tasks over the engine: per item a prepared prompt (token ids), then per unit (a batch of
 * items for one arm and sample) one batched engine call and one result row per item.
 * - nll: mean negative log-likelihood of the item's raw text (every token after the first), via engine.score;
 * - choice: log-likelihood of each option after the prompt, scored by src/eval/scoring (acc, per-character acc_norm);
 * - generate: batched generation, scored by src/eval/scoring (answer extraction, equivalence, language);
 * - translate: generation from the source language, scored with chrF and language consistency.
 */
import { createHash } from 'node:crypto';
import { createEngineBackend } from '../../capture/engine-backend.js';
import { boxedInstruction, getTemplate, type Dataset, type DatasetItem, type RenderedPrompt } from '../../datasets/index.js';
import type { EngineCalls, SequenceRouting, SteeringInput, TokenRouting } from '../../engine/index.js';
import { findLanguage } from '../../languages/index.js';
import type { ExperimentResult } from '../../store/index.js';
import { scoreChoice, type Scorer, type ScoringTask } from '../scoring/index.js';
import type { ResolvedArm } from './arms.js';
import type { ExperimentSpec } from './spec.js';

export class ExperimentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExperimentError';
  }
}

/** A non-baseline arm that changes no routing decision (the run is refused before anything is stored). */
export class NoopArmError extends ExperimentError {
  constructor(
    message: string,
    readonly arm: string,
  ) {
    super(message);
    this.name = 'NoopArmError';
  }
}

export interface WorkItem {
  language: string;
  id: string;
  index: number;
}

/** One item ready to run: the prompt as text and ids, and what scoring needs. */
export interface PreparedItem extends WorkItem {
  /** The prompt as the model sees it (decoded ids, special tokens included). */
  promptText: string;
  promptIds: number[];
  /** nll: the scored tokens; choice: one continuation per option. */
  continuations: number[][];
  /** choice: each option's continuation text (for the per-character normalisation). */
  optionTexts: string[];
  /** Gold: answer text, option index (choice), or the reference translation. */
  answer: string | null;
  goldOption: number | null;
  /** PolyMath difficulty level (item meta.level), recorded in each result's extra for the weighted accuracy. */
  level: string | null;
}

/** Seed of one (item, sample): every arm of the item samples with it, so a no-op arm reproduces the baseline. */
export function itemSeed(seed: number, language: string, id: string, sample: number): number {
  const h = createHash('sha256').update(`${seed}\u0000${language}\u0000${id}\u0000${sample}`).digest();
  return h.readUInt32LE(0);
}

function languageName(code: string): string {
  return findLanguage(code)?.name ?? code;
}

function withSuffix(r: RenderedPrompt, suffix: string | undefined): RenderedPrompt {
  if (!suffix) return r;
  if (r.kind === 'raw') return { kind: 'raw', text: `${r.text}\n${suffix}` };
  const messages = r.messages.map((m, i) => (i === r.messages.length - 1 ? { ...m, content: `${m.content}\n${suffix}` } : m));
  return { ...r, messages };
}

/** The item's prompt under the spec's template, suffix, chat switch and thinking switch. */
export function renderPrompt(spec: ExperimentSpec, dataset: Dataset, item: DatasetItem, language: string): RenderedPrompt {
  let r: RenderedPrompt;
  if (spec.task === 'translate') {
    const t = spec.translate!;
    const text = t.prompt.replaceAll('{source}', languageName(t.source)).replaceAll('{target}', languageName(language)).replaceAll('{text}', dataset.item(t.source, item.id).text);
    r = { kind: 'chat', messages: [{ role: 'user', content: text }], addGenerationPrompt: true, enableThinking: false };
  } else {
    r = getTemplate(spec.prompt.template ?? dataset.defaultTemplate).render(item);
  }
  const suffix = spec.prompt.instruction ? boxedInstruction(spec.prompt.instruction, language) : typeof spec.prompt.suffix === 'string' ? spec.prompt.suffix : spec.prompt.suffix?.[language];
  r = withSuffix(r, suffix);
  if (spec.prompt.chat === false && r.kind === 'chat') r = { kind: 'raw', text: r.messages.map((m) => m.content).join('\n') };
  if (spec.prompt.chat === true && r.kind === 'raw') r = { kind: 'chat', messages: [{ role: 'user', content: r.text }], addGenerationPrompt: true, enableThinking: false };
  if (r.kind === 'chat') r = { ...r, enableThinking: spec.prompt.enableThinking };
  return r;
}

function goldOption(item: DatasetItem, where: string): number {
  const opts = item.options!;
  const a = item.answer?.trim();
  if (a !== undefined && /^\d+$/.test(a) && Number(a) >= 1 && Number(a) <= opts.length) return Number(a) - 1; // Belebele: 1-based option number
  const byText = a === undefined ? -1 : opts.indexOf(a);
  if (byText >= 0) return byText;
  const letter = a && /^[A-Da-d]$/.test(a) ? a.toUpperCase().charCodeAt(0) - 65 : -1;
  if (letter >= 0 && letter < opts.length) return letter;
  throw new ExperimentError(`${where}: the gold answer ${JSON.stringify(item.answer)} is neither an option number (1-${opts.length}), a letter, nor an option's text`);
}

/** Tokenises every work item for the task; problems name the item. */
export function prepareItems(engine: EngineCalls, spec: ExperimentSpec, dataset: Dataset, work: WorkItem[]): PreparedItem[] {
  const tk = engine.tokenizer;
  if (!tk) throw new ExperimentError(`${spec.model} has no tokenizer.json; experiments need the model's tokenizer`);
  const backend = createEngineBackend(engine, { modelPath: spec.model, fingerprint: 'n/a' });
  return work.map((w) => {
    const item = dataset.item(w.language, w.id);
    const where = `${w.language} item ${w.id}`;
    const level = typeof item.meta?.level === 'string' ? item.meta.level : null;
    if (spec.task === 'nll') {
      const ids = tk.encode(item.text, { addSpecialTokens: true });
      if (ids.length < 2) throw new ExperimentError(`${where}: the text has ${ids.length} token(s); nll needs at least 2 (the first is context)`);
      return { ...w, promptText: item.text, promptIds: ids.slice(0, 1), continuations: [ids.slice(1)], optionTexts: [], answer: null, goldOption: null, level };
    }
    const rendered = renderPrompt(spec, dataset, item, w.language);
    const promptIds = backend.encode(rendered).ids;
    if (promptIds.length === 0) throw new ExperimentError(`${where}: the prompt encodes to no tokens`);
    const promptText = tk.decode(promptIds, { skipSpecialTokens: false });
    if (spec.task === 'choice') {
      if (!item.options || item.options.length < 2) throw new ExperimentError(`${where}: a choice task needs items with options (e.g. Belebele); this one has none`);
      // After a chat prompt the answer starts the assistant turn; after raw text it follows a space.
      const lead = rendered.kind === 'raw' ? ' ' : '';
      const continuations = item.options.map((o, i) => {
        const ids = tk.encode(lead + o, { addSpecialTokens: false });
        if (ids.length === 0) throw new ExperimentError(`${where}: option ${i + 1} encodes to no tokens`);
        return ids;
      });
      return { ...w, promptText, promptIds, continuations, optionTexts: item.options.map((o) => lead + o), answer: item.answer ?? null, goldOption: goldOption(item, where), level };
    }
    const answer = spec.task === 'translate' ? item.text : (item.answer ?? null);
    if (answer === null) throw new ExperimentError(`${where}: a generate task needs a gold answer; the item has none`);
    return { ...w, promptText, promptIds, continuations: [], optionTexts: [], answer, goldOption: null, level };
  });
}

/**
 * Per MoE layer, the share of routing mass (gate weights) of rows [from, to) that falls on `experts[layer]`; null
 * for layers where the set is empty or no row was routed.
 */
export function routingShare(r: SequenceRouting, from: number, to: number, experts: number[][]): (number | null)[] {
  return r.experts.map((ids, l) => {
    const set = experts[l] ?? [];
    if (set.length === 0 || to <= from) return null;
    const k = ids.length / r.tokenIds.length;
    const w = r.weights[l]!;
    let on = 0;
    let all = 0;
    for (let i = from * k; i < to * k; i++) {
      all += w[i]!;
      if (set.includes(ids[i]!)) on += w[i]!;
    }
    return all > 0 ? on / all : null;
  });
}

export interface UnitContext {
  engine: EngineCalls;
  spec: ExperimentSpec;
  arm: ResolvedArm;
  /** Experts of every non-baseline arm (the baseline row records its share on each). */
  treatments: ResolvedArm[];
  sample: number;
  scorer?: Scorer;
  signal?: AbortSignal;
}

function routingSummary(ctx: UnitContext, r: SequenceRouting | undefined, from: number, to: number): Record<string, (number | null)[]> | null {
  if (!r) return null;
  return Object.fromEntries(summaryArms(ctx).map((a) => [a.name, routingShare(r, from, to, a.experts)]));
}

/** The arms whose experts a unit's rows record their routing share on (see routingSummary). */
function summaryArms(ctx: UnitContext): ResolvedArm[] {
  return ctx.arm.kind === 'baseline' ? ctx.treatments : [ctx.arm];
}

/**
 * routingShare computed token by token, for generation: per sequence, arm and MoE layer, the routing mass on the
 * arm's experts and in all, summed over the tokens from position `from` on (the generated ones), in the same order
 * as routingShare sums, so the result is the same to the last bit while no token's routing is kept.
 */
export class RoutingShareAccumulator {
  private sets: Set<number>[][];
  private on: Float64Array[][];
  private all: Float64Array[][];

  constructor(
    private arms: { name: string; experts: number[][] }[],
    private from: number[],
    layers: number,
  ) {
    this.sets = arms.map((a) => Array.from({ length: layers }, (_, l) => new Set(a.experts[l] ?? [])));
    this.on = from.map(() => arms.map(() => new Float64Array(layers)));
    this.all = from.map(() => arms.map(() => new Float64Array(layers)));
  }

  add(sequence: number, position: number, r: TokenRouting): void {
    if (position < this.from[sequence]!) return;
    this.arms.forEach((_, a) => {
      const on = this.on[sequence]![a]!;
      const all = this.all[sequence]![a]!;
      r.experts.forEach((ids, l) => {
        const set = this.sets[a]![l]!;
        if (set.size === 0) return;
        const w = r.weights[l]!;
        for (let i = 0; i < ids.length; i++) {
          all[l] += w[i]!;
          if (set.has(ids[i]!)) on[l] += w[i]!;
        }
      });
    });
  }

  summary(sequence: number): Record<string, (number | null)[]> {
    return Object.fromEntries(this.arms.map((a, i) => {
      const on = this.on[sequence]![i]!;
      const all = this.all[sequence]![i]!;
      return [a.name, Array.from(all, (x, l) => (this.sets[i]![l]!.size > 0 && x > 0 ? on[l]! / x : null))];
    }));
  }
}

const steeringOf = (arm: ResolvedArm): SteeringInput | undefined => arm.steering;

function base(p: PreparedItem, ctx: UnitContext, seed: number | null): Omit<ExperimentResult, 'score' | 'numTokens'> {
  return {
    arm: ctx.arm.name, language: p.language, itemId: p.id, itemIndex: p.index, sample: ctx.sample, seed, prompt: p.promptText, output: null,
    extracted: null, correct: null, noAnswer: null, detectedLang: null, consistent: null, loglik: null, finishReason: null, routing: null, extra: null,
  };
}

/** Runs one unit and returns its rows, in item order. */
export async function runUnit(ctx: UnitContext, items: PreparedItem[]): Promise<{ rows: ExperimentResult[]; tokens: number }> {
  const { engine, spec } = ctx;
  const steering = steeringOf(ctx.arm);
  if (spec.task === 'nll') {
    const scored = await engine.score(items.map((p) => ({ prompt: p.promptIds, continuation: p.continuations[0]! })), { steering, capture: true, routerLogits: false, batchSize: items.length, signal: ctx.signal });
    let tokens = 0;
    const rows = items.map((p, i) => {
      const s = scored[i]!;
      const n = s.tokenLogprobs.length;
      tokens += p.promptIds.length + n;
      const nll = -s.total / n;
      const total = p.promptIds.length + n;
      return { ...base(p, ctx, null), score: nll, loglik: { total: s.total, tokens: n }, numTokens: n, routing: routingSummary(ctx, s.routing, total - n, total) };
    });
    return { rows, tokens };
  }
  if (spec.task === 'choice') {
    const flat = items.flatMap((p) => p.continuations.map((c) => ({ prompt: p.promptIds, continuation: c })));
    const scored = await engine.score(flat, { steering, capture: true, routerLogits: false, batchSize: Math.max(1, items.length), signal: ctx.signal });
    let at = 0;
    let tokens = 0;
    const rows = items.map((p) => {
      const mine = scored.slice(at, at + p.continuations.length);
      at += p.continuations.length;
      const ll = mine.map((s) => s.total);
      const c = scoreChoice({ logLikelihoods: ll, gold: p.goldOption!, choices: p.optionTexts, tokenCounts: p.continuations.map((x) => x.length) });
      const n = p.continuations.reduce((s, c) => s + c.length, 0);
      tokens += p.continuations.reduce((s, c) => s + p.promptIds.length + c.length, 0);
      // Routing of the gold option's tokens: what the model does while reading the right answer.
      const gold = mine[p.goldOption!]!;
      const total = p.promptIds.length + p.continuations[p.goldOption!]!.length;
      return {
        ...base(p, ctx, null), extracted: String(c.predicted + 1), score: c.correct ? 1 : 0, correct: c.correct, noAnswer: false,
        loglik: { options: ll, tokens: p.continuations.map((x) => x.length), chars: p.optionTexts.map((t) => Array.from(t).length) },
        numTokens: n, routing: routingSummary(ctx, gold.routing, p.promptIds.length, total),
        extra: { gold: p.goldOption! + 1, choiceNormalised: c.predictedNorm! + 1, correctNormalised: c.correctNorm!, choicePerToken: c.predictedPerToken! + 1, correctPerToken: c.correctPerToken! },
      };
    });
    return { rows, tokens };
  }
  const d = spec.decoding;
  const seeds = items.map((p) => itemSeed(d.seed, p.language, p.id, ctx.sample));
  // Only the routing summary of the generated tokens is stored: accumulate it token by token and keep no routing.
  const shares = new RoutingShareAccumulator(summaryArms(ctx), items.map((p) => p.promptIds.length), engine.info.moeLayers.length);
  const generated = await engine.generate({
    prompts: items.map((p) => p.promptIds), maxNewTokens: d.maxNewTokens, steering, signal: ctx.signal,
    capture: true, routerLogits: false, keepRouting: false, onTokenRouting: (b, position, r) => shares.add(b, position, r),
    sampling: { temperature: d.temperature, topP: d.topP, topK: d.topK, seeds },
  });
  const tk = engine.tokenizer!;
  if (!ctx.scorer) throw new ExperimentError('internal: a generate/translate unit ran without a scorer');
  const scoringTask: ScoringTask = spec.task === 'translate' ? 'flores' : spec.scoring.task!;
  let tokens = 0;
  const rows = items.map((p, i) => {
    const g = generated[i]!;
    const output = tk.decode(g.generatedIds, { skipSpecialTokens: true });
    tokens += g.generatedIds.length;
    const s = ctx.scorer!.score(scoringTask, { output, answer: p.answer!, lang: p.language }, { fallback: spec.scoring.fallback, lenient: spec.scoring.lenient, xquadEmpty: spec.scoring.xquadEmpty });
    return {
      ...base(p, ctx, seeds[i]!), output, extracted: s.extracted, score: s.score, correct: spec.task === 'translate' ? null : s.correct, noAnswer: s.noAnswer,
      detectedLang: s.detectedLang, consistent: s.consistent, numTokens: g.generatedIds.length, finishReason: g.finishReason,
      routing: shares.summary(i),
      extra: { rule: s.rule, answer: p.answer, ...(p.level !== null ? { level: p.level } : {}), ...(s.f1 !== undefined ? { f1: s.f1 } : {}), ...(s.chrf !== undefined ? { chrf: s.chrf } : {}) },
    };
  });
  return { rows, tokens };
}
