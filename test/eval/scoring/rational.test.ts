/** Exact rationals (the symbolic comparison's numbers), against hand arithmetic. */
import { describe, expect, it } from 'vitest';
import { add, div, equalsRational, fromDecimal, isCloseRational, MAX_EXACT_BITS, mul, powInt, rational, sub, toNumber } from '../../../src/eval/scoring/rational.js';

const q = (n: bigint, d = 1n) => rational(n, d)!;

describe('rational: normal form', () => {
  it('reduces by the gcd and keeps the sign on the numerator', () => {
    expect(rational(6n, 4n)).toEqual({ n: 3n, d: 2n });
    expect(rational(4n, 6n)).toEqual({ n: 2n, d: 3n });
    expect(rational(-6n, 4n)).toEqual({ n: -3n, d: 2n });
    expect(rational(3n, -6n)).toEqual({ n: -1n, d: 2n });
    expect(rational(-6n, -4n)).toEqual({ n: 3n, d: 2n });
    expect(rational(0n, -5n)).toEqual({ n: 0n, d: 1n });
    expect(rational(7n)).toEqual({ n: 7n, d: 1n });
  });

  it('a zero denominator is no number', () => {
    expect(rational(1n, 0n)).toBeNull();
  });

  it(`keeps parts of up to ${MAX_EXACT_BITS} bits, either sign, and gives up beyond`, () => {
    const big = 2n ** 4096n - 1n; // 4096 bits
    expect(rational(big)).toEqual({ n: big, d: 1n });
    expect(rational(-big)).toEqual({ n: -big, d: 1n });
    expect(rational(1n, big)).toEqual({ n: 1n, d: big });
    expect(rational(2n ** 4096n)).toBeNull(); // 4097 bits
    expect(rational(-(2n ** 4096n))).toBeNull();
    expect(rational(1n, 2n ** 4096n)).toBeNull();
  });
});

describe('rational: decimal literals', () => {
  it.each([
    ['12', 12n, 1n],
    ['12.50', 25n, 2n],
    ['.5', 1n, 2n],
    ['12.', 12n, 1n],
    ['0.125', 1n, 8n],
  ])('%j = %d/%d', (text, n, d) => expect(fromDecimal(text)).toEqual({ n, d }));

  it.each([[''], ['.'], ['1x2'], ['12x'], ['x12'], ['1.2.3'], ['-1']])('%j is not a decimal literal', (text) => {
    expect(fromDecimal(text)).toBeNull();
  });
});

describe('rational: arithmetic', () => {
  it('the four operations, by hand', () => {
    expect(add(q(1n, 2n), q(1n, 3n))).toEqual({ n: 5n, d: 6n });
    expect(sub(q(1n, 2n), q(1n, 3n))).toEqual({ n: 1n, d: 6n });
    expect(sub(q(1n, 3n), q(1n, 2n))).toEqual({ n: -1n, d: 6n });
    expect(mul(q(2n, 3n), q(3n, 4n))).toEqual({ n: 1n, d: 2n });
    expect(mul(q(2n, 3n), q(5n, 7n))).toEqual({ n: 10n, d: 21n });
    expect(div(q(1n, 2n), q(1n, 4n))).toEqual({ n: 2n, d: 1n });
    expect(div(q(2n, 3n), q(5n, 7n))).toEqual({ n: 14n, d: 15n });
    expect(div(q(1n, 2n), q(0n))).toBeNull();
    expect(div(q(0n), q(3n))).toEqual({ n: 0n, d: 1n });
  });

  it('integer powers, negative ones by the reciprocal', () => {
    expect(powInt(q(3n, 2n), 0n)).toEqual({ n: 1n, d: 1n });
    expect(powInt(q(3n, 2n), 2n)).toEqual({ n: 9n, d: 4n });
    expect(powInt(q(2n, 3n), -2n)).toEqual({ n: 9n, d: 4n });
    expect(powInt(q(-2n, 3n), -3n)).toEqual({ n: -27n, d: 8n });
    expect(powInt(q(-2n, 3n), -2n)).toEqual({ n: 9n, d: 4n });
    expect(powInt(q(2n, 3n), -3n)).toEqual({ n: 27n, d: 8n });
    expect(powInt(q(0n), -1n)).toBeNull(); // 1/0
    expect(powInt(q(0n), 3n)).toEqual({ n: 0n, d: 1n });
  });

  it('a power whose size would pass the cap gives up; one at the cap does not', () => {
    // 2 has 2 bits: the estimate 2 * 2048 = 4096 is at the cap, and 2^2048 (2049 bits) is kept.
    expect(powInt(q(2n), 2048n)).toEqual({ n: 2n ** 2048n, d: 1n });
    expect(powInt(q(2n), 2049n)).toBeNull(); // estimate 4098 > 4096
    expect(powInt(q(1n, 2n), 5000n)).toBeNull();
  });

  it('0, 1 and -1 to any power, however large', () => {
    expect(powInt(q(1n), 5000n)).toEqual({ n: 1n, d: 1n });
    expect(powInt(q(-1n), 1_000_001n)).toEqual({ n: -1n, d: 1n });
    expect(powInt(q(-1n), 1_000_002n)).toEqual({ n: 1n, d: 1n });
    expect(powInt(q(-1n), 10n ** 15n + 1n)).toEqual({ n: -1n, d: 1n });
    expect(powInt(q(0n), 10n ** 15n)).toEqual({ n: 0n, d: 1n });
  });
});

describe('rational: comparisons and conversion', () => {
  it('equality is equality of both parts', () => {
    expect(equalsRational(q(1n, 2n), q(2n, 4n))).toBe(true);
    expect(equalsRational(q(1n, 2n), q(1n, 3n))).toBe(false);
    expect(equalsRational(q(1n, 2n), q(3n, 2n))).toBe(false);
  });

  it("math.isclose's rule: |a - b| <= tol * max(|a|, |b|), exactly", () => {
    // 9999 vs 10000 at 1e-4: |d| = 1 = 1e-4 * 10000, on the boundary, close.
    expect(isCloseRational(q(9999n), q(10000n), 1n, 10_000n)).toBe(true);
    expect(isCloseRational(q(10000n), q(9999n), 1n, 10_000n)).toBe(true);
    expect(isCloseRational(q(9998n), q(10000n), 1n, 10_000n)).toBe(false);
    // 1 vs 1.00010001: |d| = 1.0001e-4 <= 1e-4 * 1.00010001 (the larger), but > 1e-4 * 1 (the smaller).
    const b = q(100_010_001n, 100_000_000n);
    expect(isCloseRational(q(1n), b, 1n, 10_000n)).toBe(true);
    expect(isCloseRational(b, q(1n), 1n, 10_000n)).toBe(true);
    // 1/2 vs 3/4 at rel_tol 2/5: |d| = 1/4 <= 2/5 * 3/4 = 0.3 (against the larger), not <= 2/5 * 1/2 = 0.2.
    expect(isCloseRational(q(1n, 2n), q(3n, 4n), 2n, 5n)).toBe(true);
    expect(isCloseRational(q(3n, 4n), q(1n, 2n), 2n, 5n)).toBe(true);
    // Negative values: |-1 - (-1.00010001)| against max(|a|, |b|) as well.
    expect(isCloseRational(q(-1n), q(-100_010_001n, 100_000_000n), 1n, 10_000n)).toBe(true);
    expect(isCloseRational(q(-1n), q(-100_020_000n, 100_000_000n), 1n, 10_000n)).toBe(false);
    // Fractions: 1/3 vs 3333/10000: |d| = 1/30000 <= 1e-4 * 1/3 = 1/30000, the boundary again.
    expect(isCloseRational(q(1n, 3n), q(3333n, 10000n), 1n, 10_000n)).toBe(true);
    expect(isCloseRational(q(1n, 3n), q(3332n, 10000n), 1n, 10_000n)).toBe(false);
  });

  it('toNumber: plain division, and scaled division when a part overflows a double', () => {
    expect(toNumber(q(3n, 4n))).toBe(0.75);
    expect(toNumber(q(-1n, 8n))).toBe(-0.125);
    // 2^1009 / 3: both parts are finite doubles; scaling down by 2^10 would make the denominator 0.
    expect(toNumber(q(2n ** 1009n, 3n))).toBe(2 ** 1009 / 3);
    // 3^700 (about 2^1109.5, not a finite double) / 2^200 is about 2^909.5, finite.
    const want = Math.exp(700 * Math.log(3) - 200 * Math.log(2));
    expect(Math.abs(toNumber(q(3n ** 700n, 2n ** 200n)) / want - 1)).toBeLessThan(1e-12);
  });
});
