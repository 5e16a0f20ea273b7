/** Python's float(), str.split() and math.isclose as the reference graders rely on them; values from CPython's rules. */
import { describe, expect, it } from 'vitest';
import { pyFloat, pyIsClose, pySplit, pyStrip } from '../../../src/eval/scoring/python-text.js';

describe('float(): the literal grammar', () => {
  it.each([
    ['5.', 5],
    ['1.25', 1.25],
    ['.5', 0.5],
    ['.25', 0.25],
    ['1e5', 1e5],
    ['1e-5', 1e-5],
    ['1E+2', 100],
    ['2.5e10', 2.5e10],
    ['1e1_0', 1e10], // underscores between digits of the exponent too
    ['1_000.000_1', 1000.0001],
    ['.5_5', 0.55],
    ['  5  ', 5], // surrounding ASCII whitespace, several characters of it
    ['\x0b5\x0b', 5], // vertical tab is whitespace
    ['\u20035\u2003', 5], // Unicode spaces become " " first
    ['١٠', 10], // Arabic-Indic one, zero: the zero digit counts
    ['inf', Infinity],
    ['+Infinity', Infinity],
    ['-inf', -Infinity],
  ])('float(%j) = %d', (text, want) => expect(pyFloat(text)).toBe(want));

  it('nan in any case', () => {
    expect(pyFloat('nan')).toBeNaN();
    expect(pyFloat('-NaN')).toBeNaN();
  });

  it.each([['1_.5'], ['1.0_'], ['xinf'], ['infx'], ['e5'], ['1e'], ['']])('float(%j) raises', (text) => {
    expect(pyFloat(text)).toBeNull();
  });
});

describe('str.split() and str.strip()', () => {
  it('splits on runs of Python whitespace and drops empty pieces', () => {
    expect(pySplit('ab  cd')).toEqual(['ab', 'cd']);
    expect(pySplit(' \u3000ab\x1ccd\u2029')).toEqual(['ab', 'cd']);
    expect(pySplit('')).toEqual([]);
    expect(pySplit('   ')).toEqual([]);
    expect(pyStrip('  5 \t')).toBe('5');
  });
});

describe('math.isclose(a, b, rel_tol) with abs_tol 0', () => {
  it('|a - b| <= rel_tol * max(|a|, |b|), boundary included, either order', () => {
    // 1e-4 * 10000 rounds to exactly 1.0 in binary64, so |9999 - 10000| = 1 is on the boundary: close.
    expect(pyIsClose(9999, 10000, 1e-4)).toBe(true);
    expect(pyIsClose(10000, 9999, 1e-4)).toBe(true);
    expect(pyIsClose(9998, 10000, 1e-4)).toBe(false);
  });

  it('infinities are close only to themselves', () => {
    expect(pyIsClose(Infinity, Infinity, 1e-4)).toBe(true);
    expect(pyIsClose(Infinity, 5, 1e-4)).toBe(false);
    expect(pyIsClose(5, -Infinity, 1e-4)).toBe(false);
    expect(pyIsClose(Infinity, -Infinity, 1e-4)).toBe(false);
  });
});
