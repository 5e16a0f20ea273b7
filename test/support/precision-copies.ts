/**
 * Checkpoint copies whose expert weights carry exactly the rounding a precision promises, for the float64
 * reference to run on: fp16-rounded experts (fp16 precision) and block-quantised-then-dequantised experts
 * (int8/int4; a second implementation of quant-experts.ts's rule). Everything else is copied unchanged.
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { WeightStore } from '../../src/engine/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors-writer.js';
import { roundToF16 } from '../../src/numeric/float16.js';

/**
 * Routed-expert tensors of every tiny layout (DeepSeek-V2's `shared_experts` do not match: they stay fp32),
 * GPT-OSS's stacked `mlp.experts.gate_up_proj` / `down_proj` and their `_bias` tensors included.
 */
export const isExpertTensor = (name: string) => /\.experts\.|input_linear|output_linear/.test(name);
/** GPT-OSS's expert biases: every precision but the CUDA fp16 fused op keeps them at fp32. */
const isExpertBias = (name: string) => isExpertTensor(name) && name.endsWith('_bias');
/** GPT-OSS stores its experts as transformers Parameters [E, in, out] (no `.weight`): rows run along axis -2. */
const isInOutStack = (name: string) => isExpertTensor(name) && !name.endsWith('.weight') && !isExpertBias(name);

function copyOthers(src: string, dst: string): void {
  for (const f of readdirSync(src)) if (!f.endsWith('.safetensors')) copyFileSync(join(src, f), join(dst, f));
}

/**
 * A copy of `src` with every expert weight rounded to fp16 (stored F32), and optionally one value replaced.
 * Expert biases are rounded only with `roundBiases` (the fp16 fused op takes them at fp16; dispatch keeps fp32).
 */
export function writeRoundedCopy(src: string, dst: string, opts: { poke?: { tensor: string; value: number }; roundBiases?: boolean } = {}): void {
  const store = WeightStore.fromFolder(src);
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of store.names()) {
    const data = store.readFloat32(name);
    if (isExpertTensor(name) && (opts.roundBiases || !isExpertBias(name))) for (let i = 0; i < data.length; i++) data[i] = roundToF16(data[i]!);
    if (opts.poke?.tensor === name) data[0] = opts.poke.value;
    tensors[name] = { dtype: 'F32', shape: store.info(name).shape, data };
  }
  writeSafetensors(join(dst, 'model.safetensors'), tensors);
  copyOthers(src, dst);
}

/** Second implementation of the block quantisation (quant-experts.ts): one row, quantised and dequantised in place. */
export function dequantizeRow(w: Float32Array, start: number, cols: number, bits: 8 | 4, block: number): void {
  const qmax = bits === 8 ? 127 : 7;
  for (let b0 = 0; b0 < cols; b0 += block) {
    let max = 0;
    for (let c = b0; c < b0 + block; c++) max = Math.max(max, Math.abs(w[start + c]!));
    const scale = max > 0 ? max / qmax : 1;
    for (let c = b0; c < b0 + block; c++) w[start + c] = Math.max(-qmax, Math.min(qmax, Math.round(w[start + c]! / scale))) * scale;
  }
}

/** A copy of `src` whose expert matrices ([.., out, in] rows) are replaced by their quantise-dequantise round trip. */
export function writeDequantizedCopy(src: string, dst: string, bits: 8 | 4, block: number): void {
  const store = WeightStore.fromFolder(src);
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of store.names()) {
    const data = store.readFloat32(name);
    const shape = store.info(name).shape;
    if (isInOutStack(name)) {
      // [E, in, out]: quantise each output column along the input axis, through a transposed scratch row.
      const [E, inp, out] = shape as [number, number, number];
      const col = new Float32Array(inp);
      for (let e = 0; e < E; e++) {
        for (let o = 0; o < out; o++) {
          for (let i = 0; i < inp; i++) col[i] = data[(e * inp + i) * out + o]!;
          dequantizeRow(col, 0, inp, bits, block || inp);
          for (let i = 0; i < inp; i++) data[(e * inp + i) * out + o] = col[i]!;
        }
      }
    } else if (isExpertTensor(name) && !isExpertBias(name)) {
      const cols = shape[shape.length - 1]!;
      for (let r = 0; r < data.length / cols; r++) dequantizeRow(data, r * cols, cols, bits, block || cols);
    }
    tensors[name] = { dtype: 'F32', shape, data };
  }
  writeSafetensors(join(dst, 'model.safetensors'), tensors);
  copyOthers(src, dst);
}
