/**
 * Expert weights laid out for onnxruntime's fused com.microsoft.MoE CPU kernel: fc1 = [E, 2I, H] with gate and
 * up rows interleaved (row 2j = gate_j, row 2j+1 = up_j; the CPU kernel accepts only this `swiglu_fusion=1`
 * layout) and fc2 = [E, H, I] (the Hugging Face down_proj orientation). fc1 is always a re-laid-out fp32 copy
 * held in memory; fc2 is mapped straight from the checkpoint when it already stores a stacked F32 [E, H, I]
 * tensor, otherwise copied too. Experts with biases (GPT-OSS) add fp32 bias inputs: fc1 [E, 2I] interleaved like
 * fc1's rows, fc2 [E, H].
 */
import { EngineError } from './errors.js';
import type { WeightStore } from './safetensors.js';
import type { GatedMlpSpec, LinearSpec, TensorSlice } from './architectures/types.js';

/** Reads each checkpoint tensor once, so slicing a stacked 3-D tensor expert by expert stays linear. */
export class TensorReader {
  private cache = new Map<string, Float32Array>();
  constructor(private weights: WeightStore) {}

  slice(s: TensorSlice): Float32Array {
    let whole = this.cache.get(s.tensor);
    if (!whole) {
      whole = this.weights.readFloat32(s.tensor);
      this.cache.set(s.tensor, whole);
    }
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (s.offsetElements + n > whole.length) throw new EngineError(`internal error: slice of '${s.tensor}' runs past the tensor's end`);
    return whole.subarray(s.offsetElements, s.offsetElements + n);
  }

  /**
   * Forgets the fp32 copies of tensors `spec` covers whole (one expert's own gate/up/down tensors), so a cache
   * writer that converts expert by expert holds one expert's copy at a time. Stacked tensors that later experts
   * slice again stay.
   */
  forgetWhole(spec: GatedMlpSpec): void {
    const linears = spec.kind === 'split' ? [spec.gate, spec.up, spec.down] : [spec.gateUp, spec.down];
    for (const l of linears) {
      const whole = this.cache.get(l.weight.tensor);
      if (whole && l.weight.offsetElements === 0 && l.weight.shape.reduce((a, b) => a * b, 1) === whole.length) this.cache.delete(l.weight.tensor);
    }
  }

  /** A linear layer's weight as [out, in] rows (transposing `in_out` storage); its bias is read by expertBiases. */
  outIn(l: LinearSpec, out: number, inp: number): Float32Array {
    const data = this.slice(l.weight);
    if (l.layout === 'out_in') return data;
    const t = new Float32Array(out * inp);
    for (let i = 0; i < inp; i++) for (let o = 0; o < out; o++) t[o * inp + i] = data[i * out + o]!;
    return t;
  }
}

/** Gate and up rows of one expert, each [I, H]. */
export function gateUpRows(r: TensorReader, m: GatedMlpSpec, hidden: number, inter: number): { gate: Float32Array; up: Float32Array } {
  if (m.kind === 'split') return { gate: r.outIn(m.gate, inter, hidden), up: r.outIn(m.up, inter, hidden) };
  const both = r.outIn(m.gateUp, 2 * inter, hidden);
  if (!m.interleaved) return { gate: both.subarray(0, inter * hidden), up: both.subarray(inter * hidden) }; // rows: gate then up
  // GPT-OSS: rows alternate gate_j, up_j.
  const gate = new Float32Array(inter * hidden);
  const up = new Float32Array(inter * hidden);
  for (let j = 0; j < inter; j++) {
    gate.set(both.subarray(2 * j * hidden, (2 * j + 1) * hidden), j * hidden);
    up.set(both.subarray((2 * j + 1) * hidden, (2 * j + 2) * hidden), j * hidden);
  }
  return { gate, up };
}

/** Whether any projection of the expert has a bias (GPT-OSS). */
export function hasExpertBias(m: GatedMlpSpec): boolean {
  return m.kind === 'split' ? !!(m.gate.bias || m.up.bias || m.down.bias) : !!(m.gateUp.bias || m.down.bias);
}

/** One expert's biases as fp32: gate [I], up [I], down [H] (zeros where a projection has none). */
export function expertBiasVectors(r: TensorReader, m: GatedMlpSpec, hidden: number, inter: number): { gate: Float32Array; up: Float32Array; down: Float32Array } {
  const read = (s: TensorSlice | undefined, n: number) => (s ? r.slice(s) : new Float32Array(n));
  const down = read(m.down.bias, hidden);
  if (m.kind === 'split') return { gate: read(m.gate.bias, inter), up: read(m.up.bias, inter), down };
  const both = read(m.gateUp.bias, 2 * inter);
  if (!m.interleaved) return { gate: both.subarray(0, inter), up: both.subarray(inter), down };
  return { gate: both.filter((_, i) => i % 2 === 0), up: both.filter((_, i) => i % 2 === 1), down };
}

/**
 * The fused ops' bias inputs for a layer whose experts have biases, else null: fc1 [E, 2I] (gate/up
 * interleaved like fc1's rows) and fc2 [E, H], fp32.
 */
export function fusedExpertBiases(r: TensorReader, experts: GatedMlpSpec[], hidden: number, inter: number): { fc1: Float32Array; fc2: Float32Array } | null {
  if (!experts.some(hasExpertBias)) return null;
  const fc1 = new Float32Array(experts.length * 2 * inter);
  const fc2 = new Float32Array(experts.length * hidden);
  experts.forEach((m, e) => {
    const b = expertBiasVectors(r, m, hidden, inter);
    for (let j = 0; j < inter; j++) {
      fc1[e * 2 * inter + 2 * j] = b.gate[j]!;
      fc1[e * 2 * inter + 2 * j + 1] = b.up[j]!;
    }
    fc2.set(b.down, e * hidden);
  });
  return { fc1, fc2 };
}

export interface FusedExpertWeights {
  /** [E, 2I, H] fp32, gate/up rows interleaved. */
  fc1: Float32Array;
  /** [E, H, I]: a zero-copy slice of the checkpoint, or an fp32 copy. */
  fc2: { kind: 'mapped'; slice: TensorSlice } | { kind: 'copy'; data: Float32Array };
  /** fp32 bias inputs (GPT-OSS), absent when the experts have none. */
  bias: { fc1: Float32Array; fc2: Float32Array } | null;
}

/** The stacked down_proj tensor, when every expert's down weight is consecutive F32 [H, I] inside it. */
function mappedFc2(weights: WeightStore, experts: GatedMlpSpec[], hidden: number, inter: number): TensorSlice | null {
  const first = experts[0]!.down;
  const tensor = first.weight.tensor;
  const info = weights.info(tensor);
  if (info.dtype !== 'F32') return null;
  const size = hidden * inter;
  const ok = experts.every(
    (m, e) => m.down.layout === 'out_in' && !m.down.bias && m.down.weight.tensor === tensor && m.down.weight.offsetElements === e * size,
  );
  if (!ok || info.byteLength < experts.length * size * 4) return null;
  return { tensor, offsetElements: 0, shape: [experts.length, hidden, inter] };
}

/** Bytes of process memory the fused layout of one MoE layer costs (the in-memory copies). */
export function fusedCopyBytes(weights: WeightStore, experts: GatedMlpSpec[], hidden: number, inter: number): number {
  const fc1 = experts.length * 2 * inter * hidden * 4;
  const bias = experts.some(hasExpertBias) ? experts.length * (2 * inter + hidden) * 4 : 0;
  return fc1 + bias + (mappedFc2(weights, experts, hidden, inter) ? 0 : experts.length * hidden * inter * 4);
}

export function fusedExpertWeights(weights: WeightStore, experts: GatedMlpSpec[], hidden: number, inter: number): FusedExpertWeights {
  const r = new TensorReader(weights);
  const E = experts.length;
  const fc1 = new Float32Array(E * 2 * inter * hidden);
  experts.forEach((m, e) => {
    const { gate, up } = gateUpRows(r, m, hidden, inter);
    const base = e * 2 * inter * hidden;
    for (let j = 0; j < inter; j++) {
      fc1.set(gate.subarray(j * hidden, (j + 1) * hidden), base + 2 * j * hidden);
      fc1.set(up.subarray(j * hidden, (j + 1) * hidden), base + (2 * j + 1) * hidden);
    }
  });
  const bias = fusedExpertBiases(r, experts, hidden, inter);
  const mapped = mappedFc2(weights, experts, hidden, inter);
  if (mapped) return { fc1, fc2: { kind: 'mapped', slice: mapped }, bias };
  const fc2 = new Float32Array(E * hidden * inter);
  experts.forEach((m, e) => fc2.set(r.outIn(m.down, hidden, inter), e * hidden * inter));
  return { fc1, fc2: { kind: 'copy', data: fc2 }, bias };
}

/** The expert width I of a MoE block's experts. */
export function expertWidth(m: GatedMlpSpec): number {
  if (m.kind === 'fused') return m.intermediate;
  return m.down.layout === 'out_in' ? m.down.weight.shape[1]! : m.down.weight.shape[0]!;
}

/**
 * The width every expert of `experts` shares (`width`, default the first's): the fused and quantised layouts stack
 * experts into one tensor, so a layer whose experts differ is refused, naming `where` and `why`.
 */
export function uniformExpertWidth(experts: GatedMlpSpec[], where: string, why: string, width = expertWidth(experts[0]!)): number {
  if (experts.some((e) => expertWidth(e) !== width)) throw new EngineError(`${where}: experts of different widths ${why}`);
  return width;
}
