import { describe, expect, it } from 'vitest';
import { torchTopkIndices } from '../../src/analysis/torch-topk.js';

// Vectors v[i] = (i * mul + add) % mod: many ties at the k-th place. The expected index sets were obtained by
// running torch.topk(torch.tensor([v], dtype=torch.float32), k) with torch 1.13 (CPU) on this machine
// (/usr/bin/python3), the kernel the reference implementation of arXiv 2601.14050 relies on. Regenerate them with
// `/usr/bin/python3 tools/reference-torch/topk_facts.py` (Debian python3-torch 1.13.1; see its README.md).
const TORCH_FACTS: { n: number; mod: number; mul: number; add: number; k: number; torch: number[] }[] = [
  { n: 16, mod: 4, mul: 7, add: 3, k: 5, torch: [0, 4, 8, 9, 12] },
  { n: 16, mod: 3, mul: 5, add: 1, k: 7, torch: [2, 5, 8, 9, 11, 12, 14] },
  { n: 128, mod: 6, mul: 37, add: 11, k: 20, torch: [6, 12, 18, 24, 30, 36, 42, 48, 54, 60, 66, 72, 78, 84, 90, 96, 102, 108, 114, 120] },
  { n: 128, mod: 9, mul: 53, add: 5, k: 15, torch: [6, 15, 24, 33, 42, 51, 52, 60, 69, 78, 87, 96, 105, 114, 123] },
  { n: 128, mod: 5, mul: 29, add: 2, k: 2, torch: [3, 8] }, // k * 64 <= n: the partial_sort (heap select) path
  { n: 128, mod: 4, mul: 13, add: 1, k: 33, torch: [2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 42, 46, 50, 54, 58, 62, 66, 70, 74, 78, 82, 86, 90, 94, 97, 98, 102, 106, 110, 114, 118, 122, 126] },
  { n: 100, mod: 7, mul: 31, add: 4, k: 12, torch: [10, 17, 24, 31, 38, 45, 52, 59, 66, 73, 87, 94] },
];

const vec = (n: number, mod: number, mul: number, add: number) => Array.from({ length: n }, (_, i) => (i * mul + add) % mod);
const sorted = (a: ArrayLike<number>) => Array.from(a).sort((x, y) => x - y);

describe('torch.topk tie emulation', () => {
  it.each(TORCH_FACTS)('matches torch on n=$n k=$k with ties', ({ n, mod, mul, add, k, torch }) => {
    expect(sorted(torchTopkIndices(vec(n, mod, mul, add), k))).toEqual(torch);
  });

  it('differs from a lowest-index tie rule where torch does', () => {
    const { n, mod, mul, add, k, torch } = TORCH_FACTS[2];
    const v = vec(n, mod, mul, add);
    const lowest = sorted(v.map((_, i) => i).sort((a, b) => v[b] - v[a] || a - b).slice(0, k));
    expect(lowest).not.toEqual(torch);
  });

  it('selects exactly the k largest values on random data without ties', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let t = 0; t < 200; t++) {
      const n = 1 + Math.floor(rand() * 200);
      const k = 1 + Math.floor(rand() * n);
      const v = Array.from({ length: n }, (_, i) => rand() + i * 1e-12);
      const expected = sorted(v.map((_, i) => i).sort((a, b) => v[b] - v[a]).slice(0, k));
      expect(sorted(torchTopkIndices(v, k))).toEqual(expected);
    }
  });

  it('rejects k outside 0..n', () => {
    expect(() => torchTopkIndices([1, 2, 3], 4)).toThrow(/out of range/);
  });
});
