import type { LanguageRouting, RoutingData } from '../analysis/routing-data.js';
import { useStore, type Store } from './db.js';
import { getRun } from './entities.js';
import { StoreError } from './errors.js';
import { HALF_TO_FLOAT } from '../numeric/float16.js';
import { iterateSequences } from './traces.js';

export type TokenScope = 'all' | 'content';

export interface LoadRoutingOptions {
  /** 'all' (default, as the reference recorder counts) or 'content' (prompt-template tokens left out). */
  scope?: TokenScope;
  /** Also return per-sequence distributions: 'gate' (mean gate weight) or 'frequency' (selection rate / topK). */
  sequences?: 'gate' | 'frequency';
  /** Restrict to these languages (in this order); default every language of the run that has data. */
  languages?: string[];
}

/** The run's aggregates as RoutingData, straight from the aggregate tables (no trace decoding). */
export function loadRunRouting(dbOrPath: Store | string, runId: number, options: LoadRoutingOptions = {}): RoutingData {
  const { store, owned } = useStore(dbOrPath, { readonly: true });
  try {
    // Totals, aggregates and per-sequence rows from one snapshot, even while a capture is committing batches.
    return store.snapshot(`reading run ${runId}`, () => loadFromStore(store, runId, options));
  } finally {
    if (owned) store.close();
  }
}

function loadFromStore(store: Store, runId: number, options: LoadRoutingOptions): RoutingData {
  const run = getRun(store, runId);
  const scope = options.scope ?? 'all';
  const L = run.numMoeLayers;
  const E = run.numExperts;
  const db = store.db;
  const totalsRows = store.read('reading run totals', () =>
    db.prepare('SELECT language, layer, tokens FROM run_layer_total WHERE run_id = ? AND scope = ?').all(runId, scope) as { language: string; layer: number; tokens: number }[],
  );
  const present = new Set(totalsRows.map((r) => r.language));
  let langs: string[];
  if (options.languages) {
    for (const l of options.languages) {
      if (!present.has(l)) throw new StoreError('not-found', `run ${runId} has no routing for language '${l}' (has: ${[...present].join(', ') || 'none'})`);
    }
    langs = options.languages;
  } else {
    langs = run.languages.filter((l) => present.has(l));
  }
  const byLang = new Map<string, LanguageRouting>();
  for (const language of langs) {
    byLang.set(language, { language, counts: new Float64Array(L * E), gateSums: new Float64Array(L * E), totals: new Float64Array(L) });
  }
  for (const r of totalsRows) {
    const lr = byLang.get(r.language);
    if (lr && r.layer < L) lr.totals[r.layer] = r.tokens;
  }
  const stmt = db.prepare('SELECT language, layer, expert, count, gate_sum FROM run_agg WHERE run_id = ? AND scope = ?').raw(true);
  store.read('reading run aggregates', () => {
    for (const row of stmt.iterate(runId, scope) as IterableIterator<[string, number, number, number, number]>) {
      const lr = byLang.get(row[0]);
      if (!lr) continue;
      const cell = row[1] * E + row[2];
      lr.counts[cell] = row[3];
      lr.gateSums[cell] = row[4];
    }
  });
  if (options.sequences) {
    for (const lr of byLang.values()) lr.sequences = loadSequenceDistributions(store, runId, lr.language, scope, options.sequences, run.topK, L, E);
  }
  return {
    numLayers: L,
    numExperts: E,
    topK: run.topK,
    moeLayers: run.moeLayers,
    languages: [...byLang.values()],
    source: `run ${runId}${run.name ? ` (${run.name})` : ''} in ${store.file}`,
    ...(run.precision ? { precision: run.precision } : {}),
  };
}

function loadSequenceDistributions(store: Store, runId: number, language: string, scope: TokenScope, kind: 'gate' | 'frequency', K: number, L: number, E: number) {
  const ids: string[] = [];
  const dist: Float64Array[] = [];
  if (scope === 'all') {
    // Stored per-sequence aggregates: counts (uint16/uint32 by byte length) and float32 gate sums.
    const rows = store.read('reading per-sequence aggregates', () =>
      store.db
        .prepare(
          `SELECT s.item_id, s.num_tokens, a.counts, a.gate_sums FROM sequence s JOIN sequence_agg a ON a.sequence_id = s.id
           WHERE s.run_id = ? AND s.language = ? ORDER BY s.item_index`,
        )
        .all(runId, language) as { item_id: string; num_tokens: number; counts: Buffer; gate_sums: Buffer }[],
    );
    for (const r of rows) {
      const d = new Float64Array(L * E);
      if (r.num_tokens > 0) {
        if (kind === 'gate') {
          const g = new Float32Array(new Uint8Array(r.gate_sums).buffer);
          for (let c = 0; c < d.length; c++) d[c] = g[c]! / r.num_tokens;
        } else {
          const bytes = new Uint8Array(r.counts).buffer;
          const counts = r.counts.byteLength === L * E * 2 ? new Uint16Array(bytes) : new Uint32Array(bytes);
          for (let c = 0; c < d.length; c++) d[c] = counts[c]! / (r.num_tokens * K);
        }
      }
      ids.push(r.item_id);
      dist.push(d);
    }
    return { ids, dist, kind };
  }
  // Content-only distributions are not stored; they are derived from the traces.
  for (const s of iterateSequences(store, runId, language)) {
    const d = new Float64Array(L * E);
    let n = 0;
    for (let t = 0; t < s.numTokens; t++) if (!s.templateMask[t]) n++;
    if (n > 0) {
      let i = 0;
      for (let l = 0; l < L; l++) {
        for (let t = 0; t < s.numTokens; t++) {
          const content = s.templateMask[t] === 0;
          for (let k = 0; k < K; k++, i++) {
            if (!content) continue;
            const cell = l * E + s.expertIds[i]!;
            d[cell]! += kind === 'gate' ? HALF_TO_FLOAT[s.gateBits[i]!]! / n : 1 / (n * K);
          }
        }
      }
    }
    ids.push(s.itemId);
    dist.push(d);
  }
  return { ids, dist, kind };
}
