/** Early / middle / late bands and the band means the report, the demo summary and the UI print, worked out by hand. */
import { describe, expect, it } from 'vitest';
import { bandMean, detectBands, parseBands, thirds } from '../../src/analysis/bands.js';
import { uShapeVerdict } from '../../src/analysis/report.js';

// Powers of two: every subset of layers has a different sum, so a band mean that takes one layer too many or too
// few at either end, or divides by the wrong count, gives a different number.
const POW = [1, 2, 4, 8, 16, 32, 64];

describe('bandMean', () => {
  it('averages exactly the layers of the inclusive band', () => {
    expect(bandMean(POW, [1, 3])).toBe((2 + 4 + 8) / 3);
    expect(bandMean(POW, [0, 0])).toBe(1);
    expect(bandMean(POW, [6, 6])).toBe(64);
    expect(bandMean(POW, [0, 6])).toBe(127 / 7);
    expect(bandMean(POW, [4, 6])).toBe((16 + 32 + 64) / 3);
    expect(bandMean(POW, null)).toBeNull();
  });
});

describe('thirds', () => {
  it('splits at floor(L/3) and floor(2L/3)', () => {
    expect(thirds(48)).toEqual({ early: [0, 15], middle: [16, 31], late: [32, 47], how: 'thirds' });
    expect(thirds(3)).toEqual({ early: [0, 0], middle: [1, 1], late: [2, 2], how: 'thirds' });
    expect(thirds(10)).toEqual({ early: [0, 2], middle: [3, 5], late: [6, 9], how: 'thirds' });
    expect(thirds(8)).toEqual({ early: [0, 1], middle: [2, 4], late: [5, 7], how: 'thirds' });
    expect(() => thirds(2)).toThrow(/need at least 3 layers for early\/middle\/late bands, have 2/);
  });
});

describe('parseBands', () => {
  it('reads three inclusive ranges and names what is wrong', () => {
    expect(parseBands(' 0-4, 22-26 ,43-47', 48)).toEqual({ early: [0, 4], middle: [22, 26], late: [43, 47], how: 'user' });
    expect(parseBands('0-0,1-1,2-2', 3)).toEqual({ early: [0, 0], middle: [1, 1], late: [2, 2], how: 'user' });
    expect(parseBands('0-4,5-9,10-47', 48).late).toEqual([10, 47]); // the last layer itself is allowed
    expect(() => parseBands('0-4,5-9,10-48', 48)).toThrow(/--bands: range 10-48 goes past the last layer 47/);
    expect(() => parseBands('0-4,26-22,43-47', 48)).toThrow(/--bands: range 26-22 is empty/);
    expect(() => parseBands('0-4,22-26', 48)).toThrow(/--bands needs three ranges early,middle,late like 0-4,22-26,43-47, got '0-4,22-26'/);
    expect(() => parseBands('0-4,22-26,43-47,48-49', 60)).toThrow(/three ranges/);
    expect(() => parseBands('0-4,x,43-47', 48)).toThrow(/--bands: 'x' is not a range like 22-26/);
    expect(() => parseBands('0-4,-1-3,43-47', 48)).toThrow(/'-1-3' is not a range/);
    expect(() => parseBands('0-4,22-26x,43-47', 48)).toThrow(/'22-26x' is not a range/);
  });
});

describe('detectBands', () => {
  it('finds the longest run above the midpoint of the 3-layer smoothed curve', () => {
    // smoothed: .225 .25 .45 .65 .85 .8667 .85 .65 .4333 .25; midpoint (.225 + .8667) / 2 = .5458 -> layers 3-7 above
    expect(detectBands([0.2, 0.25, 0.3, 0.8, 0.85, 0.9, 0.85, 0.8, 0.3, 0.2])).toEqual({ early: [0, 2], middle: [3, 7], late: [8, 9], how: 'detected' });
  });

  it('takes the first of two equally long runs, and the longest run wherever it lies', () => {
    // smoothed: 0 .333 .333 .333 0 .333 .333 .333 0 (ends: 0 and 0); runs 1-3 and 5-7 are as long
    expect(detectBands([0, 0, 1, 0, 0, 0, 1, 0, 0]).middle).toEqual([1, 3]);
    // smoothed: 0 .333 .667 .667 .333 0 .333 .667 1 1 .667 .333 0; midpoint .5: runs 2-3 and the longer 7-10
    expect(detectBands([0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0])).toEqual({ early: [0, 6], middle: [7, 10], late: [11, 12], how: 'detected' });
    // the same with the longer run first
    expect(detectBands([0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0]).middle).toEqual([2, 5]);
  });

  it('counts a layer exactly at the midpoint as not above it', () => {
    // smoothed: 2 2.333 2.667 2 2 1.333 1.5; midpoint 1.333 + (2.667 - 1.333) / 2 = 2 exactly: layers 0, 3, 4 sit on it
    expect(detectBands([1, 3, 3, 2, 1, 3, 0])).toEqual({ early: [0, 0], middle: [1, 2], late: [3, 6], how: 'detected' });
  });

  it('leaves early or late empty when the run touches an end', () => {
    // smoothed: .75 .667 .333 0 0 ; midpoint .375 -> layers 0-1
    expect(detectBands([1, 0.5, 0.5, 0, 0])).toEqual({ early: null, middle: [0, 1], late: [2, 4], how: 'detected' });
    // smoothed: 0 0 .333 .667 .75 ; midpoint .375 -> layers 3-4
    expect(detectBands([0, 0, 0, 1, 0.5]).late).toBeNull();
    expect(detectBands([0, 0, 0, 1, 0.5]).middle).toEqual([3, 4]);
  });

  it('falls back to thirds on a flat curve (smoothed range below 1e-12) and needs three layers', () => {
    expect(detectBands([0.5, 0.5, 0.5, 0.5, 0.5, 0.5])).toEqual(thirds(6));
    expect(detectBands([0.5, 0.5, 0.5 + 1e-13, 0.5 + 1e-13, 0.5, 0.5])).toEqual(thirds(6));
    // smoothed 0 0 x/3 2x/3 x x: a range of exactly 1e-12 is not below 1e-12, so the run 3-5 is detected
    const x = 1e-12;
    expect(detectBands([0, 0, 0, x, x, x])).toEqual({ early: [0, 2], middle: [3, 5], late: null, how: 'detected' });
    expect(() => detectBands([1, 2])).toThrow(/need at least 3 layers to detect bands, have 2/);
  });
});

describe('uShapeVerdict', () => {
  const bands = thirds(6); // early 0-1, middle 2-3, late 4-5

  it('holds only when the middle mean is above both end means', () => {
    const u = uShapeVerdict([0.1, 0.3, 0.8, 0.6, 0.5, 0.1], bands);
    expect(u).toEqual({ holds: true, early: 0.2, middle: 0.7, late: 0.3, text: 'holds: alignment is lower early (0.200) and late (0.300) than in the middle (0.700)' });
    const flat = uShapeVerdict([0.5, 0.5, 0.5, 0.5, 0.5, 0.5], bands);
    expect(flat.holds).toBe(false);
    expect(flat.text).toBe('does not hold: early 0.500, middle 0.500, late 0.500 (the middle is not above both ends)');
    expect(uShapeVerdict([0.1, 0.3, 0.8, 0.6, 0.9, 0.7], bands).holds).toBe(false); // late above the middle
    expect(uShapeVerdict([0.7, 0.7, 0.8, 0.6, 0.1, 0.1], bands).holds).toBe(false); // early equal to the middle
  });

  it('is not decidable when a band is empty', () => {
    const v = uShapeVerdict([0.1, 0.3, 0.8, 0.6, 0.5, 0.1], { early: null, middle: [0, 3], late: [4, 5], how: 'detected' });
    expect(v.holds).toBe(false);
    expect(v.early).toBeNull();
    expect(v.text).toBe('not decidable: a band is empty (early n/a, middle 0.450, late 0.300)');
  });
});
