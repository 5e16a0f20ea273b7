/**
 * The full per-layer analysis of one routing data set (matrices, dendrograms, family agreement, specialisation,
 * curves, bands) and the files `routescope analyze` writes from it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bandMean, detectBands, type Bands } from './bands.js';
import { clusterLanguages, LINKAGES, toNewick, type DendrogramNode, type Linkage } from './clustering.js';
import { AnalysisInputError } from './errors.js';
import { familyAgreement, type FamilyAgreement, type Genealogy } from './family.js';
import { layerCurves, layerMatrices, METRICS, type LayerCurves, type LayerMatrices, type Metric, type Weighting } from './measures.js';
import type { RoutingData } from './routing-data.js';
import {
  prepareSequenceIndex,
  sequenceLayerMatrices,
  sequencePivotCurves,
  validateSequences,
  type SequenceCurves,
  type SequenceLayerMatrices,
} from './sequence-measures.js';
import { specialisationTable, type SpecialisationTable } from './specialisation.js';
import { checkK, checkThreshold, validateRouting } from './validate.js';

export interface AnalyzeOptions {
  pivot?: string;
  k?: number;
  thr?: number;
  linkages?: Linkage[];
  /** Distance the dendrograms are built from (cosine means 1 - cosine similarity). */
  clusterMetric?: Metric;
  weighting?: Weighting;
  bands?: Bands;
  genealogy?: (code: string) => Genealogy | undefined;
  /**
   * Sequence-mean matrices when the languages carry per-sequence routing (default true). They cost
   * pairs x layers x sequences x experts, so callers may skip them; without sequences nothing is computed.
   */
  sequenceMeans?: boolean;
  onProgress?: (done: number, total: number, stage: string) => void;
  signal?: AbortSignal;
}

/** Measures over parallel sequences (sequence i of A against sequence i of B), present when the data has them. */
export interface SequenceAnalysis {
  /** What each sequence distribution is: mean gate weight per expert, or selection rate / top-k. */
  kind: 'gate' | 'frequency';
  /** Sequences per language (data order). */
  counts: number[];
  matrices: SequenceLayerMatrices[];
  /** Per layer, mean over all language pairs of the sequence-mean measure. */
  meanPairCosine: number[];
  meanPairNjsd: number[];
  /** Per-language curves against the pivot (when a pivot is given). */
  pivot?: SequenceCurves;
}

export interface LayerDendrograms {
  layer: number;
  trees: Record<Linkage, { tree: DendrogramNode; newick: string; family?: FamilyAgreement }>;
}

export interface AnalysisResult {
  source: string;
  languages: string[];
  numLayers: number;
  numExperts: number;
  topK: number;
  /** Tokens per language (layer 0's total) and which tokens were counted, when the source says. */
  tokens: number[];
  tokenScope?: 'all' | 'content';
  /** Weight precision of the capture, when recorded. */
  precision?: string;
  options: { pivot?: string; k: number; thr: number; linkages: Linkage[]; clusterMetric: Metric; weighting: Weighting };
  matrices: LayerMatrices[];
  dendrograms: LayerDendrograms[];
  curves: LayerCurves;
  specialisation: SpecialisationTable;
  bands: Bands;
  /** Alignment curve the U-shape verdict uses: mean pairwise cosine similarity (or to the pivot when given). */
  alignment: number[];
  uShape: UShapeVerdict;
  sequence?: SequenceAnalysis;
}

export interface UShapeVerdict {
  holds: boolean;
  early: number | null;
  middle: number | null;
  late: number | null;
  text: string;
}

function distanceOf(m: LayerMatrices, metric: Metric): Float64Array {
  if (metric === 'cosine') return m.cosine.map((c) => Math.max(0, 1 - c));
  return metric === 'jsd' ? m.jsd : m.njsd;
}

function checkAborted(signal?: AbortSignal) {
  if (signal?.aborted) throw new AnalysisInputError('analysis cancelled');
}

export function analyzeRouting(data: RoutingData, o: AnalyzeOptions = {}): AnalysisResult {
  validateRouting(data);
  const k = o.k ?? 15;
  const thr = o.thr ?? 0.4;
  checkK(data, k);
  checkThreshold(thr);
  const linkages = o.linkages ?? LINKAGES;
  const clusterMetric = o.clusterMetric ?? 'jsd';
  if (!METRICS.includes(clusterMetric)) throw new AnalysisInputError(`cluster metric must be one of ${METRICS.join(', ')}, got '${clusterMetric}'`);
  const weighting = o.weighting ?? 'count';
  const labels = data.languages.map((l) => l.language);
  const L = data.numLayers;
  const hasSequences = validateSequences(data) && o.sequenceMeans !== false;
  const total = (hasSequences ? 4 : 3) * L;
  const matrices: LayerMatrices[] = [];
  for (let l = 0; l < L; l++) {
    checkAborted(o.signal);
    matrices.push(layerMatrices(data, l, weighting));
    o.onProgress?.(l + 1, total, 'matrices');
  }
  const dendrograms: LayerDendrograms[] = [];
  for (let l = 0; l < L; l++) {
    checkAborted(o.signal);
    const dist = distanceOf(matrices[l], clusterMetric);
    const trees = {} as LayerDendrograms['trees'];
    for (const linkage of linkages) {
      const tree = clusterLanguages(labels, dist, linkage);
      trees[linkage] = { tree, newick: toNewick(tree), ...(o.genealogy ? { family: familyAgreement(tree, labels, o.genealogy) } : {}) };
    }
    dendrograms.push({ layer: l, trees });
    o.onProgress?.(L + l + 1, total, 'dendrograms');
  }
  checkAborted(o.signal);
  const specialisation = specialisationTable(data, k, thr);
  o.onProgress?.(total, total, 'specialisation');
  const curves = layerCurves(data, o.pivot, matrices, weighting);
  const alignment = curves.meanPivotCosine ?? curves.meanPairCosine;
  const bands = o.bands ?? detectBands(alignment);
  const uShape = uShapeVerdict(alignment, bands);
  let sequence: SequenceAnalysis | undefined;
  if (hasSequences) {
    const index = prepareSequenceIndex(data);
    const seqMats: SequenceLayerMatrices[] = [];
    for (let l = 0; l < L; l++) {
      checkAborted(o.signal);
      seqMats.push(sequenceLayerMatrices(data, l, index));
      o.onProgress?.(3 * L + l + 1, total, 'sequence matrices');
    }
    const n = labels.length;
    const pairMean = (m: Float64Array, self: number) => {
      let s = 0;
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += m[i * n + j];
      return n > 1 ? s / ((n * (n - 1)) / 2) : self;
    };
    sequence = {
      kind: data.languages[0].sequences!.kind,
      counts: data.languages.map((x) => x.sequences!.ids.length),
      matrices: seqMats,
      meanPairCosine: seqMats.map((m) => pairMean(m.cosine, 1)),
      meanPairNjsd: seqMats.map((m) => pairMean(m.njsd, 0)),
      ...(o.pivot !== undefined ? { pivot: sequencePivotCurves(data, o.pivot, seqMats) } : {}),
    };
  }
  return {
    source: data.source,
    languages: labels,
    numLayers: L,
    numExperts: data.numExperts,
    topK: data.topK,
    tokens: data.languages.map((x) => x.totals[0]),
    ...(data.tokenScope ? { tokenScope: data.tokenScope } : {}),
    ...(data.precision ? { precision: data.precision } : {}),
    options: { ...(o.pivot ? { pivot: o.pivot } : {}), k, thr, linkages, clusterMetric, weighting },
    matrices,
    dendrograms,
    curves,
    specialisation,
    bands,
    alignment,
    uShape,
    ...(sequence ? { sequence } : {}),
  };
}

/**
 * The U-shape of arXiv 2601.14050 in alignment terms: cross-language alignment lower in the early and late bands
 * than in the middle band (equivalently, language-specific routing early and late).
 */
export function uShapeVerdict(alignment: readonly number[], bands: Bands): UShapeVerdict {
  const early = bandMean(alignment, bands.early);
  const middle = bandMean(alignment, bands.middle);
  const late = bandMean(alignment, bands.late);
  const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
  if (early === null || middle === null || late === null) {
    return { holds: false, early, middle, late, text: `not decidable: a band is empty (early ${f(early)}, middle ${f(middle)}, late ${f(late)})` };
  }
  const holds = middle > early && middle > late;
  const text = holds
    ? `holds: alignment is lower early (${f(early)}) and late (${f(late)}) than in the middle (${f(middle)})`
    : `does not hold: early ${f(early)}, middle ${f(middle)}, late ${f(late)} (the middle is not above both ends)`;
  return { holds, early, middle, late, text };
}

// ---------------------------------------------------------------------------------------------------------------
// Files

/** Throws if any number in the value is NaN or infinite, so no report can carry one silently (JSON would write null). */
export function assertFinite(value: unknown, path = 'result'): void {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`internal error: ${path} is ${value}`);
  } else if (ArrayBuffer.isView(value)) {
    const arr = value as unknown as ArrayLike<number>;
    for (let i = 0; i < arr.length; i++) if (!Number.isFinite(arr[i])) throw new Error(`internal error: ${path}[${i}] is ${arr[i]}`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => assertFinite(v, `${path}[${i}]`));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) assertFinite(v, `${path}.${k}`);
  }
}

const num = (x: number) => (Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(8))));
const csvCell = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const csv = (rows: (string | number | null)[][]) =>
  rows.map((r) => r.map((c) => (c === null ? '' : typeof c === 'number' ? num(c) : csvCell(c))).join(',')).join('\n') + '\n';

function square(m: Float64Array, n: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from(m.subarray(i * n, (i + 1) * n)));
}

export function writeReport(r: AnalysisResult, dir: string): string[] {
  assertFinite(r.matrices, 'matrices');
  assertFinite(r.curves, 'curves');
  assertFinite(r.tokens, 'tokens');
  if (r.sequence) assertFinite(r.sequence, 'sequence');
  const n = r.languages.length;
  const written: string[] = [];
  const put = (rel: string, text: string) => {
    const path = join(dir, rel);
    writeFileSync(path, text);
    written.push(path);
  };
  mkdirSync(join(dir, 'matrices'), { recursive: true });
  mkdirSync(join(dir, 'dendrograms'), { recursive: true });

  put(
    'matrices.json',
    JSON.stringify({
      languages: r.languages,
      note: 'cosine: similarity of expert-frequency vectors; jsd: Jensen-Shannon divergence (nats); njsd: entropy-normalised JSD (arXiv 2510.04694)',
      layers: r.matrices.map((m) => ({ layer: m.layer, cosine: square(m.cosine, n), jsd: square(m.jsd, n), njsd: square(m.njsd, n) })),
    }),
  );
  for (const m of r.matrices) {
    for (const metric of METRICS) {
      const rows: (string | number)[][] = [['language', ...r.languages]];
      for (let i = 0; i < n; i++) rows.push([r.languages[i], ...Array.from(m[metric].subarray(i * n, (i + 1) * n))]);
      put(join('matrices', `${metric}-layer-${String(m.layer).padStart(2, '0')}.csv`), csv(rows));
    }
  }

  const s = r.sequence;
  if (s) {
    put(
      'sequence-matrices.json',
      JSON.stringify({
        languages: r.languages,
        kind: s.kind,
        sequences: s.counts,
        note:
          'means over parallel sequences (same item id): cosine similarity, JSD (nats) and entropy-normalised JSD (arXiv 2510.04694) ' +
          `of per-sequence ${s.kind === 'gate' ? 'mean gate weights' : 'selection frequencies'}; matched = sequences averaged per cell`,
        layers: s.matrices.map((m) => ({ layer: m.layer, cosine: square(m.cosine, n), jsd: square(m.jsd, n), njsd: square(m.njsd, n), matched: square(Float64Array.from(m.matched), n) })),
      }),
    );
    for (const m of s.matrices) {
      for (const metric of METRICS) {
        const rows: (string | number)[][] = [['language', ...r.languages]];
        for (let i = 0; i < n; i++) rows.push([r.languages[i], ...Array.from(m[metric].subarray(i * n, (i + 1) * n))]);
        put(join('matrices', `seq-${metric}-layer-${String(m.layer).padStart(2, '0')}.csv`), csv(rows));
      }
    }
  }

  const dendroJson: Record<string, unknown> = {};
  for (const linkage of r.options.linkages) {
    dendroJson[linkage] = r.dendrograms.map((d) => ({ layer: d.layer, newick: d.trees[linkage].newick, tree: d.trees[linkage].tree, family: d.trees[linkage].family }));
    put(join('dendrograms', `${linkage}.nwk`), r.dendrograms.map((d) => d.trees[linkage].newick).join('\n') + '\n');
  }
  put('dendrograms.json', JSON.stringify({ metric: r.options.clusterMetric, note: 'one Newick tree per layer per line in dendrograms/<linkage>.nwk', linkages: dendroJson }));

  const famRows: (string | number | null)[][] = [['layer', ...r.options.linkages.flatMap((lk) => [`${lk}_cophenetic`, `${lk}_ari`])]];
  for (const d of r.dendrograms) famRows.push([d.layer, ...r.options.linkages.flatMap((lk) => [d.trees[lk].family?.cophenetic ?? null, d.trees[lk].family?.ari ?? null])]);
  put('family-agreement.csv', csv(famRows));

  const sp = r.specialisation;
  put('specialisation.json', JSON.stringify(sp));
  put('specialisation-layers.csv', csv([['layer', 'shared', ...sp.languages.map((l) => `exclusive_${l}`)], ...sp.layers.map((x) => [x.layer, x.shared, ...sp.languages.map((l) => x.exclusive[l])])]));
  put(
    'specialisation-experts.csv',
    csv([
      ['layer', 'expert', 'kind', 'owner', ...sp.languages.flatMap((l) => [`share_${l}`, `freq_${l}`, `gate_${l}`])],
      ...sp.experts.map((x) => [x.layer, x.expert, x.kind, x.owner ?? '', ...sp.languages.flatMap((_, i) => [x.share[i], x.frequency[i], x.gate[i]])]),
    ]),
  );

  const c = r.curves;
  const seqCurves = s ? { kind: s.kind, meanPairCosine: s.meanPairCosine, meanPairNjsd: s.meanPairNjsd, ...(s.pivot ?? {}) } : undefined;
  put('curves.json', JSON.stringify({ languages: r.languages, tokens: r.tokens, tokenScope: r.tokenScope, alignment: r.alignment, ...c, ...(seqCurves ? { sequence: seqCurves } : {}) }));
  const sp2 = s?.pivot;
  const header = [
    'layer',
    'alignment',
    'mean_pair_cosine',
    'mean_pair_njsd',
    ...(c.pivot ? ['mean_pivot_cosine', 'mean_pivot_njsd'] : []),
    ...(s ? ['seq_mean_pair_cosine', 'seq_mean_pair_njsd'] : []),
    ...(sp2 ? ['seq_mean_pivot_cosine', 'seq_mean_pivot_njsd'] : []),
    ...r.languages.flatMap((l) => [`entropy_${l}`, `util50_${l}`, `util90_${l}`, ...(sp2 ? [`seq_pivot_njsd_${l}`] : [])]),
  ];
  const rows: (string | number)[][] = [header];
  for (let l = 0; l < r.numLayers; l++) {
    rows.push([
      l,
      r.alignment[l],
      c.meanPairCosine[l],
      c.meanPairNjsd[l],
      ...(c.pivot ? [c.meanPivotCosine![l], c.meanPivotNjsd![l]] : []),
      ...(s ? [s.meanPairCosine[l], s.meanPairNjsd[l]] : []),
      ...(sp2 ? [sp2.meanPivotCosine[l], sp2.meanPivotNjsd[l]] : []),
      ...r.languages.flatMap((_, i) => [c.entropy[i][l], c.util50[i][l], c.util90[i][l], ...(sp2 ? [sp2.pivotNjsd[i][l]] : [])]),
    ]);
  }
  put('curves.csv', csv(rows));
  put('bands.json', JSON.stringify({ bands: r.bands, uShape: r.uShape }, null, 2));
  put('summary.md', summaryMarkdown(r));
  return written;
}

export function summaryMarkdown(r: AnalysisResult): string {
  const f = (x: number | null | undefined, d = 3) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));
  const band = (b: [number, number] | null) => (b ? `${b[0]}-${b[1]}` : 'none');
  const lines: string[] = [];
  lines.push(`# Routing analysis: ${r.source}`, '');
  lines.push(`${r.languages.length} languages (${r.languages.join(', ')}), ${r.numLayers} MoE layers, ${r.numExperts} experts, top-${r.topK}.`, '');
  const scopeText =
    r.tokenScope === 'content' ? 'content tokens only (chat-template tokens excluded)' : r.tokenScope === 'all' ? 'all tokens (chat-template tokens included)' : 'not recorded by the source';
  lines.push(`Tokens counted: ${scopeText}; per language: ${r.languages.map((l, i) => `${l} ${r.tokens[i]}`).join(', ')}.`, '');
  lines.push(`Weight precision of the capture: ${r.precision ?? 'not recorded by the source'}${r.precision && r.precision !== 'fp32' ? ' (routing agreement with fp32: docs/precision.md)' : ''}.`, '');
  lines.push('## U-shape (language-specific early and late, language-agnostic in the middle)', '');
  const what = r.options.pivot ? `mean cosine similarity to ${r.options.pivot}` : 'mean pairwise cosine similarity of expert-frequency vectors';
  lines.push(`Alignment = ${what}. Bands (${r.bands.how}): early ${band(r.bands.early)}, middle ${band(r.bands.middle)}, late ${band(r.bands.late)}.`, '');
  lines.push(`**U-shape ${r.uShape.text}.**`, '');
  const div = r.options.pivot ? r.curves.meanPivotNjsd! : r.curves.meanPairNjsd;
  lines.push(`Entropy-normalised JSD per band: early ${f(bandMean(div, r.bands.early))}, middle ${f(bandMean(div, r.bands.middle))}, late ${f(bandMean(div, r.bands.late))}.`, '');
  const anyFamily = r.dendrograms.some((d) => Object.values(d.trees).some((t) => t.family));
  lines.push('## Family agreement per layer', '');
  if (!anyFamily) {
    lines.push('No language metadata was available, so no family agreement was computed.', '');
  } else {
    const first = Object.values(r.dendrograms[0].trees).find((t) => t.family)!.family!;
    lines.push(
      `Dendrograms from ${r.options.clusterMetric} distances. Cophenetic = Pearson correlation between dendrogram (cophenetic) distances and genealogical distances from Glottolog lineages; ARI = adjusted Rand index of the cut into ${first.families} clusters (one per family) against the families.` +
        (first.unknown.length ? ` Languages without metadata (left out): ${first.unknown.join(', ')}.` : ''),
      '',
    );
    const lk = r.options.linkages;
    lines.push(`| layer | alignment | ${lk.map((x) => `${x} coph. | ${x} ARI`).join(' | ')} |`);
    lines.push(`|---|---|${lk.map(() => '---|---').join('|')}|`);
    for (const d of r.dendrograms) {
      lines.push(`| ${d.layer} | ${f(r.alignment[d.layer])} | ${lk.map((x) => `${f(d.trees[x].family?.cophenetic)} | ${f(d.trees[x].family?.ari)}`).join(' | ')} |`);
    }
    lines.push('');
    const mean = (sel: (d: LayerDendrograms) => number | null | undefined, b: [number, number] | null) => {
      if (!b) return null;
      const v = r.dendrograms.filter((d) => d.layer >= b[0] && d.layer <= b[1]).map(sel).filter((x): x is number => typeof x === 'number');
      return v.length ? v.reduce((s, x) => s + x, 0) / v.length : null;
    };
    const l0 = lk[0];
    lines.push(
      `Mean ${l0}-linkage cophenetic correlation per band: early ${f(mean((d) => d.trees[l0].family?.cophenetic, r.bands.early))}, ` +
        `middle ${f(mean((d) => d.trees[l0].family?.cophenetic, r.bands.middle))}, late ${f(mean((d) => d.trees[l0].family?.cophenetic, r.bands.late))}.`,
      '',
    );
  }
  if (r.sequence) lines.push(...sequenceSection(r, r.sequence), '');
  lines.push(`## Expert specialisation (arXiv 2601.14050, k ${r.options.k}, thr ${r.options.thr})`, '');
  const sp = r.specialisation;
  const perBand = (b: [number, number] | null, sel: (row: SpecialisationTable['layers'][number]) => number) => {
    if (!b) return 'n/a';
    const rows = sp.layers.filter((x) => x.layer >= b[0] && x.layer <= b[1]);
    return (rows.reduce((s, x) => s + sel(x), 0) / rows.length).toFixed(1);
  };
  lines.push('| | early | middle | late |', '|---|---|---|---|');
  lines.push(`| shared experts / layer | ${perBand(r.bands.early, (x) => x.shared)} | ${perBand(r.bands.middle, (x) => x.shared)} | ${perBand(r.bands.late, (x) => x.shared)} |`);
  for (const lang of sp.languages) {
    lines.push(`| exclusive to ${lang} / layer | ${perBand(r.bands.early, (x) => x.exclusive[lang])} | ${perBand(r.bands.middle, (x) => x.exclusive[lang])} | ${perBand(r.bands.late, (x) => x.exclusive[lang])} |`);
  }
  lines.push('');
  return lines.join('\n');
}

function sequenceSection(r: AnalysisResult, s: SequenceAnalysis): string[] {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(3));
  const what = s.kind === 'gate' ? 'mean gate weight per expert' : 'selection frequency per expert';
  const out = ['## Parallel-sequence alignment (arXiv 2510.04694)', ''];
  out.push(
    `Per sequence and layer the routing distribution (${what}) of sequence i in one language is compared with sequence i ` +
      `(same item id) in another, and the divergences averaged over the sequences (${s.counts.map((c, i) => `${r.languages[i]} ${c}`).join(', ')} sequences). ` +
      'Matrices: sequence-matrices.json and matrices/seq-<metric>-layer-NN.csv.',
    '',
  );
  const b = r.bands;
  if (s.pivot) {
    out.push(`Sequence-mean entropy-normalised JSD to ${s.pivot.pivot} per band (lower = more aligned):`, '');
    out.push('| language | early | middle | late |', '|---|---|---|---|');
    out.push(`| mean | ${f(bandMean(s.pivot.meanPivotNjsd, b.early))} | ${f(bandMean(s.pivot.meanPivotNjsd, b.middle))} | ${f(bandMean(s.pivot.meanPivotNjsd, b.late))} |`);
    r.languages.forEach((lang, i) => {
      if (lang === s.pivot!.pivot) return;
      const c = s.pivot!.pivotNjsd[i];
      out.push(`| ${lang} | ${f(bandMean(c, b.early))} | ${f(bandMean(c, b.middle))} | ${f(bandMean(c, b.late))} |`);
    });
  } else {
    const c = s.meanPairNjsd;
    out.push(`Sequence-mean entropy-normalised JSD, mean over language pairs, per band: early ${f(bandMean(c, b.early))}, middle ${f(bandMean(c, b.middle))}, late ${f(bandMean(c, b.late))}.`);
  }
  return out;
}
