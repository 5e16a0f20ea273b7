/**
 * The language table (resources/languages/languages.json): lookup by any code a dataset uses,
 * family grouping and genealogical distances for scoring dendrograms against real families.
 */
import { readFileSync } from 'node:fs';
import type { LanguageInfo } from './types.js';
import { appPath } from '../app-root.js';

export type { LanguageInfo } from './types.js';

export const LANGUAGE_TABLE_PATH = appPath('resources', 'languages', 'languages.json');

const REGENERATE_HINT =
  'Restore the committed file with `git checkout -- resources/languages/languages.json`, or regenerate it with ' +
  '`npx tsx tools/derive-languages.ts` (needs the Glottolog 5.1 CLDF export, see docs/corpus-and-languages.md).';

export interface LanguageTableAbout {
  description: string;
  genealogy: string;
  resourceLevel: string;
  regenerate: string;
  branchRule: string;
}

/** On-disk shape of languages.json. */
export interface LanguageTableFile {
  about: LanguageTableAbout;
  languages: LanguageInfo[];
}

export class LanguageTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LanguageTableError';
  }
}

/** Code normalisation shared by the index and lookups: case-insensitive, "swh-Latn" == "swh_Latn". */
export function normaliseCode(code: string): string {
  return code.trim().toLowerCase().replace(/-/g, '_');
}

const RESOURCE_LEVELS = new Set(['high', 'medium', 'low']);

function validateRow(row: unknown, index: number, path: string): LanguageInfo {
  const where = `${path}: languages[${index}]`;
  if (typeof row !== 'object' || row === null) throw new LanguageTableError(`${where} is not an object. ${REGENERATE_HINT}`);
  const r = row as Record<string, unknown>;
  const str = (k: string) => {
    if (typeof r[k] !== 'string' || r[k] === '') throw new LanguageTableError(`${where} has no string "${k}". ${REGENERATE_HINT}`);
  };
  const strList = (k: string, nonEmpty: boolean) => {
    const v = r[k];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '') || (nonEmpty && v.length === 0)) {
      throw new LanguageTableError(`${where} field "${k}" must be a${nonEmpty ? ' non-empty' : 'n'} array of strings. ${REGENERATE_HINT}`);
    }
  };
  for (const k of ['iso3', 'name', 'glottocode', 'family', 'familyGlottocode']) str(k);
  strList('aliases', false);
  strList('lineage', true);
  strList('scripts', true);
  for (const k of ['iso1', 'branch', 'genus']) {
    if (r[k] !== undefined && (typeof r[k] !== 'string' || r[k] === '')) {
      throw new LanguageTableError(`${where} field "${k}" must be a non-empty string when present. ${REGENERATE_HINT}`);
    }
  }
  if (!RESOURCE_LEVELS.has(r.resource as string)) {
    throw new LanguageTableError(`${where} field "resource" must be "high", "medium" or "low". ${REGENERATE_HINT}`);
  }
  const lineage = r.lineage as string[];
  if (lineage[0] !== r.familyGlottocode || lineage[lineage.length - 1] !== r.glottocode) {
    throw new LanguageTableError(
      `${where} (${String(r.iso3)}): lineage must run from familyGlottocode to glottocode. ${REGENERATE_HINT}`,
    );
  }
  return row as LanguageInfo;
}

export class LanguageTable {
  readonly languages: readonly LanguageInfo[];
  readonly about: LanguageTableAbout;
  /**
   * Distance returned for languages of different families: twice the deepest lineage in the table,
   * so it exceeds every within-family distance (at most 2 * (depth - 1)).
   */
  readonly differentFamilyDistance: number;
  private readonly byCode = new Map<string, LanguageInfo>();

  constructor(file: LanguageTableFile, source = '<memory>') {
    this.about = file.about;
    this.languages = file.languages;
    for (const lang of file.languages) {
      const codes = [lang.iso3, ...(lang.iso1 ? [lang.iso1] : []), ...lang.aliases];
      for (const code of codes) {
        const key = normaliseCode(code);
        const prior = this.byCode.get(key);
        if (prior && prior !== lang) {
          throw new LanguageTableError(`${source}: code "${code}" names both ${prior.iso3} and ${lang.iso3}. ${REGENERATE_HINT}`);
        }
        this.byCode.set(key, lang);
      }
    }
    const deepest = Math.max(1, ...file.languages.map((l) => l.lineage.length));
    this.differentFamilyDistance = 2 * deepest;
  }

  /** The row for an ISO 639-3, ISO 639-1 or dataset code (e.g. "swh_Latn", "sw"), case-insensitive. */
  find(code: string): LanguageInfo | undefined {
    if (typeof code !== 'string') return undefined;
    return this.byCode.get(normaliseCode(code));
  }

  /** Like find, but throws a message naming the unknown code. */
  require(code: string): LanguageInfo {
    const lang = this.find(code);
    if (!lang) throw new LanguageTableError(`Unknown language code "${String(code)}": not an ISO 639-3/639-1 code or dataset alias in the language table.`);
    return lang;
  }

  familyOf(code: string): string | undefined {
    return this.find(code)?.family;
  }

  /**
   * Number of edges between two languages in the Glottolog tree (0 for the same language).
   * Languages of different families get `differentFamilyDistance`.
   */
  distance(a: string | LanguageInfo, b: string | LanguageInfo): number {
    const la = typeof a === 'string' ? this.require(a) : a;
    const lb = typeof b === 'string' ? this.require(b) : b;
    if (la.familyGlottocode !== lb.familyGlottocode) return this.differentFamilyDistance;
    let common = 0;
    while (common < la.lineage.length && common < lb.lineage.length && la.lineage[common] === lb.lineage[common]) common++;
    return la.lineage.length - common + (lb.lineage.length - common);
  }
}

/** Parses and validates the table file; every problem names the file and how to regenerate it. */
export function readLanguageTable(path: string = LANGUAGE_TABLE_PATH): LanguageTable {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LanguageTableError(
      `Language table ${path} is ${code === 'ENOENT' ? 'missing' : `unreadable (${(err as Error).message})`}. ${REGENERATE_HINT}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new LanguageTableError(`Language table ${path} is damaged (not valid JSON: ${(err as Error).message}). ${REGENERATE_HINT}`);
  }
  const file = parsed as Partial<LanguageTableFile> | null;
  if (typeof file !== 'object' || file === null || !Array.isArray(file.languages) || file.languages.length === 0) {
    throw new LanguageTableError(`Language table ${path} is damaged: expected an object with a non-empty "languages" array. ${REGENERATE_HINT}`);
  }
  const languages = file.languages.map((row, i) => validateRow(row, i, path));
  const seen = new Set<string>();
  for (const l of languages) {
    if (seen.has(l.iso3)) throw new LanguageTableError(`Language table ${path} lists iso3 "${l.iso3}" twice. ${REGENERATE_HINT}`);
    seen.add(l.iso3);
  }
  const about = (file.about ?? {}) as LanguageTableAbout;
  return new LanguageTable({ about, languages }, path);
}

let defaultTable: LanguageTable | undefined;

/** The committed table, read once per process. */
export function loadLanguageTable(): LanguageTable {
  defaultTable ??= readLanguageTable(LANGUAGE_TABLE_PATH);
  return defaultTable;
}

export function findLanguage(code: string): LanguageInfo | undefined {
  return loadLanguageTable().find(code);
}

export function familyOf(code: string): string | undefined {
  return loadLanguageTable().familyOf(code);
}

export function genealogicalDistance(a: string | LanguageInfo, b: string | LanguageInfo): number {
  return loadLanguageTable().distance(a, b);
}
