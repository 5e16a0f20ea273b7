"""Regenerates TORCH_FACTS in test/analysis/torch-topk.test.ts: which indices torch.topk (CPU, float32) keeps on
vectors with many ties at the k-th place. Run with Debian's torch (see README.md):

    /usr/bin/python3 tools/reference-torch/topk_facts.py

and paste the printed lines over the arrays (TORCH_FACTS, then TORCH_MORE). Each case is v[i] = (i * mul + add) % mod for i < n.
"""
import torch

CASES = [  # (n, mod, mul, add, k), as in the test
    (16, 4, 7, 3, 5),
    (16, 3, 5, 1, 7),
    (128, 6, 37, 11, 20),
    (128, 9, 53, 5, 15),
    (128, 5, 29, 2, 2),
    (128, 4, 13, 1, 33),
    (100, 7, 31, 4, 12),
]
# More cases (TORCH_MORE in the test): the heap-select path (k * 64 <= n), small and mid sizes of the introselect
# path, and NaN entries (set at the listed positions), which torch ranks above every number.
MORE = [  # (n, mod, mul, add, k, nan positions)
    (64, 3, 7, 1, 1, []),
    (128, 3, 11, 2, 2, []),
    (200, 6, 17, 0, 3, []),
    (256, 4, 37, 3, 3, []),
    (256, 7, 13, 5, 4, []),
    (512, 5, 101, 7, 8, []),
    (130, 2, 1, 0, 2, []),
    (3, 1, 1, 0, 1, []),
    (5, 2, 1, 0, 2, []),
    (10, 3, 7, 2, 4, []),
    (33, 3, 4, 0, 16, []),
    (40, 4, 9, 1, 10, []),
    (64, 2, 5, 3, 30, []),
    (16, 4, 7, 3, 5, [2, 11]),
    (20, 3, 5, 1, 3, [0, 7, 8, 19]),
    (128, 5, 29, 2, 2, [100]),
    (128, 5, 29, 2, 2, [5, 70]),
    (300, 4, 7, 1, 4, [3, 150, 299]),
]

print(f"// torch {torch.__version__}")
for n, mod, mul, add, k in CASES:
    v = torch.tensor([[(i * mul + add) % mod for i in range(n)]], dtype=torch.float32)
    kept = sorted(torch.topk(v, k).indices[0].tolist())
    print(f"  {{ n: {n}, mod: {mod}, mul: {mul}, add: {add}, k: {k}, torch: [{', '.join(map(str, kept))}] }},")
print("// TORCH_MORE")
for n, mod, mul, add, k, nan in MORE:
    v = torch.tensor([[(i * mul + add) % mod for i in range(n)]], dtype=torch.float32)
    for i in nan:
        v[0, i] = float("nan")
    kept = sorted(torch.topk(v, k).indices[0].tolist())
    print(f"  {{ n: {n}, mod: {mod}, mul: {mul}, add: {add}, k: {k}, nan: [{', '.join(map(str, nan))}], torch: [{', '.join(map(str, kept))}] }},")
