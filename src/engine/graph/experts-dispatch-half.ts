/**
 * fp16 precision on the dispatch kernel: expert matrices stay 16-bit (mapped from the checkpoint or the fp16 expert
 * cache, half-experts.ts) and each routed expert is widened to fp32 inside its own If branch, so only routed
 * experts are widened, and only while they run.
 */
import type { ClampedSwigluSpec, MoeSpec } from '../architectures/types.js';
import { EngineError } from '../errors.js';
import { hasExpertBias } from '../fused-experts.js';
import type { HalfExpert, HalfSource } from '../half-experts.js';
import { DataType } from '../onnx/model.js';
import type { GraphContext } from './context.js';
import { gatedActivation } from './mlp.js';

export interface HalfDispatchLayer {
  experts: HalfExpert[];
  /** A zero known only at run time (see halfLinear). */
  runtimeZero: string;
}

/** The layer's fp16 experts when the build has them, checked against the model. */
export function halfDispatchLayer(ctx: GraphContext, moeIndex: number, m: MoeSpec, flat: string): HalfDispatchLayer | undefined {
  const g = ctx.g;
  const cache = ctx.opts.halfExperts;
  const half = cache?.layers[moeIndex];
  if (cache && (!half || half.length !== m.experts.length)) throw new EngineError(`internal error: the fp16 expert cache has no entry for MoE layer ${moeIndex}`);
  if (!half) return undefined;
  if (half.some((h, e) => !h.bias !== !hasExpertBias(m.experts[e]!))) throw new EngineError(`internal error: the fp16 expert cache's biases for MoE layer ${moeIndex} do not match the model`);
  const size = g.op('Size', [flat]);
  return { experts: half, runtimeZero: g.sub(size, size) };
}

/** Expert e on its rows, in an If branch that only runs when some token was routed to it. */
export function halfExpert(ctx: GraphContext, moeIndex: number, m: MoeSpec, e: number, layer: HalfDispatchLayer, rows: string, pos: string): string {
  const g = ctx.g;
  const out = { elemType: DataType.FLOAT, shape: [`moe${moeIndex}_e${e}_rows`, ctx.spec.hiddenSize] }; // a dim name per expert: equal names promise equal sizes
  const thenBranch = g.subgraph(`moe${moeIndex}_e${e}_run`, out, () => halfMlp(ctx, rows, layer.experts[e]!, `moe${moeIndex}.e${e}`, layer.runtimeZero, m.expertActivation));
  const elseBranch = g.subgraph(`moe${moeIndex}_e${e}_skip`, out, () => rows);
  const routed = g.op('Greater', [g.op('Size', [pos]), g.scalarI(0)]);
  return g.op('If', [routed], { then_branch: { graph: thenBranch }, else_branch: { graph: elseBranch } });
}

/**
 * A 16-bit expert matrix as fp32, widened at run time. The Reshape's shape depends on a run-time zero, so
 * onnxruntime cannot constant-fold the Cast into a resident fp32 copy (it would, for a Cast of an initializer).
 */
function halfLinear(ctx: GraphContext, x: string, src: HalfSource, name: string, runtimeZero: string): string {
  const g = ctx.g;
  let raw: string;
  let dtype: DataType;
  let dims: number[];
  let layout: 'out_in' | 'in_out';
  if (src.kind === 'cache') {
    dtype = src.dtype === 'F16' ? DataType.FLOAT16 : DataType.FLOAT;
    dims = src.shape;
    layout = 'out_in';
    const location = ctx.location(ctx.opts.halfExperts!.file!);
    raw = g.initializer({ name, dataType: dtype, dims, payload: { kind: 'external', location, ...src.segment } });
  } else {
    ({ raw, dtype } = ctx.rawWeight(src.linear.weight));
    dims = src.linear.weight.shape;
    layout = src.linear.layout;
  }
  let w = raw;
  if (dtype !== DataType.FLOAT) w = g.cast(g.reshape(raw, g.add(g.int64(dims), runtimeZero)), DataType.FLOAT);
  return layout === 'out_in' ? g.linear(x, w) : g.op('MatMul', [x, w]);
}

/** down(act(gate(x), up(x))) on 16-bit weights, with the expert's fp32 biases (GPT-OSS) when it has them. */
function halfMlp(ctx: GraphContext, x: string, e: HalfExpert, prefix: string, runtimeZero: string, activation?: ClampedSwigluSpec): string {
  const g = ctx.g;
  const withBias = (y: string, part: 'gate' | 'up' | 'down', n: number) => {
    const segment = e.bias?.[part];
    if (!segment) return y;
    const location = ctx.location(ctx.opts.halfExperts!.file!);
    return g.add(y, g.initializer({ name: `${prefix}.${part}_bias`, dataType: DataType.FLOAT, dims: [n], payload: { kind: 'external', location, ...segment } }));
  };
  const I = e.gate.kind === 'cache' ? e.gate.shape[0] : e.gate.linear.layout === 'out_in' ? e.gate.linear.weight.shape[0]! : e.gate.linear.weight.shape[1]!;
  const gate = withBias(halfLinear(ctx, x, e.gate, `${prefix}.gate`, runtimeZero), 'gate', I);
  const up = withBias(halfLinear(ctx, x, e.up, `${prefix}.up`, runtimeZero), 'up', I);
  return withBias(halfLinear(ctx, gatedActivation(g, gate, up, activation), e.down, `${prefix}.down`, runtimeZero), 'down', ctx.spec.hiddenSize);
}
