/**
 * The symbolic step on its own (our stand-in for the reference's sympy comparison). Verdicts: what sympy gives for
 * the same pair (automatic simplification, simplify(a - b) == 0, |lhs - rhs| for equations), worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { symbolicEqual } from '../../../src/eval/scoring/symbolic-equal.js';

const eq = (a: string, b: string) => symbolicEqual(a, b).equal;

describe('symbolicEqual', () => {
  it('equations compare |lhs - rhs|, so the sides may be swapped', () => {
    expect(eq('y=2x+1', '2x+1=y')).toBe(true);
    expect(eq('x=1', 'x=2')).toBe(false);
  });

  it('an equation never equals an expression', () => {
    expect(eq('x=1', 'x-1')).toBe(false);
    expect(eq('x-1', 'x=1')).toBe(false);
  });

  it('expressions are compared with their sign', () => {
    expect(eq('x-1', '1-x')).toBe(false);
  });

  it('a side with a symbol against a number: x - x is 0', () => {
    expect(eq('x-x', '0')).toBe(true);
    expect(eq('0', 'x-x')).toBe(true);
    expect(eq('x-x', '1')).toBe(false);
  });

  it('identities hold at non-integer points too: sin(pi x) is not 0', () => {
    expect(eq('\\sin(\\pi x)', '0')).toBe(false);
  });

  it('(sqrt x)^2 is x (sympy simplifies it automatically)', () => {
    expect(eq('\\sqrt{x}^2', 'x')).toBe(true);
  });

  it('|x-2| is not (sqrt(x-2))^2: sympy gives Abs(x - 2) against x - 2 (they differ for x < 2)', () => {
    expect(eq('|x-2|', '\\sqrt{x-2}^2')).toBe(false);
  });

  it('a division by zero or a value undefined everywhere is never equal', () => {
    expect(eq('\\frac{1}{x-x}', '1')).toBe(false);
    expect(eq('\\sqrt{-1-x^2}', '\\ln(-1-x^2)')).toBe(false);
    expect(eq('\\sqrt{2}', '10^{400}\\cdot\\sqrt{2}')).toBe(false); // the right side overflows a double
  });

  it('large values keep a tolerance relative to their size', () => {
    // (x + 10^6)^2 expanded: values near 1e12, where double rounding is far above 1e-9 absolute.
    expect(eq('(x+10^6)^2', 'x^2+2\\cdot10^6x+10^{12}')).toBe(true);
  });

  it('two unparseable sides are equal only as the same string', () => {
    expect(eq('18 €', '18 €')).toBe(true);
    expect(eq('18 €', '18')).toBe(false);
    expect(eq('18', '18 €')).toBe(false);
  });
});
