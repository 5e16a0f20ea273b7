/**
 * The predictions file `routescope score` reads (one JSON object a line: id, lang, output, answer, any other
 * fields kept) and the per-language summary it prints. Validation names the line and the field.
 */
import type { ItemScore, ScoreInput, ScoringTask } from './index.js';
import { weightedAccuracy } from './polymath-weighted.js';
import { languageKey } from './language-codes.js';

/** Languages whose consistency figures the detector cannot support (measured in docs/scoring.md). */
const UNRELIABLE_CONSISTENCY: Record<string, string> = { zsm: 'Malay is mostly read as Indonesian by fastText lid.176' };

export interface PredictionLine extends ScoreInput {
  id: string | number;
  /** Every field of the input line, in order, to be written back unchanged. */
  fields: Record<string, unknown>;
}

export type ParsedLine = { ok: true; line: PredictionLine } | { ok: false; error: string };

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/** Parses one line (1-based number for messages); blank lines are the caller's to skip. */
export function parsePredictionLine(text: string, lineNo: number, task: ScoringTask): ParsedLine {
  const fail = (msg: string): ParsedLine => ({ ok: false, error: `line ${lineNo}: ${msg}` });
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(`expected a JSON object, got ${describe(v)}`);
  const o = v as Record<string, unknown>;
  if (typeof o.id !== 'string' && !(typeof o.id === 'number' && Number.isFinite(o.id))) return fail(`field "id" must be a string or a number, got ${describe(o.id)}`);
  if (typeof o.lang !== 'string' || o.lang.trim() === '') return fail(`field "lang" must be a non-empty string, got ${describe(o.lang)}`);
  if (typeof o.output !== 'string') return fail(`field "output" must be a string, got ${describe(o.output)}`);
  const a = o.answer;
  const textTask = task === 'xquad' || task === 'flores';
  const okAnswer =
    typeof a === 'string' || (typeof a === 'number' && Number.isFinite(a)) ||
    (textTask && Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === 'string'));
  if (!okAnswer) {
    const want = textTask ? 'a string, a number or a non-empty array of strings' : 'a string or a number';
    return fail(`field "answer" must be ${want} for --task ${task}, got ${describe(a)}`);
  }
  return { ok: true, line: { id: o.id, lang: o.lang, output: o.output, answer: a as ScoreInput['answer'], fields: o } };
}

/** The output line: the input's fields, then the scores (snake_case, as the input file's other tools expect). */
export function scoredLine(line: PredictionLine, s: ItemScore): Record<string, unknown> {
  const out: Record<string, unknown> = { ...line.fields, extracted: s.extracted, correct: s.correct, no_answer: s.noAnswer };
  if (s.f1 !== undefined) out.f1 = s.f1;
  if (s.chrf !== undefined) out.chrf = s.chrf;
  out.detected_lang = s.detectedLang;
  out.consistent = s.consistent;
  out.rule = s.rule;
  return out;
}

interface LangTally {
  n: number;
  correct: number;
  noAnswer: number;
  consistent: number;
  consistencyKnown: number;
  f1: number;
  chrf: number;
  levels: Map<string, { n: number; correct: number }>;
}

/** Accumulates scores per language and prints the summary table. */
export class ScoreSummary {
  private readonly langs = new Map<string, LangTally>();
  private readonly rules = new Map<string, number>();
  constructor(private readonly task: ScoringTask) {}

  add(line: PredictionLine, s: ItemScore): void {
    let t = this.langs.get(line.lang);
    if (!t) this.langs.set(line.lang, (t = { n: 0, correct: 0, noAnswer: 0, consistent: 0, consistencyKnown: 0, f1: 0, chrf: 0, levels: new Map() }));
    t.n++;
    this.rules.set(s.rule, (this.rules.get(s.rule) ?? 0) + 1);
    if (s.correct) t.correct++;
    if (s.noAnswer) t.noAnswer++;
    if (s.consistent !== null) {
      t.consistencyKnown++;
      if (s.consistent) t.consistent++;
    }
    t.f1 += s.f1 ?? 0;
    t.chrf += s.chrf ?? 0;
    const level = line.fields.level;
    if (typeof level === 'string') {
      const l = t.levels.get(level) ?? { n: 0, correct: 0 };
      l.n++;
      if (s.correct) l.correct++;
      t.levels.set(level, l);
    }
  }

  /** The table, headed by the rules that decided the items and how many items each decided. */
  format(): string {
    const pct = (a: number, b: number) => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);
    const math = this.task === 'mgsm' || this.task === 'polymath';
    const head = ['lang', 'n', this.task === 'flores' ? 'chrF' : 'accuracy', ...(math || this.task === 'xquad' ? ['no answer'] : []), ...(this.task === 'xquad' ? ['F1'] : []), 'consistent'];
    if (this.task === 'polymath') head.push('weighted acc');
    const rows: string[][] = [];
    const all: LangTally = { n: 0, correct: 0, noAnswer: 0, consistent: 0, consistencyKnown: 0, f1: 0, chrf: 0, levels: new Map() };
    const entries = [...this.langs].sort(([a], [b]) => a.localeCompare(b));
    for (const [lang, t] of [...entries, ['all', all] as [string, LangTally]]) {
      if (lang !== 'all') for (const k of ['n', 'correct', 'noAnswer', 'consistent', 'consistencyKnown', 'f1', 'chrf'] as const) all[k] += t[k];
      const row = [lang, String(t.n), this.task === 'flores' ? (t.chrf / t.n).toFixed(2) : pct(t.correct, t.n)];
      if (math || this.task === 'xquad') row.push(String(t.noAnswer));
      if (this.task === 'xquad') row.push((t.f1 / t.n).toFixed(3));
      row.push(pct(t.consistent, t.consistencyKnown));
      if (this.task === 'polymath') row.push(weighted(t));
      rows.push(row);
    }
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    const rules = [...this.rules].map(([r, n]) => `${r} (${n})`).join(', ');
    const notes = entries
      .filter(([lang]) => UNRELIABLE_CONSISTENCY[languageKey(lang)])
      .map(([lang]) => `note: consistency for ${lang} is not reliable: ${UNRELIABLE_CONSISTENCY[languageKey(lang)]} (docs/scoring.md)`);
    return [`rules: ${rules}`, fmt(head), ...rows.map(fmt), ...notes].join('\n') + '\n';
  }
}

/** PolyMath's weighted accuracy when the items carry all four levels, else "-". */
function weighted(t: LangTally): string {
  const acc: Record<string, number> = {};
  for (const [level, l] of t.levels) acc[level] = (100 * l.correct) / l.n;
  try {
    return `${weightedAccuracy(acc).toFixed(1)}%`;
  } catch {
    return '-';
  }
}
