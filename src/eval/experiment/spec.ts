/**
 * The experiment spec: a JSON document saying which model, items, prompts, decoding settings and arms an A/B or
 * sweep experiment runs. Parsed here into a typed, fully defaulted spec; every problem names the field it is in
 * (e.g. `arms[2].recipe.layers`), so a user can fix a spec without reading code. The normalised spec is what the
 * store keeps, and what a resumed run is compared against.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { BOXED_INSTRUCTIONS, DATASET_KINDS, INSTRUCTIONS, TEMPLATES, type DatasetKind, type InstructionChoice } from '../../datasets/index.js';

export class ExperimentSpecError extends Error {
  constructor(
    message: string,
    /** The field path the problem is in, e.g. "arms[1].name" ('' for the document itself). */
    readonly field = '',
  ) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'ExperimentSpecError';
  }
}

export const TASKS = ['nll', 'choice', 'generate', 'translate'] as const;
export type TaskKind = (typeof TASKS)[number];

/** How `generate` outputs are scored (src/eval/scoring task names). */
export const GENERATE_SCORERS = ['mgsm', 'polymath', 'xquad'] as const;
export type GenerateScorer = (typeof GENERATE_SCORERS)[number];

export interface DatasetSpec {
  kind: DatasetKind;
  /** Folder or file (absolute after parsing); absent for the embedded UDHR corpus. */
  path?: string;
  split?: string;
  languages: string[];
  /** First N aligned items per language. */
  limit?: number;
}

export interface PromptSpec {
  /** A template of src/datasets/templates.ts; default the dataset's. */
  template?: string;
  /** Force the chat template on (true) or off (false); default: as the template renders. */
  chat?: boolean;
  /** Qwen3 templates' thinking switch (default false, as the papers run). */
  enableThinking: boolean;
  /** Text appended after the item's text (a newline between), per language or for all, e.g. "put the answer in \\boxed{}". */
  suffix?: string | Record<string, string>;
  /**
   * The \\boxed{} answer instruction appended like a suffix: PolyMath's English sentence for every language, or
   * Routescope's own translation in the item's language (src/datasets/templates.ts BOXED_INSTRUCTIONS).
   */
  instruction?: InstructionChoice;
}

export interface DecodingSpec {
  /** 0 = greedy (lowest token id wins ties). */
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  maxNewTokens: number;
  samples: number;
}

export interface ScoringSpec {
  task?: GenerateScorer;
  fallback: 'none' | 'last-number';
  lenient: boolean;
  xquadEmpty: 'reference' | 'fixed';
}

export interface TranslateSpec {
  /** Source language (a dataset language) every other language is translated from. */
  source: string;
  /** Prompt; {source}, {target} and {text} are replaced. */
  prompt: string;
}

/** Where a recipe's routing comes from: a captured run in a store, or a folder of recorder JSON. */
export type RoutingRef = { db: string; run: number; scope: 'all' | 'content' } | { folder: string; pattern?: string };

export interface SteerRecipe {
  type: 'steer';
  mode: 'shared' | 'aggregate';
  targets: string[];
  k: number;
  thr: number;
  /** MoE-layer range of the routing data (equal to decoder layers when every layer is MoE). */
  layers: [number, number];
  lambda: number;
}

export interface MaskRecipe {
  type: 'mask';
  /** Exclusive experts of these languages; ignored when `shared`. */
  targets: string[];
  shared: boolean;
  k: number;
  thr: number;
  layers: [number, number];
}

export interface DeltaRecipe {
  type: 'delta';
  mode: 'soft' | 'hard';
  target: string;
  pivot: string;
  tau: number;
  layers: [number, number];
  lambda: number;
  eps: number;
  suppress: boolean;
}

export type Recipe = SteerRecipe | MaskRecipe | DeltaRecipe;

export type ArmSpec =
  | { name: string; kind: 'baseline' }
  /** allowNoop: an A/A check (a plan meant to change nothing) skips the no-op refusal. */
  | { name: string; kind: 'plan'; file?: string; plan?: unknown; allowNoop?: boolean }
  | { name: string; kind: 'recipe'; routing: RoutingRef; recipe: Recipe }
  /** Seeded random-expert controls matched in experts per layer to arm `of`; one arm per seed, named `<name>-s<seed>`. */
  | { name: string; kind: 'random'; of: string; seeds: number[] };

export interface SweepGrid {
  lambda?: number[];
  layers?: [number, number][];
  k?: number[];
  thr?: number[];
  /** Target lists (steer, mask) or single targets (delta: target). */
  targets?: string[][];
}

export interface SweepSpec {
  name: string;
  routing: RoutingRef;
  recipe: Recipe;
  grid: SweepGrid;
  /**
   * Seeded random-expert controls of every grid point: per point and seed, one arm with the point's number of
   * experts in every layer, drawn outside the point's own, carrying its values (named `<point>:random-s<seed>`).
   * Matched per point rather than per size because a control's effect depends on the values it carries (lambda),
   * not only on how many experts it edits; points that differ only in lambda draw the same experts for a seed.
   */
  controls?: { seeds: number[] };
}

export interface ExperimentSpec {
  name: string;
  description?: string;
  /** Model folder, absolute after parsing. */
  model: string;
  dataset: DatasetSpec;
  task: TaskKind;
  prompt: PromptSpec;
  decoding: DecodingSpec;
  scoring: ScoringSpec;
  translate?: TranslateSpec;
  /** Items per forward pass (and per committed unit of work). */
  batchSize: number;
  /** Items each non-baseline arm is checked on for a routing change before the run. */
  noopCheckItems: number;
  arms: ArmSpec[];
  sweeps: SweepSpec[];
  /** Split items into dev (choose the best arm) and test (report it); by item id, seeded. */
  devSplit?: { fraction: number; seed: number };
}

// ------------------------------------------------------------------------------------------------------------
// A tiny field-path validator: every accessor names where it looked.

type Json = unknown;

function isObj(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

class At {
  constructor(readonly path: string) {}
  child(key: string | number): At {
    return new At(typeof key === 'number' ? `${this.path}[${key}]` : this.path ? `${this.path}.${key}` : key);
  }
  fail(msg: string): never {
    throw new ExperimentSpecError(msg, this.path);
  }
}

function obj(v: Json, at: At, allowed: readonly string[]): Record<string, Json> {
  if (!isObj(v)) at.fail(`must be an object, got ${describe(v)}`);
  const extra = Object.keys(v).filter((k) => !allowed.includes(k));
  if (extra.length) at.child(extra[0]!).fail(`unknown field (allowed here: ${allowed.join(', ')})`);
  return v;
}

function describe(v: Json): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  return v === null ? 'null' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}

function str(v: Json, at: At): string {
  if (typeof v !== 'string' || v.trim() === '') at.fail(`must be a non-empty string, got ${describe(v)}`);
  return v;
}

function optStr(v: Json, at: At): string | undefined {
  return v === undefined ? undefined : str(v, at);
}

function num(v: Json, at: At, o: { min?: number; max?: number; int?: boolean; exclusiveMin?: boolean } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) at.fail(`must be a number, got ${describe(v)}`);
  if (o.int && !Number.isSafeInteger(v)) at.fail(`must be a whole number, got ${v}`);
  if (o.min !== undefined && (o.exclusiveMin ? v <= o.min : v < o.min)) at.fail(`must be ${o.exclusiveMin ? '>' : '>='} ${o.min}, got ${v}`);
  if (o.max !== undefined && v > o.max) at.fail(`must be <= ${o.max}, got ${v}`);
  return v;
}

function optNum(v: Json, at: At, fallback: number, o: Parameters<typeof num>[2] = {}): number {
  return v === undefined ? fallback : num(v, at, o);
}

function bool(v: Json, at: At, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') at.fail(`must be true or false, got ${describe(v)}`);
  return v;
}

function oneOf<T extends string>(v: Json, at: At, options: readonly T[], fallback?: T): T {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || !options.includes(v as T)) at.fail(`must be one of ${options.join(', ')}, got ${describe(v)}`);
  return v as T;
}

function strList(v: Json, at: At, nonEmpty = true): string[] {
  if (typeof v === 'string') v = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (!Array.isArray(v)) at.fail(`must be a list of strings, got ${describe(v)}`);
  const out = v.map((x, i) => str(x, at.child(i)));
  if (nonEmpty && out.length === 0) at.fail('must not be empty');
  const dup = out.find((x, i) => out.indexOf(x) !== i);
  if (dup !== undefined) at.fail(`lists '${dup}' twice`);
  return out;
}

/** [a, b], "a-b" or a single layer; inclusive. */
function layerRange(v: Json, at: At): [number, number] {
  let pair: Json[];
  if (typeof v === 'string') {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(v);
    if (!m) at.fail(`must look like "10-39" or [10, 39], got ${describe(v)}`);
    pair = [Number(m[1]), Number(m[2] ?? m[1])];
  } else if (typeof v === 'number') {
    pair = [v, v];
  } else if (Array.isArray(v) && v.length === 2) {
    pair = v;
  } else {
    at.fail(`must be [first, last] or "first-last", got ${describe(v)}`);
  }
  const a = num(pair[0], at, { int: true, min: 0 });
  const b = num(pair[1], at, { int: true, min: 0 });
  if (b < a) at.fail(`range ${a}-${b} is empty (last before first)`);
  return [a, b];
}

function pathFrom(v: Json, at: At, base: string): string {
  const p = str(v, at);
  return isAbsolute(p) ? p : resolve(base, p);
}

// ------------------------------------------------------------------------------------------------------------

function parseDataset(v: Json, at: At, base: string): DatasetSpec {
  const o = obj(v, at, ['kind', 'path', 'split', 'languages', 'limit']);
  const kind = oneOf(o.kind, at.child('kind'), Object.keys(DATASET_KINDS) as DatasetKind[]);
  const info = DATASET_KINDS[kind];
  let path: string | undefined;
  if (info.path === 'none') {
    if (o.path !== undefined) at.child('path').fail(`dataset kind '${kind}' is embedded and takes no path`);
  } else {
    if (o.path === undefined) at.child('path').fail(`dataset kind '${kind}' needs a ${info.path}`);
    path = pathFrom(o.path, at.child('path'), base);
  }
  const limit = o.limit === undefined ? undefined : num(o.limit, at.child('limit'), { int: true, min: 1 });
  return { kind, ...(path ? { path } : {}), ...(o.split !== undefined ? { split: str(o.split, at.child('split')) } : {}), languages: strList(o.languages, at.child('languages')), ...(limit ? { limit } : {}) };
}

function parsePrompt(v: Json, at: At): PromptSpec {
  const o = obj(v ?? {}, at, ['template', 'chat', 'enable_thinking', 'enableThinking', 'suffix', 'instruction']);
  const template = o.template === undefined ? undefined : oneOf(o.template, at.child('template'), Object.keys(TEMPLATES));
  const chat = o.chat === undefined ? undefined : bool(o.chat, at.child('chat'), false);
  const thinkingKey = o.enable_thinking !== undefined ? 'enable_thinking' : 'enableThinking';
  let suffix: PromptSpec['suffix'];
  if (o.suffix !== undefined) {
    if (typeof o.suffix === 'string') suffix = o.suffix;
    else if (isObj(o.suffix)) suffix = Object.fromEntries(Object.entries(o.suffix).map(([k, s]) => [k, str(s, at.child('suffix').child(k))]));
    else at.child('suffix').fail(`must be a string or {"<language>": string}, got ${describe(o.suffix)}`);
  }
  const instruction = o.instruction === undefined ? undefined : oneOf(o.instruction, at.child('instruction'), INSTRUCTIONS);
  if (instruction && suffix !== undefined) at.child('instruction').fail('give prompt.instruction or prompt.suffix, not both (the instruction is appended as the suffix)');
  return {
    ...(template ? { template } : {}), ...(chat !== undefined ? { chat } : {}), enableThinking: bool(o[thinkingKey], at.child(thinkingKey), false),
    ...(suffix !== undefined ? { suffix } : {}), ...(instruction ? { instruction } : {}),
  };
}

function parseDecoding(v: Json, at: At): DecodingSpec {
  const o = obj(v ?? {}, at, ['greedy', 'temperature', 'top_p', 'topP', 'top_k', 'topK', 'seed', 'max_new_tokens', 'maxNewTokens', 'samples']);
  const pick = (a: string, b: string) => (o[a] !== undefined ? a : b);
  const greedy = bool(o.greedy, at.child('greedy'), o.temperature === undefined);
  const temperature = greedy ? 0 : num(o.temperature, at.child('temperature'), { min: 0, exclusiveMin: true });
  if (greedy && o.temperature !== undefined && o.temperature !== 0) at.child('temperature').fail('greedy decoding takes no temperature (remove "greedy": true to sample)');
  const d: DecodingSpec = {
    temperature,
    topP: optNum(o[pick('top_p', 'topP')], at.child(pick('top_p', 'topP')), 1, { min: 0, exclusiveMin: true, max: 1 }),
    topK: optNum(o[pick('top_k', 'topK')], at.child(pick('top_k', 'topK')), 0, { int: true, min: 0 }),
    seed: optNum(o.seed, at.child('seed'), 0, { int: true, min: 0 }),
    maxNewTokens: optNum(o[pick('max_new_tokens', 'maxNewTokens')], at.child(pick('max_new_tokens', 'maxNewTokens')), 256, { int: true, min: 1 }),
    samples: optNum(o.samples, at.child('samples'), 1, { int: true, min: 1 }),
  };
  if (temperature === 0 && d.samples > 1) at.child('samples').fail('several samples per item need sampling (a temperature > 0); greedy decoding gives the same output every time');
  return d;
}

function parseScoring(v: Json, at: At): ScoringSpec {
  const o = obj(v ?? {}, at, ['task', 'fallback', 'lenient', 'xquad_empty', 'xquadEmpty']);
  const ek = o.xquad_empty !== undefined ? 'xquad_empty' : 'xquadEmpty';
  return {
    ...(o.task !== undefined ? { task: oneOf(o.task, at.child('task'), GENERATE_SCORERS) } : {}),
    fallback: oneOf(o.fallback, at.child('fallback'), ['none', 'last-number'] as const, 'none'),
    lenient: bool(o.lenient, at.child('lenient'), false),
    xquadEmpty: oneOf(o[ek], at.child(ek), ['reference', 'fixed'] as const, 'reference'),
  };
}

export const DEFAULT_TRANSLATE_PROMPT = 'Translate the following text from {source} to {target}.\n{text}';

function parseRouting(v: Json, at: At, base: string): RoutingRef {
  const o = obj(v, at, ['db', 'run', 'scope', 'folder', 'pattern']);
  if (o.db !== undefined) {
    if (o.folder !== undefined) at.fail('give either "db" and "run" or "folder", not both');
    return { db: pathFrom(o.db, at.child('db'), base), run: num(o.run, at.child('run'), { int: true, min: 1 }), scope: oneOf(o.scope, at.child('scope'), ['all', 'content'] as const, 'all') };
  }
  if (o.folder === undefined) at.fail('needs "db" and "run" (a captured run) or "folder" (recorder JSON)');
  if (o.scope !== undefined) at.child('scope').fail('needs a store run ("db", "run"): recorder JSON holds totals over all tokens only');
  return { folder: pathFrom(o.folder, at.child('folder'), base), ...(o.pattern !== undefined ? { pattern: str(o.pattern, at.child('pattern')) } : {}) };
}

export function parseRecipe(v: Json, at: At): Recipe {
  const type = oneOf(isObj(v) ? v.type : undefined, at.child('type'), ['steer', 'mask', 'delta'] as const);
  if (type === 'steer') {
    const o = obj(v, at, ['type', 'mode', 'targets', 'k', 'thr', 'layers', 'lambda']);
    return {
      type, mode: oneOf(o.mode, at.child('mode'), ['shared', 'aggregate'] as const, 'shared'), targets: strList(o.targets, at.child('targets')),
      k: num(o.k, at.child('k'), { int: true, min: 1 }), thr: num(o.thr, at.child('thr'), { min: 0, max: 1 }), layers: layerRange(o.layers, at.child('layers')), lambda: num(o.lambda, at.child('lambda')),
    };
  }
  if (type === 'mask') {
    const o = obj(v, at, ['type', 'targets', 'shared', 'k', 'thr', 'layers']);
    const shared = bool(o.shared, at.child('shared'), false);
    if (shared && o.targets !== undefined) at.child('targets').fail('a shared-expert mask has no targets (remove "targets" or "shared")');
    return {
      type, shared, targets: shared ? [] : strList(o.targets, at.child('targets')),
      k: num(o.k, at.child('k'), { int: true, min: 1 }), thr: num(o.thr, at.child('thr'), { min: 0, max: 1 }), layers: layerRange(o.layers, at.child('layers')),
    };
  }
  const o = obj(v, at, ['type', 'mode', 'target', 'pivot', 'tau', 'layers', 'lambda', 'eps', 'suppress']);
  const mode = oneOf(o.mode, at.child('mode'), ['soft', 'hard'] as const);
  return {
    type, mode, target: str(o.target, at.child('target')), pivot: str(o.pivot, at.child('pivot')), tau: num(o.tau, at.child('tau'), { min: 0, max: 1 }),
    layers: layerRange(o.layers, at.child('layers')),
    lambda: optNum(o.lambda, at.child('lambda'), 0.5),
    // eps 0 would make a hard plan a silent no-op (force 0 means "no force"), so it must be positive.
    eps: optNum(o.eps, at.child('eps'), 1e-3, { min: 0, exclusiveMin: true }),
    suppress: bool(o.suppress, at.child('suppress'), false),
  };
}

/** Checks a recipe on its own (the workbench's plan builder), with problems named under `field` (e.g. recipe.layers). */
export function checkRecipe(v: unknown, field = 'recipe'): Recipe {
  return parseRecipe(v, new At(field));
}

const ARM_NAME = /^[A-Za-z0-9][\w.:=,+-]*$/;

function armName(v: Json, at: At): string {
  const name = str(v, at);
  if (!ARM_NAME.test(name)) at.fail(`'${name}' is not a valid arm name (letters, digits and _ . : = , + -; starting with a letter or digit)`);
  return name;
}

function parseArm(v: Json, at: At, base: string): ArmSpec {
  const kind = oneOf(isObj(v) ? v.kind : undefined, at.child('kind'), ['baseline', 'plan', 'recipe', 'random'] as const);
  if (kind === 'baseline') {
    const o = obj(v, at, ['name', 'kind']);
    return { name: o.name === undefined ? 'baseline' : armName(o.name, at.child('name')), kind };
  }
  if (kind === 'plan') {
    const o = obj(v, at, ['name', 'kind', 'file', 'plan', 'allow_noop']);
    if ((o.file === undefined) === (o.plan === undefined)) at.fail('a plan arm needs exactly one of "file" (a plan JSON file) or "plan" (the plan inline)');
    const allowNoop = bool(o.allow_noop, at.child('allow_noop'), false);
    return { name: armName(o.name, at.child('name')), kind, ...(o.file !== undefined ? { file: pathFrom(o.file, at.child('file'), base) } : { plan: o.plan }), ...(allowNoop ? { allowNoop } : {}) };
  }
  if (kind === 'recipe') {
    const o = obj(v, at, ['name', 'kind', 'routing', 'recipe']);
    return { name: armName(o.name, at.child('name')), kind, routing: parseRouting(o.routing, at.child('routing'), base), recipe: parseRecipe(o.recipe, at.child('recipe')) };
  }
  const o = obj(v, at, ['name', 'kind', 'of', 'seeds']);
  return { name: armName(o.name, at.child('name')), kind, of: str(o.of, at.child('of')), seeds: seedList(o.seeds, at.child('seeds')) };
}

/** The seeds of random controls: a non-empty list of distinct whole numbers. */
function seedList(v: Json, at: At): number[] {
  const seeds = list(v, at, 'a non-empty list of whole-number seeds');
  if (seeds.length === 0) at.fail('must be a non-empty list of whole-number seeds');
  const out = seeds.map((s, i) => num(s, at.child(i), { int: true, min: 0 }));
  if (new Set(out).size !== out.length) at.fail('lists a seed twice');
  return out;
}

function list(v: Json, at: At, what = 'a list'): Json[] {
  if (!Array.isArray(v)) at.fail(`must be ${what}, got ${describe(v)}`);
  return v;
}

function numList(v: Json, at: At, o: Parameters<typeof num>[2] = {}): number[] {
  return list(v, at).map((x, i) => num(x, at.child(i), o));
}

function parseSweep(v: Json, at: At, base: string): SweepSpec {
  const o = obj(v, at, ['name', 'routing', 'recipe', 'grid', 'controls']);
  const g = obj(o.grid, at.child('grid'), ['lambda', 'layers', 'k', 'thr', 'targets']);
  const grid: SweepGrid = {};
  if (g.lambda !== undefined) grid.lambda = numList(g.lambda, at.child('grid').child('lambda'));
  if (g.layers !== undefined) {
    grid.layers = list(g.layers, at.child('grid').child('layers'), 'a list of ranges such as ["0-4", "22-26"]').map((r, i) => layerRange(r, at.child('grid').child('layers').child(i)));
  }
  if (g.k !== undefined) grid.k = numList(g.k, at.child('grid').child('k'), { int: true, min: 1 });
  if (g.thr !== undefined) grid.thr = numList(g.thr, at.child('grid').child('thr'), { min: 0, max: 1 });
  if (g.targets !== undefined) {
    grid.targets = list(g.targets, at.child('grid').child('targets'), 'a list of target lists such as [["en", "zh"], ["zh", "en"]]').map((t, i) => strList(t, at.child('grid').child('targets').child(i)));
  }
  const axes = Object.entries(grid) as [string, unknown[]][];
  if (axes.length === 0) at.child('grid').fail('has no axes (give one or more of lambda, layers, k, thr, targets)');
  const empty = axes.find(([, vals]) => vals.length === 0);
  if (empty) at.child('grid').child(empty[0]).fail('is empty, so the grid has no points');
  let controls: SweepSpec['controls'];
  if (o.controls !== undefined) {
    const c = obj(o.controls, at.child('controls'), ['seeds']);
    controls = { seeds: seedList(c.seeds, at.child('controls').child('seeds')) };
  }
  return {
    name: armName(o.name, at.child('name')), routing: parseRouting(o.routing, at.child('routing'), base), recipe: parseRecipe(o.recipe, at.child('recipe')), grid,
    ...(controls ? { controls } : {}),
  };
}

/**
 * Parses and validates a spec document (already JSON-parsed). Relative paths resolve against `baseDir` (the spec
 * file's folder). Checks everything that needs no model or data: those are checked when the run starts.
 */
export function parseExperimentSpec(doc: Json, baseDir = process.cwd()): ExperimentSpec {
  const root = new At('');
  const o = obj(doc, root, ['name', 'description', 'model', 'dataset', 'task', 'prompt', 'decoding', 'scoring', 'translate', 'batch_size', 'batchSize', 'noop_check_items', 'arms', 'sweeps', 'dev_split', 'devSplit']);
  const name = armName(o.name, root.child('name'));
  const task = oneOf(o.task, root.child('task'), TASKS);
  const dataset = parseDataset(o.dataset, root.child('dataset'), baseDir);
  const prompt = parsePrompt(o.prompt, root.child('prompt'));
  if (prompt.instruction === 'boxed-native') {
    const missing = dataset.languages.filter((l) => !BOXED_INSTRUCTIONS[l]);
    if (missing.length) root.child('prompt').child('instruction').fail(`boxed-native has no instruction for ${missing.join(', ')} (available: ${Object.keys(BOXED_INSTRUCTIONS).join(', ')}); use boxed-english or a prompt.suffix map`);
  }
  const decoding = parseDecoding(o.decoding, root.child('decoding'));
  const scoring = parseScoring(o.scoring, root.child('scoring'));
  if ((task === 'nll' || task === 'choice') && o.decoding !== undefined) root.child('decoding').fail(`a '${task}' task scores given text and generates nothing; remove "decoding"`);
  if (task === 'nll' && prompt.chat) root.child('prompt').child('chat').fail('an nll task scores the raw item text; the chat template does not apply');
  if (task === 'generate' && !scoring.task) {
    const byKind: Partial<Record<DatasetKind, GenerateScorer>> = { mgsm: 'mgsm', polymath: 'polymath', xquad: 'xquad' };
    const t = byKind[dataset.kind];
    if (!t) root.child('scoring').child('task').fail(`a generate task on a '${dataset.kind}' dataset needs a scorer (one of ${GENERATE_SCORERS.join(', ')})`);
    scoring.task = t;
  }
  let translate: TranslateSpec | undefined;
  if (task === 'translate') {
    const t = obj(o.translate, root.child('translate'), ['source', 'prompt']);
    translate = { source: str(t.source, root.child('translate').child('source')), prompt: t.prompt === undefined ? DEFAULT_TRANSLATE_PROMPT : str(t.prompt, root.child('translate').child('prompt')) };
    if (!translate.prompt.includes('{text}')) root.child('translate').child('prompt').fail('must contain {text}');
    if (!dataset.languages.includes(translate.source)) root.child('translate').child('source').fail(`'${translate.source}' must be one of dataset.languages (${dataset.languages.join(', ')})`);
    if (dataset.languages.length < 2) root.child('dataset').child('languages').fail('a translate task needs the source and at least one target language');
  } else if (o.translate !== undefined) {
    root.child('translate').fail(`only a 'translate' task takes translate settings (task is '${task}')`);
  }
  const bsKey = o.batch_size !== undefined ? 'batch_size' : 'batchSize';
  const batchSize = optNum(o[bsKey], root.child(bsKey), 8, { int: true, min: 1 });
  const noopCheckItems = optNum(o.noop_check_items, root.child('noop_check_items'), 8, { int: true, min: 1 });

  const armsRaw = list(o.arms, root.child('arms'), 'a non-empty list of arms (at least the baseline)');
  if (armsRaw.length === 0) root.child('arms').fail('must be a non-empty list (at least the baseline)');
  const arms = armsRaw.map((a, i) => parseArm(a, root.child('arms').child(i), baseDir));
  const sweepsRaw = o.sweeps === undefined ? [] : list(o.sweeps, root.child('sweeps'));
  const sweeps = sweepsRaw.map((s, i) => parseSweep(s, root.child('sweeps').child(i), baseDir));
  const baselines = arms.filter((a) => a.kind === 'baseline');
  if (baselines.length !== 1) root.child('arms').fail(`must contain exactly one baseline arm ({"kind": "baseline"}), found ${baselines.length}`);
  const splitKey = o.dev_split !== undefined ? 'dev_split' : 'devSplit';
  let devSplit: ExperimentSpec['devSplit'];
  if (o[splitKey] !== undefined) {
    const d = obj(o[splitKey], root.child(splitKey), ['fraction', 'seed']);
    devSplit = { fraction: num(d.fraction, root.child(splitKey).child('fraction'), { min: 0, max: 1, exclusiveMin: true }), seed: optNum(d.seed, root.child(splitKey).child('seed'), 0, { int: true, min: 0 }) };
    if (devSplit.fraction >= 1) root.child(splitKey).child('fraction').fail('must be below 1 (some items must be left for test)');
  }
  const spec: ExperimentSpec = {
    name, ...(o.description !== undefined ? { description: str(o.description, root.child('description')) } : {}),
    model: pathFrom(o.model, root.child('model'), baseDir), dataset, task, prompt, decoding, scoring, ...(translate ? { translate } : {}),
    batchSize, noopCheckItems, arms, sweeps, ...(devSplit ? { devSplit } : {}),
  };
  armNames(spec); // duplicate names and dangling random controls fail here
  return spec;
}

/** Reads and parses a spec file; relative paths inside it resolve against its folder. */
export function readExperimentSpec(file: string): ExperimentSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ExperimentSpecError(`${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(err)})`}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ExperimentSpecError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  try {
    return parseExperimentSpec(doc, dirname(resolve(file)));
  } catch (err) {
    if (err instanceof ExperimentSpecError) throw new ExperimentSpecError(`${file}: ${err.message}`, err.field);
    throw err;
  }
}

function fmt(x: number): string {
  return String(x);
}

/** The arm name of one sweep grid point, e.g. `steer:lambda=0.02,layers=10-39`. */
export function sweepPointName(sweep: string, point: Record<string, unknown>): string {
  const parts = Object.entries(point).map(([k, v]) => {
    if (k === 'layers') return `layers=${(v as number[]).join('-')}`;
    if (k === 'targets') return `targets=${(v as string[]).join('+')}`;
    return `${k}=${fmt(v as number)}`;
  });
  return `${sweep}:${parts.join(',')}`;
}

/** Every grid point of a sweep as a recipe arm, in a fixed order (axes in the order lambda, layers, k, thr, targets). */
export function expandSweep(s: SweepSpec): Extract<ArmSpec, { kind: 'recipe' }>[] {
  let points: Record<string, unknown>[] = [{}];
  for (const axis of ['lambda', 'layers', 'k', 'thr', 'targets'] as const) {
    const values = s.grid[axis] as unknown[] | undefined;
    if (!values) continue;
    points = points.flatMap((p) => values.map((v) => ({ ...p, [axis]: v })));
  }
  return points.map((p) => {
    const recipe = { ...s.recipe } as Recipe & Record<string, unknown>;
    for (const [k, v] of Object.entries(p)) {
      if (k === 'targets' && recipe.type === 'delta') {
        const t = v as string[];
        if (t.length !== 1) throw new ExperimentSpecError(`a delta recipe has one target; the grid gives ${t.join(',')}`, `sweeps(${s.name}).grid.targets`);
        recipe.target = t[0]!;
      } else if (k === 'lambda' && recipe.type === 'mask') {
        throw new ExperimentSpecError('a mask recipe has no lambda', `sweeps(${s.name}).grid.lambda`);
      } else if ((k === 'k' || k === 'thr') && recipe.type === 'delta') {
        throw new ExperimentSpecError(`a delta recipe has no ${k} (it uses tau)`, `sweeps(${s.name}).grid.${k}`);
      } else {
        recipe[k] = v;
      }
    }
    return { name: sweepPointName(s.name, p), kind: 'recipe' as const, routing: s.routing, recipe: recipe as Recipe };
  });
}

/** One random control of a sweep point: its arm name, the point it is matched to, and its seed. */
export interface SweepControl {
  name: string;
  of: string;
  seed: number;
}

/** The random controls of a sweep (none without `controls`), point by point, seeds in the order given. */
export function sweepControls(s: SweepSpec): SweepControl[] {
  if (!s.controls) return [];
  return expandSweep(s).flatMap((p) => s.controls!.seeds.map((seed) => ({ name: `${p.name}:random-s${seed}`, of: p.name, seed })));
}

/**
 * The arms an experiment runs, in order: the listed arms (random controls expanded per seed), then each sweep's
 * points followed by its points' random controls.
 */
export interface ArmListEntry {
  name: string;
  spec: ArmSpec;
  /** For random controls: the seed of this arm. */
  seed?: number;
}

export function armNames(spec: ExperimentSpec): ArmListEntry[] {
  const out: ArmListEntry[] = [];
  const seen = new Map<string, string>();
  const add = (e: ArmListEntry, where: string) => {
    const prev = seen.get(e.name);
    if (prev) throw new ExperimentSpecError(`duplicate arm name '${e.name}' (also ${prev})`, where);
    seen.set(e.name, where);
    out.push(e);
  };
  spec.arms.forEach((a, i) => {
    if (a.kind === 'random') {
      for (const seed of a.seeds) add({ name: `${a.name}-s${seed}`, spec: a, seed }, `arms[${i}]`);
    } else add({ name: a.name, spec: a }, `arms[${i}]`);
  });
  spec.sweeps.forEach((s, i) => {
    for (const a of expandSweep(s)) add({ name: a.name, spec: a }, `sweeps[${i}]`);
    for (const c of sweepControls(s)) add({ name: c.name, spec: { name: c.name, kind: 'random', of: c.of, seeds: [c.seed] }, seed: c.seed }, `sweeps[${i}].controls`);
  });
  spec.arms.forEach((a, i) => {
    if (a.kind !== 'random') return;
    const target = spec.arms.find((b) => b.name === a.of);
    if (!target) throw new ExperimentSpecError(`random control of '${a.of}', which is not an arm (arms: ${spec.arms.map((b) => b.name).join(', ')})`, `arms[${i}].of`);
    if (target.kind === 'baseline' || target.kind === 'random') throw new ExperimentSpecError(`a random control needs a plan or recipe arm to match; '${a.of}' is a ${target.kind} arm`, `arms[${i}].of`);
  });
  return out;
}

/** Canonical JSON (object keys sorted) so equal specs compare equal regardless of key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** The first field where two specs differ ("decoding.temperature", "arms[2].recipe.lambda"), or null when equal. */
export function firstDifference(a: unknown, b: unknown, path = ''): string | null {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d !== null) return d;
    }
    return null;
  }
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = firstDifference(a[k], b[k], path ? `${path}.${k}` : k);
      if (d !== null) return d;
    }
    return null;
  }
  return canonicalJson(a) === canonicalJson(b) ? null : path || '(the whole spec)';
}
