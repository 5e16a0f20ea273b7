/**
 * The experiment runner on a real engine (a tiny generated Qwen3-MoE checkpoint) and a real SQLite store:
 * NLL checked against an independent log-softmax over the engine's full logits; an A/A arm (a plan that edits
 * nothing) reproduces the baseline exactly; a silent no-op plan and a plan that does not fit the model are refused
 * before anything is stored; choice scoring; cancel + resume (a changed spec is refused naming the field);
 * a real `routescope experiment run` process killed with SIGKILL and resumed ends identical to an uninterrupted run
 * without redoing a stored row; export and report files.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, type Engine } from '../../src/engine/index.js';
import { logSoftmax } from '../../src/engine/sampling.js';
import { resolvePlan } from '../../src/engine/steering-plan.js';
import { parseExperimentSpec, resolveArms, runExperiment, writeExperimentReport, type ExperimentSpec } from '../../src/eval/experiment/index.js';
import { EngineBackend } from '../../src/capture/engine-backend.js';
import { startCapture } from '../../src/capture/index.js';
import { loadDataset } from '../../src/datasets/index.js';
import { deltaSteeringPlan, maskingPlan, steeringPlan } from '../../src/analysis/index.js';
import { loadRunRouting } from '../../src/store/index.js';
import { experimentArms, experimentResults, getExperiment, listExperiments, Store, type ExperimentResult } from '../../src/store/index.js';
import { tempDir } from '../store/helpers.js';
import { writeToyCorpus } from '../support/toy-corpus.js';
import { cliInProcess, runNode, waitForProgress } from '../support/cli.js';
import { writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/routescope.mjs');
const LANGS = ['en', 'fr', 'de'];
const ITEMS = 16;

let tmp: ReturnType<typeof tempDir>;
let model: TinyModelInfo;
let engine: Engine;
let dataFile: string;
let beleDir: string;
/** A layer-1 mask of two experts: changes routing on every token. */
let maskPlan: Record<string, number[]>;

function writeBelebele(dir: string) {
  mkdirSync(dir, { recursive: true });
  for (const lang of ['eng_Latn', 'fra_Latn']) {
    const rows = Array.from({ length: 6 }, (_, i) => JSON.stringify({
      link: `https://x/${i}`, question_number: 1, flores_passage: `${lang} passage ${i} about the cat and the dog`, question: `which ${i}?`,
      mc_answer1: 'the cat', mc_answer2: 'a dog ate bread', mc_answer3: 'house', mc_answer4: 'on the mat and more', correct_answer_num: String(1 + (i % 4)), dialect: lang, ds: 'x',
    }));
    writeFileSync(join(dir, `${lang}.jsonl`), rows.join('\n') + '\n');
  }
}

function nllSpec(over: Record<string, unknown> = {}): ExperimentSpec {
  return parseExperimentSpec({
    name: 'nll-test', model: model.dir, task: 'nll', dataset: { kind: 'jsonl', path: dataFile, languages: LANGS }, batch_size: 4,
    arms: [{ kind: 'baseline' }, { name: 'aa', kind: 'plan', plan: { format: 'routescope-plan', version: 1, layers: {} }, allow_noop: true }, { name: 'mask', kind: 'plan', plan: maskPlan }],
    ...over,
  });
}

const key = (r: ExperimentResult) => `${r.arm}|${r.language}|${r.itemId}|${r.sample}`;
const comparable = (rows: ExperimentResult[]) => rows.map((r) => ({ k: key(r), score: r.score, loglik: r.loglik, n: r.numTokens, routing: r.routing })).sort((a, b) => (a.k < b.k ? -1 : 1));

beforeAll(async () => {
  tmp = tempDir('routescope-experiment-');
  model = writeTinyModel(join(tmp.dir, 'model'), 'qwen3_moe', { seed: 11 });
  dataFile = join(tmp.dir, 'data.jsonl');
  writeToyCorpus(dataFile, LANGS, ITEMS, 7);
  beleDir = join(tmp.dir, 'belebele');
  writeBelebele(beleDir);
  maskPlan = { [String(model.moeLayers[1])]: [0, 1] };
  engine = await loadEngine(model.dir, { executionProvider: 'cpu' });
});

afterAll(async () => {
  await engine?.dispose();
  tmp?.cleanup();
});

describe('experiment runner (nll, choice)', () => {
  let refDb: string;
  let refRows: ExperimentResult[];

  it('stores one row per (arm, item); NLL equals an independent log-softmax; the A/A arm equals the baseline exactly', async () => {
    refDb = join(tmp.dir, 'ref.db');
    const store = Store.open(refDb);
    try {
      const res = await runExperiment({ store, spec: nllSpec(), engine });
      expect(res).toMatchObject({ status: 'completed', resultsDone: 3 * LANGS.length * ITEMS, resultsTotal: 3 * LANGS.length * ITEMS });
      refRows = experimentResults(store, res.experimentId);
      const arms = experimentArms(store, res.experimentId);
      expect(arms.map((a) => a.name)).toEqual(['baseline', 'aa', 'mask']);
      expect(arms[2]!.plan).toEqual({ format: 'routescope-plan', version: 1, layers: { [String(model.moeLayers[1])]: { mask: [0, 1] } } });
      expect(arms[2]!.planHash).toMatch(/^sha256:/);
      expect(arms[2]!.experts[1]).toEqual([0, 1]);
    } finally {
      store.close();
    }
    expect(refRows).toHaveLength(3 * LANGS.length * ITEMS);
    const by = new Map(refRows.map((r) => [key(r), r]));
    // A/A: same batches, same (all-zero) steering => bit-identical scores.
    for (const r of refRows.filter((x) => x.arm === 'baseline')) expect(by.get(key({ ...r, arm: 'aa' }))!.score).toBe(r.score);
    // The mask arm changes the scores somewhere.
    expect(refRows.filter((x) => x.arm === 'mask').some((r) => r.score !== by.get(key({ ...r, arm: 'baseline' }))!.score)).toBe(true);

    // Independent NLL for two items under both arms: full logits, log-softmax in the test, mean over tokens 2..n.
    const tk = engine.tokenizer!;
    const texts = readFileSync(dataFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { language: string; id: string; text: string });
    for (const [arm, steering] of [['baseline', undefined], ['mask', resolvePlan(maskPlan, engine.steeringModel)]] as const) {
      for (const t of [texts[0]!, texts[ITEMS + 5]!]) {
        const ids = tk.encode(t.text, { addSpecialTokens: true });
        const out = await engine.forward([ids], { steering, logits: 'all', capture: false });
        const V = out.vocabSize;
        let sum = 0;
        for (let i = 1; i < ids.length; i++) sum -= logSoftmax(out.logits, (i - 1) * V, V)[ids[i]!]!;
        const stored = by.get(`${arm}|${t.language}|${t.id}|0`)!;
        expect(stored.numTokens).toBe(ids.length - 1);
        expect(stored.score!).toBeCloseTo(sum / (ids.length - 1), 4);
      }
    }
    // Routing summary: under the mask arm the masked experts get no routing mass; under the baseline they get some.
    const maskRows = refRows.filter((r) => r.arm === 'mask');
    for (const r of maskRows) expect(r.routing!.mask![1]).toBe(0);
    expect(refRows.filter((r) => r.arm === 'baseline').some((r) => (r.routing!.mask![1] ?? 0) > 0)).toBe(true);
    expect(refRows.find((r) => r.arm === 'baseline')!.routing!.mask![0]).toBeNull(); // no plan experts in layer 0
  });

  it('refuses a silent no-op plan, a neutral plan and a plan that does not fit the model, before storing anything', async () => {
    const db = join(tmp.dir, 'refused.db');
    const store = Store.open(db);
    try {
      // A constant bias on every expert of a layer leaves softmax and top-k unchanged: routing never changes.
      const uniform = { format: 'routescope-plan', version: 1, layers: { [String(model.moeLayers[0])]: { bias: Object.fromEntries(Array.from({ length: model.numExperts }, (_, e) => [String(e), 2])) } } };
      const noop = nllSpec({ arms: [{ kind: 'baseline' }, { name: 'uniform', kind: 'plan', plan: uniform }] });
      await expect(runExperiment({ store, spec: noop, engine })).rejects.toThrow(/arm 'uniform' changes no routing decision on the first 8 item\(s\).*silent no-op/);
      const neutral = nllSpec({ arms: [{ kind: 'baseline' }, { name: 'empty', kind: 'plan', plan: { format: 'routescope-plan', version: 1, layers: {} } }] });
      await expect(runExperiment({ store, spec: neutral, engine })).rejects.toThrow(/arm 'empty': its plan edits no expert/);
      const misfit = nllSpec({ arms: [{ kind: 'baseline' }, { name: 'big', kind: 'plan', plan: { [String(model.moeLayers[0])]: [model.numExperts + 3] } }] });
      await expect(runExperiment({ store, spec: misfit, engine })).rejects.toThrow(new RegExp(`arm 'big': the plan does not fit the model: .*expert ${model.numExperts + 3}`));
      const lang = nllSpec({ dataset: { kind: 'jsonl', path: dataFile, languages: ['en', 'xx'] } });
      await expect(runExperiment({ store, spec: lang, engine })).rejects.toThrow(/dataset: .*'xx'/);
      expect(listExperiments(store)).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('cancel, then resume: a changed spec is refused naming the field; the same spec completes identical to an uninterrupted run', async () => {
    const db = join(tmp.dir, 'cancel.db');
    const store = Store.open(db);
    try {
      const ac = new AbortController();
      const first = await runExperiment({ store, spec: nllSpec(), engine, signal: ac.signal, onProgress: (p) => p.unitsDone >= 4 && ac.abort() });
      expect(first.status).toBe('cancelled');
      expect(getExperiment(store, first.experimentId).status).toBe('cancelled');
      const mid = experimentResults(store, first.experimentId);
      expect(mid.length).toBe(16); // 4 units of 4 items
      await expect(runExperiment({ store, spec: nllSpec({ batch_size: 2 }), engine, resumeId: first.experimentId })).rejects.toThrow(/field 'batchSize' differs/);
      const changedArm = nllSpec({ arms: [{ kind: 'baseline' }, { name: 'aa', kind: 'plan', plan: { format: 'routescope-plan', version: 1, layers: {} }, allow_noop: true }, { name: 'mask', kind: 'plan', plan: { [String(model.moeLayers[1])]: [0, 2] } }] });
      await expect(runExperiment({ store, spec: changedArm, engine, resumeId: first.experimentId })).rejects.toThrow(/field 'arms\[2\]\.plan\.\d+\[1\]' differs/);
      const done = await runExperiment({ store, spec: nllSpec(), engine, resumeId: first.experimentId });
      expect(done.status).toBe('completed');
      const rows = experimentResults(store, first.experimentId);
      expect(comparable(rows)).toEqual(comparable(refRows));
      await expect(runExperiment({ store, spec: nllSpec(), engine, resumeId: first.experimentId })).rejects.toThrow(/already completed/);
    } finally {
      store.close();
    }
  });

  it('choice: log-likelihood per option, accuracy from the argmax, also per character (acc_norm)', async () => {
    const store = Store.open(join(tmp.dir, 'choice.db'));
    try {
      const spec = parseExperimentSpec({
        name: 'choice-test', model: model.dir, task: 'choice', dataset: { kind: 'belebele', path: beleDir, languages: ['eng_Latn', 'fra_Latn'] }, batch_size: 3,
        arms: [{ kind: 'baseline' }, { name: 'mask', kind: 'plan', plan: maskPlan }],
      });
      const res = await runExperiment({ store, spec, engine });
      const rows = experimentResults(store, res.experimentId);
      expect(rows).toHaveLength(2 * 2 * 6);
      for (const r of rows) {
        const ll = (r.loglik as { options: number[] }).options;
        expect(ll).toHaveLength(4);
        for (const x of ll) expect(x).toBeLessThan(0);
        const choice = ll.indexOf(Math.max(...ll)) + 1;
        const gold = Number(r.extra!.gold);
        expect(gold).toBe(1 + (Number(r.itemId.match(/x\/(\d)/)![1]) % 4));
        expect(r.extracted).toBe(String(choice));
        expect(r.correct).toBe(choice === gold);
        expect(r.score).toBe(choice === gold ? 1 : 0);
        // acc_norm as lm-evaluation-harness: log-likelihood per character of the continuation (the option itself: the
        // Belebele template is a chat turn, so the answer starts the assistant turn with no leading space).
        const chars = ['the cat', 'a dog ate bread', 'house', 'on the mat and more'].map((o) => o.length);
        expect((r.loglik as { chars: number[] }).chars).toEqual(chars);
        const norm = ll.map((x, i) => x / chars[i]!);
        expect(r.extra!.choiceNormalised).toBe(norm.indexOf(Math.max(...norm)) + 1);
        expect(r.extra!.correctNormalised).toBe(norm.indexOf(Math.max(...norm)) + 1 === gold);
      }
    } finally {
      store.close();
    }
  });

  it('recipe arms computed from a captured run in the store: steer, mask and 2510.04694 delta plans keyed by decoder layer', async () => {
    const runsDb = join(tmp.dir, 'runs.db');
    const runs = Store.open(runsDb);
    const backend = await EngineBackend.load(model.dir, { executionProvider: 'cpu' });
    try {
      const dataset = await loadDataset('jsonl', dataFile, { languages: LANGS });
      expect((await startCapture({ store: runs, backend, dataset, template: 'raw', batchSize: 8 })).status).toBe('completed');
    } finally {
      await backend.dispose();
      runs.close();
    }
    const routing = { db: runsDb, run: 1 };
    const spec = nllSpec({
      arms: [
        { kind: 'baseline' },
        { name: 'steer', kind: 'recipe', routing, recipe: { type: 'steer', targets: ['en', 'fr'], k: 4, thr: 0.7, layers: '0-1', lambda: 5 } },
        { name: 'mask', kind: 'recipe', routing, recipe: { type: 'mask', targets: ['de'], k: 4, thr: 0.4, layers: '0-1' } },
        { name: 'delta', kind: 'recipe', routing, recipe: { type: 'delta', mode: 'hard', target: 'en', pivot: 'fr', tau: 0.01, layers: '0-1' } },
      ],
    });
    const arms = resolveArms(spec, engine.steeringModel);
    const data = loadRunRouting(runsDb, 1);
    const dl = (l: number) => String(model.moeLayers[l]);
    const steer = steeringPlan(data, { targets: ['en', 'fr'], k: 4, thr: 0.7, layers: [0, 1], lambda: 5, mode: 'shared' });
    const expectScale: Record<string, Record<string, number>> = {};
    for (const [l, experts] of steer.steer) expectScale[dl(l)] = Object.fromEntries([...experts].map(([e, v]) => [String(e), Math.fround(5 * v)]));
    const got = (arms[1]!.plan as { layers: Record<string, { scale: Record<string, number> }> }).layers;
    expect(Object.fromEntries(Object.entries(got).map(([l, x]) => [l, x.scale]))).toEqual(expectScale);
    const mask = maskingPlan(data, { targets: ['de'], shared: false, k: 4, thr: 0.4, layers: [0, 1] });
    expect((arms[2]!.plan as { layers: Record<string, unknown> }).layers).toEqual(Object.fromEntries([...mask].map(([l, e]) => [dl(l), { mask: e }])));
    const delta = deltaSteeringPlan(data, { target: 'en', pivot: 'fr', tau: 0.01, layers: [0, 1], mode: 'hard', eps: 1e-3 });
    expect((arms[3]!.plan as { layers: Record<string, unknown> }).layers).toEqual(
      Object.fromEntries(Object.entries(delta.layers).map(([l, e]) => [dl(Number(l)), { force: Object.fromEntries(e.map((x) => [String(x), Math.fround(1e-3)])) }])),
    );
    expect(arms.every((a) => a.kind === 'baseline' || a.experts.some((e) => e.length > 0))).toBe(true);
    // A recipe whose routing has another expert count than the model is refused naming the arm.
    const wrong = nllSpec({ arms: [{ kind: 'baseline' }, { name: 'x', kind: 'recipe', routing: { db: runsDb, run: 9 }, recipe: { type: 'mask', shared: true, k: 4, thr: 0.4, layers: '0-1' } }] });
    expect(() => resolveArms(wrong, engine.steeringModel)).toThrow(/arm 'x': cannot load routing from run 9/);
  });

  it('report: comparisons per language and pooled, delta equal to the mean paired difference; export lines carry doc_id', async () => {
    const store = Store.open(refDb);
    try {
      const out = join(tmp.dir, 'report');
      const { report, files } = writeExperimentReport(store, 1, out, { resamples: 500 });
      expect(files.map((f) => f.slice(out.length + 1)).sort()).toEqual(['arms.csv', 'comparisons.csv', 'language-all.csv', 'language-de.csv', 'language-en.csv', 'language-fr.csv', 'report.json', 'summary.md']);
      const pooled = report.comparisons.find((c) => c.arm === 'mask' && c.language === 'all')!;
      const base = new Map(refRows.filter((r) => r.arm === 'baseline').map((r) => [`${r.language}|${r.itemId}`, r.score!]));
      const diffs = refRows.filter((r) => r.arm === 'mask').map((r) => r.score! - base.get(`${r.language}|${r.itemId}`)!);
      expect(pooled.n).toBe(LANGS.length * ITEMS);
      expect(pooled.delta).toBeCloseTo(diffs.reduce((a, b) => a + b, 0) / diffs.length, 12);
      expect(report.comparisons.filter((c) => c.arm === 'mask').map((c) => c.language).sort()).toEqual(['all', 'de', 'en', 'fr']);
      const aa = report.comparisons.find((c) => c.arm === 'aa' && c.language === 'all')!;
      expect(aa.delta).toBe(0);
      expect(report.higherIsBetter).toBe(false);
      expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).comparisons).toHaveLength(report.comparisons.length);
      expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('mean NLL');
    } finally {
      store.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('experiment CLI crash safety', () => {
  it('SIGKILL mid-run, then run --resume: no stored row redone, final rows identical to an uninterrupted run; export lines', async () => {
    const specFile = join(tmp.dir, 'kill-spec.json');
    writeFileSync(specFile, JSON.stringify({
      name: 'kill-test', model: model.dir, task: 'nll', dataset: { kind: 'jsonl', path: dataFile, languages: LANGS }, batch_size: 1,
      arms: [{ kind: 'baseline' }, { name: 'mask', kind: 'plan', plan: maskPlan }, { name: 'rnd', kind: 'random', of: 'mask', seeds: [1] }],
    }));
    const refDb = join(tmp.dir, 'kill-ref.db');
    const refStore = Store.open(refDb);
    const ref = await runExperiment({ store: refStore, spec: parseExperimentSpec(JSON.parse(readFileSync(specFile, 'utf8')), tmp.dir), engine });
    const refRows = experimentResults(refStore, ref.experimentId);
    refStore.close();

    const db = join(tmp.dir, 'killed.db');
    const child = spawn(process.execPath, [BIN, 'experiment', 'run', specFile, '--db', db, '--ep', 'cpu'], { cwd: ROOT, stdio: 'ignore' });
    await waitForProgress(child, db, 'SELECT units_done AS n FROM experiment WHERE id = 1', 5, 'experiment');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    const mid = Store.open(db, { readonly: true });
    const before = experimentResults(mid, 1);
    const stamps = new Map((mid.db.prepare('SELECT arm, language, item_id, created_at FROM experiment_result').all() as { arm: string; language: string; item_id: string; created_at: string }[]).map((r) => [`${r.arm}|${r.language}|${r.item_id}`, r.created_at]));
    const status = getExperiment(mid, 1);
    mid.close();
    expect(status.status).toBe('running'); // killed: nobody marked it
    expect(before.length).toBeGreaterThanOrEqual(5);
    expect(before.length).toBeLessThan(refRows.length);

    const resumed = await runNode([BIN, 'experiment', 'run', specFile, '--db', db, '--ep', 'cpu', '--resume'], ROOT);
    expect(resumed.stderr).toContain(`resuming experiment 1: ${status.unitsDone} of ${refRows.length} units stored`);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('experiment 1 completed');
    const after = Store.open(db, { readonly: true });
    expect(after.integrityProblems()).toEqual([]);
    const rows = experimentResults(after, 1);
    const stampsAfter = new Map((after.db.prepare('SELECT arm, language, item_id, created_at FROM experiment_result').all() as { arm: string; language: string; item_id: string; created_at: string }[]).map((r) => [`${r.arm}|${r.language}|${r.item_id}`, r.created_at]));
    after.close();
    for (const [k, t] of stamps) expect(stampsAfter.get(k)).toBe(t);
    expect(comparable(rows)).toEqual(comparable(refRows));

    const out = join(tmp.dir, 'items.jsonl');
    const exp = await cliInProcess(['experiment', 'export', '1', '--db', db, '--out', out]);
    expect(exp.code).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(refRows.length);
    const first = lines[0]!;
    expect(first).toMatchObject({ doc_id: 0, experiment: 1, arm: 'baseline', language: 'de', item_id: 'item-0', sample: 0, doc: { id: 'item-0', language: 'de' } });
    expect(first.nll).toBe(first.score);
    expect(new Set(lines.map((l) => `${l.arm}|${l.language}|${l.item_id}|${l.sample}`)).size).toBe(lines.length);
    const list = await cliInProcess(['experiment', 'list', '--db', db]);
    expect(list.stdout).toMatch(/1\s+kill-test\s+nll\s+completed/);
  });

  it('refuses a resume with nothing to resume, and a bad spec with the field named', async () => {
    const bad = join(tmp.dir, 'bad-spec.json');
    writeFileSync(bad, JSON.stringify({ name: 'bad', model: model.dir, task: 'nll', dataset: { kind: 'jsonl', path: dataFile, languages: LANGS }, arms: [{ kind: 'baseline' }, { kind: 'baseline', name: 'b' }] }));
    const r = await cliInProcess(['experiment', 'run', bad, '--db', join(tmp.dir, 'bad.db')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bad-spec.json: arms: must contain exactly one baseline arm');
    const none = await cliInProcess(['experiment', 'run', join(tmp.dir, 'kill-spec.json'), '--db', join(tmp.dir, 'empty.db'), '--resume']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no unfinished experiment named 'kill-test'");
  });
});
