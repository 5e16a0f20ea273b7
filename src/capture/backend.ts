/**
 * What the capture job needs from an inference engine. The engine adapter (src/engine) implements it; tests use a
 * deterministic in-test implementation. Layouts match the store's: [moe layer][token][slot].
 */
import type { RenderedPrompt } from '../datasets/templates.js';
import type { ModelInfo } from '../store/entities.js';

/** The store's model record plus the engine facts a capture run records alongside it. */
export interface CaptureModel extends ModelInfo {
  executionProvider: string;
  engineVersion: string;
  /** Weight precision the engine runs at (recorded with the run); absent for backends without one. */
  precision?: string;
}

export interface EncodedPrompt {
  /** Token ids of the whole prompt, template markup included, no padding. */
  ids: number[];
  /** One per token: 1 where the token comes from the prompt template (chat markup), 0 for the item's own text. */
  templateMask: ArrayLike<number>;
}

export interface RoutedSequence {
  /** numMoeLayers x numTokens x topK expert ids of the real (unpadded) tokens. */
  expertIds: ArrayLike<number>;
  /** Same layout: the gate weights the model used (after any top-k renormalisation). */
  gateWeights: ArrayLike<number>;
  /** Optional numMoeLayers x numTokens x numExperts router logits, when asked for. */
  routerLogits?: ArrayLike<number>;
}

export interface RouteOptions {
  withLogits: boolean;
  /** Aborting should make route() reject promptly; the batch in flight is then discarded. */
  signal?: AbortSignal;
  /** Steering / masking plan of the run, passed through unchanged. */
  plan?: unknown;
}

export interface CaptureBackend {
  model: CaptureModel;
  encode(prompt: RenderedPrompt): EncodedPrompt | Promise<EncodedPrompt>;
  /** One forward (prefill) over a batch of prompts; one result per prompt, in order. */
  route(batch: number[][], options: RouteOptions): Promise<RoutedSequence[]>;
}
