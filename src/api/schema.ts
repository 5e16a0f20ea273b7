/**
 * A tiny schema kit: one declaration gives the TypeScript type (Infer) and the runtime check of an API argument,
 * so the contract, the checks and the list of methods are written once. Failures are ApiArgErrors naming the
 * method and the field ("runs.rename: name must be a non-empty string, got 3"). Pure: the renderer imports it.
 */
import { ApiError } from './errors.js';

export interface Schema<T> {
  /** Checks `v`; `where` is "method: field" for messages. */
  check(v: unknown, method: string, field: string): T;
  readonly optional?: boolean;
}
export type Infer<S> = S extends Schema<infer T> ? T : never;

export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function fail(method: string, field: string, what: string, v: unknown): never {
  throw new ApiError('invalid-argument', `${method}: ${field} must be ${what}, got ${show(v)}`, { field });
}

export const s = {
  string(opts: { max?: number } = {}): Schema<string> {
    const max = opts.max ?? 10_000;
    return {
      check(v, m, f) {
        if (typeof v !== 'string' || v.trim() === '') fail(m, f, 'a non-empty string', v);
        if (v.length > max) fail(m, f, `at most ${max} characters`, v);
        return v;
      },
    };
  },
  int(opts: { min?: number; max?: number } = {}): Schema<number> {
    const min = opts.min ?? Number.MIN_SAFE_INTEGER;
    const what = min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer >= ${min}`;
    return {
      check(v, m, f) {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(m, f, what, v);
        if (opts.max !== undefined && v > opts.max) fail(m, f, `at most ${opts.max}`, v);
        return v;
      },
    };
  },
  number(opts: { min?: number; max?: number } = {}): Schema<number> {
    return {
      check(v, m, f) {
        if (typeof v !== 'number' || !Number.isFinite(v)) fail(m, f, 'a finite number', v);
        if (opts.min !== undefined && v < opts.min) fail(m, f, `at least ${opts.min}`, v);
        if (opts.max !== undefined && v > opts.max) fail(m, f, `at most ${opts.max}`, v);
        return v;
      },
    };
  },
  bool(): Schema<boolean> {
    return { check: (v, m, f) => (typeof v === 'boolean' ? v : fail(m, f, 'true or false', v)) };
  },
  oneOf<const T extends readonly string[]>(values: T): Schema<T[number]> {
    return {
      check: (v, m, f) => (values.includes(v as string) ? (v as T[number]) : fail(m, f, `one of ${values.join(', ')}`, v)),
    };
  },
  array<T>(item: Schema<T>, opts: { min?: number; unique?: boolean } = {}): Schema<T[]> {
    return {
      check(v, m, f) {
        if (!Array.isArray(v)) fail(m, f, 'an array', v);
        const out = v.map((x, i) => item.check(x, m, `${f}[${i}]`));
        if (opts.min !== undefined && out.length < opts.min) fail(m, f, `a list of at least ${opts.min}`, v);
        if (opts.unique && new Set(out).size !== out.length) throw new ApiError('invalid-argument', `${m}: ${f} lists an entry twice`, { field: f });
        return out;
      },
    };
  },
  optional<T>(inner: Schema<T>): Schema<T | undefined> & { readonly optional: true } {
    return { optional: true, check: (v, m, f) => (v === undefined ? undefined : inner.check(v, m, f)) };
  },
};

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K]['optional'] extends true ? K : never }[keyof S];
type ObjectOf<S extends Shape> = { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> };

/** The argument of a method: an object with exactly these fields (unknown fields are refused, not ignored). */
export function args<S extends Shape>(shape: S, opts: { optional?: boolean } = {}): Schema<ObjectOf<S>> {
  const allowed = Object.keys(shape);
  return {
    check(v, m) {
      if (v === undefined || v === null) {
        if (opts.optional || allowed.every((k) => shape[k]!.optional)) v = {};
        else throw new ApiError('invalid-argument', `${m}: expected an object argument with ${allowed.join(', ')}, got ${show(v)}`);
      }
      if (typeof v !== 'object' || Array.isArray(v)) throw new ApiError('invalid-argument', `${m}: expected an object argument, got ${show(v)}`);
      const o = v as Record<string, unknown>;
      const extra = Object.keys(o).filter((k) => !allowed.includes(k));
      if (extra.length) throw new ApiError('invalid-argument', `${m}: unknown field${extra.length > 1 ? 's' : ''} ${extra.join(', ')} (allowed: ${allowed.join(', ') || 'none'})`, { field: extra[0]! });
      const out: Record<string, unknown> = {};
      for (const k of allowed) {
        const val = shape[k]!.check(o[k], m, k);
        if (val !== undefined) out[k] = val;
      }
      return out as ObjectOf<S>;
    },
  };
}

/** A method that takes nothing (undefined, null or {}). */
export const none: Schema<void> = {
  check(v, m) {
    if (v !== undefined && v !== null && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)) {
      throw new ApiError('invalid-argument', `${m} takes no argument, got ${show(v)}`);
    }
  },
};
