import { describe, expect, it } from 'vitest';
import { bestTokenF1, tokenF1, tokenizeForF1, xquadSubstringMatch } from '../../../src/eval/scoring/xquad.js';

describe('XQuAD substring rule (answer in prediction or prediction in answer)', () => {
  it('the reference rule, including its empty-prediction quirk', () => {
    expect(xquadSubstringMatch('It was in 1871 in Paris.', ['1871'], 'reference')).toBe(true); // gold inside the output
    expect(xquadSubstringMatch('Paris', ['in Paris, France'], 'reference')).toBe(true); // output inside the gold
    expect(xquadSubstringMatch('London', ['Paris'], 'reference')).toBe(false);
    expect(xquadSubstringMatch('', ['Paris'], 'reference')).toBe(true); // "" is a substring of everything
    expect(xquadSubstringMatch('paris', ['Paris'], 'reference')).toBe(false); // case-sensitive, raw strings
  });

  it('the fixed rule counts an empty or blank prediction wrong and is otherwise the same', () => {
    expect(xquadSubstringMatch('', ['Paris'], 'fixed')).toBe(false);
    expect(xquadSubstringMatch('  \n', ['Paris'], 'fixed')).toBe(false);
    expect(xquadSubstringMatch('Paris', ['in Paris, France'], 'fixed')).toBe(true);
  });

  it('any of several gold answers', () => {
    expect(xquadSubstringMatch('Denver Broncos', ['Carolina Panthers', 'Denver Broncos'], 'reference')).toBe(true);
  });
});

describe('token F1', () => {
  it('SQuAD normalisation: case, punctuation, English articles', () => {
    expect(tokenizeForF1('The Denver Broncos!', 'en')).toEqual(['denver', 'broncos']);
    expect(tokenizeForF1('The Denver Broncos!', 'de')).toEqual(['the', 'denver', 'broncos']); // articles only for English
  });

  it('unspaced scripts are split into characters', () => {
    expect(tokenizeForF1('北京大学2008年', 'zh')).toEqual(['北', '京', '大', '学', '2008', '年']);
    // Thai: one token per code point, combining vowel signs included (documented in docs/scoring.md).
    expect(tokenizeForF1('กรุงเทพ', 'th')).toEqual(['ก', 'ร', 'ุ', 'ง', 'เ', 'ท', 'พ']);
  });

  it('hand computed F1', () => {
    // pred {denver, broncos, won}, gold {denver, broncos}: common 2, P 2/3, R 1 -> F1 = 0.8
    expect(tokenF1('Denver Broncos won', 'the Denver Broncos', 'en')).toBeCloseTo(0.8, 12);
    // zh: pred 北京 (2 chars), gold 北京大学 (4): common 2, P 1, R 1/2 -> 2/3
    expect(tokenF1('北京', '北京大学', 'zh')).toBeCloseTo(2 / 3, 12);
    expect(tokenF1('', '', 'en')).toBe(1);
    expect(tokenF1('', 'Paris', 'en')).toBe(0);
    expect(bestTokenF1('Paris', ['London', 'Paris'], 'en')).toBe(1);
  });
});
