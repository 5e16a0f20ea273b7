/**
 * A small parser and evaluator for the LaTeX (and plain) math that answers are written in: numbers, + - * / ^,
 * \frac (also \dfrac, \tfrac, \frac12), \sqrt and \sqrt[n], \cdot, \times, \div, \pi, \sin \cos \tan \ln \log
 * \exp (\log_b), |x|, \lfloor \rfloor, \lceil \rceil, n!, subscripted symbols (a_1, c_{n}), implicit multiplication
 * (2x, 2\sqrt{3}), parentheses/braces/brackets as grouping, and one top-level "=".
 * It stands in for the sympy LaTeX parser the reference grader uses. Anything it does not know (units, \text,
 * non-ASCII characters, tuples, intervals) is a parse failure. Every step draws on a Budget so that a
 * pathological input ends quickly with "undecided" instead of hanging.
 */
import { add, div, fromDecimal, mul, powInt, rational, sub, toNumber, type Rational } from './rational.js';

export type Expr =
  | { k: 'num'; text: string }
  | { k: 'const'; name: 'pi' }
  | { k: 'var'; name: string }
  | { k: 'neg'; a: Expr }
  | { k: 'bin'; op: '+' | '-' | '*' | '/' | '^'; a: Expr; b: Expr }
  | { k: 'sqrt'; a: Expr; index?: Expr }
  | { k: 'fn'; name: 'sin' | 'cos' | 'tan' | 'ln' | 'exp' | 'abs' | 'floor' | 'ceil' | 'fact'; a: Expr };

export interface Parsed {
  /** A single expression, or an equation lhs = rhs. */
  expr: Expr;
  rhs?: Expr;
}

export class BudgetExceeded extends Error {}

/** Work limits for one comparison: parser/evaluator steps, nesting depth and a wall-clock deadline. */
export class Budget {
  private steps = 0;
  private readonly deadline: number;
  constructor(readonly maxSteps = 200_000, timeLimitMs = 1000, readonly maxDepth = 100) {
    this.deadline = performance.now() + timeLimitMs;
  }
  step(): void {
    this.steps++;
    if (this.steps > this.maxSteps) throw new BudgetExceeded('step limit');
    if ((this.steps & 1023) === 0 && performance.now() > this.deadline) throw new BudgetExceeded('time limit');
  }
}

/** Longest input the symbolic comparison reads (longer answers are treated as undecidable, i.e. not equal). */
export const MAX_SYMBOLIC_LENGTH = 1000;

type Tok = { t: 'num'; v: string } | { t: 'id'; v: string } | { t: 'cmd'; v: string } | { t: 'op'; v: string };

const IGNORED_COMMANDS = new Set(['left', 'right', 'displaystyle', ',', ';', ':', '!', ' ', 'quad', 'qquad', 'big', 'Big', 'bigl', 'bigr', 'Bigl', 'Bigr']);
const GREEK = new Set(['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'varepsilon', 'zeta', 'eta', 'theta', 'vartheta', 'iota', 'kappa', 'lambda', 'mu', 'nu', 'xi', 'rho', 'sigma', 'tau', 'upsilon', 'phi', 'varphi', 'chi', 'psi', 'omega']);

function tokenize(s: string, budget: Budget): Tok[] | null {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    budget.step();
    const c = s[i]!;
    // Whitespace, and "$" and "~", which the grader's third parser (latex2sympy) deletes before parsing: so a
    // bare "$18" reads as 18 while "\$18" (an unknown command) does not parse.
    if (/\s/.test(c) || c === '$' || c === '~') { i++; continue; }
    if (/[0-9.]/.test(c)) {
      const m = /^(\d+\.?\d*|\.\d+)/.exec(s.slice(i));
      if (!m) return null;
      out.push({ t: 'num', v: m[1]! });
      i += m[1]!.length;
      continue;
    }
    if (/[A-Za-z]/.test(c)) { out.push({ t: 'id', v: c }); i++; continue; }
    if (c === '\\') {
      const m = /^\\([A-Za-z]+|.)/.exec(s.slice(i));
      if (!m) return null;
      const name = m[1]!;
      i += m[0].length;
      if (name === '{' || name === '}') out.push({ t: 'op', v: name === '{' ? '{' : '}' });
      else if (!IGNORED_COMMANDS.has(name)) out.push({ t: 'cmd', v: name });
      continue;
    }
    if (c === '*' && s[i + 1] === '*') { out.push({ t: 'op', v: '^' }); i += 2; continue; }
    if ('+-*/^(){}[]=_!|'.includes(c)) { out.push({ t: 'op', v: c }); i++; continue; }
    return null; // anything else (units, currency, commas, non-ASCII) is not an expression
  }
  return out;
}

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly toks: Tok[], private readonly budget: Budget) {}

  parse(): Parsed | null {
    const expr = this.expr();
    if (!expr) return null;
    if (this.atOp('=')) {
      this.pos++;
      const rhs = this.expr();
      if (!rhs || this.pos !== this.toks.length) return null;
      return { expr, rhs };
    }
    return this.pos === this.toks.length ? { expr } : null;
  }

  private peek(): Tok | undefined {
    return this.toks[this.pos];
  }
  private atOp(v: string): boolean {
    const t = this.peek();
    return t?.t === 'op' && t.v === v;
  }
  private enter(): void {
    this.budget.step();
    if (++this.depth > this.budget.maxDepth) throw new BudgetExceeded('nesting too deep');
  }

  private expr(): Expr | null {
    this.enter();
    let left = this.term();
    while (left && (this.atOp('+') || this.atOp('-'))) {
      const op = (this.toks[this.pos++] as { v: '+' | '-' }).v;
      const right = this.term();
      if (!right) return null;
      left = { k: 'bin', op, a: left, b: right };
    }
    this.depth--;
    return left;
  }

  private startsPrimary(): boolean {
    const t = this.peek();
    if (!t) return false;
    // Numbers and symbols fall through to the last line (their text is never one of those commands).
    if (t.t === 'op') return t.v === '(' || t.v === '{' || t.v === '[';
    return !['cdot', 'times', 'div', 'rfloor', 'rceil'].includes(t.v);
  }

  private term(): Expr | null {
    let left = this.unary();
    while (left) {
      const t = this.peek();
      let op: '*' | '/' | null = null;
      if (t?.t === 'op' && (t.v === '*' || t.v === '/')) op = t.v;
      else if (t?.t === 'cmd' && (t.v === 'cdot' || t.v === 'times')) op = '*';
      else if (t?.t === 'cmd' && t.v === 'div') op = '/';
      if (op) {
        this.pos++;
        const right = this.unary();
        if (!right) return null;
        left = { k: 'bin', op, a: left, b: right };
      } else if (this.startsPrimary()) {
        const right = this.power(); // implicit multiplication binds like *, without a sign
        if (!right) return null;
        left = { k: 'bin', op: '*', a: left, b: right };
      } else break;
    }
    return left;
  }

  private unary(): Expr | null {
    this.enter();
    let result: Expr | null;
    if (this.atOp('-') || this.atOp('+')) {
      const neg = this.atOp('-');
      this.pos++;
      const a = this.unary();
      result = a && neg ? { k: 'neg', a } : a;
    } else result = this.power();
    this.depth--;
    return result;
  }

  private power(): Expr | null {
    let base = this.primary();
    while (base && this.atOp('!')) {
      this.pos++;
      base = { k: 'fn', name: 'fact', a: base };
    }
    if (!base || !this.atOp('^')) return base;
    this.pos++;
    this.enter();
    const exp = this.atOp('-') || this.atOp('+') ? this.unary() : this.power(); // right-associative
    this.depth--;
    return exp ? { k: 'bin', op: '^', a: base, b: exp } : null;
  }

  /** A braced group, or a single token argument as in \frac12 or \sqrt2. */
  private argument(): Expr | null {
    const t = this.peek();
    if (!t) return null;
    if (t.t === 'num') {
      this.pos++;
      if (t.v.length === 1) return { k: 'num', text: t.v };
      // \frac123 reads "1" and leaves "23" for the next argument, as TeX does.
      this.toks.splice(this.pos, 0, { t: 'num', v: t.v.slice(1) });
      return { k: 'num', text: t.v[0]! };
    }
    return this.primary(); // a braced group {...}, a symbol, or a command such as \pi
  }

  /** A symbol's name with its subscript, if any: a_1, c_{n+1} (the subscript is part of the name, as in sympy). */
  private subscripted(name: string): string {
    if (!this.atOp('_')) return name;
    this.pos++;
    const t = this.peek();
    if (!t) return name;
    if (t.t === 'op' && t.v === '{') {
      let depth = 0;
      let text = '';
      for (; this.pos < this.toks.length; this.pos++) {
        this.budget.step();
        const u = this.toks[this.pos]!;
        if (u.t === 'op' && u.v === '{') depth++;
        if (u.t === 'op' && u.v === '}') depth--;
        text += u.t === 'cmd' ? `\\${u.v}` : u.v;
        if (depth === 0) break;
      }
      this.pos++;
      return `${name}_{${text.slice(1, -1)}}`;
    }
    this.pos++;
    // a_1 and a_{1} are one symbol (sympy names both a_{1}); a_12 is a_{1} times 2, as in TeX.
    if (t.t === 'num' && t.v.length > 1) this.toks.splice(this.pos, 0, { t: 'num', v: t.v.slice(1) });
    return `${name}_{${t.t === 'num' ? t.v[0] : t.t === 'cmd' ? `\\${t.v}` : t.v}}`;
  }

  private primary(): Expr | null {
    this.enter();
    const r = this.primaryInner();
    this.depth--;
    return r;
  }

  private primaryInner(): Expr | null {
    const t = this.peek();
    if (!t) return null;
    this.pos++;
    if (t.t === 'num') return fromDecimal(t.v) ? { k: 'num', text: t.v } : null;
    if (t.t === 'id') return { k: 'var', name: this.subscripted(t.v) };
    if (t.t === 'op' && t.v === '|') {
      const inner = this.expr();
      if (!inner || !this.atOp('|')) return null;
      this.pos++;
      return { k: 'fn', name: 'abs', a: inner };
    }
    if (t.t === 'op') {
      const close = t.v === '(' ? ')' : t.v === '{' ? '}' : t.v === '[' ? ']' : null;
      if (!close) return null;
      const inner = this.expr();
      if (!inner || !this.atOp(close)) return null;
      this.pos++;
      return inner;
    }
    switch (t.v) {
      case 'frac': case 'dfrac': case 'tfrac': {
        const a = this.argument();
        const b = a && this.argument();
        return a && b ? { k: 'bin', op: '/', a, b } : null;
      }
      case 'sqrt': {
        let index: Expr | undefined;
        if (this.atOp('[')) {
          this.pos++;
          const ix = this.expr();
          if (!ix || !this.atOp(']')) return null;
          this.pos++;
          index = ix;
        }
        const a = this.argument();
        return a ? { k: 'sqrt', a, index } : null;
      }
      case 'pi': return { k: 'const', name: 'pi' };
      case 'log': {
        // \log_b x = ln x / ln b; a bare \log is the natural logarithm, as sympy reads it.
        let base: Expr | null = null;
        if (this.atOp('_')) {
          this.pos++;
          base = this.argument();
          if (!base) return null;
        }
        const a = this.power();
        if (!a) return null;
        const ln: Expr = { k: 'fn', name: 'ln', a };
        return base ? { k: 'bin', op: '/', a: ln, b: { k: 'fn', name: 'ln', a: base } } : ln;
      }
      case 'sin': case 'cos': case 'tan': case 'ln': case 'exp': {
        const a = this.power();
        return a ? { k: 'fn', name: t.v, a } : null;
      }
      case 'lfloor': case 'lceil': {
        const inner = this.expr();
        const close = this.peek();
        if (!inner || close?.t !== 'cmd' || close.v !== (t.v === 'lfloor' ? 'rfloor' : 'rceil')) return null;
        this.pos++;
        return { k: 'fn', name: t.v === 'lfloor' ? 'floor' : 'ceil', a: inner };
      }
      default:
        return GREEK.has(t.v) ? { k: 'var', name: this.subscripted(`\\${t.v}`) } : null;
    }
  }
}

/** Parses LaTeX or plain math; null when it is not an expression this parser knows. Throws BudgetExceeded. */
export function parseMath(text: string, budget: Budget): Parsed | null {
  if (text.length > MAX_SYMBOLIC_LENGTH) throw new BudgetExceeded('input too long');
  const toks = tokenize(text, budget);
  if (!toks || toks.length === 0) return null;
  return new Parser(toks, budget).parse();
}

export function variables(e: Expr, into = new Set<string>()): Set<string> {
  switch (e.k) {
    case 'var': into.add(e.name); break;
    case 'neg': case 'fn': variables(e.a, into); break;
    case 'sqrt': variables(e.a, into); if (e.index) variables(e.index, into); break;
    case 'bin': variables(e.a, into); variables(e.b, into); break;
    default: break;
  }
  return into;
}

/** Exact value when the expression is a rational number reachable by + - * / and integer powers; else null. */
export function evalExact(e: Expr, budget: Budget): Rational | null {
  budget.step();
  switch (e.k) {
    case 'num': return fromDecimal(e.text);
    case 'neg': { const a = evalExact(e.a, budget); return a && { n: -a.n, d: a.d }; }
    case 'bin': {
      const a = evalExact(e.a, budget);
      if (!a) return null;
      const b = evalExact(e.b, budget);
      if (!b) return null;
      switch (e.op) {
        case '+': return add(a, b);
        case '-': return sub(a, b);
        case '*': return mul(a, b);
        case '/': return div(a, b);
        case '^': return b.d === 1n ? powInt(a, b.n) : null;
      }
      return null;
    }
    case 'fn': {
      if (!['abs', 'floor', 'ceil', 'fact'].includes(e.name)) return null;
      const a = evalExact(e.a, budget);
      if (!a) return null;
      if (e.name === 'abs') return { n: a.n < 0n ? -a.n : a.n, d: a.d };
      if (e.name === 'fact') return a.d === 1n && a.n >= 0n && a.n <= 1000n ? factorial(a.n, budget) : null;
      const q = a.n / a.d; // BigInt division truncates toward zero
      const r = a.n % a.d;
      if (r === 0n) return { n: q, d: 1n };
      return { n: e.name === 'floor' ? (a.n < 0n ? q - 1n : q) : a.n < 0n ? q : q + 1n, d: 1n };
    }
    case 'sqrt': {
      // Exact only for perfect squares (sqrt(4/9) = 2/3); everything else goes numeric.
      if (e.index) return null;
      const a = evalExact(e.a, budget);
      if (!a || a.n < 0n) return null;
      const rn = isqrt(a.n);
      const rd = isqrt(a.d);
      return rn * rn === a.n && rd * rd === a.d ? { n: rn, d: rd } : null;
    }
    default: return null;
  }
}

function factorial(n: bigint, budget: Budget): Rational | null {
  let f = 1n;
  for (let i = 2n; i <= n; i++) {
    budget.step();
    f *= i;
  }
  return rational(f);
}

function isqrt(x: bigint): bigint {
  if (x < 2n) return x;
  let r = BigInt(Math.floor(Math.sqrt(Number(x))));
  while (r * r > x) r--;
  while ((r + 1n) * (r + 1n) <= x) r++;
  return r;
}

/** Floating-point value with the variables bound by env (NaN where undefined, e.g. sqrt of a negative). */
export function evalFloat(e: Expr, env: Map<string, number>, budget: Budget): number {
  budget.step();
  switch (e.k) {
    case 'num': { const r = fromDecimal(e.text); return r ? toNumber(r) : NaN; }
    case 'const': return Math.PI;
    case 'var': return env.get(e.name) ?? NaN;
    case 'neg': return -evalFloat(e.a, env, budget);
    case 'bin': {
      const a = evalFloat(e.a, env, budget);
      const b = evalFloat(e.b, env, budget);
      switch (e.op) {
        case '+': return a + b;
        case '-': return a - b;
        case '*': return a * b;
        case '/': return a / b;
        case '^': return Math.pow(a, b);
      }
      return NaN;
    }
    case 'sqrt': {
      const a = evalFloat(e.a, env, budget);
      if (!e.index) return Math.sqrt(a);
      const n = evalFloat(e.index, env, budget);
      // Odd integer roots of negatives are real (sqrt[3]{-8} = -2).
      if (a < 0 && Number.isInteger(n) && n % 2 !== 0) return -Math.pow(-a, 1 / n);
      return Math.pow(a, 1 / n);
    }
    case 'fn': {
      const a = evalFloat(e.a, env, budget);
      switch (e.name) {
        case 'sin': return Math.sin(a);
        case 'cos': return Math.cos(a);
        case 'tan': return Math.tan(a);
        case 'ln': return Math.log(a);
        case 'exp': return Math.exp(a);
        case 'abs': return Math.abs(a);
        case 'floor': return Math.floor(a);
        case 'ceil': return Math.ceil(a);
        case 'fact': return Number.isInteger(a) && a >= 0 && a <= 170 ? factorialFloat(a) : NaN;
      }
    }
  }
  return NaN;
}

function factorialFloat(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}
