/**
 * PolyMath difficulty levels in an experiment report: per arm and language (and pooled, "all"), accuracy per level
 * and, when all four levels are present, the difficulty-weighted accuracy of src/eval/scoring (1, 2, 4, 8 over 15).
 * The level comes from each result's extra.level (written by the generate task from the item's meta.level).
 */
import type { ExperimentResult } from '../../store/index.js';
import { POLYMATH_LEVEL_WEIGHTS, weightedAccuracy } from '../scoring/index.js';

export interface LevelCount {
  n: number;
  correct: number;
  accuracy: number;
}

export interface LevelAccuracy {
  arm: string;
  /** A language code, or "all" for every language pooled. */
  language: string;
  /** Per level present: results (items x samples), correct ones, and their share. */
  levels: Record<string, LevelCount>;
  /** Difficulty-weighted accuracy; null unless every level (low, medium, high, top) has results. */
  weighted: number | null;
}

const LEVELS = Object.keys(POLYMATH_LEVEL_WEIGHTS);

function levelOf(r: ExperimentResult): string | null {
  const l = r.extra?.level;
  return typeof l === 'string' && LEVELS.includes(l) ? l : null;
}

/** Empty when no scored result carries a PolyMath level (every non-PolyMath experiment). */
export function levelAccuracies(results: ExperimentResult[], armOrder: string[]): LevelAccuracy[] {
  const scored = results.filter((r) => r.correct !== null && levelOf(r) !== null);
  if (scored.length === 0) return [];
  const languages = [...new Set(scored.map((r) => r.language))];
  const out: LevelAccuracy[] = [];
  for (const arm of armOrder) {
    const mine = scored.filter((r) => r.arm === arm);
    if (mine.length === 0) continue;
    for (const language of [...languages, ...(languages.length > 1 ? ['all'] : [])]) {
      const rows = language === 'all' ? mine : mine.filter((r) => r.language === language);
      const levels: Record<string, LevelCount> = {};
      for (const level of LEVELS) {
        const at = rows.filter((r) => levelOf(r) === level);
        if (at.length === 0) continue;
        const correct = at.filter((r) => r.correct === true).length;
        levels[level] = { n: at.length, correct, accuracy: correct / at.length };
      }
      const complete = LEVELS.every((l) => levels[l] !== undefined);
      const weighted = complete ? weightedAccuracy(Object.fromEntries(LEVELS.map((l) => [l, levels[l]!.accuracy]))) : null;
      out.push({ arm, language, levels, weighted });
    }
  }
  return out;
}

/** The summary.md section: one row per arm and language. */
export function levelTable(rows: LevelAccuracy[]): string[] {
  if (rows.length === 0) return [];
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : (100 * x).toFixed(1));
  const L = [
    '## PolyMath accuracy by difficulty level',
    '',
    'Accuracy (%) per level; weighted = (1 low + 2 medium + 4 high + 8 top) / 15, PolyMath\'s difficulty-weighted accuracy, shown only when all four levels were run.',
    '',
    '| arm | language | low | medium | high | top | weighted | results |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const n = Object.values(r.levels).reduce((s, c) => s + c.n, 0);
    L.push(`| ${r.arm} | ${r.language} | ${LEVELS.map((l) => pct(r.levels[l]?.accuracy)).join(' | ')} | ${pct(r.weighted)} | ${n} |`);
  }
  return L;
}
