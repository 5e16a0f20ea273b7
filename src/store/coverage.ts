import type { Store } from './db.js';
import { getRun, type RunStatus } from './entities.js';

/** How much of a run's planned work is stored: what a reader must know before trusting an analysis of it. */
export interface RunCoverage {
  runId: number;
  /** The stored status, or 'interrupted' when it says running but its worker is gone. */
  status: RunStatus | 'interrupted';
  complete: boolean;
  sequencesDone: number;
  /** Planned sequences (languages x items); null for runs imported from recorder files, which have no traces. */
  sequencesTotal: number | null;
  languageCount: number;
  /** Languages of the run with no routing at all. */
  missing: string[];
  /** Languages with some but not all of their planned sequences. */
  partial: { language: string; done: number; expected: number }[];
}

export function runCoverage(store: Store, runId: number): RunCoverage {
  return store.snapshot(`checking how complete run ${runId} is`, () => {
    const run = getRun(store, runId);
    const seqs = new Map(
      (store.db.prepare('SELECT language, count(*) AS n FROM sequence WHERE run_id = ? GROUP BY language').all(runId) as { language: string; n: number }[]).map((r) => [r.language, r.n]),
    );
    const withAggregates = new Set((store.db.prepare('SELECT DISTINCT language FROM run_layer_total WHERE run_id = ?').all(runId) as { language: string }[]).map((r) => r.language));
    const missing = run.languages.filter((l) => !seqs.has(l) && !withAggregates.has(l));
    // The work list is languages x items, so each language expects an equal share of the planned total.
    const perLanguage = run.sequencesTotal !== null && run.sequencesTotal % run.languages.length === 0 ? run.sequencesTotal / run.languages.length : null;
    const partial = perLanguage === null ? [] : run.languages.filter((l) => seqs.has(l) && seqs.get(l)! < perLanguage).map((language) => ({ language, done: seqs.get(language)!, expected: perLanguage }));
    const short = run.sequencesTotal !== null && run.sequencesDone < run.sequencesTotal;
    return {
      runId, status: run.interrupted ? 'interrupted' : run.status, languageCount: run.languages.length, sequencesDone: run.sequencesDone, sequencesTotal: run.sequencesTotal, missing, partial,
      complete: missing.length === 0 && partial.length === 0 && !short && (run.status === 'completed' || run.source !== 'capture'),
    };
  });
}

/** One line for users: "run 3 is incomplete (running): 92 of 620 sequences; no data for ..."; null when complete. */
export function describeIncomplete(c: RunCoverage): string | null {
  if (c.complete) return null;
  const parts = [`run ${c.runId} is incomplete (${c.status}): ${c.sequencesDone} of ${c.sequencesTotal ?? '?'} sequences`];
  if (c.missing.length > 0) parts.push(`no data for ${c.missing.length} of ${c.languageCount} languages: ${c.missing.join(', ')}`);
  if (c.partial.length > 0) parts.push(`partly captured: ${c.partial.map((p) => `${p.language} (${p.done} of ${p.expected})`).join(', ')}`);
  return parts.join('; ');
}
