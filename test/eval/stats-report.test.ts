import { describe, expect, it } from 'vitest';
import {
  compareArms,
  comparisonRows,
  summaryMarkdown,
  toCsv,
  toReportJson,
  type ArmComparison,
  type Observation,
} from '../../src/eval/stats/index.js';

/** A plain RFC 4180 reader, written separately from toCsv, to read its output back. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(field), (field = '');
    else if (ch === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), i++;
    else field += ch;
  }
  if (field !== '' || row.length > 0) throw new Error('CSV does not end with CRLF');
  return rows;
}

function binaryObs(arm: string, lang: string, values: number[]): Observation[] {
  return values.map((value, i) => ({ arm, item: `q${i}`, lang, sample: 0, value }));
}

const base = Array.from({ length: 80 }, (_, i) => (i % 2 === 0 ? 1 : 0));
const helps = base.map((v, i) => (i % 4 === 1 ? 1 : v)); // 20 wrong items made right
const noise = base.map((v, i) => (i % 10 === 0 ? 1 - v : i % 10 === 5 ? 1 - v : v)); // 8 right->wrong, 8 wrong->right
// Computed in each test, not at collection (see stats-compare.test.ts).
const comparisons = () =>
  compareArms(
    [
      ...binaryObs('baseline', 'sw', base),
      ...binaryObs('steer|en', 'sw', helps),
      ...binaryObs('noise', 'sw', noise),
      ...binaryObs('baseline', 'ja', base),
      ...binaryObs('steer|en', 'ja', noise),
      ...binaryObs('noise', 'ja', noise),
    ],
    { baseline: 'baseline', binary: true, seed: 4, resamples: 2000 },
  );

describe('toReportJson', () => {
  it('writes exactly the issue\'s keys, snake_case, with discordant counts for binary comparisons', () => {
    const rows = toReportJson(comparisons());
    expect(rows).toHaveLength(comparisons().length);
    for (const [i, r] of rows.entries()) {
      const keys = ['arm', 'baseline', 'language', 'n', 'baseline_score', 'arm_score', 'delta', 'ci', 'p', 'p_holm', 'discordant'];
      expect(Object.keys(r).sort()).toEqual(keys.sort());
      const c = comparisons()[i];
      expect(r).toMatchObject({ arm: c.arm, baseline: 'baseline', language: c.language, n: c.n, delta: c.delta, p: c.p, p_holm: c.pHolm });
      expect(r.ci).toEqual(c.ci);
      expect(r.discordant).toEqual({ baseline_only: c.discordant!.baselineOnly, arm_only: c.discordant!.armOnly });
    }
    const steerSw = rows.find((r) => r.arm === 'steer|en' && r.language === 'sw')!;
    expect(steerSw.discordant).toEqual({ baseline_only: 0, arm_only: 20 });
  });

  it('adds test, Wilson intervals, MDE and warnings on request, and writes an undefined statistic as null', () => {
    const [r] = toReportJson(comparisons(), { detail: true });
    expect(r.test).toBe('mcnemar-exact');
    expect(r.baseline_ci).toEqual(comparisons()[0].baselineCi);
    expect(r.warnings).toEqual(comparisons()[0].warnings);
    const cont = { ...comparisons()[0], mde: NaN, discordant: undefined, baselineCi: undefined, armCi: undefined };
    const parsed = JSON.parse(JSON.stringify(toReportJson([cont], { detail: true })))[0];
    expect(parsed.mde).toBeNull();
    expect('discordant' in parsed).toBe(false);
  });
});

describe('toCsv', () => {
  it('quotes commas, quotes, newlines and edge spaces, and reads back with an independent parser', () => {
    const rows = [
      { arm: 'plain', note: 'a,b', n: 3, ok: true },
      { arm: 'say "hi"', note: 'line1\nline2', n: -0.5, ok: false },
      { arm: ' padded', note: null, n: NaN, ok: undefined },
    ];
    const text = toCsv(rows);
    expect(text.startsWith('arm,note,n,ok\r\n')).toBe(true);
    expect(parseCsv(text)).toEqual([
      ['arm', 'note', 'n', 'ok'],
      ['plain', 'a,b', '3', 'true'],
      ['say "hi"', 'line1\nline2', '-0.5', 'false'],
      [' padded', '', '', ''],
    ]);
    expect(parseCsv(toCsv(rows, ['n', 'arm']))[1]).toEqual(['3', 'plain']);
  });

  it('turns comparisons into one flat row each, language first', () => {
    const table = parseCsv(toCsv(comparisonRows(comparisons())));
    const header = table[0];
    expect(header.slice(0, 4)).toEqual(['language', 'arm', 'baseline', 'n']);
    expect(table).toHaveLength(comparisons().length + 1);
    const row = Object.fromEntries(header.map((h, i) => [h, table[1][i]]));
    expect(Number(row.ci_lo)).toBe(comparisons()[0].ci[0]);
    expect(Number(row.p_holm)).toBe(comparisons()[0].pHolm);
    expect(row.arm).toBe(comparisons()[0].arm);
  });
});

describe('summaryMarkdown', () => {
  it('names the real effect, whether it survives Holm, and escapes table cells', () => {
    const md = summaryMarkdown(comparisons(), { title: 'MGSM steering', metric: 'accuracy' });
    expect(md).toMatch(/^# MGSM steering/);
    expect(md).toMatch(/`steer\|en` in sw: better than the baseline by 25\.0 pts/);
    expect(md).toMatch(/significant after Holm correction/);
    expect(md).toContain('| sw | steer\\|en | 80 |');
    expect(md).toMatch(/exact McNemar/);
    expect(md).toMatch(/adjusted over all 6 comparisons/);
    expect(md).toMatch(/## Warnings/);
  });

  it('says plainly when no interval excludes zero, and what the item counts could have detected', () => {
    const flat = comparisons().filter((c) => c.arm === 'noise');
    const md = summaryMarkdown(flat, { metric: 'accuracy' });
    expect(flat.every((c) => c.ci[0] <= 0 && c.ci[1] >= 0)).toBe(true);
    expect(md).toContain('No difference is distinguishable from zero: every 95% interval of the difference includes 0.');
    expect(md).toMatch(/does not show that the arms are equal/);
  });

  it('says when an interval excludes zero but Holm does not confirm it, in the metric\'s direction', () => {
    const c: ArmComparison = {
      arm: 'soft', baseline: 'base', language: 'swh', n: 50, baselineScore: 2.5, armScore: 2.4, delta: -0.1, ci: [-0.19, -0.01],
      p: 0.03, pHolm: 0.09, test: 'wilcoxon', mde: 0.12, warnings: [],
    };
    const md = summaryMarkdown([c], { metric: 'mean NLL (nats per token)', higherIsBetter: false, selection: 'picked on the same items' });
    expect(md).toMatch(/lower is better/);
    expect(md).toMatch(/`soft` in swh: better than the baseline by 0\.100/);
    expect(md).toMatch(/not significant after Holm correction \(p = 0\.090\)/);
    expect(md).toMatch(/None of these survives the Holm correction/);
    expect(md).toMatch(/Selection warning:\*\* picked on the same items/);
  });
});

describe('summaryMarkdown numbers', () => {
  const binary = (over: Partial<ArmComparison>): ArmComparison => ({
    arm: 'a', baseline: 'base', language: 'sw', n: 250, baselineScore: 0.5, armScore: 0.5, baselineCi: [0.44, 0.56], armCi: [0.44, 0.56],
    delta: 0, ci: [-0.02, 0.02], p: 1, pHolm: 1, test: 'mcnemar-exact', mde: 0.05, warnings: [], ...over,
  });

  it('writes each table cell as formatted by hand: percentages, signed points, p fixed or exponent, MDE', () => {
    const c = binary({
      baselineScore: 0.512, armScore: 0.5567, delta: 0.0447, ci: [0.00411, 0.0862], baselineCi: [0.4505, 0.5731],
      armCi: [0.4949, 0.6168], p: 0.00099, pHolm: 0.001, discordant: { baselineOnly: 3, armOnly: 14 }, mde: 0.07523,
    });
    const md = summaryMarkdown([c], { metric: 'accuracy' });
    expect(md).toContain(
      '| sw | a | 250 | 51.2% [45.1%, 57.3%] | 55.7% [49.5%, 61.7%] | +4.5 pts | [+0.4, +8.6] | exact McNemar | 9.9e-4 | 0.001 | 3 / 14 | 7.5 pts |',
    );
    expect(md).toContain('- `a` in sw: better than the baseline by 4.5 pts (95% CI +0.4 to +8.6 pts, n = 250); p = 9.9e-4, significant');
    const cont: ArmComparison = { ...binary({}), baselineCi: undefined, armCi: undefined, test: 'paired-t', baselineScore: 2.34567, armScore: 2.2, delta: -0.14567, ci: [-0.3, 0.01], p: Number.NaN, pHolm: Number.NaN, mde: 0.123456 };
    expect(summaryMarkdown([cont], { metric: 'nll', higherIsBetter: false })).toContain(
      '| sw | a | 250 | 2.346 | 2.200 | -0.146 | [-0.300, +0.0100] | paired t | n/a | n/a |  | 0.123 |',
    );
  });

  it('treats an interval touching 0 as including it, and Holm p above alpha as not significant', () => {
    const touching = summaryMarkdown([binary({ delta: 0.03, ci: [0, 0.06] }), binary({ arm: 'b', delta: -0.03, ci: [-0.06, 0] })], { metric: 'accuracy' });
    expect(touching).toContain('No difference is distinguishable from zero');
    const atAlpha = summaryMarkdown([binary({ delta: 0.03, ci: [0.001, 0.06], p: 0.04, pHolm: 0.0501 })], { metric: 'accuracy' });
    expect(atAlpha).toMatch(/p = 0\.040, not significant after Holm correction \(p = 0\.050\)/);
    expect(atAlpha).toContain('None of these survives the Holm correction at alpha 0.05');
    const worse = summaryMarkdown([binary({ delta: -0.03, ci: [-0.06, -0.001], pHolm: 0.049 }), binary({ arm: 'b' })], { metric: 'accuracy', confidence: 0.9 });
    expect(worse).toContain('- `a` in sw: worse than the baseline by 3.0 pts (90% CI -6.0 to -0.1 pts, n = 250)');
    expect(worse).toContain('- The other 1 comparison: the interval includes 0.');
    expect(worse).not.toContain('None of these survives');
  });

  it('gives the range of detectable effects from the smallest to the largest MDE', () => {
    const md = summaryMarkdown([binary({ mde: 0.081 }), binary({ arm: 'b', mde: 0.034 }), binary({ arm: 'c', mde: Number.NaN })], { metric: 'accuracy' });
    expect(md).toContain('the smallest effects these item counts would detect (80% power) are 3.4 to 8.1 pts.');
    expect(md).toContain('(10,000 resamples, percentile method)');
    const none = summaryMarkdown([binary({ mde: Number.NaN })], { metric: 'accuracy', resamples: 2000 });
    expect(none).toContain('(2,000 resamples, percentile method)');
    expect(none).toContain('would detect (80% power) are not estimable.');
  });
});
