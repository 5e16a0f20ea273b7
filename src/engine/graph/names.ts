/** The graph's public tensor names, in one place (docs/graph-contract.md describes each). */
export const GraphNames = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  /** LongRoPE models only: max(position_ids) + 1 of the whole forward call a run belongs to (see rope.ts). */
  ropeLength: 'longrope_length',
  logits: 'logits',
  logitsRows: 'logits_rows',
  pastKey: (l: number) => `past_key_values.${l}.key`,
  pastValue: (l: number) => `past_key_values.${l}.value`,
  presentKey: (l: number) => `present.${l}.key`,
  presentValue: (l: number) => `present.${l}.value`,
  steerBias: (i: number) => `steer_bias.${i}`,
  steerScale: (i: number) => `steer_scale.${i}`,
  steerStd: (i: number) => `steer_std.${i}`,
  steerForce: (i: number) => `steer_force.${i}`,
  steerMask: (i: number) => `steer_mask.${i}`,
  routerLogits: (i: number) => `router_logits.${i}`,
  topkExperts: (i: number) => `topk_experts.${i}`,
  topkWeights: (i: number) => `topk_weights.${i}`,
} as const;
