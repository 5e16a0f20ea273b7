/**
 * The routing statistics every analysis starts from: per language, per MoE layer, per expert,
 * how many tokens selected the expert and the sum of its gate weights, plus the token total per layer.
 * The store (captured runs) and the recorder-JSON importer both produce this shape.
 */
export interface LanguageRouting {
  /** Language code as the user named it (e.g. "en", "eng_Latn", or a file-name stem). */
  language: string;
  /** counts[layer * numExperts + expert]: tokens whose top-k contains the expert. */
  counts: Float64Array;
  /** gateSums[layer * numExperts + expert]: sum of the expert's (post-normalisation) gate weights. */
  gateSums: Float64Array;
  /** totals[layer]: tokens seen by that MoE layer. */
  totals: Float64Array;
  /**
   * Optional per-sequence routing distributions for analyses that compare parallel sequences one by one
   * (sequence i of language A against sequence i of language B). seqDist[i][layer * numExperts + expert] is the
   * mean over the sequence's tokens of the expert's gate weight (or selection indicator / topK, see `seqKind`).
   */
  sequences?: { ids: string[]; dist: Float64Array[]; kind: 'gate' | 'frequency' };
}

export interface RoutingData {
  numLayers: number;
  numExperts: number;
  topK: number;
  /** Decoder-layer index of each MoE layer (moeLayers[i] is the model layer of MoE layer i). */
  moeLayers: number[];
  languages: LanguageRouting[];
  /** Where it came from, for reports (a run id, a folder of recorder JSON...). */
  source: string;
  /**
   * Which tokens the counts cover, when the producer knows: 'all' (as the reference recorder counts) or
   * 'content' (chat-template tokens left out). Reports state it; absent means not recorded.
   */
  tokenScope?: 'all' | 'content';
  /** Weight precision the routing was captured at (fp32, fp16...; docs/precision.md), when the producer recorded it. */
  precision?: string;
}
