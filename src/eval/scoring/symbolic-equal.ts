/**
 * Symbolic equality, standing in for the reference grader's sympy step (parse both sides, then: same
 * expression, simplify(a - b) == 0, equations compared as |lhs - rhs|, or numerically close with relative
 * tolerance 1e-4), run there in a subprocess with a 1 s limit that counts as "not equal".
 * Here: numbers are compared exactly (BigInt rationals) or, for irrational values, in floating point with the
 * same 1e-4 tolerance; expressions with variables are equal when they agree at several fixed pseudo-random
 * points, real and integer (an identity test; sympy's simplify can fail to prove some identities that this accepts). A Budget
 * bounds the work; running out of it is "not equal", as the reference's timeout is.
 */
import { Budget, BudgetExceeded, evalExact, evalFloat, parseMath, variables, type Expr, type Parsed } from './latex-expr.js';
import { equalsRational, isCloseRational } from './rational.js';
import { pyIsClose } from './python-text.js';

export const REL_TOL = 1e-4;
/** Identity test tolerance at sample points (much tighter than REL_TOL: it decides identities, not rounding). */
const POINT_TOL = 1e-9;
const SAMPLE_POINTS = 7;

export interface SymbolicOptions {
  /** Wall-clock limit per comparison in ms (the reference's subprocess limit is 1 s). */
  timeLimitMs?: number;
  maxSteps?: number;
}

function samplePoints(vars: string[]): Map<string, number>[] {
  // Fixed LCG seed: the same inputs always get the same verdict.
  let s = 20260101;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const real = Array.from({ length: SAMPLE_POINTS }, () => new Map(vars.map((v) => [v, 0.3 + 2.4 * rand()])));
  // Integer points too, where expressions such as (-1)^n or n! are only defined there.
  const integer = Array.from({ length: SAMPLE_POINTS }, () => new Map(vars.map((v) => [v, 1 + Math.floor(6 * rand())])));
  return [...real, ...integer];
}

function difference(p: Parsed): Expr {
  return p.rhs ? { k: 'bin', op: '-', a: p.expr, b: p.rhs } : p.expr;
}

function sameEverywhere(a: Expr, b: Expr, budget: Budget, absolute: boolean): boolean {
  const vars = [...variables(a, variables(b))];
  let usable = 0;
  for (const env of samplePoints(vars)) {
    let x = evalFloat(a, env, budget);
    let y = evalFloat(b, env, budget);
    if (absolute) [x, y] = [Math.abs(x), Math.abs(y)];
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
    if (Math.abs(x - y) > POINT_TOL * Math.max(1, Math.abs(x), Math.abs(y))) return false;
    usable++;
  }
  return usable >= 3;
}

function compareNumbers(a: Expr, b: Expr, budget: Budget): boolean {
  const ea = evalExact(a, budget);
  const eb = evalExact(b, budget);
  if (ea && eb) return equalsRational(ea, eb) || isCloseRational(ea, eb, 1n, 10_000n);
  const fa = evalFloat(a, new Map(), budget);
  const fb = evalFloat(b, new Map(), budget);
  // A value that overflowed or is undefined cannot be decided (sympy would time out or fail): not equal.
  return Number.isFinite(fa) && Number.isFinite(fb) && pyIsClose(fa, fb, REL_TOL);
}

/** The verdict and, when the work limit ended it, why. */
export interface SymbolicVerdict {
  equal: boolean;
  limit?: string;
}

export function symbolicEqual(a: string, b: string, opts: SymbolicOptions = {}): SymbolicVerdict {
  const budget = new Budget(opts.maxSteps, opts.timeLimitMs);
  try {
    const pa = parseMath(a, budget);
    const pb = parseMath(b, budget);
    // The reference keeps an unparseable side as its string; two equal strings are equal, nothing else is.
    if (!pa || !pb) return { equal: !pa && !pb && a === b };
    if (!!pa.rhs !== !!pb.rhs) return { equal: false };
    const da = difference(pa);
    const db = difference(pb);
    const hasVars = variables(da).size > 0 || variables(db).size > 0;
    if (pa.rhs) return { equal: sameEverywhere(da, db, budget, true) };
    return { equal: hasVars ? sameEverywhere(da, db, budget, false) : compareNumbers(da, db, budget) };
  } catch (err) {
    if (err instanceof BudgetExceeded) return { equal: false, limit: err.message };
    if (err instanceof RangeError) return { equal: false, limit: 'recursion' };
    throw err;
  }
}
