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
import { once } from './once.js';

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
const comparisons = once(() =>
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
  ),
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
