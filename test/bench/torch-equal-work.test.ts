/**
 * The PyTorch comparison of bench:engine only means something if its equal-work check fails when the two
 * forwards differ: a different expert set, logits off by more than the tolerance, or a shape mismatch.
 * (PyTorch itself is not needed here: the check compares arrays.) The column is skipped, saying why and how to
 * install PyTorch, where no interpreter has it.
 */
import { describe, expect, it } from 'vitest';
import type { ForwardResult } from '../../src/engine/index.js';
import { equalWork } from '../../bench/torch-peer/compare.js';
import { findTorchPython } from '../../bench/torch-peer/peer.js';

const k = 2;
function ours(experts: number[][], routerLogits: number[][], logits: number[]): ForwardResult {
  return {
    batch: 1,
    seq: experts[0]!.length / k,
    vocabSize: logits.length,
    logits: Float32Array.from(logits),
    logitsRows: Int32Array.from([0]),
    routing: experts.map((e, l) => ({ experts: Int32Array.from(e), weights: new Float32Array(e.length), routerLogits: Float32Array.from(routerLogits[l]!) })),
    cache: { batch: 1, length: 0, keys: [], values: [] },
  };
}
const router = [[0.5, -1, 2, 0, 0.5, -1, 2, 0]]; // 2 tokens x 4 experts, one MoE layer
const logits = [3, -2, 10];

describe('equalWork (bench:engine torch check)', () => {
  it('accepts the same expert sets in another order and fp32-sized differences', () => {
    const r = equalWork(ours([[2, 0, 1, 3]], router, logits), { ms: 0, experts: [[0, 2, 3, 1]], router_logits: [router[0]!.map((v) => v + 1e-6)], logits: logits.map((v) => v - 5e-6) }, k);
    expect(r).toMatchObject({ expertRowsDiffering: 0, expertRows: 2, equal: true });
    expect(r.logitsMaxAbsDiff).toBeGreaterThan(0);
  });

  it('rejects a different expert set, and logits beyond the tolerance', () => {
    const experts = equalWork(ours([[2, 0, 1, 3]], router, logits), { ms: 0, experts: [[2, 0, 1, 2]], router_logits: router, logits }, k);
    expect(experts).toMatchObject({ expertRowsDiffering: 1, equal: false });
    const off = equalWork(ours([[2, 0, 1, 3]], router, logits), { ms: 0, experts: [[2, 0, 1, 3]], router_logits: router, logits: [3, -2, 10.01] }, k);
    expect(off.equal).toBe(false);
    expect(off.relativeDiff).toBeCloseTo(0.001, 6);
  });

  it('refuses answers of another shape', () => {
    expect(() => equalWork(ours([[2, 0, 1, 3]], router, logits), { ms: 0, experts: [], router_logits: [], logits }, k)).toThrow(/MoE layers/);
    expect(() => equalWork(ours([[2, 0, 1, 3]], router, logits), { ms: 0, experts: [[2, 0, 1, 3]], router_logits: router, logits: [1] }, k)).toThrow(/last-token logits: 3 values against 1/);
  });
});

describe('findTorchPython (bench:engine torch column)', () => {
  it('skips with the interpreters tried, why each failed, and the install command', () => {
    const r = findTorchPython(['/nonexistent/python3', process.execPath]);
    expect('skip' in r).toBe(true);
    const reason = (r as { skip: string }).skip;
    expect(reason).toContain('/nonexistent/python3: ');
    expect(reason).toContain(`${process.execPath}: `);
    expect(reason).toContain('apt-get install -y python3-torch libopenblas0-pthread');
  });
});
