/**
 * chrF against published values of sacreBLEU (test/test_chrf.py in github.com/mjpost/sacrebleu, read at commit
 * f615c7286d4d813370efb824d94fc2bfcd3a6b94; sacreBLEU itself is not installable here) and against hand computation.
 */
import { describe, expect, it } from 'vitest';
import { chrfStatistics, corpusChrf, sentenceChrf } from '../../../src/eval/scoring/chrf.js';

// sacreBLEU test_chrf.py `test_cases`: corpus_chrf(..., char_order=6, word_order=0, beta=3, eps_smoothing=True)
const EPS_SMOOTHING: [string[], string[], number][] = [
  [['abcdefg'], ['hijklmnop'], 0.0],
  [['a'], ['b'], 0.0],
  [[''], ['b'], 0.0],
  [[''], ['ref'], 0.0],
  [[''], ['reference'], 0.0],
  [['aa'], ['ab'], 8.3333],
  [['a', 'b'], ['a', 'c'], 8.3333],
  [['a'], ['a'], 16.6667],
  [['a b c'], ['a b c'], 50.0],
  [['a b c'], ['abc'], 50.0],
  [[' risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .'],
    ['risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .'], 63.36173],
  [[' Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. '],
    ['Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.'], 64.1302698],
  [['Niemand hat die Absicht, eine Mauer zu errichten'], ['Niemand hat die Absicht, eine Mauer zu errichten'], 100.0],
];

// `test_cases_effective_order`: beta=3, eps_smoothing=False (sacreBLEU's default averaging)
const EFFECTIVE_ORDER: [string[], string[], number][] = [
  [['a'], ['a'], 100.0],
  [[''], ['reference'], 0.0],
  [['a b c'], ['a b c'], 100.0],
  [['a b c'], ['abc'], 100.0],
  [[''], ['c'], 0.0],
  [['a', 'b'], ['a', 'c'], 50.0],
  [['aa'], ['ab'], 25.0],
];

// `test_cases_keep_whitespace`: beta=3, remove_whitespace=False
const KEEP_WHITESPACE: [string[], string[], number][] = [
  [['Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich.'], ['Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.'], 67.3481606],
  [['risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .'],
    ['risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .'], 65.2414427],
];

// `test_sentence_level_chrf`: sentence_chrf(hyp, refs, eps_smoothing=True) with the default beta=2
const SENTENCE: [string, string, number][] = [
  ['Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.', 'Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.', 39.14078509],
  ['Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.', 'A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.', 31.22557079],
  ['Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.', 'Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.', 57.15704367],
];

const EPSILON = 1e-4; // sacreBLEU's own test tolerance

describe('chrF vs sacreBLEU published values', () => {
  it.each(EPS_SMOOTHING)('eps smoothing %j vs %j = %f', (h, r, want) => {
    expect(Math.abs(corpusChrf(h, r, { beta: 3, epsSmoothing: true }) - want)).toBeLessThan(EPSILON);
  });
  it.each(EFFECTIVE_ORDER)('effective order %j vs %j = %f', (h, r, want) => {
    expect(Math.abs(corpusChrf(h, r, { beta: 3 }) - want)).toBeLessThan(EPSILON);
  });
  it.each(KEEP_WHITESPACE)('whitespace kept %j', (h, r, want) => {
    expect(Math.abs(corpusChrf(h, r, { beta: 3, whitespace: true }) - want)).toBeLessThan(EPSILON);
  });
  it.each(SENTENCE)('sentence %j', (h, r, want) => {
    expect(Math.abs(sentenceChrf(h, r, { epsSmoothing: true }) - want)).toBeLessThan(EPSILON);
  });
});

describe('chrF by hand (sacreBLEU defaults: n=6, beta=2, effective order, whitespace removed)', () => {
  it('"ab" vs "abc"', () => {
    // unigrams: hyp {a,b} 2, ref {a,b,c} 3, match 2 -> P 1, R 2/3; bigrams: hyp {ab} 1, ref {ab,bc} 2, match 1 -> P 1, R 1/2;
    // orders 3..6 have no hypothesis n-grams and are left out. avg P = 1, avg R = 7/12.
    // F2 = 5 * 1 * 7/12 / (4 * 1 + 7/12) = 35/55 = 7/11.
    expect(chrfStatistics('ab', 'abc').slice(0, 6)).toEqual([2, 3, 2, 1, 2, 1]);
    expect(sentenceChrf('ab', 'abc')).toBeCloseTo((100 * 7) / 11, 10);
  });

  it('whitespace is removed before counting, so spacing does not matter', () => {
    expect(sentenceChrf('a  b\tc', 'abc')).toBe(100);
  });

  it('counts code points, not UTF-16 units', () => {
    // "𝟏𝟐" is two code points (four UTF-16 units): unigrams 2 match 2, bigram 1 match 1 -> 100.
    expect(chrfStatistics('𝟏𝟐', '𝟏𝟐').slice(0, 6)).toEqual([2, 2, 2, 1, 1, 1]);
  });

  it('takes the best of several references', () => {
    expect(sentenceChrf('abc', ['xyz', 'abc'])).toBe(100);
  });

  it('an empty hypothesis scores 0', () => {
    expect(sentenceChrf('', 'reference')).toBe(0);
  });
});

// sacreBLEU's CHRF._extract_corpus_statistics / _compute_f_score (sacrebleu/metrics/chrf.py), applied by hand.
describe('chrF: the statistics and averaging sacreBLEU uses', () => {
  it('a hypothesis n-gram count is zeroed where the reference has no n-grams of that order, before corpus summing', () => {
    // "abc" vs "ab": 1-grams [3, 2, 2], 2-grams [2, 1, 1], 3-grams [0 (zeroed, the ref has none), 0, 0].
    // "xyz" vs "xyz": [3, 3, 3], [2, 2, 2], [1, 1, 1]. Sums: [6, 5, 5], [4, 3, 3], [1, 1, 1].
    // P = 5/6, 3/4, 1 -> avg 31/36; R = 1. F2 = 5 (31/36) / (4 (31/36) + 1) = 155/160 = 31/32.
    expect(corpusChrf(['abc', 'xyz'], ['ab', 'xyz'])).toBeCloseTo((100 * 31) / 32, 10);
  });

  it('eps smoothing adds eps = 1e-16 for every order with no defined F (so "a" vs "b" is 1e-14, not 0)', () => {
    // order 1: P = R = 0, denominator 0 -> eps; orders 2-6: no n-grams, P = R = eps -> 5 eps^2 / 5 eps = eps.
    expect(Math.abs(corpusChrf(['a'], ['b'], { epsSmoothing: true }) - (100 * 6e-16) / 6)).toBeLessThan(1e-20);
    // "" vs "ab": orders 1, 2: P = eps, R = 0 -> F = 0; orders 3-6: P = R = eps -> eps. 100 * 4 eps / 6.
    expect(Math.abs(corpusChrf([''], ['ab'], { epsSmoothing: true }) - (100 * 4e-16) / 6)).toBeLessThan(1e-20);
  });

  it('the best reference is the first with the highest score (ties keep the first)', () => {
    expect(sentenceChrf('abc', ['abc', 'xyz'])).toBe(100);
    // "a" scores 0 against both "b" and "cd"; the first ("b") is kept, and the corpus sums its statistics:
    // [1, 1, 0] + "xy" vs "xy" [2, 2, 2], [1, 1, 1] -> P = R = (2/3 + 1)/2 = 5/6 -> F2 = 5/6.
    // Keeping "cd" instead ([1, 2, 0], [0, 1, 0]) would give P 5/6, R 1/2 -> 25/46.
    expect(corpusChrf(['a', 'xy'], [['b', 'cd'], 'xy'])).toBeCloseTo((100 * 5) / 6, 10);
  });

  it('lowercase is an option, off by default', () => {
    expect(sentenceChrf('ABC', 'abc')).toBe(0);
    expect(sentenceChrf('ABC', 'abc', { lowercase: true })).toBe(100);
    // Python's lower() keeps "ß" (upper-casing would make it "SS"): no character in common with "ss".
    expect(sentenceChrf('ß', 'ss', { lowercase: true })).toBe(0);
  });

  it('bad input names what is wrong', () => {
    expect(() => corpusChrf(['a', 'b'], ['a'])).toThrow(/2 hypotheses but 1 references/);
    expect(() => sentenceChrf('a', [])).toThrow(/no reference/);
  });
});
