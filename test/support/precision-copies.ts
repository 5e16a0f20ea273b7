/**
 * Checkpoint copies holding exactly what a precision promises to run, for the float64 reference to run on:
 * fp16: experts, the embedding and the lm_head rounded to fp16; int8/int4: experts and dense projections
 * block-quantised and dequantised (a second implementation of quant-experts.ts's and quant-dense.ts's rule), the
 * embedding rounded to fp16 and the lm_head quantised at 8 bits. Everything else is copied unchanged.
 */
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

/** The tables fp16/int8/int4 hold at 16 bits (a tied head is the embedding itself). */
export const isHalfTable = (name: string) => name === 'model.embed_tokens.weight' || name === 'lm_head.weight';

/**
 * A copy of `src` with every expert weight, the embedding and the lm_head rounded to fp16 (stored F32), and
 * optionally one value replaced. Expert biases are rounded only with `roundBiases` (the fp16 fused op takes them
 * at fp16; dispatch keeps fp32).
 */
export function writeRoundedCopy(src: string, dst: string, opts: { poke?: { tensor: string; value: number }; roundBiases?: boolean } = {}): void {
  const store = WeightStore.fromFolder(src);
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of store.names()) {
    const data = store.readFloat32(name);
    if ((isExpertTensor(name) && (opts.roundBiases || !isExpertBias(name))) || isHalfTable(name)) for (let i = 0; i < data.length; i++) data[i] = roundToF16(data[i]!);
    if (opts.poke?.tensor === name) data[0] = opts.poke.value;
    tensors[name] = { dtype: 'F32', shape: store.info(name).shape, data };
  }
  writeSafetensors(join(dst, 'model.safetensors'), tensors);
  for (const f of readdirSync(src)) if (!f.endsWith('.safetensors')) copyFileSync(join(src, f), join(dst, f));
}

/** Second implementation of the block quantisation (quant-experts.ts, quant-dense.ts): rows cut into blocks along
 * the input axis (the last one shorter when `block` does not divide `cols`), scale max|w| / qmax, round, clamp. */
export function dequantizeRow(w: Float32Array, start: number, cols: number, bits: 8 | 4, block: number): void {
  const qmax = bits === 8 ? 127 : 7;
  for (let b0 = 0; b0 < cols; b0 += block) {
    const end = Math.min(cols, b0 + block);
    let max = 0;
    for (let c = b0; c < end; c++) max = Math.max(max, Math.abs(w[start + c]!));
    const scale = max > 0 ? max / qmax : 1;
    for (let c = b0; c < end; c++) w[start + c] = Math.max(-qmax, Math.min(qmax, Math.round(w[start + c]! / scale))) * scale;
  }
}
export const dequantizeMatrix = (data: Float32Array, cols: number, bits: 8 | 4, block: number) => {
  for (let r = 0; r < data.length / cols; r++) dequantizeRow(data, r * cols, cols, bits, block);
};

/** Dense projections (attention, dense MLP layers, shared experts): never routers, gates or norms. */
export const isDenseProjection = (name: string) => /self_attn\.(q|k|v|o|q_a|q_b|kv_a|kv_b)_proj(_with_mqa)?\.weight$|mlp\.(gate|up|down)_proj\.weight$|shared_experts?\.(gate|up|down)_proj\.weight$/.test(name);
/** The dense projections' and the int8 head's block size (quant-dense.ts DENSE_BLOCK). */
export const DENSE_BLOCK = 32;

/**
 * A copy of `src` holding what int8/int4 promise to run: experts and dense projections quantised and dequantised
 * ([out, in] rows), the embedding rounded to fp16, the lm_head quantised at 8 bits (untied, so the embedding and
 * the head can differ).
 */
export function writeDequantizedCopy(src: string, dst: string, bits: 8 | 4, expertBlock: number): void {
  const store = WeightStore.fromFolder(src);
  const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  const tied = config.tie_word_embeddings === true;
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of store.names()) {
    const data = store.readFloat32(name);
    const shape = store.info(name).shape;
    const cols = shape[shape.length - 1]!;
    if (isInOutStack(name)) {
      // [E, in, out]: quantise each output column along the input axis, through a transposed scratch row.
      const [E, inp, out] = shape as [number, number, number];
      const col = new Float32Array(inp);
      for (let e = 0; e < E; e++) {
        for (let o = 0; o < out; o++) {
          for (let i = 0; i < inp; i++) col[i] = data[(e * inp + i) * out + o]!;
          dequantizeRow(col, 0, inp, bits, expertBlock || inp);
          for (let i = 0; i < inp; i++) data[(e * inp + i) * out + o] = col[i]!;
        }
      }
    } else if (isExpertTensor(name) && !isExpertBias(name)) dequantizeMatrix(data, cols, bits, expertBlock || cols);
    if (isDenseProjection(name)) dequantizeMatrix(data, cols, bits, DENSE_BLOCK);
    if (name === 'lm_head.weight') dequantizeMatrix(data, cols, 8, DENSE_BLOCK);
    if (name === 'model.embed_tokens.weight') {
      if (tied) {
        const head = data.slice();
        dequantizeMatrix(head, cols, 8, DENSE_BLOCK);
        tensors['lm_head.weight'] = { dtype: 'F32', shape, data: head };
      }
      for (let i = 0; i < data.length; i++) data[i] = roundToF16(data[i]!);
    }
    tensors[name] = { dtype: 'F32', shape, data };
  }
  writeSafetensors(join(dst, 'model.safetensors'), tensors);
  for (const f of readdirSync(src)) if (!f.endsWith('.safetensors')) copyFileSync(join(src, f), join(dst, f));
  writeFileSync(join(dst, 'config.json'), JSON.stringify({ ...config, tie_word_embeddings: false }));
}
