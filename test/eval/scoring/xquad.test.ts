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

// SQuAD v1.1's evaluate-v1.1.py (which XQuAD's README prescribes) normalises with
//   white_space_fix(remove_articles(remove_punc(lower(s)))), remove_punc = ''.join(ch not in punctuation),
//   remove_articles = re.sub(r'\b(a|an|the)\b', ' ', ...) with Python 3's Unicode \b, white_space_fix = ' '.join(split()).
// The expected tokens below are that function applied by hand.
describe('token F1 follows SQuAD normalize_answer', () => {
  it('punctuation is deleted, not turned into a space', () => {
    expect(tokenizeForF1("Don't stop", 'en')).toEqual(['dont', 'stop']);
    expect(tokenizeForF1('the U.S. Army', 'en')).toEqual(['us', 'army']);
    // pred "jeanpaul sartre" (2 tokens), gold "jean paul sartre" (3): common 1, P 1/2, R 1/3 -> F1 = (1/3)/(5/6) = 0.4
    expect(tokenF1('Jean-Paul Sartre', 'Jean Paul Sartre', 'fr')).toBeCloseTo(0.4, 12);
  });

  it('articles end at Unicode word boundaries and are replaced by a space', () => {
    expect(tokenizeForF1('aéroport', 'en')).toEqual(['aéroport']); // é is \w in Python: no boundary after "a"
    expect(tokenizeForF1('a\u00e9roport', 'de')).toEqual(['aéroport']);
    // U+0301 (a combining mark, not \w) on both sides of "the": re.sub leaves "x\u0301 \u0301y", two tokens.
    expect(tokenizeForF1('x\u0301the\u0301y', 'en')).toEqual(['x\u0301', '\u0301y']);
  });

  it('only English codes drop articles: en, eng, en-GB, en_US, eng_Latn, not ben (Bengali)', () => {
    for (const lang of ['en', 'eng', 'en-GB', 'en_US', 'eng_Latn']) expect(tokenizeForF1('the a an cat', lang)).toEqual(['cat']);
    expect(tokenizeForF1('the a cat', 'ben')).toEqual(['the', 'a', 'cat']);
    expect(tokenizeForF1('the a cat', 'fr-en')).toEqual(['the', 'a', 'cat']);
  });

  it('without a language nothing is dropped but case and punctuation', () => {
    expect(tokenizeForF1('The cat.')).toEqual(['the', 'cat']);
    // "the cat" vs "cat": common 1, P 1/2, R 1 -> 2/3
    expect(tokenF1('The cat', 'cat')).toBeCloseTo(2 / 3, 12);
    expect(bestTokenF1('The cat', ['dog', 'cat'])).toBeCloseTo(2 / 3, 12);
  });

  it('a repeated token is matched at most as often as the gold has it (Counter &)', () => {
    // pred x x x, gold x: common 1, P 1/3, R 1 -> F1 = (2/3)/(4/3) = 0.5
    expect(tokenF1('x x x', 'x', 'de')).toBeCloseTo(0.5, 12);
  });

  it('splits on Python whitespace (U+001C is a separator; U+FEFF is not)', () => {
    expect(tokenizeForF1('a\x1cb', 'de')).toEqual(['a', 'b']);
    expect(tokenizeForF1('a\ufeffb', 'de')).toEqual(['a\ufeffb']);
  });

  it('the fixed rule counts a blank prediction wrong even where it is a substring of the gold', () => {
    expect(xquadSubstringMatch(' ', ['New York'], 'reference')).toBe(true);
    expect(xquadSubstringMatch(' ', ['New York'], 'fixed')).toBe(false);
  });
});
