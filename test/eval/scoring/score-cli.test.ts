/** createScorer and `routescope score` end to end, on a temporary JSON-lines file with malformed lines. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliInProcess } from '../../support/cli.js';
import { createScorer, ScoringInputError, type Scorer } from '../../../src/eval/scoring/index.js';
import { loadUdhrCorpus } from '../../../src/corpus/udhr.js';

let dir: string;
let scorer: Scorer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'routescope-score-'));
  scorer = await createScorer();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...argv: string[]) => cliInProcess(argv);

// Real Swahili of a model-output length: UDHR article 26. (fastText's lid.176 is unsure on very short Swahili,
// e.g. "Kila mtu ana haki ya kuelimishwa. Jibu ni 3." reads as Esperanto: docs/scoring.md.)
const SW = loadUdhrCorpus({ languages: ['swh'], split: 'heldout' }).items[0]!.texts.swh!.replace(/\s+/g, ' ');

describe('createScorer', () => {
  it('math: reference rule, then the named options', () => {
    const out = `${SW} Jibu ni 18.`;
    const ref = scorer.score('mgsm', { output: out, answer: 18, lang: 'sw' });
    expect(ref).toMatchObject({ extracted: null, correct: false, noAnswer: true, score: 0, rule: 'boxed+math_equal', detectedLang: 'sw', consistent: true });
    const fb = scorer.score('mgsm', { output: out, answer: 18, lang: 'sw' }, { fallback: 'last-number' });
    expect(fb).toMatchObject({ extracted: '18', correct: true, noAnswer: false, rule: 'last-number+math_equal' });
    const box = `${SW} \\boxed{\\$18}`;
    expect(scorer.score('polymath', { output: box, answer: '18', lang: 'sw' }).correct).toBe(false);
    expect(scorer.score('polymath', { output: box, answer: '18', lang: 'sw' }, { lenient: true })).toMatchObject({ correct: true, rule: 'boxed+math_equal+lenient', extracted: '\\$18' });
  });

  it('xquad: both empty rules, F1 alongside', () => {
    const a = scorer.score('xquad', { output: '', answer: ['Paris'], lang: 'fr' });
    expect(a).toMatchObject({ correct: true, noAnswer: true, f1: 0, rule: 'xquad-substring(reference)' });
    expect(scorer.score('xquad', { output: '', answer: 'Paris', lang: 'fr' }, { xquadEmpty: 'fixed' }).correct).toBe(false);
    expect(scorer.score('xquad', { output: 'À Paris', answer: 'Paris', lang: 'fr' }).f1).toBeCloseTo(2 / 3, 12);
  });

  it('flores: chrF as the score, consistency against the FLORES code', () => {
    const s = scorer.score('flores', { output: 'Kila mtu ana haki ya kupata elimu.', answer: 'Kila mtu ana haki ya kupata elimu.', lang: 'swh_Latn' });
    expect(s).toMatchObject({ chrf: 100, score: 100, correct: false, detectedLang: 'swh_Latn', consistent: true });
  });

  it('an unknown item language gives consistency null, and bad answers a clear error', () => {
    expect(scorer.score('mgsm', { output: '\\boxed{1}', answer: '1', lang: 'qqq' }).consistent).toBeNull();
    expect(() => scorer.score('mgsm', { output: 'x', answer: ['1'], lang: 'en' })).toThrow(ScoringInputError);
    expect(() => scorer.score('mgsm', { output: 'x', answer: ['1'], lang: 'en' })).toThrow(/"answer" must be a string or a number/);
  });
});

describe('routescope score', () => {
  const lines = [
    JSON.stringify({ id: 'a', lang: 'sw', output: `${SW} \\boxed{18}`, answer: '18', level: 'low', extra: [1] }),
    JSON.stringify({ id: 'b', lang: 'sw', output: `${SW} Jibu ni 3.`, answer: 3 }),
    'not json',
    JSON.stringify({ id: 'c', lang: 'bn', output: 'উত্তর \\boxed{৩৫}', answer: '35' }),
    JSON.stringify({ id: 'd', lang: 'de', output: 42, answer: '42' }),
    '',
    JSON.stringify({ id: 'e', lang: 'de', answer: '42' }),
    JSON.stringify({ lang: 'de', output: 'x', answer: '42' }),
    JSON.stringify({ id: 'f', lang: 'en', output: 'The answer is \\boxed{\\$18}.', answer: '18' }),
    '[1,2]',
  ];

  it('scores the good lines, names each malformed line and field, exits 1', async () => {
    const input = join(dir, 'preds.jsonl');
    const output = join(dir, 'scored.jsonl');
    writeFileSync(input, lines.join('\n') + '\n');
    const r = await cli('score', '--task', 'mgsm', '--in', input, '--out', output);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('line 3: not valid JSON');
    expect(r.stderr).toContain('line 5: field "output" must be a string, got a number');
    expect(r.stderr).toContain('line 7: field "output" must be a string, got missing');
    expect(r.stderr).toContain('line 8: field "id" must be a string or a number, got missing');
    expect(r.stderr).toContain('line 10: expected a JSON object, got an array');
    expect(r.stderr).toMatch(/rules: boxed\+math_equal \(4\)/);
    expect(r.stderr).toMatch(/^sw\s+2\s+50\.0%\s+1\s+100\.0%/m);
    expect(r.stderr).toMatch(/^all\s+4\s+50\.0%\s+1/m);
    const scored = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(scored.map((s) => s.id)).toEqual(['a', 'b', 'c', 'f']);
    expect(scored[0]).toMatchObject({ id: 'a', level: 'low', extra: [1], extracted: '18', correct: true, no_answer: false, detected_lang: 'sw', consistent: true, rule: 'boxed+math_equal' });
    expect(scored[1]).toMatchObject({ answer: 3, extracted: null, correct: false, no_answer: true });
    expect(scored[2]).toMatchObject({ extracted: '৩৫', correct: true });
    expect(scored[3]).toMatchObject({ extracted: '\\$18', correct: false, detected_lang: 'en' });
    expect(existsSync(`${output}.partial`)).toBe(false);
  });

  it('options are named rules; bad flags and files are clear errors', async () => {
    const input = join(dir, 'ok.jsonl');
    writeFileSync(input, lines[1] + '\n');
    const output = join(dir, 'ok-scored.jsonl');
    const r = await cli('score', '--task', 'mgsm', '--in', input, '--out', output, '--fallback', 'last-number');
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(output, 'utf8'))).toMatchObject({ extracted: '3', correct: true, rule: 'last-number+math_equal' });
    expect((await cli('score', '--task', 'gsm8k', '--in', input, '--out', output)).stderr).toMatch(/--task must be one of mgsm, polymath, xquad, flores/);
    expect((await cli('score', '--task', 'mgsm', '--in', join(dir, 'missing.jsonl'), '--out', output)).stderr).toMatch(/no such file/);
    expect((await cli('score', '--task', 'xquad', '--in', input, '--out', output, '--lenient')).stderr).toMatch(/apply to math answers/);
    expect((await cli('score', '--task', 'mgsm', '--in', input, '--out', output, '--xquad-empty', 'fixed')).code).toBe(2);
    const onlyBad = join(dir, 'bad.jsonl');
    writeFileSync(onlyBad, 'nope\n');
    const bad = await cli('score', '--task', 'mgsm', '--in', onlyBad, '--out', join(dir, 'never.jsonl'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no scorable lines \(1 malformed\)/);
    expect(existsSync(join(dir, 'never.jsonl'))).toBe(false);
  });

  it('xquad with the fixed empty rule reports F1', async () => {
    const input = join(dir, 'xq.jsonl');
    writeFileSync(input, [
      JSON.stringify({ id: 1, lang: 'en', output: '', answer: ['Paris'] }),
      JSON.stringify({ id: 2, lang: 'en', output: 'It is Paris.', answer: ['Paris'] }),
    ].join('\n'));
    const output = join(dir, 'xq-scored.jsonl');
    const r = await cli('score', '--task', 'xquad', '--in', input, '--out', output, '--xquad-empty', 'fixed');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/rules: xquad-substring\(fixed\) \(2\)/);
    const scored = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(scored.map((s) => s.correct)).toEqual([false, true]);
    expect(scored[1]!.f1).toBeCloseTo(0.5, 12); // {it, is, paris} vs {paris}: P 1/3, R 1 -> 2PR/(P+R) = 0.5
  });

  it("says under the summary when a language's consistency cannot be trusted (Malay)", async () => {
    const input = join(dir, 'ms.jsonl');
    writeFileSync(input, JSON.stringify({ id: 1, lang: 'ms', output: 'Jawapannya ialah \\boxed{5}', answer: '5' }) + '\n');
    const r = await cli('score', '--task', 'mgsm', '--in', input, '--out', join(dir, 'ms-scored.jsonl'));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/note: consistency for ms is not reliable: Malay is mostly read as Indonesian/);
  });
});
