import { readFileSync } from 'node:fs';
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

// More torch facts from the same script: the heap-select path (k * 64 <= n) with several k, small and mid sizes of
// the introselect path, and NaN entries at the listed positions (torch ranks NaN above every number).
const TORCH_MORE: { n: number; mod: number; mul: number; add: number; k: number; nan: number[]; torch: number[] }[] = [
  { n: 64, mod: 3, mul: 7, add: 1, k: 1, nan: [], torch: [1] },
  { n: 128, mod: 3, mul: 11, add: 2, k: 2, nan: [], torch: [0, 3] },
  { n: 200, mod: 6, mul: 17, add: 0, k: 3, nan: [], torch: [1, 7, 13] },
  { n: 256, mod: 4, mul: 37, add: 3, k: 3, nan: [], torch: [0, 4, 8] },
  { n: 256, mod: 7, mul: 13, add: 5, k: 4, nan: [], torch: [6, 13, 20, 27] },
  { n: 512, mod: 5, mul: 101, add: 7, k: 8, nan: [], torch: [2, 7, 12, 17, 22, 27, 32, 37] },
  { n: 130, mod: 2, mul: 1, add: 0, k: 2, nan: [], torch: [1, 3] },
  { n: 3, mod: 1, mul: 1, add: 0, k: 1, nan: [], torch: [0] },
  { n: 5, mod: 2, mul: 1, add: 0, k: 2, nan: [], torch: [1, 3] },
  { n: 10, mod: 3, mul: 7, add: 2, k: 4, nan: [], torch: [0, 3, 6, 9] },
  { n: 33, mod: 3, mul: 4, add: 0, k: 16, nan: [], torch: [2, 5, 8, 11, 14, 16, 17, 19, 20, 22, 23, 25, 26, 29, 31, 32] },
  { n: 40, mod: 4, mul: 9, add: 1, k: 10, nan: [], torch: [2, 6, 10, 14, 18, 22, 26, 30, 34, 38] },
  { n: 64, mod: 2, mul: 5, add: 3, k: 30, nan: [], torch: [0, 4, 6, 8, 10, 12, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62] },
  { n: 16, mod: 4, mul: 7, add: 3, k: 5, nan: [2, 11], torch: [2, 4, 8, 11, 12] },
  { n: 20, mod: 3, mul: 5, add: 1, k: 3, nan: [0, 7, 8, 19], torch: [7, 8, 19] },
  { n: 128, mod: 5, mul: 29, add: 2, k: 2, nan: [100], torch: [8, 100] },
  { n: 128, mod: 5, mul: 29, add: 2, k: 2, nan: [5, 70], torch: [5, 70] },
  { n: 300, mod: 4, mul: 7, add: 1, k: 4, nan: [3, 150, 299], torch: [3, 6, 150, 299] },
];

const vec = (n: number, mod: number, mul: number, add: number) => Array.from({ length: n }, (_, i) => (i * mul + add) % mod);
const sorted = (a: ArrayLike<number>) => Array.from(a).sort((x, y) => x - y);

describe('torch.topk tie emulation', () => {
  it.each(TORCH_FACTS)('matches torch on n=$n k=$k with ties', ({ n, mod, mul, add, k, torch }) => {
    expect(sorted(torchTopkIndices(vec(n, mod, mul, add), k))).toEqual(torch);
  });

  it.each(TORCH_MORE)('matches torch on n=$n k=$k, NaN at $nan', ({ n, mod, mul, add, k, nan, torch }) => {
    const v = vec(n, mod, mul, add);
    for (const i of nan) v[i] = Number.NaN;
    expect(sorted(torchTopkIndices(v, k))).toEqual(torch);
  });

  it('matches torch on 160 seeded random tie-heavy vectors (both paths, with and without NaN)', () => {
    // Regenerate: /usr/bin/python3 tools/reference-torch/topk_random.py > test/analysis/torch-topk-random.json
    const file = JSON.parse(readFileSync(new URL('./torch-topk-random.json', import.meta.url), 'utf8')) as { cases: { values: string; k: number; torch: number[] }[] };
    expect(file.cases).toHaveLength(160);
    for (const [i, c] of file.cases.entries()) {
      const v = [...c.values].map((ch) => (ch === 'n' ? Number.NaN : Number(ch)));
      expect(sorted(torchTopkIndices(v, c.k)), `case ${i}: n ${v.length}, k ${c.k}`).toEqual(c.torch);
    }
  });

  it('takes k from 0 to n and names a bad k', () => {
    expect(Array.from(torchTopkIndices([3, 1, 2], 0))).toEqual([]);
    expect(sorted(torchTopkIndices([3, 1, 2], 3))).toEqual([0, 1, 2]);
    expect(() => torchTopkIndices([3, 1, 2], 4)).toThrow(/^topk: k=4 out of range for 3 values$/);
    expect(() => torchTopkIndices([3, 1, 2], -1)).toThrow(/^topk: k=-1 out of range for 3 values$/);
    expect(() => torchTopkIndices([3, 1, 2], 1.5)).toThrow(/^topk: k=1\.5 out of range for 3 values$/);
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
