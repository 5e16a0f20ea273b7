import { mkdtempSync, rmSync, writeFileSync, readFileSync, truncateSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolderError } from '../../src/engine/errors.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/numeric/float16.js';
import { readSafetensorsHeader, WeightStore } from '../../src/engine/safetensors.js';
import { writeSafetensors } from '../../src/engine/safetensors-writer.js';

const root = mkdtempSync(join(tmpdir(), 'rs-st-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name = 'x') => {
  const d = join(root, `${name}-${counter++}`);
  mkdirSync(d);
  return d;
};

/**
 * [value, float32 bits, float16 bits, bfloat16 bits] computed with torch 1.13 (`t.to(torch.float16/bfloat16)`).
 * Regenerate: `/usr/bin/python3 tools/reference-torch/torch_bits.py` (Debian python3-torch 1.13.1; its README.md).
 */
const TORCH_BITS: [number, number, number, number][] = [
  [1.0, 0x3f800000, 0x3c00, 0x3f80],
  [-2.0, 0xc0000000, 0xc000, 0xc000],
  [0.1, 0x3dcccccd, 0x2e66, 0x3dcd],
  [1 / 3, 0x3eaaaaab, 0x3555, 0x3eab],
  [65504.0, 0x477fe000, 0x7bff, 0x4780],
  [65519.0, 0x477fef00, 0x7bff, 0x4780],
  [65520.0, 0x477ff000, 0x7c00, 0x4780],
  [1e-8, 0x322bcc77, 0x0000, 0x322c],
  [2 ** -24, 0x33800000, 0x0001, 0x3380],
  [2 ** -25, 0x33000000, 0x0000, 0x3300],
  [3 * 2 ** -26, 0x33400000, 0x0001, 0x3340],
  [1 + 2 ** -11, 0x3f801000, 0x3c00, 0x3f80],
  [1 + 3 * 2 ** -11, 0x3f803000, 0x3c02, 0x3f80],
  [-0.0, 0x80000000, 0x8000, 0x8000],
  [1e5, 0x47c35000, 0x7c00, 0x47c3],
  [6.1e-5, 0x387fda40, 0x03ff, 0x3880],
  [3.14159265, 0x40490fdb, 0x4248, 0x4049],
  [-123.456, 0xc2f6e979, 0xd7b7, 0xc2f7],
  [2 ** -14, 0x38800000, 0x0400, 0x3880],
  [5.96e-8, 0x337ffae5, 0x0001, 0x3380],
  [1e38, 0x7e967699, 0x7c00, 0x7e96],
  [3.4e38, 0x7f7fc99e, 0x7c00, 0x7f80],
  [1 + 2 ** -8, 0x3f808000, 0x3c04, 0x3f80],
  [1 + 3 * 2 ** -8, 0x3f818000, 0x3c0c, 0x3f82],
  [Infinity, 0x7f800000, 0x7c00, 0x7f80],
];

function f32FromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0]!;
}

/** A safetensors file built byte by byte, so the tests can damage any part of it. */
function rawFile(path: string, header: unknown, data: Uint8Array | number, headerLenOverride?: bigint): void {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLenOverride ?? BigInt(json.length));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  writeFileSync(path, Buffer.concat([len, json, body]));
}

function expectModelError(fn: () => unknown, ...parts: (string | RegExp)[]): ModelFolderError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ModelFolderError);
  const msg = (caught as Error).message;
  for (const p of parts) {
    if (typeof p === 'string') expect(msg).toContain(p);
    else expect(msg).toMatch(p);
  }
  return caught as ModelFolderError;
}

describe('float16 / bfloat16 conversion', () => {
  it('narrows exactly like torch (round to nearest even)', () => {
    for (const [v, f32bits, f16, bf16] of TORCH_BITS) {
      expect(new Uint32Array(new Float32Array([v]).buffer)[0]).toBe(f32bits);
      expect(f32ToF16Bits(v), `f16 of ${v}`).toBe(f16);
      expect(f32ToBf16Bits(v), `bf16 of ${v}`).toBe(bf16);
    }
  });

  it('widens known bit patterns to the exact values', () => {
    expect(f16BitsToF32(0x3c00)).toBe(1);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    expect(f16BitsToF32(0x3555)).toBe(0.333251953125);
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(bf16BitsToF32(0x3eab)).toBe(f32FromBits(0x3eab0000));
    expect(bf16BitsToF32(0xc2f7)).toBe(-123.5);
  });

  it('every finite half value survives widen -> narrow, and NaN stays NaN', () => {
    for (let h = 0; h < 65536; h++) {
      const v = f16BitsToF32(h);
      if (Number.isNaN(v)) {
        expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(v)))).toBe(true);
        continue;
      }
      if (f32ToF16Bits(v) !== h) expect.fail(`half 0x${h.toString(16)} -> ${v} -> 0x${f32ToF16Bits(v).toString(16)}`);
    }
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
  });
});

describe('safetensors round trip', () => {
  const values = new Float32Array(TORCH_BITS.map(([v]) => v));
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    it(`writes and reads ${dtype} with the expected bits`, () => {
      const dir = fresh(dtype);
      const path = join(dir, 'model.safetensors');
      const matrix = new Float32Array(12).map((_, i) => i - 5.5);
      writeSafetensors(path, {
        'a.weight': { dtype, shape: [values.length], data: values },
        'b.weight': { dtype, shape: [3, 4], data: matrix },
        empty: { dtype, shape: [0, 4], data: new Float32Array(0) },
      }, { format: 'pt' });
      const header = readSafetensorsHeader(path);
      expect(header.metadata).toEqual({ format: 'pt' });
      expect(header.dataStart % 8).toBe(0);
      const store = WeightStore.fromFolder(dir);
      expect(store.names().sort()).toEqual(['a.weight', 'b.weight', 'empty']);
      const info = store.info('b.weight');
      expect(info).toMatchObject({ dtype, shape: [3, 4], file: path, byteLength: 12 * (dtype === 'F32' ? 4 : 2) });
      const raw = store.readRaw('a.weight');
      const bits = dtype === 'F32' ? new Uint32Array(raw.buffer, raw.byteOffset, values.length) : new Uint16Array(raw.buffer, raw.byteOffset, values.length);
      TORCH_BITS.forEach(([v, f32, f16, bf16], i) => {
        expect(bits[i], `${dtype} bits of ${v}`).toBe(dtype === 'F32' ? f32 : dtype === 'F16' ? f16 : bf16);
      });
      const back = store.readFloat32('a.weight');
      TORCH_BITS.forEach(([, f32, f16, bf16], i) => {
        const expected = dtype === 'F32' ? f32FromBits(f32) : f32FromBits((dtype === 'F16' ? 0 : bf16 << 16) >>> 0);
        if (dtype === 'F16') {
          // Independent widening: sign * 2^(e-15) * (1 + m/1024), subnormal m * 2^-24.
          const e = (f16 >> 10) & 31, m = f16 & 1023, s = f16 & 0x8000 ? -1 : 1;
          const want = e === 31 ? s * Infinity : e === 0 ? s * m * 2 ** -24 : s * 2 ** (e - 15) * (1 + m / 1024);
          expect(Object.is(back[i], want) || back[i] === want).toBe(true);
        } else {
          expect(back[i]).toBe(expected);
        }
      });
      // The byte offset a graph would hand to onnxruntime points at the same bytes.
      const file = readFileSync(path);
      expect(file.subarray(info.fileOffset, info.fileOffset + info.byteLength).equals(store.readRaw('b.weight'))).toBe(true);
      expect(Array.from(store.readFloat32('b.weight'))).toEqual(Array.from(matrix));
      expect(store.readFloat32('empty').length).toBe(0);
      // A run of rows, widened like the whole tensor (the dense cache converts large tables this way).
      expect(Array.from(store.readFloat32Range('b.weight', 4, 8))).toEqual(Array.from(matrix.subarray(4, 12)));
      expect(() => store.readFloat32Range('b.weight', 8, 8)).toThrow(/bytes .* of tensor "b.weight"/);
    });
  }

  it('refuses data that does not match the shape', () => {
    const path = join(fresh(), 'bad.safetensors');
    expectModelError(() => writeSafetensors(path, { w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) } }), 'bad.safetensors', '"w"', '[2, 3]');
  });
});

function writeShards(dir: string): void {
  writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), {
    a: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
    b: { dtype: 'BF16', shape: [2], data: new Float32Array([3, 4]) },
  });
  writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), {
    c: { dtype: 'F16', shape: [1, 2], data: new Float32Array([5, 6]) },
  });
  writeFileSync(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: 16 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' } }),
  );
}

describe('sharded checkpoints', () => {
  it('reads every tensor through the index', () => {
    const dir = fresh('shards');
    writeShards(dir);
    const store = WeightStore.fromFolder(dir);
    expect(store.names().sort()).toEqual(['a', 'b', 'c']);
    expect(Array.from(store.readFloat32('a'))).toEqual([1, 2]);
    expect(Array.from(store.readFloat32('b'))).toEqual([3, 4]);
    expect(Array.from(store.readFloat32('c'))).toEqual([5, 6]);
    expect(store.info('c').file).toBe(join(dir, 'model-00002-of-00002.safetensors'));
    expect(store.files.length).toBe(2);
    expectModelError(() => store.info('nope'), '"nope"', 'not found', 'model.safetensors.index.json');
  });

  it('names a shard that the index lists but is missing', () => {
    const dir = fresh('shards');
    writeShards(dir);
    rmSync(join(dir, 'model-00002-of-00002.safetensors'));
    expectModelError(() => WeightStore.fromFolder(dir), 'model.safetensors.index.json', 'model-00002-of-00002.safetensors', 'missing', '"c"');
  });

  it('names a tensor the index promises but the shard lacks', () => {
    const dir = fresh('shards');
    writeShards(dir);
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    index.weight_map.ghost = 'model-00002-of-00002.safetensors';
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    const err = expectModelError(() => WeightStore.fromFolder(dir), 'model-00002-of-00002.safetensors', '"ghost"', 'does not');
    expect(err.tensor).toBe('ghost');
  });

  it('names a truncated shard', () => {
    const dir = fresh('shards');
    writeShards(dir);
    const shard = join(dir, 'model-00001-of-00002.safetensors');
    truncateSync(shard, statSync(shard).size - 3);
    expectModelError(() => WeightStore.fromFolder(dir), 'model-00001-of-00002.safetensors', '"b"', /past the end|truncated/);
  });

  it('refuses an index that points outside the folder or is not JSON', () => {
    const dir = fresh('shards');
    writeShards(dir);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../elsewhere.safetensors' } }));
    expectModelError(() => WeightStore.fromFolder(dir), 'outside the model folder');
    writeFileSync(join(dir, 'model.safetensors.index.json'), '{"weight_map": ');
    expectModelError(() => WeightStore.fromFolder(dir), 'model.safetensors.index.json', 'not valid JSON');
    writeFileSync(join(dir, 'model.safetensors.index.json'), '{"metadata": {}}');
    expectModelError(() => WeightStore.fromFolder(dir), 'weight_map');
  });

  it('says when a folder has no weights at all', () => {
    const dir = fresh('empty');
    expectModelError(() => WeightStore.fromFolder(dir), dir, 'model.safetensors');
    expectModelError(() => WeightStore.fromFolder(join(dir, 'absent')), 'not found');
  });
});

describe('damaged safetensors files', () => {
  const good = { w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } };

  it('header length past the end of the file', () => {
    const path = join(fresh(), 'm.safetensors');
    rawFile(path, good, 16, 5000n);
    expectModelError(() => readSafetensorsHeader(path), 'm.safetensors', 'header length 5000', 'past the end');
  });

  it('absurd header length (random bytes)', () => {
    const path = join(fresh(), 'm.safetensors');
    writeFileSync(path, Buffer.from('this is definitely not a safetensors file'));
    expectModelError(() => readSafetensorsHeader(path), 'm.safetensors', 'implausible');
  });

  it('file shorter than 8 bytes, and a missing file', () => {
    const path = join(fresh(), 'm.safetensors');
    writeFileSync(path, Buffer.from([1, 2, 3]));
    expectModelError(() => readSafetensorsHeader(path), 'm.safetensors', '3 bytes');
    expectModelError(() => readSafetensorsHeader(join(root, 'nothing.safetensors')), 'nothing.safetensors', 'not found');
  });

  it('header that is not JSON, or not an object', () => {
    const path = join(fresh(), 'm.safetensors');
    rawFile(path, '{"w": {"dtype": "F32", ', 16);
    expectModelError(() => readSafetensorsHeader(path), 'm.safetensors', 'not valid JSON');
    rawFile(path, '[1, 2]', 0);
    expectModelError(() => readSafetensorsHeader(path), 'not a JSON object');
  });

  it('offsets past the end of the file', () => {
    const path = join(fresh(), 'm.safetensors');
    rawFile(path, { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8);
    expectModelError(() => readSafetensorsHeader(path), 'm.safetensors', '"w"', 'past the end');
  });

  it('overlapping tensors', () => {
    const path = join(fresh(), 'm.safetensors');
    rawFile(path, { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 16);
    expectModelError(() => readSafetensorsHeader(path), 'm.safetensors', '"a"', '"b"', 'overlap');
    // Overlap with a tensor that is not the immediate predecessor in offset order.
    rawFile(path, {
      big: { dtype: 'F32', shape: [8], data_offsets: [0, 32] },
      x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
      y: { dtype: 'F32', shape: [1], data_offsets: [20, 24] },
    }, 32);
    expectModelError(() => readSafetensorsHeader(path), 'overlap');
  });

  it('unknown dtype', () => {
    const path = join(fresh(), 'm.safetensors');
    rawFile(path, { w: { dtype: 'F31', shape: [2], data_offsets: [0, 8] } }, 8);
    expectModelError(() => readSafetensorsHeader(path), 'm.safetensors', '"w"', 'unknown dtype "F31"');
  });

  it('a known but non-float dtype reads raw but not as float32', () => {
    const dir = fresh();
    const path = join(dir, 'model.safetensors');
    rawFile(path, { ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(new BigInt64Array([7n, -1n]).buffer));
    const store = WeightStore.fromFolder(dir);
    expect(store.readRaw('ids').readBigInt64LE(8)).toBe(-1n);
    expectModelError(() => store.readFloat32('ids'), '"ids"', 'I64');
  });

  it('shape does not match the byte length', () => {
    const path = join(fresh(), 'm.safetensors');
    rawFile(path, { w: { dtype: 'F16', shape: [3, 2], data_offsets: [0, 8] } }, 8);
    expectModelError(() => readSafetensorsHeader(path), 'm.safetensors', '"w"', '[3, 2]', '12 bytes', 'give 8');
  });

  it('malformed entries', () => {
    const path = join(fresh(), 'm.safetensors');
    rawFile(path, { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4);
    expectModelError(() => readSafetensorsHeader(path), '"w"', 'shape');
    rawFile(path, { w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4);
    expectModelError(() => readSafetensorsHeader(path), '"w"');
    rawFile(path, { w: { dtype: 'F32', shape: [1] } }, 4);
    expectModelError(() => readSafetensorsHeader(path), '"w"', 'data_offsets');
    rawFile(path, { __metadata__: { a: 1 } }, 0);
    expectModelError(() => readSafetensorsHeader(path), '__metadata__');
  });

  it('a file truncated after the header was read', () => {
    const dir = fresh();
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, { w: { dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
    const store = WeightStore.fromFolder(dir);
    truncateSync(path, statSync(path).size - 4);
    expectModelError(() => store.readFloat32('w'), 'model.safetensors', '"w"', 'shorter');
  });
});
