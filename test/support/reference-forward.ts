/**
 * An independent Float64 forward pass for the five supported MoE architectures, written from the
 * transformers modeling files (modeling_qwen3_moe.py, modeling_qwen2_moe.py, modeling_olmoe.py,
 * modeling_mixtral.py, modeling_granitemoe.py, modular_phimoe.py, modular_gpt_oss.py; YaRN from
 * modeling_rope_utils.py). It reads raw config.json fields and raw HF tensor
 * names itself and shares nothing with the engine's architecture adapters or graph builder, so
 * agreement between the two is evidence that both are right.
 *
 * It is deliberately naive (no KV cache, no batching tricks): clarity over speed, tiny models only.
 * Selection margins: `steeredLogits` holds the logits routing ranked, so a comparison against a float32
 * engine can skip tokens whose k-th and (k+1)-th logits are nearly tied.
 * Positions of left padding get uniform attention over all keys (what transformers' eager path does
 * with a fully masked row); their outputs are not meaningful and should not be compared.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WeightStore } from '../../src/engine/safetensors.js';
import { MASKED_LOGIT, type SteeringTensors } from '../../src/engine/steering-plan.js';

export interface ReferenceOptions {
  attentionMask?: number[][];
  positionIds?: number[][];
  steering?: SteeringTensors;
  /**
   * Models the fused MoE op run in fp16 (the CUDA fp16 graph, as onnxruntime's CPU provider runs it: Casts
   * inserted around an fp32 op): the routed experts' input, the log of each mixing weight (the crafted router
   * logits) and the routed sum are passed through this rounding function (fp16 rounding in the tests); the
   * sum is then scaled back by the routing weights' own sum, as the graph does.
   */
  roundMoeIo?: (v: number) => number;
  /**
   * LongRoPE under a KV cache, as transformers runs it: [B][T], true where that token's query and key were
   * rotated with the long factors (the forward call that processed it had max(position_ids) + 1 >
   * original_max_position_embeddings; cached keys keep the rotation of their own call). Default: one call
   * over the whole input, i.e. every token long or every token short.
   */
  longRopeTokens?: boolean[][];
}

export interface ReferenceResult {
  /** [B][T][V] */
  logits: number[][][];
  /** [moeLayer][B][T][E], raw router logits before steering. */
  routerLogits: number[][][][];
  /** [moeLayer][B][T][k], the experts actually used (after steering), in descending weight order. */
  experts: number[][][][];
  /** [moeLayer][B][T][k], their mixing weights. */
  weights: number[][][][];
  /** [moeLayer][B][T][E], logits after the steering rule (what routing ranked); lets tests skip near-ties. */
  steeredLogits: number[][][][];
}

type Vec = Float64Array;
/** Row-major [rows][cols] matrix, i.e. the orientation of nn.Linear.weight ([out][in]). */
interface Mat {
  rows: number;
  cols: number;
  data: Float64Array;
}

interface Expert {
  gate: Mat;
  up: Mat;
  down: Mat;
}

type Family = 'qwen3_moe' | 'qwen2_moe' | 'olmoe' | 'mixtral' | 'granitemoe' | 'phimoe' | 'gpt_oss';

const FAMILY_OF_CLASS: Record<string, Family> = {
  Qwen3MoeForCausalLM: 'qwen3_moe',
  Qwen2MoeForCausalLM: 'qwen2_moe',
  OlmoeForCausalLM: 'olmoe',
  MixtralForCausalLM: 'mixtral',
  GraniteMoeForCausalLM: 'granitemoe',
  PhimoeForCausalLM: 'phimoe',
  PhiMoEForCausalLM: 'phimoe',
  GptOssForCausalLM: 'gpt_oss',
};

function num(config: Record<string, unknown>, key: string, fallback?: number): number {
  const v = config[key];
  if (typeof v === 'number') return v;
  if (fallback !== undefined) return fallback;
  throw new Error(`reference forward: config.json lacks numeric "${key}"`);
}

class Weights {
  private readonly store: WeightStore;
  constructor(dir: string) {
    this.store = WeightStore.fromFolder(dir);
  }
  has(name: string): boolean {
    return this.store.has(name);
  }
  vec(name: string): Vec {
    return Float64Array.from(this.store.readFloat32(name));
  }
  mat(name: string): Mat {
    const info = this.store.info(name);
    if (info.shape.length !== 2) throw new Error(`reference forward: ${name} is not 2-D`);
    return { rows: info.shape[0]!, cols: info.shape[1]!, data: this.vec(name) };
  }
  /** Slice [e] of a 3-D [E, rows, cols] tensor, optionally only rows [r0, r1). */
  slice3(name: string, e: number, r0?: number, r1?: number): Mat {
    const info = this.store.info(name);
    if (info.shape.length !== 3) throw new Error(`reference forward: ${name} is not 3-D`);
    const [, rows, cols] = info.shape as [number, number, number];
    const all = this.cached(name);
    const a = r0 ?? 0;
    const b = r1 ?? rows;
    const start = (e * rows + a) * cols;
    return { rows: b - a, cols, data: all.subarray(start, start + (b - a) * cols) };
  }
  private cache = new Map<string, Vec>();
  private cached(name: string): Vec {
    let v = this.cache.get(name);
    if (!v) {
      v = this.vec(name);
      this.cache.set(name, v);
    }
    return v;
  }
}

function matvec(m: Mat, x: Vec, bias?: Vec): Vec {
  if (x.length !== m.cols) throw new Error(`reference forward: shape mismatch ${m.rows}x${m.cols} @ ${x.length}`);
  const out = new Float64Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    let s = bias ? bias[r]! : 0;
    const off = r * m.cols;
    for (let c = 0; c < m.cols; c++) s += m.data[off + c]! * x[c]!;
    out[r] = s;
  }
  return out;
}

function rmsNorm(x: Vec, w: Vec, eps: number): Vec {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[i]!);
}

/** nn.LayerNorm over the last axis: biased variance, then weight and bias. */
function layerNorm(x: Vec, w: Vec, b: Vec, eps: number): Vec {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  const inv = 1 / Math.sqrt(variance / x.length + eps);
  return x.map((v, i) => (v - mean) * inv * w[i]! + b[i]!);
}

const silu = (v: number) => v / (1 + Math.exp(-v));
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

function swiglu(e: Expert, x: Vec): Vec {
  const g = matvec(e.gate, x);
  const u = matvec(e.up, x);
  const h = g.map((v, i) => silu(v) * u[i]!);
  return matvec(e.down, h);
}

function softmax(z: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]!);
  const ex = Array.from(z, (v) => Math.exp(v - m));
  const s = ex.reduce((a, b) => a + b, 0);
  return ex.map((v) => v / s);
}

/** Indices of the k largest values; equal values go to the lower index. */
export function topKIndices(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b]! - values[a]! || a - b);
  return idx.slice(0, k);
}

/** The contract's steering rule on raw logits z (see src/engine/steering-plan.ts). */
export function applySteeringRule(z: ArrayLike<number>, s?: SteeringTensors['perMoeLayer'][number]): number[] {
  const E = z.length;
  if (!s) return Array.from(z);
  let mean = 0;
  for (let i = 0; i < E; i++) mean += z[i]!;
  mean /= E;
  let v = 0;
  for (let i = 0; i < E; i++) v += (z[i]! - mean) ** 2;
  const sd = Math.sqrt(v / E);
  const z1 = Array.from(z, (zi, e) => zi + s.bias[e]! + s.scale[e]! * Math.abs(zi) + s.std[e]! * sd);
  const hi = Math.max(...z1);
  const lo = Math.min(...z1);
  const z2 = z1.map((x, e) => (s.force[e]! > 0 ? hi + s.force[e]! : s.force[e]! < 0 ? lo + s.force[e]! : x));
  return z2.map((x, e) => (s.mask[e] === 1 ? MASKED_LOGIT : x));
}

/** softmax -> top-k -> optional renormalisation (Qwen/OLMoE/Mixtral), or top-k -> softmax (Granite). */
export function routeTokens(z3: number[], k: number, mode: 'softmax_topk' | 'softmax_topk_renorm' | 'topk_softmax'): { experts: number[]; weights: number[] } {
  // Ranking by logit equals ranking by softmax probability; ranking the logits avoids ties made by underflow.
  const experts = topKIndices(z3, k);
  if (mode === 'topk_softmax') return { experts, weights: softmax(experts.map((e) => z3[e]!)) };
  const p = softmax(z3);
  let w = experts.map((e) => p[e]!);
  if (mode === 'softmax_topk_renorm') {
    const s = w.reduce((a, b) => a + b, 0);
    w = w.map((x) => x / s);
  }
  return { experts, weights: w };
}

/**
 * Phi-3.5-MoE's sparsemixer, inference mode (modular_phimoe.py, training=False): two picks, each the arg-max of
 * what is left, weighted by a softmax over the experts within a relative margin 2*eps of that pick.
 */
export function sparsemixer(z: number[], eps: number): { experts: number[]; weights: number[] } {
  const experts: number[] = [];
  const weights: number[] = [];
  const left = z.slice();
  for (let round = 0; round < 2; round++) {
    let best = 0;
    for (let e = 1; e < left.length; e++) if (left[e]! > left[best]!) best = e;
    const top = left[best]!;
    const kept = left.map((v, e) => ((top - z[e]!) / Math.max(Math.abs(z[e]!), top) > 2 * eps ? -Infinity : v));
    experts.push(best);
    weights.push(softmax(kept)[best]!);
    left[best] = -Infinity;
  }
  return { experts, weights };
}

/** A GPT-OSS expert as stored: x @ gateUp [H][2I] + b (gate/up interleaved), clamped SwiGLU, @ down [I][H] + b. */
interface OssExpert {
  gateUp: Mat;
  gateUpBias: Vec;
  down: Mat;
  downBias: Vec;
}

/** x @ m for m stored [in][out] (the transpose of nn.Linear's layout). */
function vecmat(x: Vec, m: Mat, bias: Vec): Vec {
  const out = Float64Array.from(bias);
  for (let i = 0; i < m.rows; i++) {
    const xi = x[i]!;
    for (let o = 0; o < m.cols; o++) out[o]! += xi * m.data[i * m.cols + o]!;
  }
  return out;
}

function ossExpert(e: OssExpert, x: Vec, limit: number): Vec {
  const gu = vecmat(x, e.gateUp, e.gateUpBias);
  const I = gu.length / 2;
  const h = new Float64Array(I);
  for (let j = 0; j < I; j++) {
    const gate = Math.min(gu[2 * j]!, limit);
    const up = Math.min(Math.max(gu[2 * j + 1]!, -limit), limit);
    h[j] = (up + 1) * gate * sigmoid(1.702 * gate);
  }
  return vecmat(h, e.down, e.downBias);
}

/** YaRN's inverse frequencies and cos/sin factor (modeling_rope_utils.py's _compute_yarn_parameters). */
function yarn(r: Record<string, unknown>, D: number, theta: number, maxPositions: number): { invFreq: number[]; scale: number } {
  const factor = r.factor as number;
  const original = (r.original_max_position_embeddings as number | undefined) ?? maxPositions;
  const m = (s: number, k = 1) => (s <= 1 ? 1 : 0.1 * k * Math.log(s) + 1);
  const scale = (r.attention_factor as number | undefined) ?? (r.mscale && r.mscale_all_dim ? m(factor, r.mscale as number) / m(factor, r.mscale_all_dim as number) : m(factor));
  const dimOf = (rot: number) => (D * Math.log(original / (rot * 2 * Math.PI))) / (2 * Math.log(theta));
  const truncate = r.truncate !== false;
  let lo = dimOf((r.beta_fast as number | undefined) || 32);
  let hi = dimOf((r.beta_slow as number | undefined) || 1);
  if (truncate) [lo, hi] = [Math.floor(lo), Math.ceil(hi)];
  lo = Math.max(lo, 0);
  hi = Math.min(hi, D - 1);
  if (lo === hi) hi += 0.001;
  const invFreq = Array.from({ length: D / 2 }, (_, i) => {
    const base = theta ** ((2 * i) / D);
    const keep = 1 - Math.min(1, Math.max(0, (i - lo) / (hi - lo))); // share of the unscaled frequency
    return keep / base + (1 - keep) / (factor * base);
  });
  return { invFreq, scale };
}

interface Layer {
  inNorm: Vec;
  postNorm: Vec;
  inNormBias?: Vec;
  postNormBias?: Vec;
  q: Mat;
  k: Mat;
  v: Mat;
  o: Mat;
  qb?: Vec;
  kb?: Vec;
  vb?: Vec;
  ob?: Vec;
  qNorm?: Vec;
  kNorm?: Vec;
  dense?: Expert;
  moe?: { router: Mat; routerBias?: Vec; experts: Expert[]; oss?: OssExpert[]; shared?: Expert; sharedGate?: Mat };
  sinks?: Vec;
  /** Keys more than this many cache positions back are hidden (GPT-OSS sliding layers). */
  window?: number;
}

interface Model {
  family: Family;
  H: number;
  nH: number;
  nKV: number;
  D: number;
  E: number;
  K: number;
  eps: number;
  theta: number;
  attnScale: number;
  embMult: number;
  resMult: number;
  logitsScale: number;
  clipQkv?: number;
  routing: 'softmax_topk' | 'softmax_topk_renorm' | 'topk_softmax' | 'sparsemixer';
  jitterEps: number;
  embed: Mat;
  lmHead: Mat;
  lmHeadBias?: Vec;
  finalNorm: Vec;
  finalNormBias?: Vec;
  longRope?: { short: number[]; long: number[]; shortMscale: number; longMscale: number; original: number };
  yarn?: { invFreq: number[]; scale: number };
  swigluLimit: number;
  layers: Layer[];
  moeLayers: number[];
}

const modelCache = new Map<string, Model>();

/** Cache key that changes when the folder is rewritten in place (same path, new model). */
function folderStamp(dir: string): string {
  const parts = [dir];
  for (const f of ['config.json', 'model.safetensors', 'model.safetensors.index.json']) {
    const p = join(dir, f);
    if (existsSync(p)) {
      const st = statSync(p);
      parts.push(`${f}:${st.mtimeMs}:${st.size}`);
    }
  }
  return parts.join('|');
}

function loadModel(dir: string): Model {
  const key = folderStamp(dir);
  const cached = modelCache.get(key);
  if (cached) return cached;
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const cls = (config.architectures as string[])[0]!;
  const family = FAMILY_OF_CLASS[cls];
  if (!family) throw new Error(`reference forward: no reference for ${cls}`);
  if (config.hidden_act !== undefined && config.hidden_act !== 'silu') throw new Error('reference forward: only silu experts');
  const ropeScaling = (config.rope_scaling ?? config.rope_parameters) as Record<string, unknown> | null | undefined;
  const ropeType = ropeScaling ? (ropeScaling.rope_type ?? ropeScaling.type ?? 'default') : 'default';
  let longRope: Model['longRope'];
  if (ropeType === 'longrope' && family === 'phimoe') {
    const r = ropeScaling!;
    longRope = {
      short: r.short_factor as number[],
      long: r.long_factor as number[],
      shortMscale: r.short_mscale as number,
      longMscale: r.long_mscale as number,
      original: (r.original_max_position_embeddings ?? config.original_max_position_embeddings) as number,
    };
  } else if (ropeType !== 'default' && !(ropeType === 'yarn' && family === 'gpt_oss')) throw new Error(`reference forward: rope type ${String(ropeType)} not implemented`);

  const H = num(config, 'hidden_size');
  const nH = num(config, 'num_attention_heads');
  const nKV = num(config, 'num_key_value_heads', nH);
  // Only Qwen3-MoE and Mixtral read head_dim from the config; the others derive it.
  const D = family === 'qwen3_moe' || family === 'mixtral' || family === 'gpt_oss' ? num(config, 'head_dim', H / nH) : H / nH;
  const E = family === 'mixtral' || family === 'granitemoe' || family === 'phimoe' || family === 'gpt_oss' ? num(config, 'num_local_experts') : num(config, 'num_experts');
  const K = num(config, 'num_experts_per_tok');
  const ropeParams = config.rope_parameters as Record<string, unknown> | undefined;
  const theta = typeof config.rope_theta === 'number' ? config.rope_theta : typeof ropeParams?.rope_theta === 'number' ? ropeParams.rope_theta : 10000;
  const L = num(config, 'num_hidden_layers');

  const moeLayers: number[] = [];
  for (let l = 0; l < L; l++) {
    if (family === 'qwen3_moe' || family === 'qwen2_moe') {
      const only = (config.mlp_only_layers as number[] | undefined) ?? [];
      const step = num(config, 'decoder_sparse_step', 1);
      if (!only.includes(l) && E > 0 && (l + 1) % step === 0) moeLayers.push(l);
    } else moeLayers.push(l);
  }

  const w = new Weights(dir);
  const opt = (name: string) => (w.has(name) ? w.vec(name) : undefined);
  // Phimoe's projections have biases exactly when attention_bias says so (nn.Linear(bias=attention_bias)).
  const attnBias = (name: string) =>
    family === 'phimoe' ? (config.attention_bias === true ? w.vec(name) : undefined) : family === 'gpt_oss' ? (config.attention_bias !== false ? w.vec(name) : undefined) : opt(name);
  const layerTypes = config.layer_types as string[] | undefined;
  const layers: Layer[] = [];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    const layer: Layer = {
      inNorm: w.vec(`${p}input_layernorm.weight`),
      postNorm: w.vec(`${p}post_attention_layernorm.weight`),
      q: w.mat(`${p}self_attn.q_proj.weight`),
      k: w.mat(`${p}self_attn.k_proj.weight`),
      v: w.mat(`${p}self_attn.v_proj.weight`),
      o: w.mat(`${p}self_attn.o_proj.weight`),
      qb: attnBias(`${p}self_attn.q_proj.bias`),
      kb: attnBias(`${p}self_attn.k_proj.bias`),
      vb: attnBias(`${p}self_attn.v_proj.bias`),
      ob: attnBias(`${p}self_attn.o_proj.bias`),
      inNormBias: family === 'phimoe' ? w.vec(`${p}input_layernorm.bias`) : undefined,
      postNormBias: family === 'phimoe' ? w.vec(`${p}post_attention_layernorm.bias`) : undefined,
      qNorm: opt(`${p}self_attn.q_norm.weight`),
      kNorm: opt(`${p}self_attn.k_norm.weight`),
    };
    if (family === 'gpt_oss') {
      layer.sinks = w.vec(`${p}self_attn.sinks`);
      const type = layerTypes?.[l] ?? ((l + 1) % 2 ? 'sliding_attention' : 'full_attention');
      if (type === 'sliding_attention') layer.window = num(config, 'sliding_window', 128);
      const x = `${p}mlp.experts.`;
      layer.moe = {
        router: w.mat(`${p}mlp.router.weight`),
        routerBias: w.vec(`${p}mlp.router.bias`),
        experts: [],
        oss: Array.from({ length: E }, (_, e) => ({
          gateUp: w.slice3(`${x}gate_up_proj`, e),
          gateUpBias: w.vec(`${x}gate_up_proj_bias`).subarray(e * 2 * num(config, 'intermediate_size'), (e + 1) * 2 * num(config, 'intermediate_size')),
          down: w.slice3(`${x}down_proj`, e),
          downBias: w.vec(`${x}down_proj_bias`).subarray(e * H, (e + 1) * H),
        })),
      };
    } else if (!moeLayers.includes(l)) {
      layer.dense = { gate: w.mat(`${p}mlp.gate_proj.weight`), up: w.mat(`${p}mlp.up_proj.weight`), down: w.mat(`${p}mlp.down_proj.weight`) };
    } else if (family === 'granitemoe') {
      const inName = `${p}block_sparse_moe.input_linear.weight`;
      const outName = `${p}block_sparse_moe.output_linear.weight`;
      const I = w.slice3(inName, 0).rows / 2;
      layer.moe = {
        router: w.mat(`${p}block_sparse_moe.router.layer.weight`),
        experts: Array.from({ length: E }, (_, e) => ({ gate: w.slice3(inName, e, 0, I), up: w.slice3(inName, e, I, 2 * I), down: w.slice3(outName, e) })),
      };
    } else {
      const base = (family === 'mixtral' || family === 'phimoe') && w.has(`${p}block_sparse_moe.gate.weight`) ? `${p}block_sparse_moe.` : `${p}mlp.`;
      const fused = w.has(`${base}experts.gate_up_proj`);
      const experts: Expert[] = [];
      for (let e = 0; e < E; e++) {
        if (fused) {
          const I = w.slice3(`${base}experts.gate_up_proj`, 0).rows / 2;
          experts.push({
            gate: w.slice3(`${base}experts.gate_up_proj`, e, 0, I),
            up: w.slice3(`${base}experts.gate_up_proj`, e, I, 2 * I),
            down: w.slice3(`${base}experts.down_proj`, e),
          });
        } else if (family === 'mixtral' || family === 'phimoe') {
          const x = `${base}experts.${e}.`;
          experts.push({ gate: w.mat(`${x}w1.weight`), up: w.mat(`${x}w3.weight`), down: w.mat(`${x}w2.weight`) });
        } else {
          const x = `${base}experts.${e}.`;
          experts.push({ gate: w.mat(`${x}gate_proj.weight`), up: w.mat(`${x}up_proj.weight`), down: w.mat(`${x}down_proj.weight`) });
        }
      }
      layer.moe = { router: w.mat(`${base}gate.weight`), experts };
      if (family === 'qwen2_moe') {
        layer.moe.shared = {
          gate: w.mat(`${p}mlp.shared_expert.gate_proj.weight`),
          up: w.mat(`${p}mlp.shared_expert.up_proj.weight`),
          down: w.mat(`${p}mlp.shared_expert.down_proj.weight`),
        };
        layer.moe.sharedGate = w.mat(`${p}mlp.shared_expert_gate.weight`);
      }
    }
    layers.push(layer);
  }
  const embed = w.mat('model.embed_tokens.weight');
  const tie = config.tie_word_embeddings === true;
  const lmHead = w.has('lm_head.weight') && !tie ? w.mat('lm_head.weight') : tie ? embed : w.mat('lm_head.weight');

  const normTopk = config.norm_topk_prob === true;
  const model: Model = {
    family,
    H,
    nH,
    nKV,
    D,
    E,
    K,
    eps: num(config, 'rms_norm_eps', 1e-6),
    theta,
    attnScale: family === 'granitemoe' ? num(config, 'attention_multiplier') : 1 / Math.sqrt(D),
    embMult: family === 'granitemoe' ? num(config, 'embedding_multiplier', 1) : 1,
    resMult: family === 'granitemoe' ? num(config, 'residual_multiplier', 1) : 1,
    logitsScale: family === 'granitemoe' ? num(config, 'logits_scaling', 1) : 1,
    clipQkv: family === 'olmoe' && typeof config.clip_qkv === 'number' ? config.clip_qkv : undefined,
    routing:
      family === 'phimoe' ? 'sparsemixer' : family === 'granitemoe' || family === 'gpt_oss' ? 'topk_softmax' : family === 'mixtral' || normTopk ? 'softmax_topk_renorm' : 'softmax_topk',
    jitterEps: num(config, 'router_jitter_noise', 0.01),
    embed,
    lmHead,
    lmHeadBias: family === 'phimoe' && config.lm_head_bias === true ? w.vec('lm_head.bias') : undefined,
    finalNorm: w.vec('model.norm.weight'),
    finalNormBias: family === 'phimoe' ? w.vec('model.norm.bias') : undefined,
    longRope,
    yarn: ropeType === 'yarn' ? yarn(ropeScaling!, D, theta, num(config, 'max_position_embeddings')) : undefined,
    swigluLimit: num(config, 'swiglu_limit', 7),
    layers,
    moeLayers,
  };
  modelCache.set(key, model);
  return model;
}

/** Per-call rotary scaling: LongRoPE's factors and mscale (long when max(position_ids) + 1 > original). */
interface RopeScale {
  factor?: number[];
  /** YaRN: the inverse frequencies themselves. */
  invFreq?: number[];
  mscale: number;
}

/** Rotate-half RoPE on one head vector in place (HF's non-interleaved form). */
function rope(x: Vec, off: number, D: number, pos: number, theta: number, scale: RopeScale = { mscale: 1 }): void {
  const half = D / 2;
  for (let i = 0; i < half; i++) {
    const ang = scale.invFreq ? pos * scale.invFreq[i]! : pos / ((scale.factor?.[i] ?? 1) * theta ** ((2 * i) / D));
    const c = Math.cos(ang) * scale.mscale;
    const s = Math.sin(ang) * scale.mscale;
    const a = x[off + i]!;
    const b = x[off + i + half]!;
    x[off + i] = a * c - b * s;
    x[off + i + half] = b * c + a * s;
  }
}

function headNorm(x: Vec, nHeads: number, D: number, w: Vec, eps: number): Vec {
  const out = new Float64Array(x.length);
  for (let h = 0; h < nHeads; h++) out.set(rmsNorm(x.subarray(h * D, (h + 1) * D), w, eps), h * D);
  return out;
}

/** Default positions: cumsum(mask) - 1 with padding at 1 (what generate() does), else 0..T-1. */
function defaultPositions(B: number, T: number, mask?: number[][]): number[][] {
  return Array.from({ length: B }, (_, b) => {
    let c = 0;
    return Array.from({ length: T }, (_, t) => {
      if (!mask) return t;
      if (mask[b]![t]) return c++;
      return 1;
    });
  });
}

/**
 * DeepSeek-V2 (modular_deepseek_v2.py; the softmax scale as DeepSeek's modeling_deepseek.py has it under YaRN):
 * multi-head latent attention computed the plain way (every key and value decompressed, no cache), the rope half
 * rotated in adjacent pairs as complex numbers, dense layers before first_k_dense_replace, then softmax -> greedy
 * top-k -> times routed_scaling_factor, plus the shared experts.
 */
function deepseekForward(dir: string, config: Record<string, unknown>, inputIds: number[][], opts: ReferenceOptions): ReferenceResult {
  const w = new Weights(dir);
  const H = num(config, 'hidden_size');
  const nH = num(config, 'num_attention_heads');
  const L = num(config, 'num_hidden_layers');
  const r = num(config, 'kv_lora_rank');
  const nope = num(config, 'qk_nope_head_dim');
  const R = num(config, 'qk_rope_head_dim');
  const dv = num(config, 'v_head_dim');
  const K = num(config, 'num_experts_per_tok');
  const E = num(config, 'n_routed_experts');
  const eps = num(config, 'rms_norm_eps', 1e-6);
  const firstDense = num(config, 'first_k_dense_replace', 0);
  const scaleW = num(config, 'routed_scaling_factor', 1);
  // transformers 5 re-saves move rope_theta and the YaRN fields into rope_parameters.
  const ropeParams = config.rope_parameters as Record<string, unknown> | undefined;
  const theta = typeof ropeParams?.rope_theta === 'number' ? ropeParams.rope_theta : num(config, 'rope_theta', 10000);
  const qLora = typeof config.q_lora_rank === 'number';
  const rs = (config.rope_scaling ?? ropeParams) as Record<string, unknown> | null | undefined;
  const y = rs && (rs.rope_type ?? rs.type) === 'yarn' ? yarn(rs, R, theta, num(config, 'max_position_embeddings')) : undefined;
  const invFreq = y?.invFreq ?? Array.from({ length: R / 2 }, (_, i) => 1 / theta ** ((2 * i) / R));
  const cosSinScale = y?.scale ?? 1;
  let attnScale = 1 / Math.sqrt(nope + R);
  if (y && typeof rs!.mscale_all_dim === 'number') {
    const f = rs!.factor as number;
    const ms = f <= 1 ? 1 : 0.1 * (rs!.mscale_all_dim as number) * Math.log(f) + 1;
    attnScale *= ms * ms;
  }
  const B = inputIds.length;
  const T = inputIds[0]?.length ?? 0;
  const mask = opts.attentionMask;
  const pos = opts.positionIds ?? defaultPositions(B, T, mask);
  const embed = w.mat('model.embed_tokens.weight');
  let hidden: Vec[][] = inputIds.map((row) => row.map((id) => embed.data.slice(id * H, (id + 1) * H)));
  const ropePairs = (x: Vec, off: number, p: number) => {
    for (let i = 0; i < R / 2; i++) {
      const a = x[off + 2 * i]!;
      const b = x[off + 2 * i + 1]!;
      const c = Math.cos(p * invFreq[i]!) * cosSinScale;
      const s = Math.sin(p * invFreq[i]!) * cosSinScale;
      x[off + 2 * i] = a * c - b * s;
      x[off + 2 * i + 1] = a * s + b * c;
    }
  };
  const out: ReferenceResult = { logits: [], routerLogits: [], experts: [], weights: [], steeredLogits: [] };
  const mlp = (prefix: string): Expert => ({ gate: w.mat(`${prefix}.gate_proj.weight`), up: w.mat(`${prefix}.up_proj.weight`), down: w.mat(`${prefix}.down_proj.weight`) });
  let slot = 0;
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    const a = `${p}self_attn.`;
    const inNorm = w.vec(`${p}input_layernorm.weight`);
    const kvA = w.mat(`${a}kv_a_proj_with_mqa.weight`);
    const kvNorm = w.vec(`${a}kv_a_layernorm.weight`);
    const kvB = w.mat(`${a}kv_b_proj.weight`);
    const o = w.mat(`${a}o_proj.weight`);
    const qOf = qLora
      ? ((qa: Mat, qn: Vec, qb: Mat) => (x: Vec) => matvec(qb, rmsNorm(matvec(qa, x), qn, 1e-6)))(w.mat(`${a}q_a_proj.weight`), w.vec(`${a}q_a_layernorm.weight`), w.mat(`${a}q_b_proj.weight`))
      : ((q: Mat) => (x: Vec) => matvec(q, x))(w.mat(`${a}q_proj.weight`));
    const qs: Vec[][] = [];
    const kvs: Vec[][] = [];
    const kpes: Vec[][] = [];
    for (let b = 0; b < B; b++) {
      qs.push([]);
      kvs.push([]);
      kpes.push([]);
      for (let t = 0; t < T; t++) {
        const x = rmsNorm(hidden[b]![t]!, inNorm, eps);
        const q = qOf(x);
        for (let h = 0; h < nH; h++) ropePairs(q, h * (nope + R) + nope, pos[b]![t]!);
        const ckv = matvec(kvA, x);
        const kpe = ckv.slice(r, r + R);
        ropePairs(kpe, 0, pos[b]![t]!);
        qs[b]!.push(q);
        kvs[b]!.push(matvec(kvB, rmsNorm(ckv.subarray(0, r), kvNorm, 1e-6)));
        kpes[b]!.push(kpe);
      }
    }
    hidden = hidden.map((row, b) =>
      row.map((resid, t) => {
        const ctx = new Float64Array(nH * dv);
        const allowed = Array.from({ length: T }, (_, j) => j <= t && (!mask || mask[b]![j] === 1));
        const any = allowed.some(Boolean);
        for (let h = 0; h < nH; h++) {
          const q = qs[b]![t]!;
          const scores = Array.from({ length: T }, (_, j) => {
            if (any && !allowed[j]) return -Infinity;
            const kv = kvs[b]![j]!;
            let s = 0;
            for (let i = 0; i < nope; i++) s += q[h * (nope + R) + i]! * kv[h * (nope + dv) + i]!;
            for (let i = 0; i < R; i++) s += q[h * (nope + R) + nope + i]! * kpes[b]![j]![i]!;
            return any ? s * attnScale : 0;
          });
          const pr = softmax(scores);
          for (let j = 0; j < T; j++) for (let i = 0; i < dv; i++) ctx[h * dv + i]! += pr[j]! * kvs[b]![j]![h * (nope + dv) + nope + i]!;
        }
        const y2 = matvec(o, ctx);
        return resid.map((v, i) => v + y2[i]!);
      }),
    );
    const postNorm = w.vec(`${p}post_attention_layernorm.weight`);
    if (l < firstDense) {
      const dense = mlp(`${p}mlp`);
      hidden = hidden.map((row) => row.map((resid) => ((y2) => resid.map((v, i) => v + y2[i]!))(swiglu(dense, rmsNorm(resid, postNorm, eps)))));
      continue;
    }
    const gate = w.mat(`${p}mlp.gate.weight`);
    const routed = Array.from({ length: E }, (_, e) => mlp(`${p}mlp.experts.${e}`));
    const shared = w.has(`${p}mlp.shared_experts.gate_proj.weight`) ? mlp(`${p}mlp.shared_experts`) : undefined;
    for (const k of ['routerLogits', 'experts', 'weights', 'steeredLogits'] as const) out[k].push([]);
    hidden = hidden.map((row, b) => {
      for (const k of ['routerLogits', 'experts', 'weights', 'steeredLogits'] as const) out[k][slot]!.push([]);
      return row.map((resid) => {
        const x = rmsNorm(resid, postNorm, eps);
        const z = matvec(gate, x);
        const z3 = applySteeringRule(z, opts.steering?.perMoeLayer[slot]);
        const sel = routeTokens(z3, K, 'softmax_topk');
        const wts = sel.weights.map((v) => v * scaleW);
        out.routerLogits[slot]![b]!.push(Array.from(z));
        out.experts[slot]![b]!.push(sel.experts);
        out.weights[slot]![b]!.push(wts);
        out.steeredLogits[slot]![b]!.push(z3);
        const y2 = shared ? swiglu(shared, x) : new Float64Array(H);
        sel.experts.forEach((e, i) => {
          const ye = swiglu(routed[e]!, x);
          for (let c = 0; c < H; c++) y2[c]! += wts[i]! * ye[c]!;
        });
        return resid.map((v, i) => v + y2[i]!);
      });
    });
    slot++;
  }
  const finalNorm = w.vec('model.norm.weight');
  const lmHead = config.tie_word_embeddings === true ? embed : w.mat('lm_head.weight');
  out.logits = hidden.map((row) => row.map((h) => Array.from(matvec(lmHead, rmsNorm(h, finalNorm, eps)))));
  return out;
}

export function referenceForward(dir: string, inputIds: number[][], opts: ReferenceOptions = {}): ReferenceResult {
  const rawConfig = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  if ((rawConfig.architectures as string[] | undefined)?.[0] === 'DeepseekV2ForCausalLM') return deepseekForward(dir, rawConfig, inputIds, opts);
  const m = loadModel(dir);
  const B = inputIds.length;
  const T = inputIds[0]?.length ?? 0;
  const mask = opts.attentionMask;
  const pos = opts.positionIds ?? defaultPositions(B, T, mask);
  if (opts.steering && opts.steering.perMoeLayer.length !== m.moeLayers.length) throw new Error('reference forward: steering has the wrong number of MoE layers');
  const { H, nH, nKV, D } = m;
  const group = nH / nKV;
  const norm = (x: Vec, w: Vec, b: Vec | undefined) => (b ? layerNorm(x, w, b, m.eps) : rmsNorm(x, w, m.eps));
  let ropeScale: RopeScale = { mscale: 1 };
  const longScale = (isLong: boolean): RopeScale =>
    isLong ? { factor: m.longRope!.long, mscale: m.longRope!.longMscale } : { factor: m.longRope!.short, mscale: m.longRope!.shortMscale };
  if (m.longRope) ropeScale = longScale(Math.max(...pos.flat()) + 1 > m.longRope.original);
  if (opts.longRopeTokens && !m.longRope) throw new Error('reference forward: longRopeTokens given for a model without LongRoPE');
  const scaleOf = (b: number, t: number): RopeScale => (opts.longRopeTokens ? longScale(opts.longRopeTokens[b]![t]!) : ropeScale);
  if (m.yarn) ropeScale = { invFreq: m.yarn.invFreq, mscale: m.yarn.scale };

  // hidden[b][t]
  let hidden: Vec[][] = inputIds.map((row) =>
    row.map((id) => {
      if (id < 0 || id >= m.embed.rows) throw new Error(`reference forward: token id ${id} out of range`);
      return m.embed.data.slice(id * H, (id + 1) * H).map((v) => v * m.embMult);
    }),
  );
  const routerLogits: number[][][][] = [];
  const experts: number[][][][] = [];
  const weights: number[][][][] = [];
  const steeredLogits: number[][][][] = [];

  m.layers.forEach((layer, l) => {
    // Attention
    const qs: Vec[][] = [];
    const ks: Vec[][] = [];
    const vs: Vec[][] = [];
    for (let b = 0; b < B; b++) {
      qs.push([]);
      ks.push([]);
      vs.push([]);
      for (let t = 0; t < T; t++) {
        const x = norm(hidden[b]![t]!, layer.inNorm, layer.inNormBias);
        let q = matvec(layer.q, x, layer.qb);
        let k = matvec(layer.k, x, layer.kb);
        let v = matvec(layer.v, x, layer.vb);
        if (m.family === 'qwen3_moe') {
          q = headNorm(q, nH, D, layer.qNorm!, m.eps);
          k = headNorm(k, nKV, D, layer.kNorm!, m.eps);
        } else if (m.family === 'olmoe') {
          q = rmsNorm(q, layer.qNorm!, m.eps);
          k = rmsNorm(k, layer.kNorm!, m.eps);
          if (m.clipQkv !== undefined) {
            const c = m.clipQkv;
            const clip = (a: Vec) => a.map((z) => Math.min(c, Math.max(-c, z)));
            q = clip(q);
            k = clip(k);
            v = clip(v);
          }
        }
        for (let h = 0; h < nH; h++) rope(q, h * D, D, pos[b]![t]!, m.theta, scaleOf(b, t));
        for (let h = 0; h < nKV; h++) rope(k, h * D, D, pos[b]![t]!, m.theta, scaleOf(b, t));
        qs[b]!.push(q);
        ks[b]!.push(k);
        vs[b]!.push(v);
      }
    }
    const afterAttn: Vec[][] = hidden.map((row, b) =>
      row.map((resid, t) => {
        const ctx = new Float64Array(nH * D);
        const allowed = Array.from({ length: T }, (_, j) => j <= t && (layer.window === undefined || t - j < layer.window) && (!mask || mask[b]![j] === 1));
        const anyAllowed = allowed.some(Boolean);
        for (let h = 0; h < nH; h++) {
          const kvh = Math.floor(h / group);
          const scores = Array.from({ length: T }, (_, j) => {
            if (anyAllowed && !allowed[j]) return -Infinity;
            let s = 0;
            for (let i = 0; i < D; i++) s += qs[b]![t]![h * D + i]! * ks[b]![j]![kvh * D + i]!;
            return anyAllowed ? s * m.attnScale : 0;
          });
          // GPT-OSS: the head's sink logit joins the softmax and its probability is dropped.
          const p = layer.sinks ? softmax([...scores, layer.sinks[h]!]).slice(0, T) : softmax(scores);
          for (let j = 0; j < T; j++) {
            if (p[j] === 0) continue;
            for (let i = 0; i < D; i++) ctx[h * D + i]! += p[j]! * vs[b]![j]![kvh * D + i]!;
          }
        }
        const o = matvec(layer.o, ctx, layer.ob);
        return resid.map((r, i) => r + o[i]! * m.resMult);
      }),
    );

    // MLP / MoE
    const slot = m.moeLayers.indexOf(l);
    if (slot >= 0) {
      routerLogits.push([]);
      experts.push([]);
      weights.push([]);
      steeredLogits.push([]);
    }
    hidden = afterAttn.map((row, b) => {
      if (slot >= 0) {
        routerLogits[slot]!.push([]);
        experts[slot]!.push([]);
        weights[slot]!.push([]);
        steeredLogits[slot]!.push([]);
      }
      return row.map((resid) => {
        const x = norm(resid, layer.postNorm, layer.postNormBias);
        let y: Vec;
        if (layer.dense) {
          y = swiglu(layer.dense, x);
        } else {
          const moe = layer.moe!;
          const z = matvec(moe.router, x, moe.routerBias);
          const z3 = applySteeringRule(z, opts.steering?.perMoeLayer[slot]);
          const r = m.routing === 'sparsemixer' ? sparsemixer(z3, m.jitterEps) : routeTokens(z3, m.K, m.routing);
          routerLogits[slot]![b]!.push(Array.from(z));
          experts[slot]![b]!.push(r.experts);
          weights[slot]![b]!.push(r.weights);
          steeredLogits[slot]![b]!.push(z3);
          y = new Float64Array(H);
          const round = opts.roundMoeIo;
          if (round && !moe.oss) {
            const xr = x.map(round);
            const logW = r.weights.map((w) => round(Math.log(Math.max(w, 1e-30))));
            const mix = softmax(logW);
            r.experts.forEach((e, i) => {
              const out = swiglu(moe.experts[e]!, xr);
              for (let c = 0; c < H; c++) y[c]! += mix[i]! * out[c]!;
            });
            const total = r.weights.reduce((a, w) => a + w, 0);
            for (let c = 0; c < H; c++) y[c] = round(y[c]!) * total;
          } else {
            r.experts.forEach((e, i) => {
              const out = moe.oss ? ossExpert(moe.oss[e]!, x, m.swigluLimit) : swiglu(moe.experts[e]!, x);
              for (let c = 0; c < H; c++) y[c]! += r.weights[i]! * out[c]!;
            });
          }
          if (moe.shared) {
            const g = sigmoid(matvec(moe.sharedGate!, x)[0]!);
            const s = swiglu(moe.shared, x);
            for (let c = 0; c < H; c++) y[c]! += g * s[c]!;
          }
        }
        return resid.map((r, i) => r + y[i]! * m.resMult);
      });
    });
  });

  const logits = hidden.map((row) =>
    row.map((h) => {
      const x = norm(h, m.finalNorm, m.finalNormBias);
      return Array.from(matvec(m.lmHead, x, m.lmHeadBias), (v) => v / m.logitsScale);
    }),
  );
  return { logits, routerLogits, experts, weights, steeredLogits };
}

/** Forget loaded weights (tests that rewrite a folder in place). */
export function clearReferenceCache(): void {
  modelCache.clear();
}
