/**
 * XQuAD scoring. The reference (intervention/vllm_intervention_xquad.py in arXiv 2601.14050's code) counts an
 * answer correct when `answer in prediction or prediction in answer` on the raw strings, so an empty prediction
 * (a substring of everything) is correct; 'fixed' is the same rule with an empty (whitespace-only) prediction
 * counted wrong. Token F1 follows SQuAD's normalisation, written for many scripts (see tokenizeForF1).
 */

import { pySplit } from './python-text.js';

export type XquadEmptyRule = 'reference' | 'fixed';

export function xquadSubstringMatch(prediction: string, answers: readonly string[], rule: XquadEmptyRule): boolean {
  if (rule === 'fixed' && prediction.trim() === '') return false;
  return answers.some((a) => a.includes(prediction) || prediction.includes(a));
}

/**
 * Scripts written without spaces between words: each character is its own token (as MLQA's evaluation does
 * for Chinese); a word segmenter would be a large dependency and the papers' numbers do not depend on it.
 */
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}\p{Script=Tibetan}]/u;
/** Python 3's \w on str (letters, digits and numerals of any script, "_"): SQuAD's \b in r'\b(a|an|the)\b' uses it. */
const WORD = '[\\p{L}\\p{N}_]';
const ENGLISH_ARTICLES = new RegExp(`(?<!${WORD})(?:a|an|the)(?!${WORD})`, 'gu');

/**
 * SQuAD-style normalisation for any language (SQuAD v1.1's evaluate-v1.1.py normalize_answer, which XQuAD uses):
 * lower-case; punctuation and symbols (Unicode P* and S*) deleted, not replaced by a space, so "don't" is "dont"
 * and "U.S." is "us" as in SQuAD's ''.join(...); English articles replaced by a space, for English only; then
 * Python's str.split() tokens, with characters of unspaced scripts split into single-character tokens.
 */
export function tokenizeForF1(text: string, lang = ''): string[] {
  let s = text.toLowerCase().replace(/[\p{P}\p{S}]/gu, '');
  if (/^en(g)?([_-]|$)/i.test(lang)) s = s.replace(ENGLISH_ARTICLES, ' ');
  const tokens: string[] = [];
  for (const word of pySplit(s)) {
    let run = '';
    for (const ch of word) {
      if (UNSPACED.test(ch)) {
        if (run) tokens.push(run);
        run = '';
        tokens.push(ch);
      } else run += ch;
    }
    if (run) tokens.push(run);
  }
  return tokens;
}

/** Token F1 against one answer (SQuAD: 1 when both normalise to nothing, 0 when only one does). */
export function tokenF1(prediction: string, answer: string, lang = ''): number {
  const p = tokenizeForF1(prediction, lang);
  const g = tokenizeForF1(answer, lang);
  if (p.length === 0 || g.length === 0) return p.length === g.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of p) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      common++;
      counts.set(t, c - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / p.length;
  const recall = common / g.length;
  return (2 * precision * recall) / (precision + recall);
}

/** The best F1 over the gold answers, as SQuAD takes the max over references. */
export function bestTokenF1(prediction: string, answers: readonly string[], lang = ''): number {
  return answers.reduce((best, a) => Math.max(best, tokenF1(prediction, a, lang)), 0);
}
