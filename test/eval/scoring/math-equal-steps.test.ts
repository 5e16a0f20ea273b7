/**
 * Each step of QwenLM/PolyMath's math_equal (eval/scripts.py at fbf4e41) on an input that only that step decides, so
 * that removing or bending one step changes a verdict. The expected verdicts are the reference code's, followed by
 * hand (the comment names the step that returns).
 */
import { describe, expect, it } from 'vitest';
import { choiceAnswerClean, mathEqual } from '../../../src/eval/scoring/math-equal.js';

describe('math_equal step by step', () => {
  it('step 1, trimmed lower-case strings: "NaN" equals "nan" (as numbers NaN is close to nothing)', () => {
    expect(mathEqual('NaN', 'nan')).toBe(true);
    expect(mathEqual(' NaN\n', 'nan')).toBe(true);
  });

  it.each(['A', 'B', 'C', 'D', 'E'])('step 2, choice letters: a sentence ending "(%s)." equals gold %s', (letter) => {
    expect(mathEqual(`The answer is (${letter}).`, letter)).toBe(true);
  });

  it('step 2 applies only to gold A-E, and only to the last letter', () => {
    expect(mathEqual('The answer is (C).', 'B')).toBe(false);
    expect(mathEqual('x.', 'x')).toBe(false); // gold "x" is no choice letter; "x." is not "x" by any later step
    expect(mathEqual('B or C', 'B')).toBe(false);
  });

  it('step 3 without the percentage variants', () => {
    expect(mathEqual('0.5', '50', { includePercentage: false })).toBe(false);
    expect(mathEqual('50.0', '50', { includePercentage: false })).toBe(true);
  });

  it('step 4: an empty prediction is not equal, even to a gold that is empty once braces go', () => {
    expect(mathEqual('', '{}')).toBe(false);
  });

  it('step 5: outer brackets stripped when the gold does not open with the other kind, then {}() removed', () => {
    expect(mathEqual('[x, y]', 'x, y')).toBe(true); // strip("[]()") on both, then equal strings
    expect(mathEqual('(x, y)', 'x, y')).toBe(true);
    expect(mathEqual('\\text{{five}}', '\\text{five}')).toBe(true); // both "\textfive" without braces
    expect(mathEqual('a+b]', 'a+b')).toBe(false); // not opened by "[": nothing stripped
    expect(mathEqual('[x, y]', '(x, y')).toBe(false); // gold opens with "(": nothing stripped
    expect(mathEqual('[x, y', 'x, y')).toBe(false); // opened but not closed by "]"
    expect(mathEqual('([x, y])', 'x, y')).toBe(true); // "(...)": strip("[]()") takes the inner brackets too
    expect(mathEqual('x, y])', 'x, y')).toBe(false); // closed by ")" but not opened by "("
    expect(mathEqual('([x, y]', 'x, y')).toBe(false); // opened by "(" but not closed by ")"
    expect(mathEqual('(x, y)', '[x, y')).toBe(false); // gold opens with "[": nothing stripped
    expect(mathEqual('[x, y]', '[x, y]]')).toBe(true); // the gold is stripped as well: both "x, y"
  });

  it('step 5: a pmatrix prediction against a {a,b} gold converts the gold (str_to_pmatrix: "," becomes "\\")', () => {
    expect(mathEqual('\\begin{pmatrix}10\\20\\end{pmatrix}', '{10,20}')).toBe(true);
    expect(mathEqual('\\begin{pmatrix}10\\21\\end{pmatrix}', '{10,20}')).toBe(false);
    // One line per vector (Python's "." stops at a newline), joined with ", ".
    expect(mathEqual('\\begin{pmatrix}1\\2\\end{pmatrix}, \\begin{pmatrix}3\\4\\end{pmatrix}', '{1,2}\n{3,4}')).toBe(true);
  });

  it('step 6: tuples element by element, bracket kinds may differ, lengths must match', () => {
    expect(mathEqual('[1,2]', '(1,2)')).toBe(true);
    expect(mathEqual('(1,2)', '[1,2]')).toBe(true);
    expect(mathEqual('(\\frac{1}{2}, 3)', '(0.5,3)')).toBe(true);
    expect(mathEqual('(1,2)', '(1,3)')).toBe(false);
    expect(mathEqual('(1,2)', '(1,2,3)')).toBe(false);
    expect(mathEqual('(2,3)', 'x2,3y')).toBe(false); // the gold is not bracketed: no element-wise comparison
    expect(mathEqual('(1,2x', '(1,2)')).toBe(false); // regex.match needs a closing bracket after the opening one
    expect(mathEqual('a(1,2)', '(1,2)')).toBe(false); // ... and the opening bracket first (match, not search)
  });

  it('step 6: matrices cell by cell (pmatrix or bmatrix, empty rows dropped)', () => {
    const p = '\\begin{bmatrix}1 & 2\\\\ 3 & 4\\end{bmatrix}';
    expect(mathEqual(p, '\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}')).toBe(true);
    expect(mathEqual(p, '\\begin{bmatrix}1&2\\\\3&4\\\\\\end{bmatrix}')).toBe(true); // a trailing row break
    expect(mathEqual('\\begin{pmatrix}0.5\\end{pmatrix}', '\\begin{pmatrix}\\frac{1}{2}\\end{pmatrix}')).toBe(true);
    expect(mathEqual(p, '\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}')).toBe(false);
    expect(mathEqual(p, '\\begin{pmatrix}1&2\\end{pmatrix}')).toBe(false); // fewer rows
    expect(mathEqual(p, '\\begin{pmatrix}1&2&0\\\\3&4&0\\end{pmatrix}')).toBe(false); // more columns
    expect(mathEqual('\\begin{bmatrix}1\\end{bmatrix}x', '\\begin{pmatrix}1\\end{pmatrix}')).toBe(false); // not closed last
    // Neither is a matrix without both its \begin and its \end, even where cutting 15 and 13 characters would leave "1".
    const m1 = '\\begin{pmatrix}1\\end{pmatrix}';
    expect(mathEqual(`\\begin{bmatrix}1${'.'.repeat(13)}`, m1)).toBe(false);
    expect(mathEqual(`${'x'.repeat(15)}1\\end{bmatrix}`, m1)).toBe(false);
    expect(mathEqual(`${'x'.repeat(15)}1${'y'.repeat(13)}`, m1)).toBe(false);
    // The reference's quirk: a pmatrix prediction against a gold without "pmatrix" first turns the gold into
    // str_to_pmatrix(gold), which is "" for a bmatrix (no "{a,b}" in it), so the same matrix is not equal.
    expect(mathEqual('\\begin{pmatrix}1&2\\end{pmatrix}', '\\begin{bmatrix}1&2\\end{bmatrix}')).toBe(false);
  });

  it('step 7: equations, and "x=" prefixes of at most two characters on either side', () => {
    expect(mathEqual('x=1', 'x=2')).toBe(false);
    expect(mathEqual('18', 'x=18')).toBe(true); // the gold's right side is compared
    expect(mathEqual('xy=5', '5')).toBe(true); // a two-character left side
    expect(mathEqual('abc=5', '5')).toBe(false); // three characters: no prefix rule, and an equation is no number
    expect(mathEqual('x=5', '6')).toBe(false);
    expect(mathEqual('5', 'xy=5')).toBe(true);
    expect(mathEqual('5', 'abc=5')).toBe(false);
    expect(mathEqual('6', 'x=5')).toBe(false);
  });

  it('a missing gold (null) is never equal', () => {
    expect(mathEqual('5', null)).toBe(false);
  });
});

describe('choice_answer_clean, by hand from its Python', () => {
  // pred.strip("\n").rstrip(".").rstrip("/").strip(" ").lstrip(":"); the last \b[A-E]\b of pred.upper(), else
  // pred.strip().strip("."); then .rstrip(".").rstrip("/").
  it.each([
    ['  42.  ', '42'],
    [':: 7/', '7'],
    ['..5..', '5'],
    ['\nA/.\n', 'A'],
    ['b/', 'B'],
    ['::x::', 'x::'], // lstrip(":") only
    ['/5/', '/5'], // rstrip("/") only
    [':x', 'x'],
    [' :x', 'x'], // strip(" ") comes before lstrip(":")
    ['\n:x', 'x'], // so does strip("\n")
    ['x./.', 'x'], // rstrip(".") then rstrip("/") leave "x.", and the fallback strips the "."
    ['x/ ', 'x'], // the final rstrip("/")
    ['.x', 'x'], // the fallback's strip(".") takes both sides
  ])('%j -> %j', (pred, want) => expect(choiceAnswerClean(pred)).toBe(want));
});
