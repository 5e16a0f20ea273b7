/**
 * MGSM/PolyMath scoring against the reference's behaviour. Each case says WHY QwenLM/PolyMath's math_equal
 * (eval/scripts.py at fbf4e41, called as math_equal(extracted, gold) by arXiv 2601.14050's code) gives that verdict.
 */
import { describe, expect, it } from 'vitest';
import { extractBoxed, extractLastNumber, lenientClean } from '../../../src/eval/scoring/boxed.js';
import { choiceAnswerClean, mathEqual, parseDigits } from '../../../src/eval/scoring/math-equal.js';
import { symbolicEqual } from '../../../src/eval/scoring/symbolic-equal.js';
import { decimalValue, pyFloat, pyStrip } from '../../../src/eval/scoring/python-text.js';
import { weightedAccuracy } from '../../../src/eval/scoring/polymath-weighted.js';

describe('extractBoxed (extract_boxed_content)', () => {
  it.each([
    ['The answer is \\boxed{18}.', '18'], // the ordinary case
    ['\\boxed{ 1 8 }', '18'], // every ASCII space is removed before matching
    ['\\boxed{1 000}', '1000'], // so a space-grouped number survives ...
    ['\\boxed{1\u202f000}', '1\u202f000'], // ... but a narrow no-break space is not an ASCII space
    ['boxed{3}', '3'], // the pattern is "boxed{": the backslash is not required
    ['\\boxed{}', ''], // an empty box extracts the empty string
    ['\\boxed{\\frac{1}{2}} and later \\boxed{3}', '\\frac{1}{2}'], // braces are matched; the FIRST box wins
    ['\\boxed{\\boxed{5}}', '\\boxed{5}'], // nested: the outer box's content
    ['\\boxed{a \\boxed{7}', '7'], // the first box never closes; the second (inside it) does
  ])('%j -> %j', (output, want) => expect(extractBoxed(output)).toBe(want));

  it.each([['\\boxed{5'], ['\\boxed 5'], ['\\fbox{5}'], ['no box at all, 42'], ['']])('%j -> no answer', (output) => {
    expect(extractBoxed(output)).toBeNull();
  });
});

describe('Python semantics the grader relies on', () => {
  it('float() reads the decimal digits of every script, and nothing else', () => {
    expect(pyFloat('৩৫')).toBe(35); // Bengali
    expect(pyFloat('๓๕')).toBe(35); // Thai
    expect(pyFloat('٣٫٥')).toBeNull(); // Arabic decimal separator U+066B is not "."
    expect(pyFloat('٣.٥')).toBe(3.5); // Arabic-Indic digits with an ASCII point
    expect(pyFloat('３５')).toBe(35); // full-width
    expect(pyFloat('𝟑𝟓')).toBe(35); // mathematical bold digits (adjacent digit runs)
    expect(pyFloat(' 1_000 ')).toBe(1000); // underscores between digits, surrounding whitespace
    expect(pyFloat('1__0')).toBeNull();
    expect(pyFloat('五')).toBeNull(); // CJK numerals are not decimal digits (category Nl/Lo)
    expect(pyFloat('−5')).toBeNull(); // U+2212 minus is not "-"
    expect(pyFloat('1 000')).toBeNull(); // a space inside the digits
    expect(pyFloat('-Infinity')).toBe(-Infinity);
    expect(pyFloat('0x10')).toBeNull();
  });

  it('every Unicode decimal digit maps to its value', () => {
    // Independent check: each Nd character followed by nine more Nd characters whose values run 0..9.
    for (let cp = 0; cp < 0x20000; cp++) {
      const ch = String.fromCodePoint(cp);
      if (decimalValue(ch) !== 0) continue;
      const run = Array.from({ length: 10 }, (_, k) => decimalValue(String.fromCodePoint(cp + k)));
      expect(run).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
  });

  it('strip() uses Python whitespace', () => {
    expect(pyStrip('\u3000\x1c 5\u2029')).toBe('5');
  });

  it('parse_digits: commas deleted, a trailing % or \\% divides by 100', () => {
    expect(parseDigits('1,234.5')).toBe(1234.5);
    expect(parseDigits('50%')).toBe(0.5);
    expect(parseDigits('50\\%')).toBe(0.5);
    expect(parseDigits('%')).toBeNull();
  });
});

describe('mathEqual: the reference verdicts', () => {
  it.each([
    ['18', '18', 'trimmed lower-case strings are equal'],
    [' 18\n', '18', 'strip() before the string comparison'],
    ['18.00', '18', 'both parse as numbers and are equal'],
    ['1,000', '1000', 'commas are deleted before float()'],
    ['৩৫', '35', "Python's float() reads Bengali digits"],
    ['๓๕', '35', 'and Thai digits'],
    ['٣٥', '35', 'and Arabic-Indic digits'],
    ['３５', '35', 'and full-width digits'],
    ['50%', '50', 'the prediction reads as 0.5, equal to gold/100'],
    ['0.5', '50', 'equal to gold/100 (the percent variants are always tried)'],
    ['5000', '50', 'equal to gold*100'],
    ['0.1', '10%', 'the gold "10%" reads as 0.1'],
    ['100.01', '100', 'relative difference 1e-4 is within rel_tol=1e-4'],
    ['(18)', '18', 'outer parentheses are stripped, then all (){} removed'],
    ['{18}', '18', 'braces are removed before the second string comparison'],
    ['\\frac12', '\\frac{1}{2}', 'with braces removed both are "\\frac12"'],
    ['x=18', '18', 'one "=" with a left side of at most 2 characters: the right side is compared'],
    ['\\frac{1}{2}', '0.5', 'symbolic: 1/2 equals 0.5'],
    ['\\dfrac{3}{4}', '0.75', 'symbolic: \\dfrac is a fraction'],
    ['3/4', '0.75', 'symbolic: a plain slash fraction'],
    ['\\sqrt{8}', '2\\sqrt{2}', 'symbolic: equal roots'],
    ['\\sqrt[3]{27}', '3', 'symbolic: a cube root'],
    ['2^{10}', '1024', 'symbolic: a power'],
    ['2^10', '1024', "symbolic: sympy's LaTeX parser reads 2^10 as 2**10"],
    ['\\frac{1}{3}', '0.33333', 'numeric fallback: |1/3 - 0.33333| is within 1e-4 relative'],
    ['3.14159', '\\pi', 'numeric fallback: pi to 1e-4'],
    ['2x+1', '1+2x', 'symbolic: the same polynomial'],
    ['(x-1)(x+1)', 'x^2-1', 'symbolic: expanded equals factored'],
    ['y=2x+1', '2x+1=y', 'equations: lhs-(rhs) equal up to sign'],
    ['(1,2)', '(1, 2)', 'tuples compared element by element'],
    ['a_2+a_1', 'a_1 + a_2', 'symbolic: subscripted symbols'],
    ['\\alpha_0', '\\alpha_{0}', 'symbolic: a_0 and a_{0} are one symbol'],
    ['5!', '120', 'symbolic: factorial'],
    ['\\log_2 8', '3', 'symbolic: logarithm to a base'],
    ['\\lfloor -7/2 \\rfloor', '-4', 'symbolic: floor rounds down'],
    ['|-3|', '3', 'symbolic: absolute value'],
    ['2^n+2\\cdot(-1)^n', '2(-1)^n + 2^n', 'symbolic: (-1)^n is compared at integer points'],
    ['n!', 'n(n-1)!', 'symbolic: factorials of a symbol, at integer points'],
    ['$18', '18', 'float() fails, but latex2sympy (the third parser tried) deletes "$" and reads 18'],
    ['$2+\\sqrt{5}$', '$2 + \\sqrt{5}$', 'PolyMath gold in $...$: the same after latex2sympy deletes "$"'],
    ['(B)', 'B', 'gold is a choice letter and the prediction\'s letter is B'],
  ])('%j equals %j: %s', (pred, gold) => expect(mathEqual(pred, gold)).toBe(true));

  it.each([
    ['100.02', '100', 'relative difference 2e-4 exceeds rel_tol=1e-4'],
    ['17', '18', 'different numbers; with both numeric there is no symbolic step'],
    ['0.0018', '18', 'gold/100 is 0.18, not 0.0018'],
    ['\\$18', '18', 'not a number (the \\$), and no LaTeX reading of it equals 18'],
    ['18\\text{dollars}', '18', 'text inside the box'],
    ['18dollars', '18', 'a unit: reads as 18*d*o*l*l*a*r*s, not 18'],
    ['18 €', '18', 'a currency sign'],
    ['五', '5', 'CJK numerals are not digits'],
    ['−5', '-5', 'the Unicode minus is not "-"'],
    ['1\u202f000', '1000', 'a narrow no-break space inside the digits'],
    ['', '5', 'an empty box is never equal to a non-empty gold'],
    ['\\frac{1}{3}', '0.333', 'numeric fallback: 1e-3 relative is too far'],
    ['2x+1', '2x+2', 'different polynomials'],
    ['(-1)^n', '1', 'differs at odd n'],
    ['(1,2)', '(2,1)', 'tuples differ element-wise'],
    ['\\sqrt{-4}', '2', 'undefined in the reals'],
  ])('%j differs from %j: %s', (pred, gold) => expect(mathEqual(pred, gold)).toBe(false));

  it('a missing extraction (null) is never equal', () => {
    expect(mathEqual(null, '5')).toBe(false);
  });

  it('tolerance boundary: rel_tol 1e-4 against the larger magnitude (math.isclose)', () => {
    expect(mathEqual('1.0001', '1')).toBe(true); // |d| = 1e-4 <= 1e-4 * 1.0001
    expect(mathEqual('1.00011', '1')).toBe(false);
    expect(mathEqual('0.99990', '1')).toBe(true); // |d| = 1e-4 <= 1e-4 * 1
    expect(mathEqual('0.99989', '1')).toBe(false);
    expect(mathEqual('12345.6', '12346')).toBe(true); // 0.4 <= 1.2346
    expect(mathEqual('12344', '12346')).toBe(false); // 2 > 1.2346
  });

  it('the multiple-choice clean-up takes the last standalone letter', () => {
    expect(choiceAnswerClean('The answer is (C).')).toBe('C');
    expect(choiceAnswerClean('CAB')).toBe('CAB');
  });
});

describe('symbolic equality has a work limit (the reference: 1 s subprocess, timeout = not equal)', () => {
  it('a tower of powers is undecided, hence not equal, and says why', () => {
    const v = symbolicEqual('9^{9^{9^{9}}}', '9^{9^{9^{9}}}+1');
    expect(v.equal).toBe(false);
    expect(mathEqual('9^{9^{9^{9}}}', '1')).toBe(false);
  });

  it('deep nesting ends at the depth limit', () => {
    const deep = '\\frac{'.repeat(90) + '1' + '}{2}'.repeat(90); // 901 characters, 90 nested fractions
    expect(symbolicEqual(deep, '0')).toEqual({ equal: false, limit: 'nesting too deep' });
    expect(symbolicEqual('('.repeat(400) + '1' + ')'.repeat(400), '1')).toEqual({ equal: false, limit: 'nesting too deep' });
  });

  it('a step budget that runs out gives "not equal" with the reason', () => {
    expect(symbolicEqual('x+1', '1+x', { maxSteps: 5 })).toEqual({ equal: false, limit: 'step limit' });
    expect(symbolicEqual('x+1', '1+x').equal).toBe(true);
  });

  it('an over-long answer is not parsed', () => {
    const long = Array.from({ length: 400 }, (_, i) => `${i}`).join('+');
    expect(symbolicEqual(long, '1').limit).toBe('input too long');
  });

  it('exact rationals keep huge integers apart where floats would overflow to equal infinities', () => {
    expect(symbolicEqual('10^{300}\\cdot10^{100}', '10^{400}').equal).toBe(true);
    expect(symbolicEqual('10^{400}', '10^{401}').equal).toBe(false);
  });
});

describe('named alternatives (never applied by default)', () => {
  it('last number, as PolyMath extract_answer: commas deleted, Unicode digits', () => {
    expect(extractLastNumber('first 3, then 1,250.5 apples')).toBe('1250.5');
    expect(extractLastNumber('jibu ni ৪২')).toBe('৪২');
    expect(extractLastNumber('no digits')).toBeNull();
  });

  it('lenient clean-up drops units and currency', () => {
    expect(lenientClean('\\$18')).toBe('18');
    expect(lenientClean('18\\text{dollars}')).toBe('18');
    expect(lenientClean('18 €')).toBe('18');
    expect(lenientClean('−5')).toBe('-5');
    expect(lenientClean('1\u202f000')).toBe('1000');
    expect(lenientClean('30^\\circ')).toBe('30');
    expect(lenientClean('\\frac{1}{2}')).toBe('\\frac{1}{2}');
    expect(mathEqual(lenientClean('12 kg'), '12')).toBe(true);
  });

  it.each([
    ['\\text{18}', '18'], // the wrapped text is kept, the command dropped
    ['\\text{\\textbf{\\mathrm{\\mbox{18}}}}', '18'], // nested four deep: unwrapped until nothing is left
    ['5 kg', '5'], // a one-digit number before a unit
    ['-12 kg', '-12'],
    ['.5 kg', '.5'],
    ['1.25 kg', '1.25'],
    ['1,250 kg', '1,250'],
    ['12,500 kg', '12,500'],
    ['3/16 cups', '3/16'],
    ['12 square metres', '12'], // a unit of several words
    ['3 apples and 5 pears', '3 apples and 5 pears'], // not one number and a unit: left alone
    ['about 12 kg', 'about 12 kg'], // the number must come first
  ])('lenient clean-up %j -> %j', (input, want) => expect(lenientClean(input)).toBe(want));

  it('last number: a decimal is one number (PolyMath: -?\\d*\\.?\\d+)', () => {
    expect(extractLastNumber('x = 1.25')).toBe('1.25');
    expect(extractLastNumber('down to -7')).toBe('-7');
  });
});

describe('PolyMath difficulty-weighted accuracy', () => {
  it('weights 1, 2, 4, 8 over 15 (hand computed)', () => {
    // (1*80 + 2*60 + 4*40 + 8*20) / 15 = 520 / 15
    expect(weightedAccuracy({ low: 80, medium: 60, high: 40, top: 20 })).toBeCloseTo(520 / 15, 12);
    expect(weightedAccuracy({ low: 1, middle: 1, high: 1, top: 1 })).toBe(1);
  });

  it('names a missing level', () => {
    expect(() => weightedAccuracy({ low: 1, medium: 1, high: 1 })).toThrow(/"top" is missing/);
  });
});
