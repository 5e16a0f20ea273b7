/**
 * The few Python string and number semantics the reference scorers rely on, written out so that our verdicts
 * match theirs character for character: str.isspace / strip / split(), and float() parsing, which reads the
 * decimal digits of every script (Bengali ৩, Thai ๓, Arabic-Indic ٣, full-width ３) because CPython turns any
 * Unicode decimal digit (category Nd) into its ASCII digit and any Unicode space into ' ' before parsing.
 */

/** Characters for which Python's str.isspace() is true (Unicode Zs, bidi classes WS/B/S). */
// \x0b, not \v: Stryker's regex mutator turns \v into \V, which a /u pattern rejects as a syntax error, and that
// error would fail the whole module at load instead of one mutant.
const PY_SPACE = /[\t\n\x0b\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const PY_SPACE_RUN = new RegExp(`${PY_SPACE.source}+`, 'gu');
const PY_LEADING = new RegExp(`^${PY_SPACE.source}+`, 'u');
const PY_TRAILING = new RegExp(`${PY_SPACE.source}+$`, 'u');

export function pyIsSpace(ch: string): boolean {
  return PY_SPACE.test(ch);
}

/** Python's str.strip() with no argument. */
export function pyStrip(s: string): string {
  return s.replace(PY_LEADING, '').replace(PY_TRAILING, '');
}

/** Python's str.split() with no argument: split on runs of whitespace, no empty pieces. */
export function pySplit(s: string): string[] {
  return pyStrip(s).split(PY_SPACE_RUN).filter((w) => w !== '');
}

const DECIMAL_DIGIT = /^\p{Nd}$/u;

/**
 * The value 0-9 of a Unicode decimal digit, or -1. Unicode encodes every Nd digit set as a contiguous run
 * 0..9, and runs that touch (the mathematical digit styles U+1D7CE-1D7FF) each start at their zero, so the
 * value is the distance from the start of the contiguous Nd stretch, modulo 10.
 */
export function decimalValue(ch: string): number {
  if (!DECIMAL_DIGIT.test(ch)) return -1;
  let cp = ch.codePointAt(0)!;
  const at = cp;
  while (DECIMAL_DIGIT.test(String.fromCodePoint(cp - 1))) cp--;
  return (at - cp) % 10;
}

/** Python float() literal grammar after the ASCII transform (underscores only between digits). */
const FLOAT_LITERAL = /^[+-]?(?:(?:\d(?:_?\d)*)(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const FLOAT_SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;

/** Python's float(str): the number, or null where Python raises ValueError. */
export function pyFloat(text: string): number | null {
  let ascii = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp < 128) ascii += ch;
    else if (pyIsSpace(ch)) ascii += ' ';
    else {
      const d = decimalValue(ch);
      if (d < 0) return null;
      ascii += String(d);
    }
  }
  // CPython strips only ASCII whitespace here (Unicode spaces were turned into ' ' above).
  const s = ascii.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
  const special = FLOAT_SPECIAL.exec(s);
  if (special) {
    if (special[2]!.toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  if (!FLOAT_LITERAL.test(s)) return null;
  return Number(s.replace(/_/g, ''));
}

/** Python's math.isclose(a, b, rel_tol) with abs_tol 0. */
export function pyIsClose(a: number, b: number, relTol: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  const diff = Math.abs(b - a);
  return diff <= Math.abs(relTol * b) || diff <= Math.abs(relTol * a);
}
