/** The binary form derived results are kept in (src/store/value-codec.ts): exact round trips, refusals, corruption. */
import { describe, expect, it } from 'vitest';
import { decodeValue, encodeValue, StoreError } from '../../src/store/index.js';

describe('value codec', () => {
  it('round-trips typed arrays, long and short number arrays, NaN and infinities exactly', () => {
    const long = Array.from({ length: 100 }, (_, i) => Math.sin(i) / 3);
    long[7] = Number.NaN;
    const value = {
      f64: Float64Array.from([0.1, -0, 1e-300, Number.MAX_VALUE, Number.NaN]),
      f32: Float32Array.from([0.1, 3.5, -2]),
      long,
      short: [1.5, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null],
      nested: [{ name: 'ä中', tree: { children: [{ label: 'eng', height: 0 }] }, empty: new Float64Array(0) }],
      flag: true,
    };
    const back = decodeValue(encodeValue(value)) as typeof value;
    expect(back).toEqual(value);
    expect(back.f64).toBeInstanceOf(Float64Array);
    expect(back.f32).toBeInstanceOf(Float32Array);
    expect(Array.isArray(back.long)).toBe(true);
    expect(Object.is(back.f64[1], -0)).toBe(true);
    expect(back.long[7]).toBeNaN();
    expect(back.short).toEqual([1.5, Infinity, -Infinity, null]);
    // Bit-exact: the stored bytes are the numbers' own.
    expect(Buffer.from(back.f64.buffer).equals(Buffer.from(value.f64.buffer))).toBe(true);
  });

  it('reads a typed array that is a view into a larger buffer as just that view', () => {
    const big = new Float64Array([1, 2, 3, 4, 5]);
    const back = decodeValue(encodeValue({ v: big.subarray(1, 3) })) as { v: Float64Array };
    expect(Array.from(back.v)).toEqual([2, 3]);
  });

  it('refuses Maps, Sets and class instances rather than flattening them', () => {
    expect(() => encodeValue({ m: new Map([[1, 2]]) })).toThrow(/cannot store a Map/);
    expect(() => encodeValue({ s: new Set([1]) })).toThrow(/cannot store a Set/);
  });

  it('reports truncated, foreign and tampered bytes as corrupt', () => {
    const good = encodeValue({ v: new Float64Array(64).fill(2) });
    const cases = [Buffer.from('hello'), good.subarray(0, good.byteLength - 8), Buffer.concat([Buffer.from('XXXX'), good.subarray(4)])];
    const tampered = Buffer.from(good);
    tampered.writeUInt32LE(1_000_000, 4);
    cases.push(tampered);
    for (const c of cases) {
      try {
        decodeValue(c);
        throw new Error('expected a corrupt error');
      } catch (err) {
        expect(err).toBeInstanceOf(StoreError);
        expect((err as StoreError).code).toBe('corrupt');
      }
    }
  });
});
