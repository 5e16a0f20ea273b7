"""Regenerates TORCH_FACTS in test/analysis/torch-topk.test.ts: which indices torch.topk (CPU, float32) keeps on
vectors with many ties at the k-th place. Run with Debian's torch (see README.md):

    /usr/bin/python3 tools/reference-torch/topk_facts.py

and paste the printed lines over the array. Each case is v[i] = (i * mul + add) % mod for i < n.
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

print(f"// torch {torch.__version__}")
for n, mod, mul, add, k in CASES:
    v = torch.tensor([[(i * mul + add) % mod for i in range(n)]], dtype=torch.float32)
    kept = sorted(torch.topk(v, k).indices[0].tolist())
    print(f"  {{ n: {n}, mod: {mod}, mul: {mul}, add: {add}, k: {k}, torch: [{', '.join(map(str, kept))}] }},")
