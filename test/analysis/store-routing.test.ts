/**
 * Analysis over a real SQLite store run (written with the store's own write path): --scope content restricts the
 * token totals to content tokens, --sequences adds sequence-mean matrices, and both work end to end in the CLI.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskingPlan, maskPlanJson } from '../../src/analysis/plans.js';
import { loadRoutingSource } from '../../src/cli/routing-source.js';
import { Store, createRun, loadRunRouting, writeBatch, type TraceSequence } from '../../src/store/index.js';
import { roundToHalfReference, synthSequence } from '../store/helpers.js';
import { cliInProcess } from '../support/cli.js';
import { recorderJson, syntheticRouting } from './synthetic.js';

const L = 4;
const E = 16;
const K = 2;
const LANGS = ['en', 'fr', 'de'];
const ITEMS = 6;

let dir: string;
let db: string;
let runId: number;
const seqs: TraceSequence[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rs-an-store-'));
  db = join(dir, 'runs.db');
  const store = Store.open(db);
  runId = createRun(store, {
    projectName: 'analysis-test', languages: LANGS, promptTemplate: 'chatml', numMoeLayers: L, numExperts: E, topK: K,
    model: { path: '/models/toy', architecture: 'ToyMoe', numMoeLayers: L, numExperts: E, topK: K, fingerprint: 'sha256:toy' },
    dataset: { kind: 'jsonl', source: '/data/toy.jsonl', languages: LANGS, itemCount: ITEMS, fingerprint: 'sha256:data' },
    seed: 1, engineVersion: 'test', executionProvider: 'cpu',
  });
  LANGS.forEach((language, li) => {
    for (let j = 0; j < ITEMS; j++) {
      if (language === 'de' && j === 4) continue; // one item missing in one language
      seqs.push(synthSequence({ language, itemId: `q${j}`, itemIndex: j, tokens: 8 + ((j + li) % 4), layers: L, experts: E, topK: K, seed: 100 + li * 17 + j, templateTokens: 2 + (j % 2) }));
    }
  });
  writeBatch(store, runId, 0, seqs.slice(0, 9));
  writeBatch(store, runId, 1, seqs.slice(9));
  store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Tokens of a language, counted from the raw sequences: all of them, or those outside the template mask. */
function tokenCount(language: string, scope: 'all' | 'content'): number {
  return seqs.filter((s) => s.language === language).reduce((n, s) => n + Array.from(s.templateMask).filter((m) => scope === 'all' || m === 0).length, 0);
}

/** Independent per-sequence distribution: mean float16-rounded gate weight per expert over the scope's tokens. */
function seqDistribution(s: TraceSequence, layer: number, scope: 'all' | 'content'): number[] {
  const T = s.tokenIds.length;
  const d = new Array(E).fill(0);
  for (let t = 0; t < T; t++) {
    if (scope === 'content' && s.templateMask[t]) continue;
    for (let k = 0; k < K; k++) d[s.expertIds[(layer * T + t) * K + k]] += roundToHalfReference(s.gateWeights[(layer * T + t) * K + k]);
  }
  const sum = d.reduce((a, b) => a + b, 0);
  return d.map((x) => x / sum);
}

function referenceNjsd(a: string, b: string, layer: number, scope: 'all' | 'content'): number {
  const H = (p: number[]) => -p.reduce((s, x) => (x > 0 ? s + x * Math.log(x) : s), 0);
  let sum = 0;
  let n = 0;
  for (const sa of seqs.filter((s) => s.language === a)) {
    const sb = seqs.find((s) => s.language === b && s.itemId === sa.itemId);
    if (!sb) continue;
    const p = seqDistribution(sa, layer, scope);
    const q = seqDistribution(sb, layer, scope);
    const m = p.map((x, e) => (x + q[e]) / 2);
    const js = H(m) - (H(p) + H(q)) / 2;
    sum += js / Math.max(Math.log(E) - (H(p) + H(q)) / 2, 1e-6);
    n++;
  }
  return sum / n;
}

const cli = cliInProcess;

function noNaN(out: string) {
  for (const f of readdirSync(out, { recursive: true }) as string[]) {
    if (f.includes('.')) expect(readFileSync(join(out, f), 'utf8'), f).not.toMatch(/NaN|Infinity/);
  }
}

describe('analysis of a real store run: token scope and parallel sequences', () => {
  it('--scope content counts content tokens only', async () => {
    const all = await loadRoutingSource({ db, run: String(runId) });
    const content = await loadRoutingSource({ db, run: String(runId), scope: 'content' });
    for (const lang of LANGS) {
      const a = all.languages.find((l) => l.language === lang)!;
      const c = content.languages.find((l) => l.language === lang)!;
      expect(Array.from(a.totals)).toEqual(new Array(L).fill(tokenCount(lang, 'all')));
      expect(Array.from(c.totals)).toEqual(new Array(L).fill(tokenCount(lang, 'content')));
      expect(tokenCount(lang, 'content')).toBeLessThan(tokenCount(lang, 'all'));
      // every content token selects K experts per layer
      expect(c.counts.slice(0, E).reduce((s, x) => s + x, 0)).toBe(K * tokenCount(lang, 'content'));
    }
    expect(content.tokenScope).toBe('content');
    expect(content.source).toMatch(/content tokens only/);
    expect(all.tokenScope).toBe('all');
  });

  it('analyze --scope content --sequences gate writes content totals and sequence means end to end', async () => {
    const out = join(dir, 'report-content');
    const r = await cli(['analyze', '--db', db, '--run', String(runId), '--out', out, '--scope', 'content', '--sequences', 'gate', '--pivot', 'en', '--k', '3', '--bands', '0-0,1-2,3-3']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const summary = readFileSync(join(out, 'summary.md'), 'utf8');
    expect(summary).toContain(`Tokens counted: content tokens only (chat-template tokens excluded); per language: ${LANGS.map((l) => `${l} ${tokenCount(l, 'content')}`).join(', ')}.`);
    expect(summary).toMatch(/## Parallel-sequence alignment/);
    expect(summary).toContain(`en ${ITEMS}, fr ${ITEMS}, de ${ITEMS - 1} sequences`);
    const seq = JSON.parse(readFileSync(join(out, 'sequence-matrices.json'), 'utf8'));
    expect(seq.kind).toBe('gate');
    for (let l = 0; l < L; l++) {
      expect(seq.layers[l].njsd[0][1]).toBeCloseTo(referenceNjsd('en', 'fr', l, 'content'), 5);
      expect(seq.layers[l].njsd[0][2]).toBeCloseTo(referenceNjsd('en', 'de', l, 'content'), 5);
      expect(seq.layers[l].matched[0][2]).toBe(ITEMS - 1);
    }
    const curves = JSON.parse(readFileSync(join(out, 'curves.json'), 'utf8'));
    expect(curves.tokens).toEqual(LANGS.map((l) => tokenCount(l, 'content')));
    expect(curves.sequence.meanPivotNjsd[2]).toBeCloseTo((referenceNjsd('en', 'fr', 2, 'content') + referenceNjsd('en', 'de', 2, 'content')) / 2, 5);
    noNaN(out);
  });

  it('analyze defaults to all tokens and no sequence work; --sequences frequency uses selection rates', async () => {
    const out = join(dir, 'report-all');
    expect((await cli(['analyze', '--db', db, '--run', String(runId), '--out', out, '--k', '3', '--bands', '0-0,1-2,3-3'])).code).toBe(0);
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain(`Tokens counted: all tokens (chat-template tokens included); per language: en ${tokenCount('en', 'all')}`);
    expect(existsSync(join(out, 'sequence-matrices.json'))).toBe(false);
    const out2 = join(dir, 'report-freq');
    expect((await cli(['analyze', '--db', db, '--run', String(runId), '--out', out2, '--k', '3', '--bands', '0-0,1-2,3-3', '--sequences', 'frequency'])).code).toBe(0);
    const seq = JSON.parse(readFileSync(join(out2, 'sequence-matrices.json'), 'utf8'));
    expect(seq.kind).toBe('frequency');
    // independent: per sequence, selection counts over all tokens, normalised
    const sel = (s: TraceSequence, layer: number) => {
      const T = s.tokenIds.length;
      const d = new Array(E).fill(0);
      for (let i = 0; i < T * K; i++) d[s.expertIds[layer * T * K + i]] += 1;
      return d.map((x) => x / (T * K));
    };
    let cos = 0;
    let n = 0;
    for (const a of seqs.filter((s) => s.language === 'fr')) {
      const b = seqs.find((s) => s.language === 'de' && s.itemId === a.itemId);
      if (!b) continue;
      const p = sel(a, 3);
      const q = sel(b, 3);
      cos += p.reduce((s, x, e) => s + x * q[e], 0) / Math.hypot(...p) / Math.hypot(...q);
      n++;
    }
    expect(seq.layers[3].cosine[1][2]).toBeCloseTo(cos / n, 10);
    noNaN(out2);
  });

  it('plan mask --scope content uses content-token frequencies', async () => {
    const out = join(dir, 'mask.json');
    const r = await cli(['plan', 'mask', '--db', db, '--run', String(runId), '--scope', 'content', '--target', 'fr', '--k', '4', '--thr', '0.4', '--layers', '0-3', '--out', out]);
    expect(r.code).toBe(0);
    const expected = maskPlanJson(maskingPlan(loadRunRouting(db, runId, { scope: 'content' }), { targets: ['fr'], shared: false, k: 4, thr: 0.4, layers: [0, 3] }));
    expect(readFileSync(out, 'utf8')).toBe(expected);
  });

  it('gives clear errors for store-only flags with recorder folders and for unknown values', async () => {
    const folder = join(dir, 'recorder');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(folder, { recursive: true });
    const data = syntheticRouting({ groups: [['en', 'fr']], layers: 3, experts: 8, seed: 2 });
    for (const l of data.languages) writeFileSync(join(folder, `mgsm_${l.language}.json`), recorderJson(data, l.language));
    const out = join(dir, 'bad');
    let r = await cli(['analyze', '--routing', folder, '--out', out, '--scope', 'content']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--scope need a store run \(--db <file> --run <id>\): the recorder JSON in .* holds only per-layer totals/);
    r = await cli(['analyze', '--routing', folder, '--out', out, '--sequences', 'gate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--sequences need a store run/);
    r = await cli(['plan', 'mask', '--routing', folder, '--target', 'fr', '--layers', '0-1', '--scope', 'all']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--scope need a store run/);
    r = await cli(['analyze', '--db', db, '--run', String(runId), '--out', out, '--scope', 'template']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--scope must be 'all' or 'content', got 'template'/);
    r = await cli(['analyze', '--db', db, '--run', String(runId), '--out', out, '--sequences', 'mean']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--sequences must be 'gate' or 'frequency', got 'mean'/);
    r = await cli(['plan', 'steer', '--db', db, '--run', String(runId), '--targets', 'en,fr', '--k', '4', '--layers', '0-3', '--sequences', 'gate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--sequences is for routescope analyze/);
    expect(existsSync(out)).toBe(false);
  });
});
