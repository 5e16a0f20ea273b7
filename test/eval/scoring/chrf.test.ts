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
