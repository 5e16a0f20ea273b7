/**
 * Math answer equivalence as QwenLM/PolyMath's eval/scripts.py `math_equal` decides it (the Qwen2.5-Math grader;
 * commit fbf4e41, the one arXiv 2601.14050's code pins as a submodule and calls as math_equal(extracted, gold)).
 * In order, the first test that says "equal" wins:
 *   1. trimmed, lower-cased string equality;
 *   2. gold "A".."E" and the prediction's multiple-choice letter equal to it;
 *   3. both parse as numbers (commas deleted, Python float(), so digits of any script; a trailing % or \% divides
 *      by 100): equal within relative tolerance 1e-4 of gold, gold/100 or gold*100, else NOT equal (no step 4+);
 *   4. an empty prediction is not equal;
 *   5. both with {} () removed (after stripping outer brackets in the cases the reference does) equal as strings;
 *   6. tuples/intervals "(a,b)" / "[a,b]" element by element; pmatrix cells;
 *   7. equations: both with one "=" compared as lhs-(rhs), either sign; "x=5" against "5" compares "5";
 *   8. symbolic equality (./symbolic-equal.ts) under a work and time limit, where running out is "not equal".
 */
import { pyFloat, pyIsClose, pyStrip } from './python-text.js';
import { REL_TOL, symbolicEqual, type SymbolicOptions } from './symbolic-equal.js';

/** Python's parse_digits: commas deleted, float(); failing that a trailing % (optionally \%) divides by 100. */
export function parseDigits(text: string): number | null {
  let s = text.replace(/,/g, '');
  const v = pyFloat(s);
  if (v !== null) return v;
  if (s.endsWith('%')) {
    s = s.slice(0, -1);
    if (s.endsWith('\\')) s = s.slice(0, -1);
    const p = pyFloat(s);
    if (p !== null) return p / 100;
  }
  return null;
}

const WORD = '[\\p{L}\\p{N}_]';
const CHOICE_LETTER = new RegExp(`(?<!${WORD})([A-E])(?!${WORD})`, 'gu');

function stripChars(s: string, chars: string, side: 'both' | 'left' | 'right' = 'both'): string {
  let a = 0;
  let b = s.length;
  if (side !== 'right') while (a < b && chars.includes(s[a]!)) a++;
  if (side !== 'left') while (b > a && chars.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
}

/** The reference's choice_answer_clean: the last standalone letter A-E, else the cleaned text. */
export function choiceAnswerClean(pred: string): string {
  let p = stripChars(stripChars(stripChars(stripChars(pred, '\n'), '.', 'right'), '/', 'right'), ' ');
  p = stripChars(p, ':', 'left');
  const letters = [...p.toUpperCase().matchAll(CHOICE_LETTER)].map((m) => m[1]!);
  const last = letters.length ? letters[letters.length - 1]! : stripChars(pyStrip(p), '.');
  return stripChars(stripChars(last, '.', 'right'), '/', 'right');
}

function strToPmatrix(input: string): string {
  const found = pyStrip(input).match(/\{[^\n]*,[^\n]*\}/g) ?? [];
  return found.map((m) => `\\begin{pmatrix}${stripChars(m, '{}').replace(/,/g, '\\')}\\end{pmatrix}`).join(', ');
}

const count = (s: string, ch: string) => s.split(ch).length - 1;
const MATRIX_OPEN = ['\\begin{pmatrix}', '\\begin{bmatrix}'];
const MATRIX_CLOSE = ['\\end{pmatrix}', '\\end{bmatrix}'];
const isMatrix = (s: string) => MATRIX_OPEN.some((o) => s.startsWith(o)) && MATRIX_CLOSE.some((c) => s.endsWith(c));
const matrixRows = (s: string) =>
  s.slice('\\begin{pmatrix}'.length, -'\\end{pmatrix}'.length).split('\\\\').map((l) => pyStrip(l)).filter((l) => l !== '');

export interface MathEqualOptions extends SymbolicOptions {
  includePercentage?: boolean;
}

export function mathEqual(prediction: string | null, reference: string | null, opts: MathEqualOptions = {}): boolean {
  if (prediction === null || reference === null) return false;
  const includePercentage = opts.includePercentage ?? true;
  if (pyStrip(prediction).toLowerCase() === pyStrip(reference).toLowerCase()) return true;
  if (['A', 'B', 'C', 'D', 'E'].includes(reference) && choiceAnswerClean(prediction) === reference) return true;

  const p = parseDigits(prediction);
  const r = parseDigits(reference);
  if (p !== null && r !== null) {
    const golds = includePercentage ? [r / 100, r, r * 100] : [r];
    return golds.some((g) => pyIsClose(p, g, REL_TOL));
  }
  if (prediction === '') return false;

  let ref = pyStrip(reference);
  const pred = pyStrip(prediction);
  if (pred.includes('pmatrix') && !ref.includes('pmatrix')) ref = strToPmatrix(ref);

  let predStr = pred;
  let refStr = ref;
  if ((pred.startsWith('[') && pred.endsWith(']') && !ref.startsWith('(')) || (pred.startsWith('(') && pred.endsWith(')') && !ref.startsWith('['))) {
    predStr = stripChars(predStr, '[]()');
    refStr = stripChars(refStr, '[]()');
  }
  predStr = predStr.replace(/[{}()]/g, '');
  refStr = refStr.replace(/[{}()]/g, '');
  if (predStr.toLowerCase() === refStr.toLowerCase()) return true;

  const bracketed = /^[([][^\n]+[)\]]/;
  if (bracketed.test(pred) && bracketed.test(ref)) {
    const pp = pred.slice(1, -1).split(',');
    const rp = ref.slice(1, -1).split(',');
    if (pp.length === rp.length && pp.every((x, i) => mathEqual(x, rp[i]!, opts))) return true;
  }
  if (isMatrix(pred) && isMatrix(ref)) {
    const pl = matrixRows(pred);
    const rl = matrixRows(ref);
    const same = pl.length === rl.length && pl.every((line, i) => {
      const a = line.split('&');
      const b = rl[i]!.split('&');
      return a.length === b.length && a.every((x, j) => mathEqual(x, b[j]!, opts));
    });
    if (same) return true;
  }

  if (count(pred, '=') === 1 && count(ref, '=') === 1) {
    const [pl, pr] = pred.split('=') as [string, string];
    const [rl, rr] = ref.split('=') as [string, string];
    const pd = `${pyStrip(pl)} - (${pyStrip(pr)})`;
    const rd = `${pyStrip(rl)} - (${pyStrip(rr)})`;
    if (symbolicEqual(pd, rd, opts).equal || symbolicEqual(`-(${pd})`, rd, opts).equal) return true;
  } else if (count(pred, '=') === 1 && pyStrip(pred.split('=')[0]!).length <= 2 && !ref.includes('=')) {
    if (mathEqual(pred.split('=')[1]!, reference, opts)) return true;
  } else if (count(ref, '=') === 1 && pyStrip(ref.split('=')[0]!).length <= 2 && !pred.includes('=')) {
    if (mathEqual(prediction, ref.split('=')[1]!, opts)) return true;
  }
  return symbolicEqual(pred, ref, opts).equal;
}
