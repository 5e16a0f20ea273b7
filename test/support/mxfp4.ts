/**
 * MXFP4 test checkpoints, written independently of the engine's decoder (src/engine/mxfp4.ts): a round-to-nearest
 * quantiser following the OCP Microscaling spec (v1.0, section 6.3: shared exponent floor(log2(amax)) - 2 for
 * E2M1, elements rounded to the nearest FP4 value and clamped at 6), then packed the way openai/gpt-oss-20b stores
 * its experts: `<name>_blocks` U8 [E, R, K/32, 16] with element 2j in the low nibble of byte j and 2j + 1 in the
 * high one, `<name>_scales` U8 [E, R, K/32] (exponent + 127), for a BF16-layout tensor `<name>` [E, K, R].
 * The quantised values are what the engine must reproduce exactly; a twin folder holds them as F32 for the
 * float64 reference forward pass.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WeightStore } from '../../src/engine/safetensors.js';

/** FP4 E2M1 magnitudes by the low 3 bits of a code (OCP MX spec, table 5); bit 3 is the sign. */
const E2M1_MAGNITUDES = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

export interface PackedMxfp4 {
  blocks: Uint8Array;
  scales: Uint8Array;
  /** The values the packed tensor stands for, [E, K, R] like the input. */
  values: Float32Array;
}

function nearestCode(x: number): number {
  const a = Math.abs(x);
  let best = 0;
  for (let c = 1; c < 8; c++) if (Math.abs(E2M1_MAGNITUDES[c]! - a) < Math.abs(E2M1_MAGNITUDES[best]! - a)) best = c;
  // A value rounded to zero keeps code 0 (+0) whatever its sign, like a real packer's positive zero.
  return best === 0 ? 0 : (x < 0 ? 8 : 0) | best;
}

/** Quantises `w` [E, K, R] (K a multiple of 32) to MXFP4 along K, per (expert, column r). */
export function packMxfp4(w: Float32Array, E: number, K: number, R: number): PackedMxfp4 {
  if (K % 32 !== 0) throw new Error(`packMxfp4: K = ${K} is not a multiple of 32`);
  const G = K / 32;
  const blocks = new Uint8Array(E * R * G * 16);
  const scales = new Uint8Array(E * R * G);
  const values = new Float32Array(E * K * R);
  for (let e = 0; e < E; e++) {
    for (let r = 0; r < R; r++) {
      for (let g = 0; g < G; g++) {
        const at = (i: number) => (e * K + g * 32 + i) * R + r;
        let amax = 0;
        for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(w[at(i)]!));
        const exponent = amax === 0 ? -127 : Math.floor(Math.log2(amax)) - 2;
        scales[(e * R + r) * G + g] = exponent + 127;
        const scale = 2 ** exponent;
        for (let i = 0; i < 32; i++) {
          const code = nearestCode(w[at(i)]! / scale);
          values[at(i)] = (code & 8 ? -1 : 1) * E2M1_MAGNITUDES[code & 7]! * scale;
          const byte = ((e * R + r) * G + g) * 16 + (i >> 1);
          blocks[byte]! |= i % 2 === 0 ? code : code << 4;
        }
      }
    }
  }
  return { blocks, scales, values };
}

export interface RawTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** A safetensors file from raw little-endian bytes (any dtype, U8 included). */
export function writeRawSafetensors(path: string, tensors: Record<string, RawTensor>): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(path, Buffer.concat([head, Buffer.from(json), ...Object.values(tensors).map((t) => Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength))]));
}

const EXPERT_TENSOR = /\.experts\.(gate_up_proj|down_proj)$/;

/**
 * Turns the GPT-OSS checkpoint in `dir` (F32 or BF16 `gate_up_proj` / `down_proj`) into the released MXFP4
 * layout, in place, and writes `twinDir`: the same folder with the quantised values as F32 expert tensors.
 * Returns the quantised values of each expert tensor, [E, K, R] as in the BF16 layout.
 */
export function convertToMxfp4(dir: string, twinDir: string): Map<string, Float32Array> {
  const store = WeightStore.fromFolder(dir);
  const stored: Record<string, RawTensor> = {};
  const twin: Record<string, RawTensor> = {};
  const known = new Map<string, Float32Array>();
  for (const name of store.names()) {
    const info = store.info(name);
    if (!EXPERT_TENSOR.test(name)) {
      stored[name] = twin[name] = { dtype: info.dtype, shape: info.shape, bytes: new Uint8Array(store.readRaw(name)) };
      continue;
    }
    const [E, K, R] = info.shape as [number, number, number];
    const packed = packMxfp4(store.readFloat32(name), E, K, R);
    known.set(name, packed.values);
    stored[`${name}_blocks`] = { dtype: 'U8', shape: [E, R, K / 32, 16], bytes: packed.blocks };
    stored[`${name}_scales`] = { dtype: 'U8', shape: [E, R, K / 32], bytes: packed.scales };
    twin[name] = { dtype: 'F32', shape: [E, K, R], bytes: new Uint8Array(packed.values.buffer) };
  }
  if (existsSync(join(dir, 'model.safetensors.index.json'))) throw new Error('convertToMxfp4: write the tiny model unsharded');
  writeRawSafetensors(join(dir, 'model.safetensors'), stored);
  mkdirSync(twinDir, { recursive: true });
  for (const f of readdirSync(dir)) if (f !== 'model.safetensors') copyFileSync(join(dir, f), join(twinDir, f));
  writeRawSafetensors(join(twinDir, 'model.safetensors'), twin);
  return known;
}
