/** Rotary position embedding: the cos/sin tables of a forward call (plain, YaRN, LongRoPE) and their application. */
import { DataType } from '../onnx/model.js';
import type { GraphContext } from './context.js';
import { GraphNames } from './names.js';

export interface RopeTables {
  /** [B, 1, T, D], already multiplied by the scaling's mscale where it has one. */
  cos: string;
  sin: string;
}

/** RoPE tables for these positions, in fp32 as transformers computes them. */
export function ropeTables(ctx: GraphContext, positions: string): RopeTables {
  const g = ctx.g;
  const s = ctx.spec;
  const half = s.headDim / 2;
  const invFreqWith = (factor?: number[]) => Array.from({ length: half }, (_, i) => 1 / ((factor?.[i] ?? 1) * Math.pow(s.ropeTheta, (2 * i) / s.headDim)));
  let invFreq: string;
  let mscale: string | undefined;
  if (s.ropeScaling?.kind === 'yarn') {
    invFreq = g.float(s.ropeScaling.invFreq);
    mscale = g.scalarF(s.ropeScaling.attentionFactor);
  } else if (s.ropeScaling?.kind !== 'longrope') {
    invFreq = g.float(invFreqWith());
  } else {
    // LongRoPE switches to the long factors when max(position_ids) + 1 of the forward call exceeds the original
    // context (transformers decides per call). The session feeds that length: a call split into chunks must use
    // the whole call's decision in every chunk, which the chunk's own positions cannot tell.
    const r = s.ropeScaling;
    const length = g.input(GraphNames.ropeLength, DataType.INT64, [1]);
    const isLong = g.op('Greater', [length, g.scalarI(r.originalMaxPositions)]);
    invFreq = g.where(isLong, g.float(invFreqWith(r.longFactor)), g.float(invFreqWith(r.shortFactor)));
    mscale = g.where(isLong, g.scalarF(r.longMscale), g.scalarF(r.shortMscale));
  }
  const freqs = g.mul(g.unsqueeze(g.cast(positions, DataType.FLOAT), [2]), invFreq);
  const angles = g.concat([freqs, freqs], -1);
  let cos = g.unsqueeze(g.op('Cos', [angles]), [1]);
  let sin = g.unsqueeze(g.op('Sin', [angles]), [1]);
  if (mscale) {
    cos = g.mul(cos, mscale);
    sin = g.mul(sin, mscale);
  }
  return { cos, sin };
}

/** x * cos + rotate_half(x) * sin over the last axis (headDim). */
export function applyRope(ctx: GraphContext, x: string, { cos, sin }: RopeTables): string {
  const g = ctx.g;
  const half = ctx.spec.headDim / 2;
  const [x1, x2] = g.opN('Split', [x, g.int64([half, half])], 2, { axis: -1 }) as [string, string];
  const rotated = g.concat([g.op('Neg', [x2]), x1], -1);
  return g.add(g.mul(x, cos), g.mul(rotated, sin));
}
