/**
 * The two properties the embedded demo model claims (resources/demo-model/README.md), checked through the app's
 * own code: the real engine, the UDHR corpus loader with its held-out split, the language table and the
 * routing measures of src/analysis.
 *
 * (a) Held-out perplexity is clearly below a unigram baseline in every demo language.
 * (b) Routing differs by language: mean routing similarity of language pairs in the same family (and, more
 *     strongly, the same branch) is higher than across families (branches).
 *
 * Protocols follow tools/train-demo-model/train.py, so the PyTorch figures it wrote to metrics.json serve as an
 * independent reference for the engine's numbers. metrics.json is rewritten with the model by
 * `sh tools/train-demo-model/regenerate.sh` (Debian python3-torch 1.13.1 and python3-numpy, /usr/bin/python3; see
 * tools/train-demo-model/README.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerMatrices, type LanguageRouting, type RoutingData } from '../../src/analysis/index.js';
import { loadDemoLanguages } from '../../src/corpus/demo-languages.js';
import { loadUdhrCorpus } from '../../src/corpus/udhr.js';
import { loadEngine, type Engine, type ScoreItem } from '../../src/engine/index.js';
import { findLanguage } from '../../src/languages/index.js';
import { addAlphaUnigramPerplexity, groupGap, pairMean, permutationP, tokenCounts, type GroupGap } from './quality-measures.js';

const root = resolve(import.meta.dirname, '../..');
const modelDir = resolve(root, 'resources/demo-model');
const metricsFile = resolve(root, 'tools/train-demo-model/metrics.json');
const hasModel = existsSync(resolve(modelDir, 'model.safetensors')) && existsSync(resolve(modelDir, 'tokenizer.json'));

/** The model was trained on 256-token windows; train.py scores and routes in windows of that size too. */
const CONTEXT = 256;
/** Unigram smoothing, fixed in advance (never tuned on held-out data); the model must beat both. */
const ALPHAS = [0.1, 1] as const;
const PERMUTATIONS = 1999;
const SEED = 20251;

interface TrainMetrics {
  ppl: Record<string, number>;
  ntok: Record<string, number>;
  base: Record<string, { global: number }>;
  by_family: { layer: number; within: number; across: number }[];
  by_branch: { layer: number; within: number; across: number }[];
}

interface PerplexityRow {
  lang: string;
  tokens: number;
  model: number;
  unigram: Record<(typeof ALPHAS)[number], number>;
  /** model / the stronger (lower) of the add-alpha baselines. */
  ratio: number;
}

function chunks(ids: number[], size: number): number[][] {
  const out: number[][] = [];
  for (let s = 0; s < ids.length; s += size) out.push(ids.slice(s, s + size));
  return out;
}

/** Routing counts of every real token of `seqs` (left-padded batches, no logits), accumulated per language. */
async function captureRouting(engine: Engine, seqs: { lang: string; ids: number[] }[], langs: string[], batchSize: number): Promise<LanguageRouting[]> {
  const { moeLayers, numExperts: E, topK: k } = engine.info;
  const L = moeLayers.length;
  const byLang = new Map<string, LanguageRouting>(
    langs.map((lang) => [lang, { language: lang, counts: new Float64Array(L * E), gateSums: new Float64Array(L * E), totals: new Float64Array(L) }]),
  );
  // Similar lengths together keep padding (wasted compute) small.
  const order = [...seqs].sort((a, b) => a.ids.length - b.ids.length);
  for (let start = 0; start < order.length; start += batchSize) {
    const batch = order.slice(start, start + batchSize);
    const width = Math.max(...batch.map((s) => s.ids.length));
    const ids = batch.map((s) => [...new Array<number>(width - s.ids.length).fill(0), ...s.ids]);
    const attentionMask = batch.map((s) => [...new Array<number>(width - s.ids.length).fill(0), ...new Array<number>(s.ids.length).fill(1)]);
    const r = await engine.forward(ids, { attentionMask, logits: 'none', capture: true });
    batch.forEach((s, b) => {
      const lr = byLang.get(s.lang)!;
      for (let t = width - s.ids.length; t < width; t++) {
        const row = b * width + t;
        for (let l = 0; l < L; l++) {
          const layer = r.routing![l]!;
          for (let j = 0; j < k; j++) {
            const e = layer.experts[row * k + j]!;
            lr.counts[l * E + e]! += 1;
            lr.gateSums[l * E + e]! += layer.weights[row * k + j]!;
          }
          lr.totals[l]! += 1;
        }
      }
    });
  }
  return langs.map((l) => byLang.get(l)!);
}

const fmt = (x: number, d = 3) => x.toFixed(d);

const title = 'embedded demo model: held-out quality and routing by language';
describe.skipIf(!hasModel)(hasModel ? title : `${title} (skipped: resources/demo-model is absent, nothing to check)`, () => {
  const langs = loadDemoLanguages();
  let engine: Engine;
  let vocab: number;
  let eot: number;
  /** Held-out items as token ids, per language (one array per UDHR item). */
  const heldIds = new Map<string, number[][]>();
  const trainIds = new Map<string, number[][]>();
  const reference: TrainMetrics | undefined = existsSync(metricsFile) ? (JSON.parse(readFileSync(metricsFile, 'utf8')) as TrainMetrics) : undefined;

  beforeAll(async () => {
    engine = await loadEngine(modelDir);
    const tok = engine.tokenizer!;
    vocab = engine.info.vocabSize;
    const eotIds = tok.encode('<|endoftext|>', { addSpecialTokens: false });
    expect(eotIds).toHaveLength(1);
    eot = eotIds[0]!;
    for (const [split, into] of [
      ['heldout', heldIds],
      ['train', trainIds],
    ] as const) {
      const corpus = loadUdhrCorpus({ languages: langs, split });
      for (const l of corpus.languages) into.set(l.lang, corpus.items.map((it) => tok.encode(it.texts[l.lang]!, { addSpecialTokens: false })));
    }
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it('uses the held-out split (articles 26-30) and a corpus language id for every demo language', () => {
    expect([...heldIds.keys()]).toEqual(langs);
    for (const l of langs) expect(heldIds.get(l)).toHaveLength(5);
  });

  // Counted tokens: every text token of each held-out item, the item scored on its own after <|endoftext|>
  // (train.py's protocol; items longer than the 256-token training window are scored in 255-token pieces,
  // each after its own <|endoftext|>). The unigram baselines score exactly the same token ids.
  describe('(a) held-out perplexity vs add-alpha unigram baselines', () => {
    const rows: PerplexityRow[] = [];

    beforeAll(async () => {
      const items: ScoreItem[] = [];
      const owner: string[] = [];
      for (const l of langs) {
        for (const ids of heldIds.get(l)!) {
          for (const piece of chunks(ids, CONTEXT - 1)) {
            items.push({ prompt: [eot], continuation: piece });
            owner.push(l);
          }
        }
      }
      const order = items.map((_, i) => i).sort((a, b) => items[a]!.continuation.length - items[b]!.continuation.length);
      const scored = await engine.score(
        order.map((i) => items[i]!),
        { capture: false, batchSize: 16 },
      );
      const nll = new Map(langs.map((l) => [l, { sum: 0, n: 0 }]));
      scored.forEach((s, j) => {
        const acc = nll.get(owner[order[j]!]!)!;
        acc.sum -= s.total;
        acc.n += s.tokenLogprobs.length;
      });
      for (const l of langs) {
        const counts = tokenCounts(trainIds.get(l)!, vocab);
        const held = heldIds.get(l)!;
        const unigram = { 0.1: addAlphaUnigramPerplexity(counts, held, 0.1), 1: addAlphaUnigramPerplexity(counts, held, 1) };
        const model = Math.exp(nll.get(l)!.sum / nll.get(l)!.n);
        rows.push({ lang: l, tokens: nll.get(l)!.n, model, unigram, ratio: model / Math.min(...ALPHAS.map((a) => unigram[a])) });
      }
      const ratios = rows.map((r) => r.ratio).sort((a, b) => a - b);
      const worst = rows.reduce((w, r) => (r.ratio > w.ratio ? r : w));
      console.log(
        [
          `held-out perplexity, engine ${engine.info.moeKernel?.name ?? ''} kernel; unigram = add-alpha over the ${vocab}-token vocabulary from the language's train split`,
          '| language | family | held-out tokens | model ppl | unigram ppl (alpha 0.1) | unigram ppl (alpha 1) | model / stronger unigram |',
          '|---|---|---:|---:|---:|---:|---:|',
          ...rows.map((r) => `| ${r.lang} | ${findLanguage(r.lang)?.family} | ${r.tokens} | ${fmt(r.model, 1)} | ${fmt(r.unigram[0.1], 1)} | ${fmt(r.unigram[1], 1)} | ${fmt(r.ratio, 2)} |`),
          `ratio median ${fmt(ratios[Math.floor(ratios.length / 2)]!, 2)}, worst ${fmt(worst.ratio, 2)} (${worst.lang})`,
        ].join('\n'),
      );
    });

    it('is below both unigram baselines in every demo language, clearly so', () => {
      expect(rows).toHaveLength(langs.length);
      for (const r of rows) {
        expect(Number.isFinite(r.model), r.lang).toBe(true);
        for (const a of ALPHAS) expect(r.model, `${r.lang}: model vs unigram alpha ${a}`).toBeLessThan(r.unigram[a]);
        // train.py's oracle-prior unigram leaves a worst ratio of 0.84; add-alpha baselines are weaker still.
        expect(r.ratio, r.lang).toBeLessThan(0.9);
      }
      const ratios = rows.map((r) => r.ratio).sort((a, b) => a - b);
      expect(ratios[Math.floor(ratios.length / 2)]).toBeLessThan(0.7);
    });

    it.skipIf(!reference)('matches the PyTorch evaluation train.py recorded (tools/train-demo-model/metrics.json)', () => {
      const allTrain = tokenCounts(langs.flatMap((l) => trainIds.get(l)!), vocab);
      for (const r of rows) {
        // Same tokenizer and protocol: identical token counts, perplexity equal up to float32 rounding.
        expect(r.tokens, r.lang).toBe(reference!.ntok[r.lang]);
        expect(Math.abs(r.model / reference!.ppl[r.lang]! - 1), r.lang).toBeLessThan(1e-5);
        // NumPy's add-one global unigram: checks this file's counting and smoothing independently.
        const global = addAlphaUnigramPerplexity(allTrain, heldIds.get(r.lang)!, 1);
        expect(Math.abs(global / reference!.base[r.lang]!.global - 1), r.lang).toBeLessThan(1e-9);
      }
    });
  });

  // f[e] = share of a language's held-out tokens whose top-2 contains expert e: every real text token of the
  // held-out items, no chat template, no <|endoftext|>, 256-token windows (train.py's routing_frequencies).
  // Similarity = cosine (src/analysis layerMatrices). Groups: family, and branch (else genus, else family) from
  // the language table.
  describe('(b) routing similarity within vs across language families', () => {
    let data: RoutingData;
    const family: string[] = [];
    const branch: string[] = [];
    const script: string[] = [];
    /** Per layer: pairs sharing a family but not a script, and sharing a script but not a family. */
    let confound: { famNotScript: number; scriptNotFam: number }[] = [];
    let sims: Float64Array[] = [];
    let byFamily: GroupGap[] = [];
    let byBranch: GroupGap[] = [];
    let pFamily = 1;
    let pBranch = 1;

    beforeAll(async () => {
      for (const l of langs) {
        const info = findLanguage(l);
        if (!info) throw new Error(`demo language ${l} is missing from resources/languages/languages.json`);
        family.push(info.family);
        branch.push(info.branch ?? info.genus ?? info.family);
        script.push(info.scripts[0] ?? 'unknown');
      }
      const seqs = langs.flatMap((lang) => heldIds.get(lang)!.flatMap((ids) => chunks(ids, CONTEXT).map((c) => ({ lang, ids: c }))));
      const languages = await captureRouting(engine, seqs, langs, 16);
      const { numLayers, numExperts, topK, moeLayers } = engine.info;
      data = { numLayers, numExperts, topK, moeLayers, languages, source: 'demo-model held-out UDHR', tokenScope: 'content' };
      sims = moeLayers.map((_, l) => layerMatrices(data, l).cosine);
      byFamily = sims.map((m) => groupGap(m, family));
      byBranch = sims.map((m) => groupGap(m, branch));
      pFamily = permutationP(sims, family, PERMUTATIONS, SEED);
      pBranch = permutationP(sims, branch, PERMUTATIONS, SEED);
      const n = langs.length;
      confound = sims.map((m) => ({
        famNotScript: pairMean(m, n, (i, j) => family[i] === family[j] && script[i] !== script[j]).mean,
        scriptNotFam: pairMean(m, n, (i, j) => family[i] !== family[j] && script[i] === script[j]).mean,
      }));
      const table = (gaps: GroupGap[]) => gaps.map((g, l) => `| ${l} | ${fmt(g.within)} | ${fmt(g.across)} | ${g.diff >= 0 ? '+' : ''}${fmt(g.diff)} |`);
      const mean = (gaps: GroupGap[]) => gaps.reduce((s, g) => s + g.diff, 0) / gaps.length;
      console.log(
        [
          `routing similarity (cosine of expert-frequency vectors), ${languages.reduce((s, l) => s + l.totals[0]!, 0)} held-out tokens`,
          '| MoE layer | same family | different families | difference |',
          '|---:|---:|---:|---:|',
          ...table(byFamily),
          `mean difference over layers ${fmt(mean(byFamily))}, permutation p ${fmt(pFamily, 4)} (${PERMUTATIONS} relabellings, seed ${SEED})`,
          '| MoE layer | same branch | different branches | difference |',
          '|---:|---:|---:|---:|',
          ...table(byBranch),
          `mean difference over layers ${fmt(mean(byBranch))}, permutation p ${fmt(pBranch, 4)}`,
          '| MoE layer | same family, different script | same script, different family |',
          '|---:|---:|---:|',
          ...confound.map((c, l) => `| ${l} | ${fmt(c.famNotScript)} | ${fmt(c.scriptNotFam)} |`),
        ].join('\n'),
      );
    });

    it('counts every held-out token in every MoE layer', () => {
      for (const lr of data.languages) {
        const n = heldIds.get(lr.language)!.reduce((s, ids) => s + ids.length, 0);
        for (let l = 0; l < data.moeLayers.length; l++) expect(lr.totals[l]).toBe(n);
      }
    });

    // The family-level effect is real in sign but weak: a relabelling test (family sizes kept) puts the layer-mean
    // gap at p ~ 0.05, because Indo-European (17 of 39 languages, 136 of the 149 same-family pairs) spans six
    // scripts. So this asserts the sign and size of the observed gap, not significance; the branch level does.
    it('is higher within a family than across families in at least 5 of 6 MoE layers', () => {
      expect(byFamily).toHaveLength(6);
      expect(byFamily.filter((g) => g.diff > 0).length).toBeGreaterThanOrEqual(5);
      expect(byFamily.reduce((s, g) => s + g.diff, 0) / byFamily.length).toBeGreaterThan(0.05);
    });

    it('is much higher within a branch than across branches in every MoE layer', () => {
      for (const [l, g] of byBranch.entries()) expect(g.diff, `MoE layer ${l}`).toBeGreaterThan(0.15);
      expect(pBranch).toBeLessThan(0.01);
    });

    // What the family/branch gaps mostly measure: related languages usually share a script and so subword tokens,
    // and script predicts routing better than family does. Asserted so the docs' caveat stays true.
    it('is driven more by shared script than by shared family', () => {
      for (const [l, c] of confound.entries()) expect(c.scriptNotFam, `MoE layer ${l}`).toBeGreaterThan(c.famNotScript);
    });

    it.skipIf(!reference)('agrees with the PyTorch routing measurement train.py recorded (metrics.json)', () => {
      for (const [gaps, ref] of [
        [byFamily, reference!.by_family],
        [byBranch, reference!.by_branch],
      ] as const) {
        gaps.forEach((g, l) => {
          expect(Math.abs(g.within - ref[l]!.within), `layer ${l} within`).toBeLessThan(0.01);
          expect(Math.abs(g.across - ref[l]!.across), `layer ${l} across`).toBeLessThan(0.01);
        });
      }
    });
  });
});
