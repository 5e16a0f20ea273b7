/**
 * Scoring of model outputs: answer extraction and equivalence (MGSM, PolyMath as arXiv 2601.14050's code scores
 * them), XQuAD match and token F1, chrF, and offline language identification for language consistency.
 * CONTRACT (shared by the experiment runner and `routescope score`). Rules and their sources: docs/scoring.md.
 */
import { extractBoxed, extractLastNumber, lenientClean } from './boxed.js';
import { sentenceChrf } from './chrf.js';
import { formatLike, languageKey } from './language-codes.js';
import { LanguageIdentifier, type ConsistencyRule } from './language-id.js';
import { mathEqual } from './math-equal.js';
import { bestTokenF1, xquadSubstringMatch } from './xquad.js';
import { findLanguage } from '../../languages/index.js';

export { extractBoxed, extractLastNumber, lenientClean } from './boxed.js';
export { mathEqual, parseDigits, choiceAnswerClean } from './math-equal.js';
export { symbolicEqual } from './symbolic-equal.js';
export { sentenceChrf, corpusChrf, chrfStatistics, chrfFromStatistics, type ChrfOptions } from './chrf.js';
export { xquadSubstringMatch, tokenF1, bestTokenF1, tokenizeForF1 } from './xquad.js';
export { weightedAccuracy, POLYMATH_LEVEL_WEIGHTS, type PolymathLevel } from './polymath-weighted.js';
export { scoreChoice, type ChoiceInput, type ChoiceScore } from './choice.js';
export { languageKey, sameLanguage, formatLike } from './language-codes.js';
export { LanguageIdentifier, type ConsistencyRule, type Detection } from './language-id.js';

export type ScoringTask = 'mgsm' | 'polymath' | 'xquad' | 'flores';
export const SCORING_TASKS: readonly ScoringTask[] = ['mgsm', 'polymath', 'xquad', 'flores'];

export interface ScoreOptions {
  /** 'none' (reference: no \boxed{} is "no answer") or 'last-number' (fallback, reported as its own rule). */
  fallback?: 'none' | 'last-number';
  /** Strip units and currency signs inside the box before comparing (not the reference's rule). */
  lenient?: boolean;
  /** XQuAD: 'reference' counts an empty prediction as correct (the reference's substring rule); 'fixed' counts it wrong. */
  xquadEmpty?: 'reference' | 'fixed';
  /** Language consistency: 'reference' (arXiv 2601.14050, the default) or 'polymath' (PolyMath's eval script). */
  consistency?: ConsistencyRule;
  /** Time limit of one symbolic comparison in ms (default 1000, the reference's subprocess limit). */
  symbolicTimeLimitMs?: number;
}

export interface ScoreInput {
  output: string;
  /** Gold: a string or number (math), the answer span(s) (XQuAD), the reference translation (FLORES). */
  answer: string | number | string[];
  /** The item's language as the dataset names it (e.g. "sw", "swh", "swh_Latn"). */
  lang: string;
}

export interface ItemScore {
  /** The extracted answer; null when nothing could be extracted ("no answer"). */
  extracted: string | null;
  /** Binary outcome (math, XQuAD); for FLORES whether chrF > 0 is not meaningful, so false. */
  correct: boolean;
  /** True when the extractor found no answer (counted wrong and reported separately). */
  noAnswer: boolean;
  /** The number the statistics use: 0/1 for binary tasks (math, XQuAD; XQuAD's token F1 is in `f1`), chrF for FLORES. */
  score: number;
  f1?: number;
  chrf?: number;
  /** Detected language of the output, as the dataset's code family when known (null when undetectable). */
  detectedLang: string | null;
  /** Whether the output is in the item's language (the reference's consistency rule); null when not applicable. */
  consistent: boolean | null;
  /** Which rule produced `correct`, e.g. "boxed+math_equal", "last-number", "xquad-substring(reference)". */
  rule: string;
}

export interface Scorer {
  score(task: ScoringTask, input: ScoreInput, opts?: ScoreOptions): ItemScore;
  detectLanguage(text: string): { lang: string | null; confidence: number };
}

/** An input the scorer cannot use (wrong answer type, unknown task); the message names the field. */
export class ScoringInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScoringInputError';
  }
}

function mathGold(answer: ScoreInput['answer'], task: ScoringTask): string {
  if (typeof answer === 'number') {
    if (!Number.isFinite(answer)) throw new ScoringInputError(`${task}: "answer" must be a finite number or a string`);
    return String(answer);
  }
  if (typeof answer === 'string') return answer;
  throw new ScoringInputError(`${task}: "answer" must be a string or a number, got ${Array.isArray(answer) ? 'an array' : typeof answer}`);
}

function textAnswers(answer: ScoreInput['answer'], task: ScoringTask): string[] {
  if (typeof answer === 'string') return [answer];
  if (typeof answer === 'number' && Number.isFinite(answer)) return [String(answer)];
  if (Array.isArray(answer) && answer.length > 0 && answer.every((a) => typeof a === 'string')) return answer;
  throw new ScoringInputError(`${task}: "answer" must be a string or a non-empty array of strings`);
}

class FastTextScorer implements Scorer {
  constructor(private readonly lid: LanguageIdentifier) {}

  detectLanguage(text: string): { lang: string | null; confidence: number } {
    const d = this.lid.detect(text);
    return { lang: d.lang, confidence: d.confidence };
  }

  private language(task: ScoringTask, input: ScoreInput, opts: ScoreOptions): Pick<ItemScore, 'detectedLang' | 'consistent'> {
    const d = this.lid.detect(input.output);
    const detectedLang = d.lang === null ? null : formatLike(d.lang, input.lang);
    // A language the table does not know cannot be compared with what the detector says.
    const known = findLanguage(languageKey(input.lang)) !== undefined;
    const consistent = known ? this.lid.consistent(input.output, input.lang, opts.consistency ?? 'reference') : null;
    return { detectedLang, consistent };
  }

  score(task: ScoringTask, input: ScoreInput, opts: ScoreOptions = {}): ItemScore {
    if (typeof input.output !== 'string') throw new ScoringInputError(`"output" must be a string`);
    if (typeof input.lang !== 'string' || input.lang.trim() === '') throw new ScoringInputError(`"lang" must be a non-empty string`);
    switch (task) {
      case 'mgsm':
      case 'polymath': {
        const gold = mathGold(input.answer, task);
        let extracted = extractBoxed(input.output);
        let rule = 'boxed+math_equal';
        if (extracted === null && opts.fallback === 'last-number') {
          extracted = extractLastNumber(input.output);
          rule = 'last-number+math_equal';
        }
        const compared = extracted !== null && opts.lenient ? lenientClean(extracted) : extracted;
        if (opts.lenient) rule += '+lenient';
        const correct = extracted !== null && mathEqual(compared, gold, { timeLimitMs: opts.symbolicTimeLimitMs });
        return { extracted, correct, noAnswer: extracted === null, score: correct ? 1 : 0, rule, ...this.language(task, input, opts) };
      }
      case 'xquad': {
        const answers = textAnswers(input.answer, task);
        const emptyRule = opts.xquadEmpty ?? 'reference';
        const correct = xquadSubstringMatch(input.output, answers, emptyRule);
        const f1 = bestTokenF1(input.output, answers, input.lang);
        return {
          extracted: input.output, correct, noAnswer: input.output.trim() === '', score: correct ? 1 : 0, f1,
          rule: `xquad-substring(${emptyRule})`, ...this.language(task, input, opts),
        };
      }
      case 'flores': {
        const refs = textAnswers(input.answer, task);
        const chrf = sentenceChrf(input.output, refs);
        return {
          extracted: input.output, correct: false, noAnswer: input.output.trim() === '', score: chrf, chrf,
          rule: 'chrF(sacrebleu defaults)', ...this.language(task, input, opts),
        };
      }
      default:
        throw new ScoringInputError(`unknown scoring task "${String(task)}": expected one of ${SCORING_TASKS.join(', ')}`);
    }
  }
}

/** Loads what scoring needs (the language identification model) once; scoring itself is synchronous. */
export async function createScorer(): Promise<Scorer> {
  return new FastTextScorer(await LanguageIdentifier.load());
}
