import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  maskingPlan,
  maskPlanJson,
  parseSteerPlanJson,
  randomMaskControl,
  randomSteerControl,
  steeringPlan,
  steerPlanJson,
  type MaskPlan,
  type SteerPlan,
} from '../../src/analysis/plans.js';
import { loadRecorderFolder } from '../../src/analysis/recorder-json.js';
import type { RoutingData } from '../../src/analysis/routing-data.js';
import { recorderJson, syntheticRouting } from './synthetic.js';

// ---------------------------------------------------------------------------------------------------------------
// Independent computation of arXiv 2601.14050's plans: float64, plain loops and a full sort per row. It does not
// emulate torch's tie order; a tie at the k-th place must be resolved by `ties` (expert torch kept) or it throws.

type Ties = Record<string, number>; // "<lang>:<layer>" -> expert torch.topk kept among the tied ones

function naiveShares(data: RoutingData, langs: string[], k: number, layer: number, ties: Ties = {}): number[][] {
  const E = data.numExperts;
  const kept = langs.map((code) => {
    const r = data.languages.find((l) => l.language === code)!;
    const f: number[] = [];
    for (let e = 0; e < E; e++) f.push(r.counts[layer * E + e] / r.totals[layer]);
    const order = f.map((_, e) => e).sort((a, b) => f[b] - f[a] || a - b);
    let chosen = order.slice(0, k);
    if (k < E && f[order[k - 1]] === f[order[k]]) {
      const tiedValue = f[order[k - 1]];
      const pick = ties[`${code}:${layer}`];
      const tied = order.filter((e) => f[e] === tiedValue);
      const above = order.filter((e) => f[e] > tiedValue);
      if (pick === undefined || !tied.includes(pick) || above.length !== k - 1) throw new Error(`unresolved tie for ${code} layer ${layer}`);
      chosen = [...above, pick];
    }
    const out = new Array<number>(E).fill(0);
    for (const e of chosen) out[e] = f[e];
    return out;
  });
  const shares = kept.map(() => new Array<number>(E).fill(0));
  for (let e = 0; e < E; e++) {
    let sum = 0;
    for (const row of kept) sum += row[e];
    for (let i = 0; i < kept.length; i++) shares[i][e] = kept[i][e] / (sum + 1e-10);
  }
  return shares;
}

function naiveSteer(data: RoutingData, targets: string[], k: number, thr: number, [a, b]: [number, number], mode: 'shared' | 'aggregate', ties?: Ties) {
  const out = new Map<number, Map<number, number>>();
  const all = data.languages.map((l) => l.language);
  for (let l = a; l <= b; l++) {
    const langs = mode === 'shared' ? targets : all;
    const s = naiveShares(data, langs, k, l, ties);
    for (let e = 0; e < data.numExperts; e++) {
      if (mode === 'shared') {
        const rs = targets.map((_, i) => s[i][e]);
        if (rs.some((r) => r > 0) && rs.every((r) => r < thr)) {
          if (!out.has(l)) out.set(l, new Map());
          out.get(l)!.set(e, rs[0]);
        }
      } else {
        const score = targets.reduce((acc, t) => acc + s[langs.indexOf(t)][e], 0);
        if (score >= thr) {
          if (!out.has(l)) out.set(l, new Map());
          out.get(l)!.set(e, score);
        }
      }
    }
  }
  return out;
}

function naiveMask(data: RoutingData, targets: string[], shared: boolean, k: number, thr: number, [a, b]: [number, number], ties?: Ties) {
  const out = new Map<number, number[]>();
  const all = data.languages.map((l) => l.language);
  for (let l = a; l <= b; l++) {
    const s = naiveShares(data, all, k, l, ties);
    const experts: number[] = [];
    for (let e = 0; e < data.numExperts; e++) {
      const rs = s.map((row) => row[e]);
      const hit = shared ? rs.some((r) => r > 0) && rs.every((r) => r < thr) : targets.reduce((acc, t) => acc + rs[all.indexOf(t)], 0) > thr;
      if (hit) experts.push(e);
    }
    if (experts.length) out.set(l, experts);
  }
  return out;
}

function expectSteerClose(got: SteerPlan['steer'], expected: Map<number, Map<number, number>>) {
  expect([...got.keys()]).toEqual([...expected.keys()]);
  for (const [l, row] of expected) {
    expect([...got.get(l)!.keys()]).toEqual([...row.keys()]);
    for (const [e, s] of row) expect(Math.abs(got.get(l)!.get(e)! - s)).toBeLessThan(2e-6);
  }
}

const mapOfMask = (m: MaskPlan) => Object.fromEntries([...m].map(([l, e]) => [l, e]));

// ---------------------------------------------------------------------------------------------------------------

describe('plans on synthetic routing', () => {
  const data = syntheticRouting({ groups: [['aa', 'ab'], ['ba', 'bb', 'bc'], ['ca']], layers: 12, experts: 32, seed: 11 });

  it.each(['shared', 'aggregate'] as const)('steering plan (%s) equals the independent computation', (mode) => {
    for (const [targets, thr] of [[['aa', 'ba'], 0.7], [['bb', 'aa'], 0.6], [['ca', 'ab', 'bc'], 0.5]] as const) {
      const plan = steeringPlan(data, { targets: [...targets], k: 8, thr, layers: [2, 9], lambda: 0.03, mode });
      expectSteerClose(plan.steer, naiveSteer(data, [...targets], 8, thr, [2, 9], mode));
      expect(plan.steer.size).toBeGreaterThan(0);
    }
  });

  it('masking plans equal the independent computation', () => {
    for (const shared of [false, true]) {
      for (const t of ['aa', 'bc', 'ca']) {
        const plan = maskingPlan(data, { targets: [t], shared, k: 6, thr: 0.4, layers: [0, 11] });
        expect(mapOfMask(plan)).toEqual(Object.fromEntries(naiveMask(data, [t], shared, 6, 0.4, [0, 11])));
      }
    }
    expect(maskingPlan(data, { targets: ['ca'], shared: false, k: 6, thr: 0.4, layers: [0, 11] }).size).toBeGreaterThan(0);
  });

  it('writes the reference JSON format and reads it back', () => {
    const plan = steeringPlan(data, { targets: ['aa', 'ba'], k: 8, thr: 0.7, layers: [2, 9], lambda: 1, mode: 'shared' });
    const text = steerPlanJson(plan);
    expect(text.startsWith('{\n    "lambda": 1.0,\n    "steer_dict": {\n        "')).toBe(true);
    const back = parseSteerPlanJson(text, 'plan');
    expect(back.lambda).toBe(1);
    expectSteerClose(back.steer, plan.steer);
    const mask = maskingPlan(data, { targets: ['ca'], shared: false, k: 6, thr: 0.4, layers: [0, 11] });
    expect(JSON.parse(maskPlanJson(mask))).toEqual(Object.fromEntries([...mask].map(([l, e]) => [String(l), e])));
  });

  it('random control plans keep per-layer counts, avoid plan experts and are reproducible', () => {
    const plan = steeringPlan(data, { targets: ['aa', 'ba'], k: 8, thr: 0.7, layers: [2, 9], lambda: 0.02, mode: 'shared' });
    const c1 = randomSteerControl(plan, data.numExperts, 2025);
    const c2 = randomSteerControl(plan, data.numExperts, 2025);
    const c3 = randomSteerControl(plan, data.numExperts, 7);
    expect(steerPlanJson(c1)).toBe(steerPlanJson(c2));
    expect(steerPlanJson(c1)).not.toBe(steerPlanJson(c3));
    for (const [l, row] of plan.steer) {
      const ctl = c1.steer.get(l)!;
      expect(ctl.size).toBe(row.size);
      for (const e of ctl.keys()) expect(row.has(e)).toBe(false);
      expect([...ctl.values()].sort()).toEqual([...row.values()].sort());
    }
    const mask = maskingPlan(data, { targets: [], shared: true, k: 6, thr: 0.4, layers: [0, 11] });
    const mc = randomMaskControl(mask, data.numExperts, 1);
    for (const [l, experts] of mask) {
      expect(mc.get(l)!.length).toBe(experts.length);
      expect(mc.get(l)!.some((e) => experts.includes(e))).toBe(false);
    }
  });

  it('rejects bad parameters with clear errors', () => {
    const base = { targets: ['aa', 'ba'], k: 8, thr: 0.7, layers: [2, 9] as [number, number], lambda: 0.02, mode: 'shared' as const };
    expect(() => steeringPlan(data, { ...base, k: 33 })).toThrow(/k must be an integer from 1 to the number of experts \(32\), got 33/);
    expect(() => steeringPlan(data, { ...base, k: 0 })).toThrow(/k must be/);
    expect(() => steeringPlan(data, { ...base, thr: 0 })).toThrow(/thr must be in \(0, 1\], got 0/);
    expect(() => steeringPlan(data, { ...base, thr: 1.2 })).toThrow(/thr must be in \(0, 1\]/);
    expect(() => steeringPlan(data, { ...base, layers: [9, 2] })).toThrow(/layer range 9-2 is empty/);
    expect(() => steeringPlan(data, { ...base, layers: [2, 12] })).toThrow(/outside the model's MoE layers 0-11/);
    expect(() => steeringPlan(data, { ...base, targets: ['aa', 'zz'] })).toThrow(/language 'zz' is not in the routing data \(available: aa, ab, ba, bb, bc, ca\)/);
    expect(() => maskingPlan(data, { targets: ['zz'], shared: false, k: 6, thr: 0.4, layers: [0, 1] })).toThrow(/'zz' is not in the routing data/);
    const zero = structuredClone(data);
    zero.languages[1].totals[3] = 0;
    expect(() => steeringPlan(zero, base)).toThrow(/language 'ab', layer 3: token total is 0; a run with zero tokens/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The real Qwen3-30B-A3B MGSM routing published with arXiv 2601.14050 (../shared/fixtures, not in the repo).

const FIXTURE = resolve(__dirname, '../../../shared/fixtures/qwen3-30b-a3b-mgsm-routing');
const HAVE_FIXTURE = existsSync(join(FIXTURE, 'mgsm_en.json'));

// Expert ties at the k-th place in the fixture for k = 20, and the expert torch.topk kept (torch 1.13, CPU).
const TIES_K20: Ties = { 'fr:22': 45, 'fr:28': 82, 'sw:18': 86, 'zh:36': 92 };

// Facts from running the reference implementation's own functions (steer/vllm_steer_polymath.py
// get_target_shared_experts / aggregate_experts and intervention/vllm_intervention_mgsm.py ablation_experts, commit
// ea1d65b of conctsai/Multilingualism-in-Mixture-of-Experts-LLMs) offline with torch 1.13 on these files, vLLM stubbed
// out; the files were listed by os.listdir in the order bn, es, ja, sw, fr, zh, de, en. Regenerate them with
// tools/reference-torch/reference_plans.py (Debian python3-torch 1.13.1; exact commands in its README.md).
const REF_SHARED_EN_ZH_COUNTS = [13, 13, 13, 9, 13, 13, 10, 9, 18, 17, 16, 17, 15, 13, 15, 13, 16, 14, 13, 11, 18, 18, 17, 16, 14, 14, 14, 10, 14, 14]; // layers 10..39, 420 experts
const REF_SHARED_EN_ZH_L10 =
  '"10": {\n            "3": 0.494518905878067,\n            "18": 0.501335620880127,\n            "26": 0.5053508281707764,\n' +
  '            "35": 0.5118035078048706,\n            "45": 0.4884662330150604,\n            "46": 0.5390704870223999,\n' +
  '            "53": 0.5267719030380249,\n            "76": 0.5481180548667908,\n            "85": 0.4520263969898224,\n' +
  '            "87": 0.5737040042877197,\n            "99": 0.5221500992774963,\n            "100": 0.5338166356086731,\n' +
  '            "110": 0.5902656316757202\n        }';
const REF_SHARED_L25 = [0, 2, 4, 26, 38, 58, 77, 78, 103, 104, 110, 111, 115];
const REF_SHARED_L36 = [8, 44, 46, 48, 56, 64, 65, 73, 75, 85, 102, 105, 113, 117];
const REF_AGG_COUNTS = [4, 8, 7, 12, 6, 9, 7, 10, 1, 2, 3, 2, 5, 8, 6, 8, 4, 7, 8, 8, 3, 2, 2, 4, 9, 7, 9, 11, 4, 7]; // 183
const REF_AGG_L10 = [22, 89, 112, 115];
const REF_AGG_L36 = [47, 50, 53, 66, 70, 95, 96, 101, 105];
const REF_AGG_L11_E123 = 0.7090696692466736;
const REF_MASK_SW_0_4 = {
  0: [4, 46, 47, 122],
  1: [24, 28, 42, 49, 72, 73, 74, 95, 96, 124, 126],
  2: [13, 18, 20, 42, 55, 57, 81, 97, 103, 127],
  3: [9, 18, 30, 34, 37, 64, 94],
  4: [29, 32, 38, 47, 65, 70, 90, 111, 118, 124],
};
const REF_MASK_SHARED_22_26_COUNTS = [14, 16, 16, 16, 16];
const REF_MASK_SHARED_L22 = [3, 9, 10, 16, 35, 40, 46, 69, 76, 87, 98, 99, 110, 120];

describe.skipIf(!HAVE_FIXTURE)(`plans on the real Qwen3-30B-A3B MGSM routing${HAVE_FIXTURE ? '' : ' (skipped: ../shared/fixtures/qwen3-30b-a3b-mgsm-routing is absent)'}`, () => {
  const REF_ORDER = ['bn', 'es', 'ja', 'sw', 'fr', 'zh', 'de', 'en'];
  const data = HAVE_FIXTURE ? loadRecorderFolder(FIXTURE, { languages: REF_ORDER }) : (undefined as unknown as RoutingData);

  it('shared-mode steering en,zh (k 20, thr 0.7, layers 10-39, lambda 0.022) equals the reference', () => {
    const plan = steeringPlan(data, { targets: ['en', 'zh'], k: 20, thr: 0.7, layers: [10, 39], lambda: 0.022, mode: 'shared' });
    expect([...plan.steer.keys()]).toEqual(Array.from({ length: 30 }, (_, i) => 10 + i));
    expect([...plan.steer.values()].map((m) => m.size)).toEqual(REF_SHARED_EN_ZH_COUNTS);
    expect(REF_SHARED_EN_ZH_COUNTS.reduce((a, b) => a + b, 0)).toBe(420);
    expect([...plan.steer.get(25)!.keys()]).toEqual(REF_SHARED_L25);
    expect([...plan.steer.get(36)!.keys()]).toEqual(REF_SHARED_L36);
    const text = steerPlanJson(plan);
    expect(text.startsWith('{\n    "lambda": 0.022,\n    "steer_dict": {\n        ' + REF_SHARED_EN_ZH_L10)).toBe(true);
    expectSteerClose(plan.steer, naiveSteer(data, ['en', 'zh'], 20, 0.7, [10, 39], 'shared', TIES_K20));
  });

  it('zh,en uses the same experts with zh coefficients', () => {
    const a = steeringPlan(data, { targets: ['en', 'zh'], k: 20, thr: 0.7, layers: [10, 39], lambda: 0.022, mode: 'shared' });
    const b = steeringPlan(data, { targets: ['zh', 'en'], k: 20, thr: 0.7, layers: [10, 39], lambda: 0.034, mode: 'shared' });
    for (const [l, row] of a.steer) expect([...b.steer.get(l)!.keys()]).toEqual([...row.keys()]);
    expectSteerClose(b.steer, naiveSteer(data, ['zh', 'en'], 20, 0.7, [10, 39], 'shared', TIES_K20));
  });

  it('aggregate-mode steering equals the reference, to the last digit in the reference language order', () => {
    const plan = steeringPlan(data, { targets: ['en', 'zh'], k: 20, thr: 0.7, layers: [10, 39], lambda: 0.022, mode: 'aggregate' });
    expect([...plan.steer.values()].map((m) => m.size)).toEqual(REF_AGG_COUNTS);
    expect([...plan.steer.get(10)!.keys()]).toEqual(REF_AGG_L10);
    expect([...plan.steer.get(36)!.keys()]).toEqual(REF_AGG_L36);
    expect(plan.steer.get(11)!.get(123)).toBe(REF_AGG_L11_E123);
    expect(steerPlanJson(plan)).toContain(`"123": ${REF_AGG_L11_E123}`);
    expectSteerClose(plan.steer, naiveSteer(data, ['en', 'zh'], 20, 0.7, [10, 39], 'aggregate', TIES_K20));
  });

  it('masking plans (sw exclusive, layers 0-4; shared, layers 22-26; k 15 thr 0.4) equal the reference', () => {
    const sw = maskingPlan(data, { targets: ['sw'], shared: false, k: 15, thr: 0.4, layers: [0, 4] });
    expect(mapOfMask(sw)).toEqual(REF_MASK_SW_0_4);
    expect(mapOfMask(sw)).toEqual(Object.fromEntries(naiveMask(data, ['sw'], false, 15, 0.4, [0, 4])));
    const shared = maskingPlan(data, { targets: [], shared: true, k: 15, thr: 0.4, layers: [22, 26] });
    expect([...shared.values()].map((e) => e.length)).toEqual(REF_MASK_SHARED_22_26_COUNTS);
    expect(shared.get(22)).toEqual(REF_MASK_SHARED_L22);
    expect(mapOfMask(shared)).toEqual(Object.fromEntries(naiveMask(data, [], true, 15, 0.4, [22, 26])));
  });

  it('the CLI writes the same plan from a folder listed in the reference order', async () => {
    const { main } = await import('../../src/cli/main.js');
    const dir = mkdtempSync(join(tmpdir(), 'rs-plan-'));
    const out = join(dir, 'steer.json');
    const code = await main(['plan', 'steer', '--routing', FIXTURE, '--order', 'name', '--targets', 'en,zh', '--k', '20', '--thr', '0.7', '--layers', '10-39', '--lambda', '0.022', '--out', out]);
    expect(code).toBe(0);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(out, 'utf8')).toBe(steerPlanJson(steeringPlan(data, { targets: ['en', 'zh'], k: 20, thr: 0.7, layers: [10, 39], lambda: 0.022, mode: 'shared' })));
  });
});

describe('plan CLI on a synthetic recorder folder', () => {
  const data = syntheticRouting({ groups: [['aa', 'ab'], ['ba', 'bb']], layers: 6, experts: 16, seed: 5 });
  const dir = mkdtempSync(join(tmpdir(), 'rs-rec-'));
  for (const l of data.languages) writeFileSync(join(dir, `task_${l.language}.json`), recorderJson(data, l.language));

  it('plan mask writes the library plan; bad input exits 2', async () => {
    const { main } = await import('../../src/cli/main.js');
    const out = join(dir, 'mask.json');
    expect(await main(['plan', 'mask', '--routing', dir, '--pattern', 'task_{lang}.json', '--target', 'bb', '--k', '5', '--thr', '0.4', '--layers', '0-5', '--out', out])).toBe(0);
    const { readFileSync } = await import('node:fs');
    const loaded = loadRecorderFolder(dir, { pattern: 'task_{lang}.json' });
    expect(readFileSync(out, 'utf8')).toBe(maskPlanJson(maskingPlan(loaded, { targets: ['bb'], shared: false, k: 5, thr: 0.4, layers: [0, 5] })));
    expect(await main(['plan', 'mask', '--routing', dir, '--pattern', 'task_{lang}.json', '--target', 'bb', '--k', '17', '--layers', '0-5'])).toBe(2);
    expect(await main(['plan', 'steer', '--routing', dir, '--pattern', 'task_{lang}.json', '--targets', 'aa,zz'])).toBe(2);
    expect(await main(['plan', 'steer', '--routing', dir, '--pattern', 'task_{lang}.json', '--targets', 'aa,bb', '--layers', '0-5', '--thr', '0'])).toBe(2);
    expect(readdirSync(dir).filter((f) => f.startsWith('task_'))).toHaveLength(4);
  });
});
