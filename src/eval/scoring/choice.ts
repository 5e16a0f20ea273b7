/**
 * Multiple choice by log-likelihood (Belebele and the like), as lm-evaluation-harness scores it: `acc` picks the
 * choice with the highest total log-likelihood of its continuation; `acc_norm` divides each by the continuation's
 * length in characters (lm-evaluation-harness's default normalisation) before picking. Ties go to the first
 * choice, as numpy's argmax does. A per-token normalisation is offered when token counts are given.
 */

export interface ChoiceInput {
  /** Summed log-likelihood of each choice's continuation given the prompt. */
  logLikelihoods: readonly number[];
  /** Index of the correct choice. */
  gold: number;
  /** The choices' continuation texts (for the per-character normalisation). */
  choices?: readonly string[];
  /** The choices' continuation lengths in tokens (for the per-token normalisation). */
  tokenCounts?: readonly number[];
}

export interface ChoiceScore {
  predicted: number;
  correct: boolean;
  /** By log-likelihood per character (lm-evaluation-harness acc_norm); absent without `choices`. */
  predictedNorm?: number;
  correctNorm?: boolean;
  /** By log-likelihood per token; absent without `tokenCounts`. */
  predictedPerToken?: number;
  correctPerToken?: boolean;
}

function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

export function scoreChoice(input: ChoiceInput): ChoiceScore {
  const { logLikelihoods: ll, gold } = input;
  if (ll.length < 2) throw new Error(`multiple choice needs at least 2 choices, got ${ll.length}`);
  if (!ll.every((x) => typeof x === 'number' && !Number.isNaN(x))) throw new Error('multiple choice: every log-likelihood must be a number');
  if (!Number.isInteger(gold) || gold < 0 || gold >= ll.length) throw new Error(`multiple choice: gold index ${gold} is outside 0..${ll.length - 1}`);
  const predicted = argmax(ll);
  const out: ChoiceScore = { predicted, correct: predicted === gold };
  if (input.choices) {
    if (input.choices.length !== ll.length) throw new Error(`multiple choice: ${input.choices.length} choice texts for ${ll.length} log-likelihoods`);
    // Characters as Python's len() counts them (code points); an empty continuation cannot be normalised.
    const lens = input.choices.map((c) => Math.max(1, Array.from(c).length));
    out.predictedNorm = argmax(ll.map((x, i) => x / lens[i]!));
    out.correctNorm = out.predictedNorm === gold;
  }
  if (input.tokenCounts) {
    if (input.tokenCounts.length !== ll.length) throw new Error(`multiple choice: ${input.tokenCounts.length} token counts for ${ll.length} log-likelihoods`);
    if (!input.tokenCounts.every((n) => Number.isInteger(n) && n > 0)) throw new Error('multiple choice: token counts must be positive integers');
    out.predictedPerToken = argmax(ll.map((x, i) => x / input.tokenCounts![i]!));
    out.correctPerToken = out.predictedPerToken === gold;
  }
  return out;
}
