import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { thirds } from '../../src/analysis/bands.js';
import type { Genealogy } from '../../src/analysis/family.js';
import { loadRecorderFolder } from '../../src/analysis/recorder-json.js';
import { analyzeRouting, writeReport } from '../../src/analysis/report.js';
import { recorderJson, syntheticRouting } from './synthetic.js';

const groups = [['aa', 'ab', 'ac'], ['ba', 'bb'], ['ca', 'cb']];
const genealogy = (code: string): Genealogy | undefined => (code.startsWith('z') ? undefined : { family: code[0], lineage: [code[0], code] });

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? allFiles(join(dir, f)) : [join(dir, f)]));
}

describe('analyze on synthetic routing with a built-in U-shape and family structure', () => {
  const data = syntheticRouting({ groups, layers: 15, experts: 24, seed: 21 });

  it('finds the U-shape and family agreement from the data', () => {
    const r = analyzeRouting(data, { pivot: 'aa', genealogy, k: 6, thr: 0.4 });
    expect(r.uShape.holds).toBe(true);
    expect(r.uShape.middle!).toBeGreaterThan(r.uShape.early!);
    // Early/late layers are dominated by group profiles, so clustering recovers the families there.
    expect(r.dendrograms[0].trees.average.family!.ari).toBe(1);
    expect(r.dendrograms[14].trees.ward.family!.ari).toBe(1);
    expect(r.dendrograms[0].trees.average.family!.cophenetic!).toBeGreaterThan(0.8);
    // specialisation: more exclusive experts at the ends than in the middle
    const excl = (l: number) => Object.values(r.specialisation.layers[l].exclusive).reduce((a, b) => a + b, 0);
    expect(excl(0)).toBeGreaterThan(excl(7));
    // a flat curve gives "does not hold": three languages with identical routing align perfectly in every layer
    const one = syntheticRouting({ groups: [['aa']], layers: 6, experts: 24, seed: 2 });
    const same = { ...one, languages: ['aa', 'ab', 'ac'].map((language) => ({ ...one.languages[0], language })) };
    const flat = analyzeRouting(same, { bands: thirds(6) });
    expect(flat.alignment.every((a) => Math.abs(a - 1) < 1e-12)).toBe(true);
    expect(flat.uShape.holds).toBe(false);
    expect(flat.uShape.text).toMatch(/^does not hold: early 1\.000, middle 1\.000, late 1\.000/);
  });

  it('writes every report file, with no NaN anywhere', () => {
    const r = analyzeRouting(data, { pivot: 'aa', genealogy });
    const dir = mkdtempSync(join(tmpdir(), 'rs-report-'));
    writeReport(r, dir);
    for (const f of ['summary.md', 'matrices.json', 'dendrograms.json', 'dendrograms/average.nwk', 'dendrograms/ward.nwk', 'family-agreement.csv', 'specialisation.json', 'specialisation-layers.csv', 'specialisation-experts.csv', 'curves.json', 'curves.csv', 'bands.json', 'matrices/njsd-layer-07.csv']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    for (const f of allFiles(dir)) expect(readFileSync(f, 'utf8'), f).not.toMatch(/NaN|Infinity|null,null/);
    const summary = readFileSync(join(dir, 'summary.md'), 'utf8');
    expect(summary).toMatch(/\*\*U-shape holds/);
    expect(summary).toMatch(/\| 0 \| [0-9.]+ \| [0-9.-]+ \| 1\.000 \|/);
    expect(readFileSync(join(dir, 'dendrograms/average.nwk'), 'utf8').trim().split('\n')).toHaveLength(15);
  });

  it('handles a language without metadata and degenerate input without NaN', () => {
    const d2 = syntheticRouting({ groups: [['aa', 'ab'], ['zz']], layers: 3, experts: 8, seed: 4 });
    const r = analyzeRouting(d2, { genealogy, k: 3 });
    expect(r.dendrograms[0].trees.average.family!.unknown).toEqual(['zz']);
    expect(r.dendrograms[0].trees.average.family!.cophenetic).toBeNull();
    // one language: matrices 1x1, trees single leaves
    const one = syntheticRouting({ groups: [['aa']], layers: 3, experts: 8, seed: 4 });
    const r1 = analyzeRouting(one, { k: 3 });
    expect(r1.dendrograms[0].trees.average.newick).toBe('aa;');
    expect(() => analyzeRouting(one, { k: 9 })).toThrow(/k must be an integer from 1 to the number of experts \(8\)/);
    expect(() => analyzeRouting(one, { k: 3, thr: 0 })).toThrow(/thr must be in \(0, 1\]/);
    const zero = structuredClone(one);
    zero.languages[0].counts.fill(0);
    expect(() => analyzeRouting(zero, { k: 3 })).toThrow(/layer 0: no expert was selected/);
    const ac = new AbortController();
    ac.abort();
    expect(() => analyzeRouting(data, { signal: ac.signal })).toThrow(/cancelled/);
  });

  it('the analyze CLI writes the report from a recorder folder', async () => {
    const { main } = await import('../../src/cli/main.js');
    const src = mkdtempSync(join(tmpdir(), 'rs-an-src-'));
    for (const l of data.languages) writeFileSync(join(src, `mgsm_${l.language}.json`), recorderJson(data, l.language));
    const out = mkdtempSync(join(tmpdir(), 'rs-an-out-'));
    expect(await main(['analyze', '--routing', src, '--out', out, '--pivot', 'aa', '--linkage', 'average,ward', '--bands', '0-3,5-9,11-14'])).toBe(0);
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toMatch(/Bands \(user\): early 0-3, middle 5-9, late 11-14/);
    expect(existsSync(join(out, 'dendrograms/single.nwk'))).toBe(false);
    expect(loadRecorderFolder(src).languages).toHaveLength(7);
    expect(await main(['analyze', '--routing', src, '--out', out, '--pivot', 'nope'])).toBe(2);
    expect(await main(['analyze', '--routing', src, '--out', out, '--linkage', 'median'])).toBe(2);
    expect(await main(['analyze', '--routing', src])).toBe(2);
  });
});

const FIXTURE = resolve(__dirname, '../../../shared/fixtures/qwen3-30b-a3b-mgsm-routing');
const HAVE_FIXTURE = existsSync(join(FIXTURE, 'mgsm_en.json'));
describe.skipIf(!HAVE_FIXTURE)(`analyze on the real Qwen3-30B-A3B MGSM routing${HAVE_FIXTURE ? '' : ' (skipped: ../shared fixture absent)'}`, () => {
  it('shows the U-shape with the paper masking bands', async () => {
    const data = loadRecorderFolder(FIXTURE);
    const { parseBands } = await import('../../src/analysis/bands.js');
    const r = analyzeRouting(data, { pivot: 'en', bands: parseBands('0-4,22-26,43-47', 48), linkages: ['average'] });
    expect(r.uShape.holds).toBe(true);
    expect(r.uShape.middle! - Math.max(r.uShape.early!, r.uShape.late!)).toBeGreaterThan(0.1);
  });
});
