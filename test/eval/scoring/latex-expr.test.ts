/**
 * The LaTeX/plain math parser and evaluators behind symbolic equality, on their own: values worked out by hand
 * (TeX's reading of \frac12, sympy's of 2^-1, -2^2 and a_1), parse failures, and the work limits.
 */
import { describe, expect, it } from 'vitest';
import { Budget, BudgetExceeded, evalExact, evalFloat, MAX_SYMBOLIC_LENGTH, parseMath, variables, type Parsed } from '../../../src/eval/scoring/latex-expr.js';

const parse = (s: string): Parsed | null => parseMath(s, new Budget());
const expr = (s: string) => {
  const p = parse(s);
  if (!p) throw new Error(`${s} does not parse`);
  return p.expr;
};
const exact = (s: string) => evalExact(expr(s), new Budget());
const float = (s: string, env: Record<string, number> = {}) => evalFloat(expr(s), new Map(Object.entries(env)), new Budget());
const vars = (s: string) => [...variables(expr(s))].sort();

describe('exact values (rationals)', () => {
  it.each([
    ['1+2*3', 7n, 1n],
    ['7-2-1', 4n, 1n], // left-associative
    ['8/2/2', 2n, 1n],
    ['6/4', 3n, 2n],
    ['2\\cdot3', 6n, 1n],
    ['2\\times3', 6n, 1n],
    ['6\\div4', 3n, 2n],
    ['2*3', 6n, 1n],
    ['2**3', 8n, 1n], // Python's power
    ['2^3^2', 512n, 1n], // right-associative: 2^9
    ['-2^2', -4n, 1n], // the minus applies to 2^2
    ['2^-1', 1n, 2n],
    ['2^+2', 4n, 1n],
    ['2^{-2}', 1n, 4n],
    ['+5', 5n, 1n],
    ['-5', -5n, 1n],
    ['--5', 5n, 1n],
    ['-+5', -5n, 1n],
    ['12.5', 25n, 2n],
    ['.25', 1n, 4n],
    ['(1+2)(3+4)', 21n, 1n], // implicit multiplication
    ['2(3)', 6n, 1n],
    ['2{3}', 6n, 1n],
    ['2[3]', 6n, 1n],
    ['[2]', 2n, 1n],
    ['\\{1+2\\}', 3n, 1n], // \{ \} group like braces
    ['1~+~2', 3n, 1n], // ~ is deleted, as latex2sympy does
    ['\\frac{1}{2}', 1n, 2n],
    ['\\dfrac{3}{4}', 3n, 4n],
    ['\\tfrac{3}{4}', 3n, 4n],
    ['\\frac12', 1n, 2n], // TeX: one token per argument
    ['\\frac123', 3n, 2n], // \frac{1}{2} times 3
    ['3\\frac12', 3n, 2n],
    ['\\sqrt4', 2n, 1n],
    ['\\sqrt{4/9}', 2n, 3n],
    ['\\sqrt{0}', 0n, 1n],
    ['\\sqrt{1}', 1n, 1n],
    ['\\sqrt{8/2}', 2n, 1n],
    ['\\sqrt{(10^{20}+1)^2}', 10n ** 20n + 1n, 1n], // a double's square root is off here; the integer root is not
    ['\\sqrt{(10^{20}-1)^2}', 10n ** 20n - 1n, 1n],
    ['|-3/2|', 3n, 2n],
    ['|2|', 2n, 1n],
    ['\\left|-3\\right|', 3n, 1n],
    ['\\lfloor 7/2 \\rfloor', 3n, 1n],
    ['\\lfloor -7/2 \\rfloor', -4n, 1n],
    ['\\lfloor -3 \\rfloor', -3n, 1n],
    ['\\lceil 7/2 \\rceil', 4n, 1n],
    ['\\lceil -7/2 \\rceil', -3n, 1n],
    ['\\lceil 3 \\rceil', 3n, 1n],
    ['5!', 120n, 1n],
    ['0!', 1n, 1n],
    ['3!!', 720n, 1n], // (3!)!
    ['10^{2}\\cdot 10^{-2}', 1n, 1n],
    ['$18$', 18n, 1n],
  ])('%j = %d/%d', (s, n, d) => expect(exact(s)).toEqual({ n, d }));

  it.each([
    ['4^{1/2}'], // a non-integer power is not exact
    ['\\sqrt{2}'],
    ['\\sqrt{4/3}'],
    ['\\sqrt{2/9}'],
    ['\\sqrt{-4}'],
    ['\\sqrt{\\pi}'],
    ['|\\pi|'],
    ['\\sqrt[3]{4}'],
    ['\\sqrt[3]{8}'], // roots with an index go numeric
    ['(-1)!'],
    ['(1/2)!'],
    ['\\frac{1}{0}'],
    ['\\pi'],
    ['\\sin 0'],
  ])('%j has no exact value', (s) => expect(exact(s)).toBeNull());
});

describe('floating-point values', () => {
  it.each([
    ['\\pi', Math.PI],
    ['\\sin(\\pi/6)', 0.5],
    ['\\cos(\\pi/3)', 0.5],
    ['\\tan(\\pi/4)', 1],
    ['\\exp(1)', Math.E],
    ['\\ln 1', 0],
    ['\\log 1', 0], // a bare \log is the natural logarithm
    ['\\log(100)', Math.log(100)],
    ['\\log_2 8', 3],
    ['\\log_{10}1000', 3],
    ['\\sqrt[3]{-8}', -2], // an odd root of a negative is real
    ['\\sqrt[3]{27}', 3],
    ['\\sqrt[4]{16}', 2],
    ['4^{1/2}', 2],
  ])('%j = %d', (s, want) => expect(Math.abs(float(s) - want)).toBeLessThan(1e-12));

  it('functions of a bound variable', () => {
    expect(float('|x-3|', { x: 2.5 })).toBeCloseTo(0.5, 15);
    expect(float('\\lfloor x \\rfloor', { x: 2.5 })).toBe(2);
    expect(float('\\lceil x \\rceil', { x: 2.5 })).toBe(3);
    expect(float('x!', { x: 5 })).toBe(120);
    // 170! = 7.257415615307999e306 is the largest factorial a double holds.
    expect(Math.abs(float('x!', { x: 170 }) / 7.257415615307999e306 - 1)).toBeLessThan(1e-12);
    expect(float('x!', { x: 171 })).toBeNaN();
    expect(float('x!', { x: 2.5 })).toBeNaN();
    expect(float('x!', { x: -1 })).toBeNaN();
    expect(float('\\sqrt{x}', { x: -4 })).toBeNaN();
    expect(float('a_12', { 'a_{1}': 3 })).toBe(6); // a_{1} times 2
    expect(float('\\alpha_0', { '\\alpha_{0}': 4 })).toBe(4);
    expect(float('y')).toBeNaN(); // unbound
    expect(float('\\sqrt[4]{-16}')).toBeNaN(); // an even root of a negative is not real
    expect(float('\\frac x2', { x: 3 })).toBe(1.5); // a symbol as a one-token argument
  });
});

describe('variables', () => {
  it('collects symbols under every kind of node, subscripts in the name', () => {
    expect(vars('-x')).toEqual(['x']);
    expect(vars('\\sin x')).toEqual(['x']);
    expect(vars('\\sqrt[n]{x}')).toEqual(['n', 'x']);
    expect(vars('|y|+2')).toEqual(['y']);
    expect(vars('a_1+b_{n+1}')).toEqual(['a_{1}', 'b_{n+1}']);
    expect(vars('a_12')).toEqual(['a_{1}']);
    expect(vars('a_x+c_\\alpha')).toEqual(['a_{x}', 'c_{\\alpha}']);
    expect(vars('\\pi+2')).toEqual([]);
    expect(vars('a_{\\alpha}')).toEqual(['a_{\\alpha}']); // a command inside a braced subscript keeps its backslash
    expect(vars('x_')).toEqual(['x']); // a subscript mark at the end is dropped
    expect(() => parse('a_{1')).not.toThrow(); // an unclosed subscript brace ends at the input's end
  });

  it.each(['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'varepsilon', 'zeta', 'eta', 'theta', 'vartheta', 'iota', 'kappa', 'lambda', 'mu', 'nu', 'xi', 'rho', 'sigma', 'tau', 'upsilon', 'phi', 'varphi', 'chi', 'psi', 'omega'])(
    '\\%s is a symbol',
    (g) => expect(vars(`2\\${g}`)).toEqual([`\\${g}`]),
  );
});

describe('spacing and sizing commands are ignored', () => {
  it.each(['left', 'right', 'displaystyle', ',', ';', ':', '!', ' ', 'quad', 'qquad', 'big', 'Big', 'bigl', 'bigr', 'Bigl', 'Bigr'])(
    '2+\\%s3 = 5',
    (c) => expect(exact(`2+\\${c} 3`)).toEqual({ n: 5n, d: 1n }),
  );
});

describe('what does not parse', () => {
  it.each([
    [''], ['   '], ['1+'], ['2*'], ['-'], ['(1'], ['1)'], ['[1)'], ['|1'], ['{}'], ['=1'], ['1='], ['1=2=3'],
    ['\\frac{1}'], ['\\frac1'], ['\\sqrt[3{8}'], ['\\sqrt'], ['\\lfloor 3'], ['\\lfloor 3 \\rceil'], ['\\lfloor 3 )'],
    ['\\log_'], ['\\log_2'], ['\\sin'], ['2^'], ['\\text{5}'], ['\\$5'], ['\\foo'], ['1,000'], ['18 €'], ['..'], ['.x5'],
    ['5\\'], ['2\\cdot'], ['2+*3'],
  ])('%j', (s) => expect(parse(s)).toBeNull());

  it('an equation is a left and a right side', () => {
    const p = parse('x=1');
    expect(p?.rhs).toBeDefined();
    expect(vars('x')).toEqual(['x']);
  });
});

describe('work limits', () => {
  it('many sibling terms are not "nesting": a 100-term sum and a 60-factor product parse', () => {
    expect(exact(Array(100).fill('1').join('+'))).toEqual({ n: 100n, d: 1n });
    expect(exact(Array(60).fill('2^1').join('\\cdot'))).toEqual({ n: 2n ** 60n, d: 1n });
    expect(exact(Array(60).fill('(1)').join('+'))).toEqual({ n: 60n, d: 1n }); // 60 groups, each one level deep
  });

  it(`reads inputs of up to ${MAX_SYMBOLIC_LENGTH} characters`, () => {
    const s = `${Array(500).fill('1').join('+')} `; // 999 characters and a space
    expect(s.length).toBe(MAX_SYMBOLIC_LENGTH);
    expect(exact(s)).toEqual({ n: 500n, d: 1n });
    expect(() => parseMath(`${s}1`, new Budget())).toThrow('input too long');
  });

  it('the step limit allows exactly maxSteps steps', () => {
    const b = new Budget(3);
    b.step();
    b.step();
    b.step();
    expect(() => b.step()).toThrow(new BudgetExceeded('step limit'));
  });

  it('the clock is read every 1024 steps', () => {
    const b = new Budget(1e9, 0);
    const t = performance.now();
    while (performance.now() <= t + 0.05); // the 0 ms deadline has passed
    for (let i = 0; i < 1023; i++) b.step();
    expect(() => b.step()).toThrow('time limit');
    const roomy = new Budget(1e9, 1000);
    for (let i = 0; i < 4096; i++) roomy.step(); // well within a second
  });
});
