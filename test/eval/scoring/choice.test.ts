import { describe, expect, it } from 'vitest';
import { scoreChoice } from '../../../src/eval/scoring/choice.js';

describe('multiple choice by log-likelihood', () => {
  it('acc and the per-character acc_norm can disagree (hand computed)', () => {
    // raw: -4 (A) beats -6 (B); per character: A -4/2 = -2, B -6/6 = -1 -> B.
    const s = scoreChoice({ logLikelihoods: [-4, -6], gold: 1, choices: [' a', ' bbbbb'] });
    expect(s).toMatchObject({ predicted: 0, correct: false, predictedNorm: 1, correctNorm: true });
  });

  it('per-token normalisation and ties to the first choice', () => {
    const s = scoreChoice({ logLikelihoods: [-3, -3, -9], gold: 0, tokenCounts: [1, 1, 9] });
    expect(s).toMatchObject({ predicted: 0, correct: true, predictedPerToken: 2, correctPerToken: false });
  });

  it('bad input names what is wrong', () => {
    expect(() => scoreChoice({ logLikelihoods: [-1], gold: 0 })).toThrow(/at least 2 choices/);
    expect(() => scoreChoice({ logLikelihoods: [-1, -2], gold: 2 })).toThrow(/gold index 2 is outside 0..1/);
    expect(() => scoreChoice({ logLikelihoods: [-1, NaN], gold: 0 })).toThrow(/must be a number/);
    expect(() => scoreChoice({ logLikelihoods: [-1, -2], gold: 0, choices: ['a'] })).toThrow(/1 choice texts for 2/);
  });

  it('acc_norm can be wrong where acc is right, and per-token can be right (hand computed)', () => {
    // raw: A -2 beats B -3; per character: A -2/1 = -2, B -3/6 = -0.5 -> B; per token: A -2/1, B -3/1 -> A.
    const s = scoreChoice({ logLikelihoods: [-2, -3], gold: 0, choices: ['a', 'bbbbbb'], tokenCounts: [1, 1] });
    expect(s).toMatchObject({ predicted: 0, correct: true, predictedNorm: 1, correctNorm: false, predictedPerToken: 0, correctPerToken: true });
  });

  it('rejects a non-number log-likelihood, a fractional or negative gold, and bad token counts', () => {
    expect(() => scoreChoice({ logLikelihoods: [-1, 'x' as unknown as number], gold: 0 })).toThrow(/must be a number/);
    expect(() => scoreChoice({ logLikelihoods: [-1, -2], gold: 0.5 })).toThrow(/gold index 0.5 is outside 0..1/);
    expect(() => scoreChoice({ logLikelihoods: [-1, -2], gold: -1 })).toThrow(/gold index -1 is outside 0..1/);
    expect(() => scoreChoice({ logLikelihoods: [-1, -2], gold: 0, tokenCounts: [1] })).toThrow(/1 token counts for 2 log-likelihoods/);
    expect(() => scoreChoice({ logLikelihoods: [-1, -2], gold: 0, tokenCounts: [1, 0] })).toThrow(/token counts must be positive integers/);
    expect(() => scoreChoice({ logLikelihoods: [-1, -2], gold: 0, tokenCounts: [1, 1.5] })).toThrow(/token counts must be positive integers/);
    expect(() => scoreChoice({ logLikelihoods: [-1, -2], gold: 0, tokenCounts: [-1, -2] })).toThrow(/token counts must be positive integers/);
  });
});
