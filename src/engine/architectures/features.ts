/**
 * What sets a decoder apart from the plain Llama-style MoE block, in words for `routescope inspect`: the norms,
 * biases, rope scaling, attention window, routing rule and extra experts the adapter found in config.json.
 */
import type { DecoderSpec, MoeSpec } from './types.js';

function routingRule(m: MoeSpec): string {
  switch (m.routing) {
    case 'sparsemixer':
      return `sparsemixer routing (top-2, inference mode, jitter eps ${m.jitterEps ?? 0}; selected with standard ops, onnxruntime's use_sparse_mixer is not used)`;
    case 'topk_softmax':
      return 'top-k on the router logits, then softmax over the k';
    case 'softmax_topk':
      return `softmax over all experts, then top-k${m.normTopK ? ', renormalised' : ''}`;
  }
}

export function specialFeatures(spec: DecoderSpec): string[] {
  const out: string[] = [];
  if (spec.normKind === 'layer') out.push(`LayerNorm with bias (eps ${spec.rmsNormEps})`);
  const first = spec.layers[0]?.attention;
  const a = first && first.kind !== 'mla' ? first : undefined;
  if (first?.kind === 'mla') {
    out.push(
      `multi-head latent attention (kv_lora_rank ${first.kvLoraRank}, ${first.qA ? 'q_lora' : 'no q_lora'}, nope/rope/v head dims ${first.nopeDim}/${first.ropeDim}/${first.valueDim}; KV cache of the latent: ${first.kvLoraRank + first.ropeDim} floats per token and layer)`,
    );
  }
  if (a?.q.bias || a?.o.bias) out.push(`attention biases (${['q', 'k', 'v', 'o'].filter((n) => a[n as 'q' | 'k' | 'v' | 'o'].bias).join(', ')})`);
  if (a?.qkNorm) out.push(a.qkNorm.kind === 'per_head' ? 'q/k RMSNorm per head' : 'q/k RMSNorm over the projection');
  if (spec.clipQkv !== null) out.push(`q/k/v clipped to ±${spec.clipQkv}`);
  if (spec.lmHeadBias) out.push('lm_head bias');
  const r = spec.ropeScaling;
  if (r?.kind === 'longrope') {
    out.push(`LongRoPE (short factors up to ${r.originalMaxPositions} positions, long factors beyond; mscale ${r.shortMscale} / ${r.longMscale})`);
  }
  if (r?.kind === 'yarn') out.push(`YaRN rope (factor ${r.factor}, original context ${r.originalMaxPositions}, attention factor ${r.attentionFactor.toFixed(4)})`);
  if (a?.sinks) out.push('attention sinks (one learned logit per head)');
  const windows = spec.layers.map((l) => (l.slidingWindow !== undefined ? l.slidingWindow : spec.slidingWindow));
  const windowed = windows.filter((x) => x !== null);
  if (windowed.length === spec.numLayers) out.push(`sliding window ${windowed[0]}`);
  else if (windowed.length > 0) out.push(`sliding window ${windowed[0]} on ${windowed.length} of ${spec.numLayers} layers (the others full attention)`);
  const act = spec.layers.find((l) => l.mlp.kind === 'moe' && l.mlp.moe.expertActivation);
  if (act?.mlp.kind === 'moe' && act.mlp.moe.expertActivation) {
    const e = act.mlp.moe.expertActivation;
    out.push(`experts: clamped SwiGLU (alpha ${e.alpha}, limit ${e.limit}, (up + 1) * glu), gate/up interleaved, with biases`);
  }
  if (spec.layers[0]?.mlp.kind === 'moe' && spec.layers[0].mlp.moe.router.bias) out.push('router bias');
  const rules = new Set<string>();
  let shared = false;
  for (const l of spec.layers) {
    if (l.mlp.kind !== 'moe') continue;
    rules.add(routingRule(l.mlp.moe));
    shared ||= Boolean(l.mlp.moe.shared);
  }
  out.push(...rules);
  const sharedSpec = spec.layers.map((l) => (l.mlp.kind === 'moe' ? l.mlp.moe.shared : undefined)).find(Boolean);
  if (shared) out.push(sharedSpec?.gate ? 'shared expert gated by sigmoid' : 'shared experts added to the routed ones');
  const scaling = spec.layers.map((l) => (l.mlp.kind === 'moe' ? l.mlp.moe.routedScalingFactor : undefined)).find((x) => x !== undefined);
  if (scaling !== undefined) out.push(`routed weights times routed_scaling_factor ${scaling}`);
  const dense = spec.numLayers - spec.moeLayers.length;
  if (dense > 0) out.push(`${dense} dense MLP layer${dense === 1 ? '' : 's'}`);
  return out;
}
