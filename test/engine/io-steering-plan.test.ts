import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolderError } from '../../src/engine/errors.js';
import { isNeutralSteering, loadPlanFile, neutralSteering, resolvePlan, toProjectPlan } from '../../src/engine/steering-plan.js';

const root = mkdtempSync(join(tmpdir(), 'rs-plan-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// 4 decoder layers, layer 1 dense (like a Qwen3 config with mlp_only_layers [1]); top-2 routing.
const model = { numLayers: 4, numExperts: 8, moeLayers: [0, 2, 3], topK: 2 };

function expectPlanError(fn: () => unknown, ...parts: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a ModelFolderError').toBeInstanceOf(ModelFolderError);
  for (const p of parts) expect((caught as Error).message).toContain(p);
}

describe('resolvePlan', () => {
  it('reference steering: scale = lambda * s on the named decoder layers', () => {
    const t = resolvePlan({ lambda: 0.5, steer_dict: { '2': { '1': 0.4, '7': 1 }, '3': { '0': -0.2 } } }, model);
    expect(t.perMoeLayer.length).toBe(3);
    expect(Array.from(t.perMoeLayer[1]!.scale)).toEqual([0, Math.fround(0.2), 0, 0, 0, 0, 0, 0.5]);
    expect(t.perMoeLayer[2]!.scale[0]).toBeCloseTo(-0.1, 7);
    expect(Array.from(t.perMoeLayer[0]!.scale).every((v) => v === 0)).toBe(true);
    for (const l of t.perMoeLayer) {
      expect(l.bias.every((v) => v === 0) && l.std.every((v) => v === 0) && l.force.every((v) => v === 0) && l.mask.every((v) => v === 0)).toBe(true);
    }
  });

  it('reference masking: lists of experts per layer', () => {
    const t = resolvePlan({ '0': [1, 2], '3': [7, 7] }, model);
    expect(Array.from(t.perMoeLayer[0]!.mask)).toEqual([0, 1, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(t.perMoeLayer[1]!.mask)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(t.perMoeLayer[2]!.mask)).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('project format: every field, and a round trip through toProjectPlan', () => {
    const plan = {
      format: 'routescope-plan',
      version: 1,
      layers: {
        '0': { bias: { '3': 1.5 }, std: { '4': 0.5 } },
        '2': { scale: { '0': 0.022 }, force: { '5': 2, '6': -1 }, mask: [1] },
      },
    };
    const t = resolvePlan(plan, model);
    expect(t.perMoeLayer[0]!.bias[3]).toBe(1.5);
    expect(t.perMoeLayer[0]!.std[4]).toBe(0.5);
    expect(t.perMoeLayer[1]!.scale[0]).toBeCloseTo(0.022, 7);
    expect(Array.from(t.perMoeLayer[1]!.force)).toEqual([0, 0, 0, 0, 0, 2, -1, 0]);
    expect(t.perMoeLayer[1]!.mask[1]).toBe(1);
    expect(isNeutralSteering(t)).toBe(false);
    const again = resolvePlan(JSON.parse(JSON.stringify(toProjectPlan(t, model))), model);
    expect(again).toEqual(t);
  });

  it('neutral tensors', () => {
    const n = neutralSteering(model);
    expect(n.perMoeLayer.length).toBe(3);
    expect(n.perMoeLayer[0]!.bias.length).toBe(8);
    expect(isNeutralSteering(n)).toBe(true);
    expect(isNeutralSteering(resolvePlan({}, model))).toBe(true);
    expect(toProjectPlan(n, model)).toEqual({ format: 'routescope-plan', version: 1, layers: {} });
  });

  it('errors name the plan, the layer and the expert', () => {
    const src = '/plans/en-zh.json';
    expectPlanError(() => resolvePlan({ '1': [0] }, model, src), src, 'layer 1', 'not a MoE layer', '0, 2-3');
    expectPlanError(() => resolvePlan({ '9': [0] }, model, src), src, 'layer 9', '4 decoder layers');
    expectPlanError(() => resolvePlan({ '-1': [0] }, model, src), src, '"-1"');
    expectPlanError(() => resolvePlan({ '0': [8] }, model, src), src, 'layer 0', 'expert 8', '8 experts');
    expectPlanError(() => resolvePlan({ '0': [1.5] }, model, src), src, 'layer 0', '1.5');
    expectPlanError(() => resolvePlan({ lambda: 0.1, steer_dict: { '2': { '3': 'x' } } }, model, src), src, 'layer 2', 'expert 3', 'finite');
    expectPlanError(() => resolvePlan({ lambda: 0.1, steer_dict: { '2': { '3': 1e999 } } }, model, src), 'layer 2', 'expert 3', 'finite');
    expectPlanError(() => resolvePlan({ lambda: 'big', steer_dict: {} }, model, src), src, '"lambda"');
    expectPlanError(() => resolvePlan({ lambda: 1, steer_dict: {}, extra: 1 }, model, src), '"extra"');
    expectPlanError(() => resolvePlan({ format: 'routescope-plan', version: 2, layers: {} }, model, src), 'version 2');
    expectPlanError(() => resolvePlan({ format: 'other', version: 1, layers: {} }, model, src), '"other"');
    expectPlanError(() => resolvePlan({ format: 'routescope-plan', version: 1, layers: { '0': { biass: { '1': 1 } } } }, model, src), 'layer 0', 'unknown field "biass"');
    expectPlanError(() => resolvePlan({ format: 'routescope-plan', version: 1, layers: { '3': { force: { '2': null } } } }, model, src), 'layer 3', 'expert 2');
    expectPlanError(() => resolvePlan({ '0': 'all' }, model, src), 'not a recognised plan');
    expectPlanError(() => resolvePlan([1, 2], model, src), 'JSON object');
  });

  it('refuses a plan that masks every expert of a layer, naming the plan and the layer', () => {
    const src = '/plans/mask-all.json';
    const all = [0, 1, 2, 3, 4, 5, 6, 7];
    expectPlanError(() => resolvePlan({ '2': all }, model, src), src, 'layer 2', 'every expert', 'masked');
    expectPlanError(() => resolvePlan({ format: 'routescope-plan', version: 1, layers: { '3': { mask: all, bias: { '1': 1 } } } }, model, src), src, 'layer 3', 'every expert');
    // Repeats do not count twice: 7 distinct experts leave one unmasked.
    expect(() => resolvePlan({ '2': [0, 0, 1, 2, 3, 4, 5, 6] }, model, src)).not.toThrow();
  });

  it('warns (and still resolves) when fewer than top-k experts of a layer stay unmasked', () => {
    const src = '/plans/mask-most.json';
    const t = resolvePlan({ '0': [0, 1, 2, 3, 4, 5, 6], '2': [0, 1, 2, 3, 4, 5] }, model, src);
    expect(Array.from(t.perMoeLayer[0]!.mask)).toEqual([1, 1, 1, 1, 1, 1, 1, 0]);
    // Layer 0 keeps 1 expert (< top-2): one warning naming the plan, the layer and the counts; layer 2 keeps exactly 2.
    expect(t.warnings).toHaveLength(1);
    for (const part of [src, 'layer 0', '1 of 8', 'top-2', 'weight 0']) expect(t.warnings[0]).toContain(part);
    expect(resolvePlan({ '0': [1, 2] }, model, src).warnings).toEqual([]);
    const file = join(root, 'mask-most.json');
    writeFileSync(file, JSON.stringify({ '3': [1, 2, 3, 4, 5, 6, 7] }));
    expect(loadPlanFile(file, model).warnings[0]).toContain('layer 3');
  });

  it('loadPlanFile names the file for unreadable and invalid plans', () => {
    const good = join(root, 'mask.json');
    writeFileSync(good, JSON.stringify({ '2': [4] }));
    expect(loadPlanFile(good, model).perMoeLayer[1]!.mask[4]).toBe(1);
    const bad = join(root, 'bad.json');
    writeFileSync(bad, '{"2": [4');
    expectPlanError(() => loadPlanFile(bad, model), bad, 'not valid JSON');
    expectPlanError(() => loadPlanFile(join(root, 'absent.json'), model), 'absent.json', 'not found');
    const wrong = join(root, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ '1': [4] }));
    expectPlanError(() => loadPlanFile(wrong, model), wrong, 'layer 1');
  });
});
