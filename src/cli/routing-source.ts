/**
 * Where the analysis commands get routing from: a folder of recorder JSON (--routing DIR --pattern ...) or a
 * captured run in the SQLite store (--db FILE --run ID). CLI glue: src/analysis itself stays pure.
 */
import { existsSync } from 'node:fs';
import { AnalysisInputError } from '../analysis/errors.js';
import { genealogyFromLookup, type Genealogy, type LanguageLookup } from '../analysis/family.js';
import { loadRecorderFolder } from '../analysis/recorder-json.js';
import type { RoutingData } from '../analysis/routing-data.js';
import { findLanguage } from '../languages/index.js';
import { describeIncomplete, loadRunRouting, runCoverage, Store, type TokenScope } from '../store/index.js';
import { damageWarning } from './open-store.js';

/** The parseArgs options of the routing-source flags, shared by the commands that load routing. */
export const ROUTING_SOURCE_FLAGS = {
  routing: { type: 'string' },
  pattern: { type: 'string' },
  db: { type: 'string' },
  run: { type: 'string' },
  scope: { type: 'string' },
  sequences: { type: 'string' },
} as const;

export interface RoutingSourceOptions {
  routing?: string;
  pattern?: string;
  db?: string;
  run?: string;
  order?: 'name' | 'directory';
  /** Store runs only: which tokens to count ('content' leaves chat-template tokens out). Text as the user typed it. */
  scope?: string;
  /** Store runs only: also load per-sequence distributions ('gate' or 'frequency'). Text as the user typed it. */
  sequences?: string;
  /** Store runs only: told about a damaged database or an incomplete run (the data still loads). */
  onWarning?: (message: string) => void;
}

/** Checks --scope / --sequences text; they need per-token data, which only store runs have. */
function storeOnlyOptions(o: RoutingSourceOptions): { scope?: TokenScope; sequences?: 'gate' | 'frequency' } {
  if (o.scope !== undefined && o.scope !== 'all' && o.scope !== 'content') {
    throw new AnalysisInputError(`--scope must be 'all' or 'content', got '${o.scope}'`);
  }
  if (o.sequences !== undefined && o.sequences !== 'gate' && o.sequences !== 'frequency') {
    throw new AnalysisInputError(`--sequences must be 'gate' or 'frequency', got '${o.sequences}'`);
  }
  if (o.routing && (o.scope !== undefined || o.sequences !== undefined)) {
    const flags = [o.scope !== undefined ? '--scope' : '', o.sequences !== undefined ? '--sequences' : ''].filter(Boolean).join(' and ');
    throw new AnalysisInputError(
      `${flags} need a store run (--db <file> --run <id>): the recorder JSON in ${o.routing} holds only per-layer totals over all tokens, ` +
        'with no per-token or per-sequence data to restrict or compare',
    );
  }
  return { scope: o.scope as TokenScope | undefined, sequences: o.sequences as 'gate' | 'frequency' | undefined };
}

export async function loadRoutingSource(o: RoutingSourceOptions): Promise<RoutingData> {
  if (o.routing && (o.db || o.run)) throw new AnalysisInputError('give either --routing <folder> or --db <file> --run <id>, not both');
  const { scope, sequences } = storeOnlyOptions(o);
  if (o.routing) return loadRecorderFolder(o.routing, { pattern: o.pattern, order: o.order });
  if (o.db || o.run) {
    if (!o.db || !o.run) throw new AnalysisInputError('--db and --run go together (the store file and the run id)');
    if (!existsSync(o.db)) throw new AnalysisInputError(`--db ${o.db}: no such file`);
    if (!/^\d+$/.test(o.run)) throw new AnalysisInputError(`--run must be a run id (a whole number), got '${o.run}'`);
    let store: Store;
    try {
      store = Store.open(o.db, { readonly: true, quickCheck: true });
    } catch (err) {
      throw new AnalysisInputError(`--db ${o.db}: ${(err as Error).message}`);
    }
    try {
      const damage = damageWarning(store);
      if (damage) o.onWarning?.(damage);
      const runId = Number(o.run);
      // An analysis of a half-captured run looks just like a finished one; say so, and what is missing.
      const incomplete = describeIncomplete(runCoverage(store, runId));
      if (incomplete) o.onWarning?.(incomplete);
      const data = loadRunRouting(store, runId, { scope: scope ?? 'all', ...(sequences ? { sequences } : {}) });
      data.tokenScope = scope ?? 'all';
      if (scope === 'content') data.source += ', content tokens only';
      if (incomplete) data.source += ` (INCOMPLETE: ${incomplete})`;
      if (damage) data.source += ' (DAMAGED DATABASE)';
      return data;
    } catch (err) {
      throw new AnalysisInputError(`--db ${o.db} --run ${o.run}: ${(err as Error).message}`);
    } finally {
      store.close();
    }
  }
  throw new AnalysisInputError('missing --routing <folder> (or --db <file> --run <id>)');
}

/** The project's language table lookup (ISO 639-1/3, FLORES codes). */
export function languageLookup(): LanguageLookup {
  return findLanguage as LanguageLookup;
}

/**
 * Genealogy for family agreement: recorder-file language names such as "sw" or "mgsm_sw" are tried as given and
 * with a dataset prefix removed.
 */
export function genealogyForCodes(lookup: LanguageLookup): (code: string) => Genealogy | undefined {
  const g = genealogyFromLookup(lookup);
  return (code) => g(code) ?? (code.includes('_') ? g(code.slice(code.indexOf('_') + 1)) : undefined);
}
