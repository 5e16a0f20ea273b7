/**
 * A compact binary form for derived results kept in the store (db/009_derived_cache.sql): the value's JSON
 * skeleton, with every Float64Array, Float32Array and long plain number array moved into a binary tail, so a
 * 100-language analysis (millions of numbers) is written and read back in milliseconds and numbers stay exact
 * (JSON would round-trip them but costs seconds at this size, and turns NaN and infinities into null).
 *
 * Layout: "RSV1", u32 JSON byte length, the JSON (UTF-8), zero padding to 8 bytes, then the arrays' bytes, each
 * starting at a multiple of 8. Maps, Sets and other class instances are refused when encoding rather than silently
 * flattened. Anything malformed when decoding is a 'corrupt' StoreError, which callers treat as a cache miss.
 */
import { StoreError } from './errors.js';

const MAGIC = 'RSV1';
/** Plain number arrays at least this long go to the binary tail. */
const PACK_MIN = 32;
/** Tags: keys no JSON written by this project starts with. */
const F64 = '\u0000f64';
const F32 = '\u0000f32';
const NUMS = '\u0000nums';
const NUM = '\u0000num';

const align8 = (n: number) => (n + 7) & ~7;

export function encodeValue(value: unknown): Buffer {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const put = (bytes: Uint8Array): [number, number] => {
    const at = offset;
    chunks.push(bytes);
    const padded = align8(bytes.byteLength);
    if (padded > bytes.byteLength) chunks.push(new Uint8Array(padded - bytes.byteLength));
    offset += padded;
    return [at, bytes.byteLength];
  };
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number') return Number.isFinite(v) ? v : { [NUM]: String(v) };
    if (v === null || typeof v !== 'object') return v;
    if (v instanceof Float64Array) return { [F64]: put(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
    if (v instanceof Float32Array) return { [F32]: put(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
    if (Array.isArray(v)) {
      if (v.length >= PACK_MIN && v.every((x) => typeof x === 'number')) {
        const f = Float64Array.from(v as number[]);
        return { [NUMS]: put(new Uint8Array(f.buffer)) };
      }
      return v;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new TypeError(`encodeValue: cannot store a ${(v as object).constructor?.name ?? 'class instance'} (only plain objects, arrays, numbers, strings, booleans, null and Float64/Float32 arrays)`);
    return v;
  });
  const head = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(align8(8 + head.byteLength));
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(head.byteLength, 4);
  head.copy(prefix, 8);
  return Buffer.concat([prefix, ...chunks]);
}

function corrupt(why: string): never {
  throw new StoreError('corrupt', `stored derived value is unreadable: ${why}`);
}

export function decodeValue(buf: Uint8Array): unknown {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.byteLength < 8 || b.toString('latin1', 0, 4) !== MAGIC) corrupt('not an RSV1 value');
  const jsonLen = b.readUInt32LE(4);
  if (8 + jsonLen > b.byteLength) corrupt(`its JSON part (${jsonLen} bytes) runs past the end (${b.byteLength} bytes)`);
  const tail = align8(8 + jsonLen);
  const slice = (ref: unknown, width: number): ArrayBuffer => {
    if (!Array.isArray(ref) || ref.length !== 2 || !Number.isInteger(ref[0]) || !Number.isInteger(ref[1])) corrupt('bad array reference');
    const [at, len] = ref as [number, number];
    if (at < 0 || len < 0 || len % width !== 0 || tail + at + len > b.byteLength) corrupt(`array reference [${at}, ${len}] outside the value`);
    // A copy: aligned for the typed array, and independent of the row's buffer.
    const out = new ArrayBuffer(len);
    new Uint8Array(out).set(b.subarray(tail + at, tail + at + len));
    return out;
  };
  let json: string;
  try {
    json = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(8, 8 + jsonLen));
  } catch {
    corrupt('its JSON part is not UTF-8');
  }
  try {
    return JSON.parse(json, (_key, v: unknown) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
      const o = v as Record<string, unknown>;
      if (F64 in o) return new Float64Array(slice(o[F64], 8));
      if (F32 in o) return new Float32Array(slice(o[F32], 4));
      if (NUMS in o) return Array.from(new Float64Array(slice(o[NUMS], 8)));
      if (NUM in o) return Number(o[NUM]);
      return v;
    }) as unknown;
  } catch (err) {
    if (err instanceof StoreError) throw err;
    corrupt(`its JSON part does not parse (${(err as Error).message})`);
  }
}
