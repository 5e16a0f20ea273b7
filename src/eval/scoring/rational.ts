/** Exact rationals over BigInt, with a size cap so that a pathological input cannot grow numbers without bound. */

export interface Rational {
  n: bigint;
  d: bigint; // always > 0, gcd(n, d) = 1
}

/** Largest numerator/denominator size (bits) kept exact; beyond it the caller falls back to floating point. */
export const MAX_EXACT_BITS = 4096;

/** gcd(|a|, b) for b > 0 (rational() makes the denominator positive before it asks). */
function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function bits(x: bigint): number {
  return (x < 0n ? -x : x).toString(2).length;
}

/** A normalised rational, or null when it is too large to keep exact. */
export function rational(n: bigint, d: bigint = 1n): Rational | null {
  if (d === 0n) return null;
  if (d < 0n) [n, d] = [-n, -d];
  const g = gcd(n, d);
  if (g > 1n) [n, d] = [n / g, d / g];
  if (bits(n) > MAX_EXACT_BITS || bits(d) > MAX_EXACT_BITS) return null;
  return { n, d };
}

/** Exact value of a decimal literal such as "12.50" or ".5". */
export function fromDecimal(text: string): Rational | null {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) return null;
  const frac = m[2] ?? '';
  return rational(BigInt((m[1] || '0') + frac), 10n ** BigInt(frac.length));
}

export const add = (a: Rational, b: Rational) => rational(a.n * b.d + b.n * a.d, a.d * b.d);
export const sub = (a: Rational, b: Rational) => rational(a.n * b.d - b.n * a.d, a.d * b.d);
export const mul = (a: Rational, b: Rational) => rational(a.n * b.n, a.d * b.d);
export const div = (a: Rational, b: Rational) => (b.n === 0n ? null : rational(a.n * b.d, a.d * b.n));

/** a^k for an integer k, null when the result would exceed the size cap. */
export function powInt(a: Rational, k: bigint): Rational | null {
  if (k === 0n) return { n: 1n, d: 1n };
  if (k < 0n) return a.n === 0n ? null : powInt({ n: a.d * (a.n < 0n ? -1n : 1n), d: a.n < 0n ? -a.n : a.n }, -k);
  const size = BigInt(Math.max(bits(a.n), bits(a.d)));
  if (size > 1n && size * k > BigInt(MAX_EXACT_BITS)) return null;
  if (size <= 1n && k > 1_000_000n) return rational(a.n ** (k % 2n === 0n ? 2n : 1n), a.d); // |a| is 0 or 1
  return rational(a.n ** k, a.d ** k);
}

export function equalsRational(a: Rational, b: Rational): boolean {
  return a.n === b.n && a.d === b.d;
}

const absBig = (x: bigint) => (x < 0n ? -x : x);

/** Python's math.isclose(a, b, rel_tol = num/den) computed exactly: |a-b| <= tol * max(|a|, |b|). */
export function isCloseRational(a: Rational, b: Rational, tolNum: bigint, tolDen: bigint): boolean {
  const diff = absBig(a.n * b.d - b.n * a.d); // |a-b| * a.d * b.d
  const maxAbs = absBig(a.n) * b.d > absBig(b.n) * a.d ? absBig(a.n) * b.d : absBig(b.n) * a.d; // max * a.d * b.d
  return diff * tolDen <= tolNum * maxAbs;
}

export function toNumber(a: Rational): number {
  const n = Number(a.n);
  const d = Number(a.d);
  if (Number.isFinite(n) && Number.isFinite(d)) return n / d;
  // Scale both down to keep the ratio finite for very large parts.
  const shift = BigInt(Math.max(bits(a.n), bits(a.d)) - 1000);
  return Number(a.n >> shift) / Number(a.d >> shift);
}
